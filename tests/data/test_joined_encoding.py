"""Encoding a chunk of documents at once gives exactly the per-document ids and boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_cli.models import BertTokenizer
from tests.conftest import tiny_vocabulary

PIECES = ["the", "Model", "TRAIN", "data", "word", "[MASK]", "[CLS]", "x", "...", "!", "3.14", "café", "東京", "\t", "  ", "\ufdd0", "straße", ""]


@pytest.mark.parametrize("normalization", ["keras_hub", "transformers"])
@pytest.mark.parametrize("special_tokens_in_strings", [False, True])
@settings(max_examples=30, deadline=None)
@given(documents=st.lists(st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join), min_size=0, max_size=250))
def test_batch_flat_equals_one_document_at_a_time(documents, normalization, special_tokens_in_strings):
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True, normalization=normalization,
                              special_tokens_in_strings=special_tokens_in_strings)
    flat, offsets = tokenizer.encoder.encode_batch_flat(documents)
    assert len(offsets) == len(documents) + 1 and offsets[0] == 0 and offsets[-1] == len(flat)
    for index, document in enumerate(documents):
        assert flat[offsets[index] : offsets[index + 1]].tolist() == tokenizer.encoder.encode(document).tolist()
