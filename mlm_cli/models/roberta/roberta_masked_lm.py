"""RoBERTa for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.masked_lm import MaskedLM
from mlm_cli.models.roberta.roberta_backbone import RobertaBackbone
from mlm_cli.models.roberta.roberta_masked_lm_preprocessor import RobertaMaskedLMPreprocessor


class RobertaMaskedLM(MaskedLM):
    """RobertaBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias)."""

    backbone_cls = RobertaBackbone
    preprocessor_cls = RobertaMaskedLMPreprocessor
