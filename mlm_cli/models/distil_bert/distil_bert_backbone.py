"""The DistilBERT encoder: BERT without segment embeddings and pooler (token + position embeddings, post-LN blocks)."""

from __future__ import annotations

from mlm_cli.models.token_position_backbone import TokenPositionBackbone

KERAS_HUB_HEAD_LAYER_NORM_EPSILON = 1e-5  # keras_hub's MaskedLMHead default; transformers' DistilBERT uses 1e-12


class DistilBertBackbone(TokenPositionBackbone):
    """DistilBERT encoder network; see TokenPositionBackbone for inputs and outputs.

    The feed-forward and head activations are exact GELU, as in keras_hub and transformers.
    `head_layer_norm_epsilon` defaults to keras_hub's 1e-5; checkpoints converted from
    transformers use 1e-12. keras_hub's config has no key for it, so a preset records a
    non-default value in metadata.json (see `extension_config`).
    """

    layer_norm_epsilon = 1e-12  # embeddings and encoder layer norms, in keras_hub and transformers alike
    extension_defaults = {"head_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON}

    def __init__(self, *args, head_layer_norm_epsilon: float = KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        """TokenPositionBackbone's arguments, and the masked-LM head's layer-norm epsilon."""
        self.check_head_layer_norm_epsilon(head_layer_norm_epsilon)
        super().__init__(*args, **kwargs)
        self.head_layer_norm_epsilon = float(head_layer_norm_epsilon)
