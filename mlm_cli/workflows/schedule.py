"""Learning-rate schedules: linear warm-up, then linear, cosine, constant or inverse-square-root.

The shapes after warm-up are transformers' (`get_scheduler`): linear and cosine fall to zero
at the last step (cosine as a half cosine wave), constant holds the peak, and inverse_sqrt
falls as 1/sqrt(step) from the end of warm-up (its time scale is the warm-up length, 10,000
steps without warm-up).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from mlm_cli.workflows.train_options import SCHEDULES

INVERSE_SQRT_SCALE_WITHOUT_WARMUP = 10_000  # transformers' timescale when there is no warm-up


class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then follows `shape` (one of SCHEDULES).

    Linear and cosine reach 0 at `total_steps`; without `total_steps` (the length of the
    stream unknown) they stay at `peak` after warm-up, as constant does.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int | None = None, shape: str = "linear"):
        if shape not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {shape!r}")
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps) if total_steps else None
        self.shape = shape

    def __call__(self, step):
        return self.peak * self._factor(ops.cast(step, "float32"), ops)

    def value_at(self, step: int) -> float:
        """The learning rate at `step`, as a Python float (for logs)."""
        return self.peak * float(self._factor(float(step), _FloatOps))

    def _factor(self, step, math_ops):
        """The multiplier of `peak` at `step`, with `math_ops` either keras.ops (tensors) or _FloatOps."""
        warmup = math_ops.minimum(1.0, (step + 1.0) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.shape == "inverse_sqrt":
            scale = self.warmup_steps or INVERSE_SQRT_SCALE_WITHOUT_WARMUP
            shift = scale - self.warmup_steps  # without warm-up, 1 at step 0, then a slow fall
            # transformers' 1 / sqrt((step + shift) / scale); step 0 of a warm-up is the warm-up's
            decay = math_ops.sqrt(scale / math_ops.maximum(step + shift, 1.0))
            return math_ops.minimum(warmup, decay)
        if self.shape == "constant" or self.total_steps is None:
            return warmup
        span = max(1, self.total_steps - self.warmup_steps)
        remaining = math_ops.clip((self.total_steps - step) / span, 0.0, 1.0)
        if self.shape == "cosine":
            remaining = 0.5 * (1.0 - math_ops.cos(math.pi * remaining))
        return math_ops.minimum(warmup, remaining)

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps,
                "shape": self.shape}


class _FloatOps:
    """The few keras.ops functions `_factor` uses, on Python floats."""

    minimum = staticmethod(min)
    maximum = staticmethod(max)
    sqrt = staticmethod(math.sqrt)
    cos = staticmethod(math.cos)

    @staticmethod
    def clip(value: float, low: float, high: float) -> float:
        return min(high, max(low, value))
