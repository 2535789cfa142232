"""One DeBERTa encoder layer: disentangled self-attention and a GELU feed-forward, each post-layer-normed."""

from __future__ import annotations

import keras

from mlm_cli.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention
from mlm_cli.models.layers.dropout import Dropout


def gelu_exact(x):
    """GELU with the error function (keras_hub's `keras.activations.gelu` and transformers' "gelu")."""
    return keras.activations.gelu(x, approximate=False)


class DisentangledAttentionEncoder(keras.layers.Layer):
    """Attention and feed-forward sub-blocks, each: dropout, residual add, then layer norm."""

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        intermediate_dim: int,
        dropout: float = 0.0,
        layer_norm_epsilon: float = 1e-7,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        policy = self.dtype_policy
        self.attention = DisentangledSelfAttention(
            hidden_dim, num_heads, dropout=dropout, kernel_initializer=kernel_initializer, dtype=policy, name="self_attention"
        )
        self.attention_dropout = Dropout(dropout, dtype=policy)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name="attention_norm")
        self.intermediate_dense = keras.layers.Dense(
            intermediate_dim, activation=gelu_exact, kernel_initializer=kernel_initializer, dtype=policy, name="intermediate"
        )
        self.output_dense = keras.layers.Dense(hidden_dim, kernel_initializer=kernel_initializer, dtype=policy, name="feedforward_output")
        self.feedforward_dropout = Dropout(dropout, dtype=policy)
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name="feedforward_norm")

    def build(self, input_shape=None):
        hidden = (None, self.hidden_dim)
        self.attention.build(hidden)
        self.attention_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_dim))
        self.feedforward_norm.build(hidden)
        self.built = True

    def call(self, x, relative_embeddings, position_index, padding_mask, training=None):
        attended = self.attention(x, relative_embeddings, position_index, padding_mask, training=training)
        x = self.attention_norm(self.attention_dropout(attended, training=training) + x)
        transformed = self.output_dense(self.intermediate_dense(x))
        return self.feedforward_norm(self.feedforward_dropout(transformed, training=training) + x)
