"""Rotary position embedding (RoPE) with interleaved pairs, as RoFormer applies it to queries and keys.

Each pair of features (2i, 2i+1) of a head is rotated by the angle position * theta_i,
theta_i = max_wavelength ** (-2i / head_size).
"""

from __future__ import annotations

from keras import ops


def rotary_tables(length, head_size: int, max_wavelength: float, dtype: str):
    """(cos, signed sin) tables shaped [1, length, 1, head_size] for inputs laid out [B, S, N, d].

    The sine table alternates -sin, +sin so that a rotation is one multiply-add with the
    pair-swapped input (see `apply_rotary`). Angles are computed in float32 from float32
    positions, then cast to `dtype`.
    """
    exponents = -2.0 * ops.arange(0, head_size // 2, dtype="float32") / head_size
    inverse_frequencies = ops.power(ops.cast(max_wavelength, "float32"), exponents)
    positions = ops.arange(0, length, dtype="float32")
    angles = positions[:, None] * inverse_frequencies[None, :]  # [S, d/2]
    cos = ops.repeat(ops.cos(angles), 2, axis=-1)
    sin = ops.sin(angles)
    signed_sin = ops.reshape(ops.stack([-sin, sin], axis=-1), (length, head_size))
    shape = (1, length, 1, head_size)
    return ops.reshape(ops.cast(cos, dtype), shape), ops.reshape(ops.cast(signed_sin, dtype), shape)


def apply_rotary(x, cos, signed_sin):
    """Rotate each feature pair of x [B, S, N, d]: (a, b) -> (a cos - b sin, b cos + a sin)."""
    shape = ops.shape(x)
    pairs = ops.reshape(x, (*shape[:-1], shape[-1] // 2, 2))
    swapped = ops.reshape(ops.flip(pairs, axis=-1), shape)
    return x * cos + swapped * signed_sin
