"""DeBERTa's log-bucketed relative positions: which row of the relative embedding table a (query, key) pair reads."""

from __future__ import annotations

from keras import ops


def relative_position_index(length, bucket_size: int, max_sequence_length: int):
    """Int32 [S, S]: for query q and key k, the table row `clip(bucket(q - k) + bucket_size, 0, 2 * bucket_size - 1)`.

    Distances up to half the bucket size keep their own bucket; longer ones share
    logarithmically wider buckets reaching `bucket_size - 1` at `max_sequence_length - 1`.
    The float32 arithmetic follows keras_hub's operation order, so bucket edges match it.
    """
    positions = ops.arange(length, dtype="int32")
    relative = ops.expand_dims(positions, 1) - ops.expand_dims(positions, 0)
    buckets = log_bucket(relative, bucket_size, max_sequence_length)
    return ops.clip(buckets + bucket_size, 0, 2 * bucket_size - 1)


def log_bucket(relative, bucket_size: int, max_sequence_length: int):
    """Bucketed relative distances (int32, same shape): exact within +-bucket_size // 2, logarithmic beyond."""
    half = bucket_size // 2
    distance = ops.abs(relative)
    # Distances inside the exact range never use the logarithm; clamping them keeps it finite.
    far = ops.cast(ops.maximum(distance, half), "float32")
    half_f = ops.cast(half, "float32")
    numerator = ops.log(far / half_f) * ops.cast(half - 1, "float32")
    denominator = ops.log(ops.cast(max_sequence_length - 1, "float32") / half_f)
    far_bucket = ops.cast(ops.ceil(numerator / denominator), "int32") + half
    return ops.where(distance <= half, relative, ops.sign(relative) * far_bucket)
