"""XLM-RoBERTa for masked language modelling: RoBERTa's head on XLMRobertaBackbone."""

from __future__ import annotations

from mlm_cli.models.roberta.roberta_masked_lm import RobertaMaskedLM
from mlm_cli.models.xlm_roberta.xlm_roberta_backbone import XLMRobertaBackbone
from mlm_cli.models.xlm_roberta.xlm_roberta_masked_lm_preprocessor import XLMRobertaMaskedLMPreprocessor


class XLMRobertaMaskedLM(RobertaMaskedLM):
    """XLMRobertaBackbone + RoBERTa's masked-LM head."""

    backbone_cls = XLMRobertaBackbone
    preprocessor_cls = XLMRobertaMaskedLMPreprocessor
