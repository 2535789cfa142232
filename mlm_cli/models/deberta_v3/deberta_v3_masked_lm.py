"""DeBERTaV3 for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.deberta_v3.deberta_v3_backbone import DebertaV3Backbone
from mlm_cli.models.deberta_v3.deberta_v3_masked_lm_preprocessor import DebertaV3MaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class DebertaV3MaskedLM(MaskedLM):
    """DebertaV3Backbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    DeBERTa's pre-training used an enhanced mask decoder; keras_hub (and mlm) use this
    plain head instead, as transformers' DebertaV2ForMaskedLM does.
    """

    backbone_cls = DebertaV3Backbone
    preprocessor_cls = DebertaV3MaskedLMPreprocessor
