"""The ESM encoder: token embeddings, rotary or absolute positions, pre-layer-norm blocks, final layer norm."""

from __future__ import annotations

import math

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.esm.esm_embeddings import OffsetPositionEmbedding, token_dropout
from mlm_cli.models.esm.esm_encoder import ESMEncoderBlock
from mlm_cli.models.esm.esm_rotary_embedding import rotary_tables
from mlm_cli.models.layers.embeddings import TokenEmbedding

POSITION_EMBEDDING_TYPES = ("rotary", "absolute")


def esm_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """ESM's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def resolve_activation(name):
    """A Keras activation looked up by its serialized name (keras_hub stores e.g. "gelu")."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be the name of a Keras activation, got {name!r}")
    try:
        return keras.activations.get(name)
    except (ValueError, TypeError):
        raise ValueError(f"unknown activation {name!r}") from None


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and not math.isnan(value)


def check_esm_settings(vocabulary_size: int, head_dim: int, max_sequence_length: int, max_wavelength, layer_norm_eps,
                       position_embedding_type, pad_token_id, token_dropout, mask_token_id, **flags) -> None:
    """Raise ValueError unless ESM's settings (beyond the sizes) describe a model mlm can build."""
    if position_embedding_type not in POSITION_EMBEDDING_TYPES:
        raise ValueError(
            f"position_embedding_type must be one of {', '.join(POSITION_EMBEDDING_TYPES)}, got "
            f"{position_embedding_type!r}")
    if position_embedding_type == "rotary" and head_dim % 2:
        raise ValueError(f"rotary positions need an even head size, got {head_dim}")
    for key, value in {**flags, "token_dropout": token_dropout}.items():
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
    if not _is_number(max_wavelength) or not 1 < max_wavelength < 1e12:
        raise ValueError(f"max_wavelength must be a number above 1, got {max_wavelength!r}")
    if not _is_number(layer_norm_eps) or not 0 < layer_norm_eps <= 0.1:
        raise ValueError(f"layer_norm_eps must be in (0, 0.1], got {layer_norm_eps!r}")
    token_ids = {"pad_token_id": pad_token_id,
                 **({"mask_token_id": mask_token_id} if mask_token_id is not None else {})}
    for key, value in token_ids.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocabulary_size:
            raise ValueError(f"{key} must be a token id below vocabulary_size ({vocabulary_size}), got {value!r}")
    if token_dropout and mask_token_id is None:
        raise ValueError("token_dropout needs mask_token_id")
    if position_embedding_type == "absolute" and pad_token_id >= max_sequence_length:
        raise ValueError(
            f"absolute positions start at pad_token_id ({pad_token_id}), beyond max_sequence_length "
            f"({max_sequence_length})")


class ESMBackbone(Backbone):
    """ESM-2 (rotary positions) and ESM-1b style (absolute positions) protein encoder.

    Inputs: dict with `token_ids` int [B, S]; `padding_mask` and `segment_ids` are accepted
    and ignored: as in keras_hub, attention skips the positions holding `pad_token_id`.
    Outputs: dict with `sequence_output` [B, S, H] (after the final layer norm).

    `token_dropout` (with `mask_token_id`) reproduces transformers' ESM embeddings for
    checkpoints converted from transformers; keras_hub has no such setting, so presets
    record it in metadata.json (see `extension_config`).

    Args:
        vocabulary_size: the number of token-embedding rows.
        num_layers: the number of transformer blocks.
        num_heads: the number of attention heads; must divide `hidden_dim` (into an even
            head size for rotary positions).
        hidden_dim: the width of the hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        use_bias: whether the blocks' dense layers (attention and feed-forward) have biases
            (True or False). Default True.
        activation: the feed-forward (and masked-PLM head) activation, by Keras name.
            Default "gelu".
        dropout: the dropout rate in [0, 1). Default 0.1.
        dtype: a Keras dtype policy name, or None (the default) for Keras' global policy.
        max_sequence_length: the size of the absolute-position table, whose rows are read
            from `pad_token_id` on (so inputs of up to max_sequence_length - pad_token_id
            tokens); not used by rotary positions. Default 1024.
        max_wavelength: the rotary embedding's longest wavelength, a number in (1, 1e12).
            Default 10000.
        layer_norm_eps: the epsilon of every layer norm, in (0, 0.1]. Default 1e-12.
        use_pre_layer_norm: whether the embeddings are layer-normalised before the first
            block (True or False). Default False.
        position_embedding_type: "rotary" (the default, ESM-2) or "absolute" (a learned
            table read from row `pad_token_id` on, ESM-1b style).
        pad_token_id: the id attention skips, a token id below `vocabulary_size`. Default 0,
            keras_hub's; ESM's vocabulary pads with 1 (<pad>), so set it to the
            tokenizer's `pad_token_id` (`ESMMaskedPLM` warns when they differ).
        token_dropout: whether to apply transformers' token dropout (<mask> embeddings
            zeroed, each sequence rescaled by its share of <mask>). Default False.
        mask_token_id: the <mask> id; required with `token_dropout`, ignored without it.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "esm_backbone").

    Examples:

    >>> import numpy as np
    >>> from mlm_cli.models import ESMBackbone
    >>> backbone = ESMBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...                        pad_token_id=1)
    >>> inputs = {"token_ids": np.array([[0, 18, 15, 11, 5, 2, 1, 1], [0, 6, 8, 4, 9, 12, 17, 2]], "int32")}
    >>> {key: tuple(value.shape) for key, value in backbone(inputs).items()}
    {'sequence_output': (2, 8, 8)}
    """

    config_keys = (
        "vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout", "max_wavelength",
        "use_bias",
        "activation", "layer_norm_eps", "use_pre_layer_norm", "position_embedding_type", "max_sequence_length",
        "pad_token_id",
    )
    extension_defaults = {"token_dropout": False, "mask_token_id": None}  # mask_token_id is set only with token_dropout

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, hidden_dim: int, intermediate_dim: int,
                 use_bias: bool = True, activation: str = "gelu", dropout: float = 0.1, dtype=None,
                 max_sequence_length: int = 1024, max_wavelength: float = 10000, layer_norm_eps: float = 1e-12,
                 use_pre_layer_norm: bool = False, position_embedding_type: str = "rotary", pad_token_id: int = 0,
                 token_dropout: bool = False, mask_token_id: int | None = None, **kwargs):
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length,
        )
        check_esm_settings(
            vocabulary_size, hidden_dim // num_heads, max_sequence_length, max_wavelength, layer_norm_eps,
            position_embedding_type,
            pad_token_id, token_dropout, mask_token_id, use_bias=use_bias, use_pre_layer_norm=use_pre_layer_norm,
        )
        activation_function = resolve_activation(activation)
        self.start(
            "esm_backbone",
            dtype,
            kwargs,
            **config,
            use_bias=use_bias,
            activation=activation,
            max_wavelength=max_wavelength,
            layer_norm_eps=float(layer_norm_eps),
            use_pre_layer_norm=use_pre_layer_norm,
            position_embedding_type=position_embedding_type,
            pad_token_id=int(pad_token_id),
            token_dropout=token_dropout,
            mask_token_id=mask_token_id if token_dropout else None,
        )
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=esm_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = (
            OffsetPositionEmbedding(max_sequence_length, hidden_dim, initializer=esm_initializer(), dtype=policy,
                                    name="position_embedding")
            if position_embedding_type == "absolute"
            else None
        )
        self.embeddings_norm = (
            keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=policy,
                                            name="embeddings_norm") if use_pre_layer_norm else None
        )
        self.encoder_blocks = [
            ESMEncoderBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation=activation_function,
                use_bias=use_bias,
                layer_norm_epsilon=layer_norm_eps,
                kernel_initializer=esm_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.output_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=policy, name="output_norm")
        self.build_all()

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    def call(self, inputs, training=None):
        token_ids = inputs["token_ids"]
        padding_mask = ops.not_equal(token_ids, self.pad_token_id)
        x = self.token_embedding(token_ids)
        if self.token_dropout:
            x = token_dropout(x, token_ids, padding_mask, self.mask_token_id)
        if self.position_embedding is not None:
            x = x + self.position_embedding(x, start=self.pad_token_id)
        if self.embeddings_norm is not None:
            x = self.embeddings_norm(x)
        cos = sin = None
        if self.position_embedding_type == "rotary":
            cos, sin = rotary_tables(token_ids.shape[1], self.head_dim, self.max_wavelength)
        for block in self.encoder_blocks:
            x = self.run_block(block, x, padding_mask, rotary_cos=cos, rotary_sin=sin, training=training)
        return {"sequence_output": self.output_norm(x)}
