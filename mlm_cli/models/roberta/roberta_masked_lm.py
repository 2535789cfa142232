"""RoBERTa for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, byte_pair_setup, masked_lm_example
from mlm_cli.models.masked_lm import MaskedLM
from mlm_cli.models.roberta.roberta_backbone import RobertaBackbone
from mlm_cli.models.roberta.roberta_masked_lm_preprocessor import RobertaMaskedLMPreprocessor


@append_to_doc(masked_lm_example(
    "Roberta",
    byte_pair_setup("Roberta"),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    ["the cat", "the cat the cat"],
    "roberta_base_en",
))
class RobertaMaskedLM(MaskedLM):
    """RobertaBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    The head's layer norm uses epsilon 1e-5, as RoBERTa's other layer norms.
    """

    backbone_cls = RobertaBackbone
    preprocessor_cls = RobertaMaskedLMPreprocessor
