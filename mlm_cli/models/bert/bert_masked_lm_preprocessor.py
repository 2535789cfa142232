"""BERT's masked-LM preprocessor: BertTokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class BertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> BERT masked-LM batches (see MaskedLMPreprocessor)."""

    tokenizer_cls = BertTokenizer
