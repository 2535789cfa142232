"""The RoBERTa encoder: token + position embeddings (no segments) and post-layer-norm transformer blocks."""

from __future__ import annotations

import keras

from mlm_cli.models.family_examples import append_to_doc, backbone_example
from mlm_cli.models.token_position_backbone import TokenPositionBackbone


def roberta_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """RoBERTa's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


@append_to_doc(backbone_example(
    "Roberta", "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    {"token_ids": 'np.array([[0, 11, 14, 2, 1, 1, 1, 1], [0, 11, 14, 11, 14, 2, 1, 1]], "int32")',
      "padding_mask": "np.array([[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0, 0]], bool)"},
    "{'sequence_output': (2, 8, 8)}",
))
class RobertaBackbone(TokenPositionBackbone):
    """RoBERTa encoder network; see TokenPositionBackbone for inputs, outputs and config.

    Position i uses row i of the position table (keras_hub's layout; transformers' table
    has two extra leading rows, see the converter). Its numerics are the same in keras_hub
    and transformers, so there is nothing to record beyond keras_hub's config.

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, dropout
        (default 0.1), max_sequence_length (default 512), dtype, **kwargs: as in
        `TokenPositionBackbone`; `name` defaults to "roberta_backbone". Every layer norm
        uses epsilon 1e-5 (the masked-LM head's too).
    """

    layer_norm_epsilon = 1e-5  # every RoBERTa layer norm, as in fairseq and keras_hub
