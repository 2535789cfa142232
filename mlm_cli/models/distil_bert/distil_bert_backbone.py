"""The DistilBERT encoder: BERT without segment embeddings and pooler (token + position embeddings, post-LN blocks)."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, backbone_example
from mlm_cli.models.token_position_backbone import TokenPositionBackbone

KERAS_HUB_HEAD_LAYER_NORM_EPSILON = 1e-5  # keras_hub's MaskedLMHead default; transformers' DistilBERT uses 1e-12


@append_to_doc(backbone_example(
    "DistilBert", "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    {"token_ids": 'np.array([[2, 5, 6, 7, 8, 3, 0, 0], [2, 13, 14, 15, 16, 5, 17, 3]], "int32")',
      "padding_mask": "np.array([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], bool)"},
    "{'sequence_output': (2, 8, 8)}",
))
class DistilBertBackbone(TokenPositionBackbone):
    """DistilBERT encoder network; see TokenPositionBackbone for inputs and outputs.

    The feed-forward and head activations are exact GELU, as in keras_hub and transformers.
    `head_layer_norm_epsilon` defaults to keras_hub's 1e-5; checkpoints converted from
    transformers use 1e-12. keras_hub's config has no key for it, so a preset records a
    non-default value in metadata.json (see `extension_config`).

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, dropout
        (default 0.1), max_sequence_length (default 512), dtype: as in
        `TokenPositionBackbone`. The embeddings' and blocks' layer norms use epsilon 1e-12.
        head_layer_norm_epsilon: the layer-norm epsilon of `DistilBertMaskedLM`'s head, in
            (0, 0.1]. Default 1e-5.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "distil_bert_backbone").
    """

    layer_norm_epsilon = 1e-12  # embeddings and encoder layer norms, in keras_hub and transformers alike
    extension_defaults = {"head_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON}

    def __init__(self, *args, head_layer_norm_epsilon: float = KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        """TokenPositionBackbone's arguments, and the masked-LM head's layer-norm epsilon."""
        self.check_head_layer_norm_epsilon(head_layer_norm_epsilon)
        super().__init__(*args, **kwargs)
        self.head_layer_norm_epsilon = float(head_layer_norm_epsilon)
