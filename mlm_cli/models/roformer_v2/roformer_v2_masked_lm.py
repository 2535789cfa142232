"""RoFormerV2 for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.masked_lm import MaskedLM
from mlm_cli.models.roformer_v2.roformer_v2_backbone import RoformerV2Backbone
from mlm_cli.models.roformer_v2.roformer_v2_masked_lm_head import RoformerV2MaskedLMHead
from mlm_cli.models.roformer_v2.roformer_v2_masked_lm_preprocessor import RoformerV2MaskedLMPreprocessor


class RoformerV2MaskedLM(MaskedLM):
    """RoformerV2Backbone + a weight-free head that projects with the tied token embedding.

    The head has no dense layer, layer norm or bias: logits are the hidden states at the
    masked positions times the transposed token embedding, so the task's only weights are
    the backbone's.

    Args:
        backbone: a `RoformerV2Backbone`.
        preprocessor: a `RoformerV2MaskedLMPreprocessor`, or None (the default).
        name: default "roformer_v2_masked_lm". See `MaskedLM` for the rest.

    Examples:

    >>> from mlm_cli.models import (RoformerV2Backbone, RoformerV2MaskedLM, RoformerV2MaskedLMPreprocessor,
    ...                             RoformerV2Tokenizer)
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> preprocessor = RoformerV2MaskedLMPreprocessor(RoformerV2Tokenizer(vocabulary, lowercase=True),
    ...                                               sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = RoformerV2Backbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                               intermediate_dim=16, head_size=4)
    >>> masked_lm = RoformerV2MaskedLM(backbone, preprocessor=preprocessor)
    >>> masked_lm.count_params() == backbone.count_params()
    True
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)
    """

    backbone_cls = RoformerV2Backbone
    preprocessor_cls = RoformerV2MaskedLMPreprocessor

    def make_head(self, backbone: RoformerV2Backbone) -> RoformerV2MaskedLMHead:
        return RoformerV2MaskedLMHead(backbone.token_embedding, dtype=backbone.dtype_policy, name="masked_lm_head")
