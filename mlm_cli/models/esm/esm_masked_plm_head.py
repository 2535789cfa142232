"""ESM's masked-PLM head: keras_hub's MaskedLMHead with its own output projection (not tied to the embeddings)."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.layers.masked_lm_head import gather_masked


class ESMMaskedPLMHead(keras.layers.Layer):
    """Gather hidden states at `mask_positions`, dense + activation, layer norm, project to the vocabulary, add a bias.

    keras_hub builds ESM's head without the token embedding, so the projection is a
    separate [H, V] kernel. Logits are computed only for the P selected positions
    ([B, P, V]) and returned in float32.
    """

    def __init__(
        self,
        hidden_dim: int,
        vocabulary_size: int,
        activation="gelu",
        layer_norm_epsilon: float = 1e-12,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.vocabulary_size = int(vocabulary_size)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(
            self.hidden_dim, activation=activation, kernel_initializer=kernel_initializer, dtype=self.dtype_policy,
            name="transform"
        )
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=self.dtype_policy,
                                                    name="transform_norm")

    def build(self, input_shape=None):
        self.dense.build((None, self.hidden_dim))
        self.norm.build((None, self.hidden_dim))
        self.output_kernel = self.add_weight(name="output_kernel", shape=(self.hidden_dim, self.vocabulary_size),
                                             initializer=self.kernel_initializer)
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocabulary_size,), initializer="zeros")
        self.built = True

    def call(self, sequence_output, mask_positions):
        x = self.norm(self.dense(gather_masked(sequence_output, mask_positions)))
        logits = ops.matmul(x, ops.cast(self.output_kernel, x.dtype))
        return ops.cast(logits, "float32") + ops.cast(self.output_bias, "float32")
