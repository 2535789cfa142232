"""The relative position embedding table that every DeBERTa layer shares, layer-normalised."""

from __future__ import annotations

import keras
from keras import ops


class RelativeEmbedding(keras.layers.Layer):
    """A learned [2 * bucket_size, H] table for relative positions, returned after a layer norm.

    keras_hub repeats the table per batch row; mlm returns it once ([2K, H]) and lets the
    attention project it a single time per layer. It takes no inputs, so it is read with
    `table()` rather than called.
    """

    def __init__(self, bucket_size: int, hidden_dim: int, layer_norm_epsilon: float = 1e-7,
                 initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.bucket_size = int(bucket_size)
        self.hidden_dim = int(hidden_dim)
        self.initializer = keras.initializers.get(initializer)
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=self.dtype_policy,
                                                          name="layer_norm")

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(2 * self.bucket_size, self.hidden_dim),
            initializer=self.initializer,
        )
        self.layer_norm.build((None, self.hidden_dim))
        self.built = True

    def table(self):
        """The layer-normalised table [2 * bucket_size, H] in the compute dtype."""
        return self.layer_norm(ops.cast(self.embeddings, self.compute_dtype))
