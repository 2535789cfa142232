"""DeBERTa's disentangled self-attention: content-to-content plus content-to-position and position-to-content scores."""

from __future__ import annotations

import math

import keras
from keras import ops

from mlm_cli.models.layers.adaptable_dense import AdaptableDense
from mlm_cli.models.layers.dropout import dropout

MASKED_SCORE = -1e9  # keras_hub's softmax mask value for float32 scores


class DisentangledSelfAttention(keras.layers.Layer):
    """Self-attention whose scores add relative-position terms to the usual query-key product.

    For query q and key k with relative-table row r = index[q, k]:
    score = (Q_q . K_k + Q_q . Kr_r + K_k . Qr_r) / sqrt(3 d), where Qr and Kr are the
    shared relative embeddings projected by this layer's own query and key weights.
    Query, key and value share one fused [H, 3H] projection. Scores, mask and softmax
    are float32 whatever the compute dtype.
    """

    def __init__(self, hidden_dim: int, num_heads: int, dropout: float = 0.0, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads})")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.hidden_dim // self.num_heads
        self.dropout = float(dropout)
        self.scale = 1.0 / math.sqrt(3 * self.head_dim)  # three score terms
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

    def call(self, x, relative_embeddings, position_index, padding_mask, training=None):
        """x [B, S, H]; relative_embeddings [2K, H]; position_index int [S, S]; padding_mask bool [B, S]."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv_dense(x), (batch, length, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0] * self.scale, qkv[:, :, 1], qkv[:, :, 2]
        position_query, position_key = self._project_positions(relative_embeddings, training)

        content = ops.einsum("bqnd,bknd->bnqk", query, key)
        index = ops.expand_dims(ops.expand_dims(position_index, 0), 0)  # [1, 1, S, S], broadcast by the gather
        content_to_position = ops.take_along_axis(ops.einsum("bqnd,rnd->bnqr", query, position_key), index, axis=3)
        # Gathered per key row with the transposed index, then transposed back to [query, key].
        key_index = ops.transpose(index, (0, 1, 3, 2))
        position_to_content = ops.take_along_axis(ops.einsum("bknd,rnd->bnkr", key, position_query), key_index, axis=3)
        position_to_content = ops.transpose(position_to_content, (0, 1, 3, 2))

        scores = ops.cast(content, "float32") + ops.cast(content_to_position, "float32") + ops.cast(
            position_to_content, "float32")
        scores = ops.where(padding_mask[:, None, None, :], scores, MASKED_SCORE)
        probs = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            probs = dropout(probs, self.dropout, self.seed_generator)
        out = ops.einsum("bnqk,bknd->bqnd", ops.cast(probs, value.dtype), value)
        return self.output_dense(ops.reshape(out, (batch, length, self.hidden_dim)))

    def _project_positions(self, relative_embeddings, training):
        """The relative table through this layer's query and key projections: two [2K, N, d] tensors."""
        if training and self.dropout > 0:
            relative_embeddings = dropout(relative_embeddings, self.dropout, self.seed_generator)
        # The query and key columns, with their LoRA adapters if any.
        kernel = ops.cast(self.qkv_dense.effective_kernel()[:, : 2 * self.hidden_dim], self.compute_dtype)
        bias = ops.cast(self.qkv_dense.bias[: 2 * self.hidden_dim], self.compute_dtype)
        projected = ops.matmul(relative_embeddings, kernel) + bias
        projected = ops.reshape(projected, (-1, 2, self.num_heads, self.head_dim))
        return projected[:, 0] * self.scale, projected[:, 1]
