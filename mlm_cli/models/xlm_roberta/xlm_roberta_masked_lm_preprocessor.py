"""XLM-RoBERTa's masked-LM preprocessor: XLMRobertaTokenizer + RoBERTa's `<s> A </s></s> B </s>` packing + masking."""

from __future__ import annotations

from mlm_cli.models.roberta.roberta_masked_lm_preprocessor import RobertaMaskedLMPreprocessor
from mlm_cli.models.xlm_roberta.xlm_roberta_tokenizer import XLMRobertaTokenizer


class XLMRobertaMaskedLMPreprocessor(RobertaMaskedLMPreprocessor):
    """Strings -> XLM-RoBERTa masked-LM batches (see RobertaMaskedLMPreprocessor)."""

    tokenizer_cls = XLMRobertaTokenizer
