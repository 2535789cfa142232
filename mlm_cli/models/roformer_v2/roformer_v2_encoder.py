"""One RoFormerV2 encoder block: rotary self-attention and a feed-forward network, each post-RMS-normed."""

from __future__ import annotations

import keras

from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.roformer_v2.roformer_v2_attention import RotarySelfAttention
from mlm_cli.models.roformer_v2.roformer_v2_norm import RMSNorm


class RoformerV2EncoderBlock(keras.layers.Layer):
    """x = norm(x + dropout(attention(x))); x = norm(x + dropout(W2 act(W1 x))).

    Dense layers carry biases only with `use_bias`; the norms have a scale and no offset.
    """

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        head_size: int,
        intermediate_dim: int,
        activation,
        dropout: float = 0.0,
        use_bias: bool = False,
        max_wavelength: float = 10000,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        policy = self.dtype_policy
        self.attention = RotarySelfAttention(
            hidden_dim,
            num_heads,
            head_size,
            use_bias=use_bias,
            max_wavelength=max_wavelength,
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="self_attention",
        )
        self.attention_dropout = Dropout(dropout, dtype=policy, name="attention_dropout")
        self.attention_norm = RMSNorm(dtype=policy, name="attention_norm")
        self.intermediate_dense = AdaptableDense(
            intermediate_dim,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="intermediate",
        )
        self.output_dense = AdaptableDense(
            hidden_dim, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=policy,
            name="feedforward_output"
        )
        self.feedforward_dropout = Dropout(dropout, dtype=policy, name="feedforward_dropout")
        self.feedforward_norm = RMSNorm(dtype=policy, name="feedforward_norm")

    def build(self, input_shape=None):
        hidden = (None, self.hidden_dim)
        self.attention.build(hidden)
        self.attention_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_dim))
        self.feedforward_norm.build(hidden)
        self.built = True

    def call(self, x, padding_mask, training=None):
        attended = self.attention(x, padding_mask)
        x = self.attention_norm(x + self.attention_dropout(attended, training=training))
        transformed = self.output_dense(self.intermediate_dense(x))
        return self.feedforward_norm(x + self.feedforward_dropout(transformed, training=training))
