"""FNet's encoder block: Fourier mixing in place of self-attention, then a feed-forward network."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.dropout import Dropout


def fourier_mixing(x):
    """The real part of the 2-D discrete Fourier transform over (sequence, hidden) of x [B, S, H].

    Computed in float32 whatever the compute dtype: a transform sums over every position,
    and bfloat16 sums of that length lose most of their digits.
    """
    real = ops.cast(x, "float32")
    mixed, _ = ops.fft2((real, ops.zeros_like(real)))
    return ops.cast(mixed, x.dtype)


class FNetEncoderBlock(keras.layers.Layer):
    """Post-layer-norm block: x = norm(x + fourier(x)); x = norm(x + dropout(dense(act(dense(x))))).

    No attention, hence no padding mask: padded positions take part in the mixing, as in FNet.
    """

    def __init__(
        self,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.0,
        activation="gelu",
        layer_norm_epsilon: float = 1e-12,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        policy = self.dtype_policy
        self.mixing_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name="mixing_norm")
        self.intermediate_dense = AdaptableDense(
            intermediate_dim,
            activation=activation,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            dtype=policy,
            name="intermediate",
        )
        self.output_dense = AdaptableDense(
            hidden_dim, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer, dtype=policy,
            name="feedforward_output"
        )
        self.output_dropout = Dropout(dropout, dtype=policy, name="output_dropout")
        self.output_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name="output_norm")

    def build(self, input_shape=None):
        hidden = (None, self.hidden_dim)
        self.mixing_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_dim))
        self.output_norm.build(hidden)
        self.built = True

    def call(self, x, training=None):
        x = self.mixing_norm(x + fourier_mixing(x))
        feedforward = self.output_dropout(self.output_dense(self.intermediate_dense(x)), training=training)
        return self.output_norm(x + feedforward)
