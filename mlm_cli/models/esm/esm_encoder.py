"""One ESM transformer block: pre-layer-norm self-attention and feed-forward, each added to the residual."""

from __future__ import annotations

import keras

from mlm_cli.models.esm.esm_attention import ESMSelfAttention
from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.dropout import Dropout


class ESMEncoderBlock(keras.layers.Layer):
    """keras_hub's ESMEncoder: x + attention(norm(dropout(x))), then x + dropout(ffn(norm(dropout(x)))).

    keras_hub drops out the residual stream before each layer norm (on the branch only) and
    the feed-forward output; there is no dropout on the attention output or probabilities.
    """

    def __init__(self, hidden_dim: int, num_heads: int, intermediate_dim: int, dropout: float = 0.0, activation="gelu",
                 use_bias: bool = True, layer_norm_epsilon: float = 1e-12, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                              name="attention_norm")
        self.attention = ESMSelfAttention(
            hidden_dim, num_heads, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=policy,
            name="self_attention"
        )
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                                name="feedforward_norm")
        self.intermediate_dense = AdaptableDense(
            intermediate_dim, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            dtype=policy, name="intermediate"
        )
        self.output_dense = AdaptableDense(
            hidden_dim, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=policy,
            name="feedforward_output"
        )
        self.dropout = Dropout(dropout, dtype=policy, name="dropout")

    def build(self, input_shape=None):
        hidden = (None, self.hidden_dim)
        self.attention_norm.build(hidden)
        self.attention.build(hidden)
        self.feedforward_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_dim))
        self.built = True

    def call(self, x, padding_mask, rotary_cos=None, rotary_sin=None, training=None):
        branch = self.attention_norm(self.dropout(x, training=training))
        x = x + self.attention(branch, padding_mask, rotary_cos=rotary_cos, rotary_sin=rotary_sin)
        branch = self.feedforward_norm(self.dropout(x, training=training))
        feedforward = self.output_dense(self.intermediate_dense(branch))
        return x + self.dropout(feedforward, training=training)
