"""Base class for backbones: a Keras model with validated sizes and a plain config."""

from __future__ import annotations

import math

import keras
from mlm_cli.models.preset.catalog import PresetCatalog

# Bounds that no real checkpoint comes near; a config beyond them is corrupt or hostile,
# and is refused before any memory is allocated.
MAX_SIZES = {
    "vocabulary_size": 4_000_000,
    "num_layers": 512,
    "num_heads": 1024,
    "hidden_dim": 65_536,
    "intermediate_dim": 262_144,
    "max_sequence_length": 1_048_576,
    "num_segments": 1024,
    "embedding_dim": 65_536,
}
MAX_PARAMETERS = 20_000_000_000


class Backbone(keras.Model):
    """A model family's encoder network; subclasses define `call` and `get_config`."""

    presets = PresetCatalog()

    @staticmethod
    def check_sizes(**sizes: int) -> None:
        """Raise ValueError unless every size is a positive int within MAX_SIZES and the model is not absurdly large."""
        for key, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key} must be an integer, got {value!r}")
            limit = MAX_SIZES.get(key, 1 << 31)
            if not 1 <= value <= limit:
                raise ValueError(f"{key} must be between 1 and {limit}, got {value}")
        hidden = sizes.get("hidden_dim", 1)
        layer_params = 4 * hidden * hidden + 2 * hidden * sizes.get("intermediate_dim", hidden)
        estimate = (
            sizes.get("vocabulary_size", 0) * hidden
            + sizes.get("max_sequence_length", 0) * hidden
            + sizes.get("num_layers", 0) * layer_params
        )
        if estimate > MAX_PARAMETERS:
            raise ValueError(f"the configuration describes about {estimate:.3g} parameters, more than mlm accepts")

    @staticmethod
    def check_dropout(dropout: float) -> None:
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0 or math.isnan(dropout):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")

    def base_config(self) -> dict:
        """The config keys every Keras layer carries: name, trainable, dtype policy name."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype_policy.name}

    @classmethod
    def from_config(cls, config: dict) -> "Backbone":
        return cls(**config)

    def parameter_count(self) -> int:
        return int(sum(math.prod(v.shape) for v in self.weights))
