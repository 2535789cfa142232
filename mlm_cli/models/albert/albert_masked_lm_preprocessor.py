"""ALBERT's masked-LM preprocessor: AlbertTokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.albert.albert_tokenizer import AlbertTokenizer
from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, sentencepiece_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


@append_to_doc(preprocessor_doc(
    "Albert",
    "SentencePiece model",
    sentencepiece_setup("Albert", 20),
    ["the quick brown fox", "a cat sat on the mat"],
    ("mask_positions", "padding_mask", "segment_ids", "token_ids"),
))
class AlbertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> ALBERT masked-LM batches (see MaskedLMPreprocessor).

    Rows are `[CLS] A [SEP] B [SEP] <pad>...`; `x` carries `token_ids`, `segment_ids`,
    `padding_mask` and `mask_positions`.
    """

    tokenizer_cls = AlbertTokenizer
