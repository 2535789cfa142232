"""RoFormerV2's normalisation: RMS norm (no centring, no offset) with a learned scale."""

from __future__ import annotations

import keras
from keras import ops

# keras_hub builds every RoFormerV2 norm with keras.backend.epsilon() (1e-7 by default).
RMS_NORM_EPSILON = 1e-7


class RMSNorm(keras.layers.Layer):
    """x / sqrt(mean(x^2) + epsilon) * scale over the last axis, computed in float32.

    The scale stays float32 under mixed precision (no autocast), and only the result is
    cast back to the compute dtype, as keras_hub's RoformerNorm does.
    """

    def __init__(self, epsilon: float = RMS_NORM_EPSILON, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.built = True

    def call(self, x):
        normalized = ops.rms_normalization(ops.cast(x, "float32"), scale=self.scale, epsilon=self.epsilon)
        return ops.cast(normalized, self.compute_dtype)
