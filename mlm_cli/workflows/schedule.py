"""Learning-rate schedule: linear warm-up, then linear decay to zero."""

from __future__ import annotations

import keras
from keras import ops


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then falls linearly to 0 at `total_steps`.

    Without `total_steps` (length of the stream unknown) it stays at `peak` after warm-up.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int | None = None):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps) if total_steps else None

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.minimum(1.0, (step + 1.0) / max(1, self.warmup_steps)) if self.warmup_steps else 1.0
        if self.total_steps is None:
            return self.peak * warmup
        span = max(1, self.total_steps - self.warmup_steps)
        decay = ops.clip((self.total_steps - step) / span, 0.0, 1.0)
        return self.peak * ops.minimum(warmup, decay)

    def value_at(self, step: int) -> float:
        """The learning rate at `step`, as a Python float (for logs)."""
        warmup = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.total_steps is None:
            return self.peak * warmup
        span = max(1, self.total_steps - self.warmup_steps)
        return self.peak * min(warmup, max(0.0, min(1.0, (self.total_steps - step) / span)))

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}
