"""BERT's masked-LM preprocessor: BertTokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer
from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, wordpiece_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor

PRESET_PREPROCESSOR = """Loading the preprocessor of a preset (its tokenizer included; not run here):

    preprocessor = BertMaskedLMPreprocessor.from_preset("bert_tiny_en_uncased", sequence_length=128)
"""


@append_to_doc(preprocessor_doc(
    "Bert",
    "vocabulary",
    wordpiece_setup("Bert"),
    ["The quick brown fox.", "A cat sat on the mat."],
    ("mask_positions", "padding_mask", "segment_ids", "token_ids"),
    more=PRESET_PREPROCESSOR,
))
class BertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> BERT masked-LM batches (see MaskedLMPreprocessor).

    Rows are `[CLS] A [SEP] B [SEP] [PAD]...`; `x` carries `token_ids`, `segment_ids`,
    `padding_mask` and `mask_positions`.
    """

    tokenizer_cls = BertTokenizer
