"""RoFormerV2 for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.masked_lm import MaskedLM
from mlm_cli.models.roformer_v2.roformer_v2_backbone import RoformerV2Backbone
from mlm_cli.models.roformer_v2.roformer_v2_masked_lm_head import RoformerV2MaskedLMHead
from mlm_cli.models.roformer_v2.roformer_v2_masked_lm_preprocessor import RoformerV2MaskedLMPreprocessor


class RoformerV2MaskedLM(MaskedLM):
    """RoformerV2Backbone + a weight-free head that projects with the tied token embedding."""

    backbone_cls = RoformerV2Backbone
    preprocessor_cls = RoformerV2MaskedLMPreprocessor

    def make_head(self, backbone: RoformerV2Backbone) -> RoformerV2MaskedLMHead:
        return RoformerV2MaskedLMHead(backbone.token_embedding, dtype=backbone.dtype_policy, name="masked_lm_head")
