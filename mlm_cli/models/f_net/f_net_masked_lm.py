"""FNet for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.f_net.f_net_backbone import FNetBackbone
from mlm_cli.models.f_net.f_net_masked_lm_preprocessor import FNetMaskedLMPreprocessor
from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, sentencepiece_setup
from mlm_cli.models.masked_lm import MaskedLM


@append_to_doc(masked_lm_example(
    "FNet",
    sentencepiece_setup("FNet", 20),
    "num_layers=1, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    ["the quick brown fox", "a cat sat on the mat"],
    "f_net_base_en",
))
class FNetMaskedLM(MaskedLM):
    """FNetBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    The head's layer norm uses epsilon 1e-5 (keras_hub's).
    """

    backbone_cls = FNetBackbone
    preprocessor_cls = FNetMaskedLMPreprocessor
    head_activation = "gelu"
