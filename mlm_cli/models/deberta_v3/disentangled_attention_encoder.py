"""One DeBERTa encoder layer: BERT's post-layer-norm block, with disentangled self-attention and exact GELU."""

from __future__ import annotations

import keras

from mlm_cli.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention
from mlm_cli.models.layers.transformer_encoder import TransformerEncoderBlock


def gelu_exact(x):
    """GELU with the error function (keras_hub's `keras.activations.gelu` and transformers' "gelu")."""
    return keras.activations.gelu(x, approximate=False)


class DisentangledAttentionEncoder(TransformerEncoderBlock):
    """Attention and feed-forward sub-blocks, each: dropout, residual add, then layer norm."""

    attention_class = DisentangledSelfAttention

    def __init__(self, hidden_dim: int, num_heads: int, intermediate_dim: int, dropout: float = 0.0,
                 layer_norm_epsilon: float = 1e-7, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(
            hidden_dim, num_heads, intermediate_dim, dropout, activation=gelu_exact,
            layer_norm_epsilon=layer_norm_epsilon, kernel_initializer=kernel_initializer, **kwargs,
        )

    def call(self, x, relative_embeddings, position_index, padding_mask, training=None):
        attended = self.attention(x, relative_embeddings, position_index, padding_mask, training=training)
        x = self.attention_norm(self.attention_dropout(attended, training=training) + x)
        transformed = self.output_dense(self.intermediate_dense(x))
        return self.feedforward_norm(self.feedforward_dropout(transformed, training=training) + x)
