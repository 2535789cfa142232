"""Encoding a chunk of documents at once gives exactly the per-document ids and boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_cli.models import BertTokenizer
from tests.support.corpus import tiny_vocabulary

pytestmark = pytest.mark.run_once

ASCII_PIECES = ["the", "Model", "TRAIN", "data", "word", "[MASK]", "[cls]", "[CLS]", "x", "...", "!", "3.14", "\t",
                "  ", "a\x0bb",
                "c\x1fd", "\x7f", "\r\n", "e\x0cf", "", "x" * 101, "tok-en_ized"]
PIECES = ASCII_PIECES + ["café", "東京", "\ufdd0", "straße", "\x00", "nul\x00byte"]


@pytest.mark.parametrize("normalization", ["keras_hub", "transformers"])
@pytest.mark.parametrize("special_tokens_in_strings", [False, True])
@settings(max_examples=30, deadline=None)
@given(documents=st.one_of(
    st.lists(st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join), min_size=0, max_size=250),
    st.lists(st.lists(st.sampled_from(ASCII_PIECES), max_size=12).map("".join), min_size=1, max_size=250),
))
def test_batch_flat_equals_one_document_at_a_time(documents, normalization, special_tokens_in_strings):
    """Every route of encode_batch_flat (word cache, joined Rust, Python) matches per-document encoding."""
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True, normalization=normalization,
                              special_tokens_in_strings=special_tokens_in_strings)
    flat, offsets = tokenizer.encoder.encode_batch_flat(documents)
    assert len(offsets) == len(documents) + 1 and offsets[0] == 0 and offsets[-1] == len(flat)
    for index, document in enumerate(documents):
        assert flat[offsets[index] : offsets[index + 1]].tolist() == tokenizer.encoder.encode(document).tolist()


@pytest.mark.parametrize("normalization", ["keras_hub", "transformers"])
@pytest.mark.parametrize("others", [[0], [3, 4, 50], [99], [0, 1, 98, 99]])
def test_a_mostly_ascii_chunk_equals_one_document_at_a_time(normalization, others):
    """Shuffled chunks hold a few non-ASCII documents among ASCII ones: those are encoded apart and spliced in."""
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True, normalization=normalization)
    documents = [f"the model {i} trained on data!" if i % 9 else "" for i in range(100)]
    for index in others:
        documents[index] = f"café 東京 straße {index}"
    flat, offsets = tokenizer.encoder.encode_batch_flat(documents)
    assert len(offsets) == len(documents) + 1 and offsets[-1] == len(flat)
    for index, document in enumerate(documents):
        assert flat[offsets[index] : offsets[index + 1]].tolist() == tokenizer.encoder.encode(document).tolist()


@pytest.mark.parametrize("normalization", ["keras_hub", "transformers"])
def test_word_cache_forgets_when_full_and_stays_exact(normalization):
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True, normalization=normalization)
    cache = tokenizer.encoder._word_cache
    cache.max_words = 14  # one chunk of 5 documents has at most 13 distinct words
    documents = [f"the model word{i} data{i % 3} x!" for i in range(40)]
    for start in range(0, 40, 5):
        chunk = documents[start : start + 5]
        flat, offsets = tokenizer.encoder.encode_batch_flat(chunk)
        assert len(cache) <= 14
        for index, document in enumerate(chunk):
            assert flat[offsets[index] : offsets[index + 1]].tolist() == tokenizer.encoder.encode(document).tolist()
    assert cache.evictions > 0


def test_word_cache_separator_must_be_a_control_character():
    from mlm_cli.models.tokenizers.ascii_wordpiece_cache import AsciiWordPieceCache

    with pytest.raises(ValueError, match="control character"):
        AsciiWordPieceCache(lambda words: [[0] for _ in words], lowercase=True, separator="|", separator_id=0)
