"""ESM's input embeddings: absolute positions that start at the pad id, and transformers' token dropout."""

from __future__ import annotations

from keras import ops

from mlm_cli.models.layers.embeddings import PositionEmbedding

# The share of tokens replaced by <mask> in ESM's pretraining (15% selected, 80% of those masked).
TRAINING_MASK_RATIO = 0.15 * 0.8


class OffsetPositionEmbedding(PositionEmbedding):
    """Learned absolute positions read from row `start` on, as keras_hub's ESM does with `start_index=pad_token_id`."""

    def call(self, inputs, start: int = 0):
        """Position embeddings [1, S, H] for inputs shaped [B, S, ...]: rows start .. start + S - 1."""
        length = inputs.shape[1]
        if start + length > self.sequence_length:
            raise ValueError(
                f"sequences of {length} tokens need position {start + length - 1}, but the model has "
                f"{self.sequence_length} positions"
            )
        table = ops.cast(self.embeddings, self.compute_dtype)
        return ops.expand_dims(table[start : start + length], 0)


def token_dropout(embeddings, token_ids, padding_mask, mask_token_id: int):
    """transformers' ESM "token dropout": <mask> embeddings become zero, and every sequence is scaled
    by (1 - TRAINING_MASK_RATIO) / (1 - its own share of <mask> among its real tokens)."""
    is_mask = ops.equal(token_ids, mask_token_id)
    embeddings = ops.where(ops.expand_dims(is_mask, -1), ops.zeros_like(embeddings), embeddings)
    masked = ops.sum(ops.cast(is_mask, "float32"), axis=-1)
    real = ops.maximum(ops.sum(ops.cast(padding_mask, "float32"), axis=-1), 1.0)
    scale = (1.0 - TRAINING_MASK_RATIO) / (1.0 - masked / real)
    return embeddings * ops.cast(scale[:, None, None], embeddings.dtype)
