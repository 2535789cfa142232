"""The RoFormerV2 encoder: token + segment embeddings, RMS norm, rotary-attention blocks; no position table."""

from __future__ import annotations

import math

import keras
from keras import ops

from mlm_cli.models.backbone import MAX_SIZES, Backbone
from mlm_cli.models.family_examples import append_to_doc, backbone_example
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import TokenEmbedding
from mlm_cli.models.roformer_v2.roformer_v2_encoder import RoformerV2EncoderBlock
from mlm_cli.models.roformer_v2.roformer_v2_norm import RMSNorm

# Feed-forward activations a preset may name (keras_hub stores keras's serialized name).
ACTIVATIONS = {
    name: getattr(keras.activations, name)
    for name in ("relu", "gelu", "silu", "tanh", "sigmoid", "elu", "selu", "softplus", "relu6", "leaky_relu", "mish",
                 "linear")
}
MAX_WAVELENGTH_LIMIT = 1e12


def roformer_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """RoFormerV2's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def _check_max_wavelength(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int,
        float)) or not 1 < value <= MAX_WAVELENGTH_LIMIT or math.isnan(value):
        raise ValueError(f"max_wavelength must be a number in (1, {MAX_WAVELENGTH_LIMIT:g}], got {value!r}")


@append_to_doc(backbone_example(
    "RoformerV2", "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, head_size=4",
    {"token_ids": 'np.array([[2, 5, 6, 7, 8, 3, 0, 0], [2, 13, 14, 15, 16, 5, 17, 3]], "int32")',
      "segment_ids": 'np.zeros((2, 8), "int32")'},
    "{'sequence_output': (2, 8, 8)}",
))
class RoformerV2Backbone(Backbone):
    """RoFormerV2 encoder network.

    Inputs: dict of `token_ids` int [B, S] and `segment_ids` int [B, S]; a `padding_mask`
    entry is accepted and ignored: like keras_hub, attention skips the keys whose token
    id is 0. Output: dict with `sequence_output` [B, S, H].

    Positions enter only through rotary embeddings in attention, so there is no learned
    position table and no length limit beyond mlm's general bound (`max_sequence_length`).

    Since attention skips id 0, padding must be token id 0 ([PAD] at id 0 in the vocabulary).
    A missing `segment_ids` counts as all zeros. Embeddings and blocks are
    normalised with an RMS norm (a learned scale, no offset).

    Args:
        vocabulary_size: the number of token-embedding rows.
        num_layers: the number of transformer blocks.
        num_heads: the number of attention heads.
        hidden_dim: the width of the hidden states (H); must equal num_heads * head_size.
        intermediate_dim: the width of each block's feed-forward layer.
        head_size: the width of each attention head; even, for the rotary embedding.
        use_bias: whether the dense layers have biases (True or False). Default False.
        activation: the feed-forward activation, by Keras name: one of "relu" (the
            default), "gelu", "silu", "tanh", "sigmoid", "elu", "selu", "softplus", "relu6",
            "leaky_relu", "mish", "linear".
        dropout: the dropout rate in [0, 1). Default 0.1.
        num_segments: the number of segment-embedding rows. Default 2.
        dtype: a Keras dtype policy name, or None (the default) for Keras' global policy.
        max_wavelength: the rotary embedding's longest wavelength, a number in (1, 1e12].
            Default 10000.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "roformer_v2_backbone").
    """

    max_sequence_length = MAX_SIZES["max_sequence_length"]
    config_keys = (
        "vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout", "num_segments",
        "max_wavelength",
        "head_size", "use_bias", "activation",
    )

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, hidden_dim: int, intermediate_dim: int,
                 head_size: int, use_bias: bool = False, activation: str = "relu", dropout: float = 0.1,
                 num_segments: int = 2, dtype=None, max_wavelength: float = 10000, **kwargs):
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, head_size=head_size, num_segments=num_segments,
        )
        _check_flag("use_bias", use_bias)
        _check_max_wavelength(max_wavelength)
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if num_heads * head_size != hidden_dim:
            raise ValueError(f"num_heads * head_size ({num_heads} * {head_size}) must equal hidden_dim ({hidden_dim})")
        if head_size % 2:
            raise ValueError(f"head_size must be even for rotary position embeddings, got {head_size}")
        self.start(
            "roformer_v2_backbone", dtype, kwargs, **config, use_bias=use_bias, activation=activation,
            max_wavelength=max_wavelength
        )
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=roformer_initializer(), dtype=policy, name="token_embedding"
        )
        self.segment_embedding = TokenEmbedding(
            num_segments, hidden_dim, initializer=roformer_initializer(), dtype=policy, name="segment_embedding"
        )
        self.embeddings_norm = RMSNorm(dtype=policy, name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_blocks = [
            RoformerV2EncoderBlock(
                hidden_dim,
                num_heads,
                head_size,
                intermediate_dim,
                activation=ACTIVATIONS[activation],
                dropout=dropout,
                use_bias=use_bias,
                max_wavelength=max_wavelength,
                kernel_initializer=roformer_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.build_all()

    def call(self, inputs, training=None):
        token_ids = inputs["token_ids"]
        padding_mask = ops.not_equal(token_ids, 0)
        segment_ids = inputs.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        x = self.token_embedding(token_ids) + self.segment_embedding(segment_ids)
        x = self.embeddings_dropout(self.embeddings_norm(x), training=training)
        for block in self.encoder_blocks:
            x = self.run_block(block, x, padding_mask, training=training)
        return {"sequence_output": x}
