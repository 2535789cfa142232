"""ESM's rotary position embedding: rotate each half-split query/key head by position-dependent angles.

Frequency i of a head of size d is `max_wavelength ** (-2i / d)`; the angles of a position
are its index times each frequency, repeated for the two halves of the head, and a head
x = [x1, x2] becomes `x * cos + [-x2, x1] * sin` (keras_hub's ESMRotaryEmbedding and
transformers' EsmRotaryEmbedding). Angles and the rotation run in float32.
"""

from __future__ import annotations

from keras import ops


def rotary_tables(length: int, head_dim: int, max_wavelength: float):
    """(cos, sin), each float32 [1, length, 1, head_dim], for positions 0 .. length - 1."""
    exponents = ops.arange(0, head_dim, 2, dtype="float32") / head_dim
    inverse_frequencies = 1.0 / ops.power(ops.convert_to_tensor(float(max_wavelength), "float32"), exponents)
    positions = ops.arange(length, dtype="float32")
    angles = ops.einsum("s,f->sf", positions, inverse_frequencies)
    angles = ops.concatenate([angles, angles], axis=-1)[None, :, None, :]
    return ops.cos(angles), ops.sin(angles)


def apply_rotary(x, cos, sin):
    """Rotate x [B, S, N, d] by the tables from `rotary_tables`; the result keeps x's dtype."""
    rotated = ops.cast(x, "float32")
    half = rotated.shape[-1] // 2
    turned = ops.concatenate([-rotated[..., half:], rotated[..., :half]], axis=-1)
    return ops.cast(rotated * cos + turned * sin, x.dtype)
