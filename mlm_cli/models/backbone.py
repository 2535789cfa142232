"""Base class for backbones: a Keras model with validated sizes and a plain config."""

from __future__ import annotations

import math
import os
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

    Every variable exists as soon as the constructor returns (no forward pass needed), and
    `get_config()` returns keras_hub's config keys, so `from_config(get_config())`
    rebuilds the same architecture. Settings keras_hub has no key for (`extension_defaults`)
    are reported by `extension_config()` when they differ from keras_hub's values; presets
    keep them in metadata.json. `presets` lists the built-in presets of the family (of
    every family on this base class).

    Args:
        Backbone itself takes only `keras.Model`'s keyword arguments. The arguments most
        families' backbones share (each family's docstring lists its own, with defaults):

        vocabulary_size: the number of rows of the token embedding; at least the
            tokenizer's `vocabulary_size()`.
        num_layers: the number of encoder blocks.
        num_heads: the number of attention heads; must divide `hidden_dim`.
        hidden_dim: the width of the encoder's hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        dropout: the dropout rate, a number in [0, 1).
        max_sequence_length: the length of the position table, the longest input.
        dtype: a Keras dtype policy name ("float32", "bfloat16", "mixed_bfloat16", ...) or
            None for Keras' global policy.
        name: the Keras model name; default keras_hub's (`bert_backbone`, ...).

        Sizes must be positive integers within fixed bounds far above any real checkpoint
        (`MAX_SIZES`), and a configuration estimated at more than 20 billion parameters is
        refused: each is a ValueError raised before any memory is allocated.

    Examples:

    Every family's backbone is a `Backbone`:

    >>> from mlm_cli.models import Backbone, BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16, max_sequence_length=16)
    >>> isinstance(backbone, Backbone), backbone.parameter_count()
    (True, 992)
    >>> config = backbone.get_config()
    >>> config["hidden_dim"], config["dropout"], config["dtype"]
    (8, 0.1, 'float32')
    >>> BertBackbone.from_config(config).parameter_count()
    992

    Non-keras_hub numerics show up in `extension_config()`:

    >>> BertBackbone(**{**config, "feedforward_activation": "gelu"}).extension_config()
    {'feedforward_activation': 'gelu'}

    Save it as a keras_hub-format preset (config.json, model.weights.h5, metadata.json) and load it
    back; the base class reads the family from config.json, a family's class loads only its own:

    >>> backbone.save_to_preset("my_backbone")
    >>> restored = Backbone.from_preset("my_backbone")
    >>> type(restored).__name__, restored.parameter_count()
    ('BertBackbone', 992)

    Invalid sizes are refused before anything is built:

    >>> BertBackbone(vocabulary_size=20, num_layers=1, num_heads=3, hidden_dim=8, intermediate_dim=16)
    Traceback (most recent call last):
        ...
    ValueError: hidden_dim (8) must be divisible by num_heads (3)
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
        if isinstance(dropout, bool) or not isinstance(dropout,
                                                       (int, float)) or not 0.0 <= dropout < 1.0 or math.isnan(dropout):
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
        """Initialise the Keras model (named `default_name` unless `kwargs` names it), then `store_config(**config)`."""
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

    gradient_checkpointing: bool = False  # a training setting (`enable_gradient_checkpointing`), not config

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each encoder block's activations in the backward pass instead of keeping them.

        Training then holds one [B, S, H] tensor per block (its input) instead of every
        intermediate (attention probabilities, feed-forward activations), at the cost of a second
        forward pass through the blocks; results are unchanged (on torch the random draws of
        dropout are replayed; on jax the recomputed function is the same traced one).
        """
        self.gradient_checkpointing = bool(enabled)

    def run_block(self, block, x, *args, training=None, **kwargs):
        """`block(x, *args, training=..., **kwargs)`, rematerialised under gradient checkpointing when training."""
        if not (self.gradient_checkpointing and training):
            return block(x, *args, training=training, **kwargs)
        if keras.backend.backend() == "jax":
            return _jax_remat_block(block, x, args, kwargs, training)
        return _torch_checkpoint_block(block, x, args, kwargs, training)

    def parameter_count(self) -> int:
        """The backbone's own parameters; LoRA adapters are not counted (a saved preset does not hold them)."""
        adapters = {id(v) for v in self._lora_adapter_variables()}
        return int(sum(math.prod(v.shape) for v in self.weights if id(v) not in adapters))

    def _lora_adapter_variables(self) -> list:
        if getattr(self, "_lora_settings", None) is None:
            return []
        from mlm_cli.models.lora import adapter_variables

        return adapter_variables(self)

    # --- LoRA (mlm_cli.models.lora) --------------------------------------------

    def enable_lora(self, rank: int, target_names=None, alpha: float | None = None):
        """Freeze every weight and add trainable rank-`rank` LoRA adapters to each encoder block's `target_names`
        projections (default query and value, keras_hub's default; also key, attention_output, intermediate,
        feedforward_output); an adapter adds (alpha / rank) x A.B to its kernel, alpha = rank unless given.
        Returns the settings (rank, alpha, targets)."""
        from mlm_cli.models.lora import enable_lora

        return enable_lora(self, rank, target_names, alpha)

    def save_lora_weights(self, filepath: str | os.PathLike) -> None:
        """Write the LoRA adapters to `filepath` (ending in `.lora.h5`), in keras_hub's layout."""
        from mlm_cli.models.lora import save_lora_weights

        save_lora_weights(self, filepath)

    def load_lora_weights(self, filepath: str | os.PathLike) -> None:
        """Set the LoRA adapters from a `.lora.h5` file (enabling LoRA with the file's rank and targets if needed)."""
        from mlm_cli.models.lora import load_lora_weights

        load_lora_weights(self, filepath)

    def merge_lora_weights(self) -> None:
        """Fold the LoRA adapters into the kernels (outputs unchanged), so a preset saved now is a plain model."""
        from mlm_cli.models.lora import merge_lora_weights

        merge_lora_weights(self)

    # --- presets ----------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, load_weights: bool = True, **kwargs: Any) -> "Backbone":
        """The backbone of a preset: a directory, a built-in name, a kaggle:// or hf:// handle.

        Reads config.json and, unless `load_weights=False` (fresh weights), model.weights.h5. On `Backbone` the
        preset picks the family; on a family's class a preset of another family is a PresetError. kwargs override
        `dropout` and `dtype`.
        """
        from mlm_cli.models.preset.loader import load_backbone_preset

        return load_backbone_preset(preset, cls, load_weights=load_weights, **kwargs)

    def save_to_preset(self, preset_dir: str | os.PathLike, max_shard_size: float | None = 10, *,
                       overwrite: bool = False) -> None:
        """Write config.json, model.weights.h5 and metadata.json into `preset_dir`, as keras_hub does, atomically.

        A directory holding a preset of the same family (a tokenizer saved there, say) gains these files; files it
        already has, or a non-empty directory that is not a preset, are replaced or written into only with
        `overwrite=True`. `max_shard_size` is keras_hub's argument: mlm writes one weights file whatever the size
        (and reads keras_hub's shards).
        """
        from mlm_cli.models.preset.saver import save_backbone

        save_backbone(self, preset_dir, overwrite=overwrite)


def _torch_checkpoint_block(block, x, args, kwargs, training):
    """torch.utils.checkpoint around one block (non-reentrant), recomputed to its end.

    Not `keras.remat`: that leaves torch's early stop on, which ends each recomputation by
    raising an exception from inside the block, and its traceback ties the recomputed
    activations into reference cycles that only Python's cyclic collector frees, a step or
    more later (measured: about 550 MB held between steps at bert_small, 8 x 512, more than
    checkpointing saved). Running the block to its end costs only its last few operations.
    """
    import torch.utils.checkpoint

    return torch.utils.checkpoint.checkpoint(lambda hidden: block(hidden, *args, training=training, **kwargs), x,
                                             use_reentrant=False, early_stop=False)


def _jax_remat_block(block, x, args, kwargs, training):
    """jax.checkpoint around one block, its variables passed in and its updated random-seed states passed out.

    A block's dropout advances Keras seed-generator variables; assigned inside the checkpointed
    function they would leak its tracers, so the block runs in a stateless scope of its own
    and the new states are assigned outside it.
    """
    import jax

    variables = list(block.variables)

    def run(hidden, values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            output = block(hidden, *args, training=training, **kwargs)
            return output, [scope.get_current_value(variable) for variable in variables]

    output, updated = jax.checkpoint(run)(x, [variable.value for variable in variables])
    for variable, value in zip(variables, updated):
        if not variable.trainable:
            variable.assign(value)
    return output
