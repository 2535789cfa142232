"""`train_on`: a SentencePiece family's tokenizer learned from text, numbered as the family's released models are."""

from __future__ import annotations

import pytest

from mlm_cli.models import AlbertTokenizer, DebertaV3Tokenizer, FNetTokenizer, XLMRobertaTokenizer
from tests.support.corpus import sample_sentences

pytestmark = pytest.mark.run_once  # tokenizers only: no backend in play

TEXTS = sample_sentences(200, seed=3)


@pytest.mark.parametrize(
    "tokenizer_class, special_ids",
    [
        # (cls, sep, pad, mask): ALBERT and FNet number <pad> <unk> [CLS] [SEP] [MASK] first
        (AlbertTokenizer, (2, 3, 0, 4)),
        (FNetTokenizer, (2, 3, 0, 4)),
        # DeBERTaV3: [PAD] [CLS] [SEP] [UNK]; [MASK] is appended after the model's last piece
        (DebertaV3Tokenizer, (1, 2, 0, 60)),
        # XLM-R: fairseq's <s> <pad> </s> <unk>, then pieces shifted by one, <mask> last
        (XLMRobertaTokenizer, (0, 2, 1, 61)),
    ],
)
def test_special_tokens_get_the_family_ids(tokenizer_class, special_ids):
    tokenizer = tokenizer_class.train_on(TEXTS, vocabulary_size=60)
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id)
    assert ids == special_ids
    encoded = tokenizer("the model trains on data")
    assert tokenizer.detokenize(encoded) == "the model trains on data"


def test_one_input_gives_one_model_and_options_reach_the_trainer():
    first = AlbertTokenizer.train_on(TEXTS, vocabulary_size=60)
    assert AlbertTokenizer.train_on(TEXTS, vocabulary_size=60).proto == first.proto
    lowercased = AlbertTokenizer.train_on([text.upper() for text in TEXTS], vocabulary_size=60, lowercase=True)
    assert lowercased("The Model").tolist() == lowercased("the model").tolist()
    bigger = AlbertTokenizer.train_on(TEXTS, vocabulary_size=80, model_type="bpe")
    assert bigger.vocabulary_size() == 80


def test_a_model_without_the_family_pieces_is_refused():
    with pytest.raises(ValueError, match="special tokens"):
        AlbertTokenizer.train_on(TEXTS, vocabulary_size=60, user_defined_symbols="")
