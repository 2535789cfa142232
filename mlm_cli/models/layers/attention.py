"""Multi-head self-attention with one fused query/key/value projection."""

from __future__ import annotations

import math

import keras
from keras import ops

from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.dropout import dropout


def scaled_dot_product_attention(query, key, value, padding_mask, dropout_rate: float, training: bool, seed_generator):
    """Attention over [B, S, N, d] tensors; `padding_mask` is bool [B, S] (True = real token).

    Uses the backend's fused kernel when no attention dropout is needed (inference, or
    dropout 0). With dropout, the probabilities are materialised: on torch with mlm's cheap
    dropout mask (on CPU that beats SDPA's own dropout, which draws floats per element),
    elsewhere with Keras ops. Softmax accumulates in float32 either way (with bfloat16 scores on
    torch its output is stored in bfloat16, the dtype the probabilities are multiplied in).
    """
    mask = padding_mask[:, None, None, :]
    if not (training and dropout_rate > 0):
        return ops.dot_product_attention(query, key, value, mask=mask)
    if keras.backend.backend() == "torch":
        import torch

        q, k, v = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)  # [B, N, S, d]
        # Scaling q (S x d) is cheaper than scaling the scores (S x S); softmax reads the
        # compute-dtype scores and works in float32 without a separate upcast copy.
        scores = torch.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.transpose(-1, -2))
        # The dtype's lowest finite value (float16 cannot hold -1e9): a row without real tokens stays NaN-free.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        if scores.dtype == torch.bfloat16:
            # The kernel accumulates in float32 and rounds its output to bfloat16, as the product
            # below needs it: a float32 copy would only add two casts and double dropout's traffic.
            probs = torch.softmax(scores, dim=-1)
        else:
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        probs = dropout(probs, dropout_rate)
        return torch.matmul(probs.to(v.dtype), v).transpose(1, 2)
    scale = 1.0 / math.sqrt(query.shape[-1])
    scores = ops.einsum("bqnd,bknd->bnqk", query, key)
    scores = ops.cast(scores, "float32") * scale
    scores = ops.where(mask, scores, -1e9)
    probs = ops.softmax(scores, axis=-1)
    probs = dropout(probs, dropout_rate, seed_generator)
    probs = ops.cast(probs, value.dtype)
    return ops.einsum("bnqk,bknd->bqnd", probs, value)


class SelfAttention(keras.layers.Layer):
    """Self-attention: fused QKV dense -> per-head attention -> output dense."""

    def __init__(self, hidden_dim: int, num_heads: int, dropout: float = 0.0, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads})")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.hidden_dim // self.num_heads
        self.dropout = float(dropout)
        self.qkv_dense = AdaptableDense(
            3 * self.hidden_dim, kernel_initializer=kernel_initializer, dtype=self.dtype_policy, name="qkv"
        )
        self.output_dense = AdaptableDense(
            self.hidden_dim, kernel_initializer=kernel_initializer, dtype=self.dtype_policy, name="attention_output"
        )
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape=None):
        self.qkv_dense.build((None, self.hidden_dim))
        self.output_dense.build((None, self.hidden_dim))
        self.built = True

    def call(self, x, padding_mask, training=None):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = self.qkv_dense(x)
        qkv = ops.reshape(qkv, (batch, length, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        out = scaled_dot_product_attention(
            query, key, value, padding_mask, self.dropout, bool(training), self.seed_generator
        )
        out = ops.reshape(out, (batch, length, self.hidden_dim))
        return self.output_dense(out)
