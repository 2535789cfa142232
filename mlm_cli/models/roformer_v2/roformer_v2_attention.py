"""RoFormerV2 self-attention: fused QKV projection, rotary positions on queries and keys, no attention dropout."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.roformer_v2.roformer_v2_rotary import apply_rotary, rotary_tables


class RotarySelfAttention(keras.layers.Layer):
    """Multi-head self-attention whose positions come only from rotating queries and keys.

    One [H, 3 * N * d] dense computes queries, keys and values (keras_hub keeps three
    dense layers; the weights module splits and joins them). Attention probabilities
    are never dropped out (keras_hub's RoFormerV2 has no such dropout), so the backend's
    fused kernel (keras.ops.dot_product_attention) always runs. `padding_mask` is bool
    [B, S], True for keys that may be attended to.
    """

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        head_size: int,
        use_bias: bool = False,
        max_wavelength: float = 10000,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.head_size = int(head_size)
        self.max_wavelength = max_wavelength
        inner = self.num_heads * self.head_size
        self.qkv_dense = AdaptableDense(
            3 * inner, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=self.dtype_policy, name="qkv"
        )
        self.output_dense = AdaptableDense(
            inner, use_bias=use_bias, kernel_initializer=kernel_initializer, dtype=self.dtype_policy,
            name="attention_output"
        )

    def build(self, input_shape=None):
        self.qkv_dense.build((None, self.hidden_dim))
        self.output_dense.build((None, self.num_heads * self.head_size))
        self.built = True

    def call(self, x, padding_mask):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv_dense(x), (batch, length, 3, self.num_heads, self.head_size))
        cos, signed_sin = rotary_tables(length, self.head_size, self.max_wavelength, self.compute_dtype)
        query = apply_rotary(qkv[:, :, 0], cos, signed_sin)
        key = apply_rotary(qkv[:, :, 1], cos, signed_sin)
        mask = padding_mask[:, None, None, :]  # [B, 1, 1, S]: every query skips padded keys
        out = ops.dot_product_attention(query, key, qkv[:, :, 2], mask=mask)
        return self.output_dense(ops.reshape(out, (batch, length, self.num_heads * self.head_size)))
