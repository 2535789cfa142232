"""The RoBERTa encoder: token + position embeddings (no segments) and post-layer-norm transformer blocks."""

from __future__ import annotations

import keras

from mlm_cli.models.token_position_backbone import TokenPositionBackbone


def roberta_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """RoBERTa's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


class RobertaBackbone(TokenPositionBackbone):
    """RoBERTa encoder network; see TokenPositionBackbone for inputs, outputs and config.

    Position i uses row i of the position table (keras_hub's layout; transformers' table
    has two extra leading rows, see the converter). Its numerics are the same in keras_hub
    and transformers, so there is nothing to record beyond keras_hub's config.
    """

    layer_norm_epsilon = 1e-5  # every RoBERTa layer norm, as in fairseq and keras_hub
