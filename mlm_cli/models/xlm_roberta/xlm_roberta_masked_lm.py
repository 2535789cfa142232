"""XLM-RoBERTa for masked language modelling: RoBERTa's head on XLMRobertaBackbone."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, sentencepiece_setup
from mlm_cli.models.roberta.roberta_masked_lm import RobertaMaskedLM
from mlm_cli.models.xlm_roberta.xlm_roberta_backbone import XLMRobertaBackbone
from mlm_cli.models.xlm_roberta.xlm_roberta_masked_lm_preprocessor import XLMRobertaMaskedLMPreprocessor


@append_to_doc(masked_lm_example(
    "XLMRoberta",
    sentencepiece_setup("XLMRoberta", 18),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    ["the quick brown fox", "a cat sat on the mat"],
    "xlm_roberta_base_multi",
))
class XLMRobertaMaskedLM(RobertaMaskedLM):
    """XLMRobertaBackbone + RoBERTa's masked-LM head.
    """

    backbone_cls = XLMRobertaBackbone
    preprocessor_cls = XLMRobertaMaskedLMPreprocessor
