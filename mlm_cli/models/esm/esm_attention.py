"""ESM self-attention: fused query/key/value projection, optional rotary positions, padded keys masked."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.esm.esm_rotary_embedding import apply_rotary
from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.attention import scaled_dot_product_attention


class ESMSelfAttention(keras.layers.Layer):
    """Multi-head self-attention without attention dropout (as keras_hub's EsmSelfAttention).

    keras_hub keeps separate query/key/value dense layers; here they are one [H, 3H]
    projection (the weights mapping splits and joins them). Padded positions are masked
    as keys; on JAX keras_hub masks them as queries instead, which lets real tokens attend
    to padding — mlm follows keras_hub's torch backend and transformers.
    """

    def __init__(self, hidden_dim: int, num_heads: int, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.hidden_dim // self.num_heads
        policy = self.dtype_policy
        self.qkv_dense = AdaptableDense(
            3 * self.hidden_dim, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=policy, name="qkv"
        )
        self.output_dense = AdaptableDense(
            self.hidden_dim, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=policy,
            name="attention_output"
        )

    def build(self, input_shape=None):
        self.qkv_dense.build((None, self.hidden_dim))
        self.output_dense.build((None, self.hidden_dim))
        self.built = True

    def call(self, x, padding_mask, rotary_cos=None, rotary_sin=None):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv_dense(x), (batch, length, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if rotary_cos is not None:
            query = apply_rotary(query, rotary_cos, rotary_sin)
            key = apply_rotary(key, rotary_cos, rotary_sin)
        out = scaled_dot_product_attention(query, key, value, padding_mask, 0.0, False, None)
        return self.output_dense(ops.reshape(out, (batch, length, self.hidden_dim)))
