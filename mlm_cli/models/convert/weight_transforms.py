"""Tensor layout transforms between transformers' state dicts and keras_hub's `.weights.h5` arrays.

A `Transform` is a pair (to keras_hub, to transformers) of functions on numpy arrays;
converters list (transformers name, keras_hub path, transform) for every tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Transform = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]

SAME: Transform = (lambda x: x, lambda x: x)
TRANSPOSED: Transform = (lambda x: x.T, lambda x: x.T)  # torch Linear [out, in] <-> Keras Dense [in, out]


def kernel_to_heads(h: int, a: int) -> Transform:
    """A [H_out, H_in] linear weight <-> keras_hub's per-head [H_in, A, d] query/key/value kernel."""
    return (lambda x: x.T.reshape(h, a, h // a), lambda x: x.reshape(h, h).T)


def bias_to_heads(h: int, a: int) -> Transform:
    """A [H] bias <-> keras_hub's per-head [A, d] bias."""
    return (lambda x: x.reshape(a, h // a), lambda x: x.reshape(h))


def kernel_from_heads(h: int, a: int) -> Transform:
    """A [H_out, H_in] linear weight <-> keras_hub's per-head [A, d, H_out] attention-output kernel."""
    return (lambda x: x.T.reshape(a, h // a, h), lambda x: x.reshape(h, h).T)


def token_text(value: Any) -> Any:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken object with `content`."""
    return value.get("content") if isinstance(value, dict) else value
