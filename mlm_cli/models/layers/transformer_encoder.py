"""One transformer encoder block (post- or pre-layer-norm)."""

from __future__ import annotations

import keras

from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.attention import SelfAttention
from mlm_cli.models.layers.dropout import Dropout


class TransformerEncoderBlock(keras.layers.Layer):
    """Self-attention and feed-forward sub-blocks, each with dropout, residual and layer norm.

    With `normalize_first=False` (BERT) the layer norm follows each residual add.
    """

    # Built as attention_class(hidden_dim, num_heads, dropout=..., kernel_initializer=..., dtype=..., name=...).
    attention_class: type[keras.layers.Layer] = SelfAttention

    def __init__(self, hidden_dim: int, num_heads: int, intermediate_dim: int, dropout: float = 0.0, activation="gelu",
                 layer_norm_epsilon: float = 1e-12, normalize_first: bool = False, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.normalize_first = normalize_first
        policy = self.dtype_policy
        self.attention = self.attention_class(
            hidden_dim, num_heads, dropout=dropout, kernel_initializer=kernel_initializer, dtype=policy,
            name="self_attention"
        )
        self.attention_dropout = Dropout(dropout, dtype=policy)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                              name="attention_norm")
        self.intermediate_dense = AdaptableDense(
            intermediate_dim, activation=activation, kernel_initializer=kernel_initializer, dtype=policy,
            name="intermediate"
        )
        self.output_dense = AdaptableDense(
            hidden_dim, kernel_initializer=kernel_initializer, dtype=policy, name="feedforward_output"
        )
        self.feedforward_dropout = Dropout(dropout, dtype=policy)
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                                name="feedforward_norm")

    def build(self, input_shape=None):
        hidden = (None, self.hidden_dim)
        self.attention.build(hidden)
        self.attention_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, self.intermediate_dim))
        self.feedforward_norm.build(hidden)
        self.built = True

    def call(self, x, padding_mask, training=None):
        residual = x
        if self.normalize_first:
            x = self.attention_norm(x)
        x = self.attention(x, padding_mask, training=training)
        x = self.attention_dropout(x, training=training) + residual
        if not self.normalize_first:
            x = self.attention_norm(x)

        residual = x
        if self.normalize_first:
            x = self.feedforward_norm(x)
        x = self.output_dense(self.intermediate_dense(x))
        x = self.feedforward_dropout(x, training=training) + residual
        if not self.normalize_first:
            x = self.feedforward_norm(x)
        return x
