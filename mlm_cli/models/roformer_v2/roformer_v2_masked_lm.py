"""RoFormerV2 for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, wordpiece_setup
from mlm_cli.models.masked_lm import MaskedLM
from mlm_cli.models.roformer_v2.roformer_v2_backbone import RoformerV2Backbone
from mlm_cli.models.roformer_v2.roformer_v2_masked_lm_head import RoformerV2MaskedLMHead
from mlm_cli.models.roformer_v2.roformer_v2_masked_lm_preprocessor import RoformerV2MaskedLMPreprocessor


@append_to_doc(masked_lm_example(
    "RoformerV2",
    wordpiece_setup("RoformerV2"),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, head_size=4",
    ["The quick brown fox.", "A cat sat on the mat."],
    None,
))
class RoformerV2MaskedLM(MaskedLM):
    """RoformerV2Backbone + a weight-free head that projects with the tied token embedding.

    The head has no dense layer, layer norm or bias: logits are the hidden states at the
    masked positions times the transposed token embedding, so the task's only weights are
    the backbone's.
    """

    backbone_cls = RoformerV2Backbone
    preprocessor_cls = RoformerV2MaskedLMPreprocessor

    def make_head(self, backbone: RoformerV2Backbone) -> RoformerV2MaskedLMHead:
        return RoformerV2MaskedLMHead(backbone.token_embedding, dtype=backbone.dtype_policy, name="masked_lm_head")
