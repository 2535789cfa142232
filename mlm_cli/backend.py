"""Choose the Keras backend once per process, before keras is imported."""

from __future__ import annotations

import os
import sys

from mlm_cli.errors import BadInputError

SUPPORTED_BACKENDS = ("torch", "jax")
# PyTorch is the default: with mixed_bfloat16 it trains fastest on CPUs with bf16 matrix
# instructions, where XLA gains nothing from bf16 (bench/train_speed.py, bert_small on
# 2 AVX-512 BF16 cores: 4,851 vs JAX's best 1,885 tokens/s). JAX stays first-class and
# is slightly faster in pure float32.
DEFAULT_BACKEND = "torch"


def requested_backend(name: str | None = None) -> str:
    """The backend to use: `name`, else KERAS_BACKEND, else the project default."""
    chosen = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if chosen not in SUPPORTED_BACKENDS:
        raise BadInputError(
            f"unsupported backend {chosen!r}",
            hint=f"use one of: {', '.join(SUPPORTED_BACKENDS)} (flag --backend or KERAS_BACKEND)",
        )
    return chosen


def configure_backend(name: str | None = None) -> str:
    """Set KERAS_BACKEND for this process and return it.

    Must run before keras is imported; if keras is already loaded with a different
    backend, that is an error rather than a silent mismatch.
    """
    chosen = requested_backend(name)
    if "keras" in sys.modules:
        import keras

        active = keras.backend.backend()
        if active != chosen:
            raise BadInputError(
                f"keras is already running on the {active!r} backend, cannot switch to {chosen!r}",
                hint="choose the backend before importing keras (KERAS_BACKEND)",
            )
        return chosen
    os.environ["KERAS_BACKEND"] = chosen
    return chosen
