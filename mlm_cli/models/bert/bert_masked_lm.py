"""BERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.bert.bert_backbone import BertBackbone
from mlm_cli.models.bert.bert_masked_lm_preprocessor import BertMaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class BertMaskedLM(MaskedLM):
    """BertBackbone + masked-LM head (dense + GELU + layer norm, tied output projection, bias)."""

    backbone_cls = BertBackbone
    preprocessor_cls = BertMaskedLMPreprocessor
