"""Base class for backbones: a Keras model with validated sizes and a plain config."""

from __future__ import annotations

import math
from typing import Any, ClassVar

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
    """A model family's encoder network; subclasses define `call` and list their `config_keys`.

    The usual constructor: validate every argument (`checked_sizes`, `check_dropout`, ...)
    before `super().__init__`, then `store_config`, create the sublayers and `build_all`.
    """

    presets = PresetCatalog()
    # Constructor arguments that `get_config` returns (besides `base_config`), each kept as
    # the attribute of the same name.
    config_keys: ClassVar[tuple[str, ...]] = ()
    # Settings keras_hub's config has no key for, with keras_hub's values: `extension_config`
    # reports those that differ, and presets record them in metadata.json.
    extension_defaults: ClassVar[dict[str, Any]] = {}

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

    @classmethod
    def checked_sizes(cls, **sizes: int) -> dict[str, int]:
        """`check_sizes`, then the sizes as plain ints, ready for `store_config`."""
        cls.check_sizes(**sizes)
        return {key: int(value) for key, value in sizes.items()}

    @classmethod
    def checked_config(cls, dropout: float, **sizes: int) -> dict[str, Any]:
        """`checked_sizes`, `check_dropout` and, given `num_heads`, `check_head_split`: the config to `start` with."""
        config = cls.checked_sizes(**sizes)
        cls.check_dropout(dropout)
        if "num_heads" in sizes:
            cls.check_head_split(sizes["hidden_dim"], sizes["num_heads"])
        return {**config, "dropout": float(dropout)}

    @staticmethod
    def check_dropout(dropout: float) -> None:
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0 or math.isnan(dropout):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")

    @staticmethod
    def check_head_split(hidden_dim: int, num_heads: int) -> None:
        """Raise ValueError unless the attention heads split `hidden_dim` evenly."""
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads})")

    @staticmethod
    def check_head_layer_norm_epsilon(epsilon: float) -> None:
        """Raise ValueError unless the masked-LM head's layer-norm epsilon is a number in (0, 0.1]."""
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon <= 0.1:
            raise ValueError(f"head_layer_norm_epsilon must be a number in (0, 0.1], got {epsilon!r}")

    def store_config(self, **values: Any) -> None:
        """Keep each validated constructor argument as the attribute of the same name."""
        for key, value in values.items():
            setattr(self, key, value)

    def start(self, default_name: str, dtype: Any, kwargs: dict[str, Any], **config: Any) -> None:
        """Initialise the Keras model (called `default_name` unless `kwargs` names it), then `store_config(**config)`."""
        kwargs.setdefault("name", default_name)
        super().__init__(dtype=dtype, **kwargs)
        self.store_config(**config)

    def build_all(self) -> None:
        """Create every variable now, so weights can be loaded without a forward pass.

        Sublayers are built in the order they were created; each takes [..., hidden_dim]
        inputs (embedding tables ignore the shape), and weightless ones are built already.
        """
        for layer in self.layers:
            if not layer.built:
                layer.build((None, self.hidden_dim))
        self.built = True

    def base_config(self) -> dict:
        """The config keys every Keras layer carries: name, trainable, dtype policy name."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype_policy.name}

    def get_config(self) -> dict:
        return {**self.base_config(), **{key: getattr(self, key) for key in self.config_keys}}

    def extension_config(self) -> dict:
        """Settings keras_hub's config cannot hold: those of `extension_defaults` that differ from keras_hub's."""
        current = {key: getattr(self, key) for key in self.extension_defaults}
        return {key: value for key, value in current.items() if value != self.extension_defaults[key]}

    @classmethod
    def from_config(cls, config: dict) -> "Backbone":
        return cls(**config)

    def parameter_count(self) -> int:
        return int(sum(math.prod(v.shape) for v in self.weights))
