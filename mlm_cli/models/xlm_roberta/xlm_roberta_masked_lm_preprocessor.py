"""XLM-RoBERTa's masked-LM preprocessor: XLMRobertaTokenizer + RoBERTa's `<s> A </s></s> B </s>` packing + masking."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, sentencepiece_setup
from mlm_cli.models.roberta.roberta_masked_lm_preprocessor import RobertaMaskedLMPreprocessor
from mlm_cli.models.xlm_roberta.xlm_roberta_tokenizer import XLMRobertaTokenizer

PAIR_PACKING = """A sentence pair, packed as RoBERTa's (masking switched off so that it shows):

>>> packer = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=10, mask_selection_rate=0.0)
>>> packer(("the quick fox", "a cat"))[0]["token_ids"].tolist()
[0, 4, 16, 7, 2, 2, 5, 10, 2, 1]
"""


@append_to_doc(preprocessor_doc(
    "XLMRoberta",
    "SentencePiece model",
    sentencepiece_setup("XLMRoberta", 18),
    ["the quick brown fox", "a cat sat on the mat"],
    ("mask_positions", "padding_mask", "segment_ids", "token_ids"),
    sequence_length=10, more=PAIR_PACKING,
))
class XLMRobertaMaskedLMPreprocessor(RobertaMaskedLMPreprocessor):
    """Strings -> XLM-RoBERTa masked-LM batches (see RobertaMaskedLMPreprocessor).

    Rows are packed as RoBERTa's: `<s> A </s></s> B </s> <pad>...`.
    """

    tokenizer_cls = XLMRobertaTokenizer
