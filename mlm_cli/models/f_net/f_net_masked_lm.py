"""FNet for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.f_net.f_net_backbone import FNetBackbone
from mlm_cli.models.f_net.f_net_masked_lm_preprocessor import FNetMaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class FNetMaskedLM(MaskedLM):
    """FNetBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias)."""

    backbone_cls = FNetBackbone
    preprocessor_cls = FNetMaskedLMPreprocessor
    head_activation = "gelu"
