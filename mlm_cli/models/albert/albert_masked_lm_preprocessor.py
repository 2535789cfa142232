"""ALBERT's masked-LM preprocessor: AlbertTokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.albert.albert_tokenizer import AlbertTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class AlbertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> ALBERT masked-LM batches (see MaskedLMPreprocessor)."""

    tokenizer_cls = AlbertTokenizer
