"""The masked-LM head: predict vocabulary logits only at the masked positions."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.layers.embeddings import TokenEmbedding


def gather_masked(sequence_output, mask_positions):
    """Hidden states at the masked positions: [B, P, H] from [B, S, H] and per-row positions [B, P].

    Positions shaped [1, N] against a batch of B > 1 rows are flat indices into the batch's
    B * S tokens (row * S + position), giving [1, N, H]: the layout of `mlm train`'s single-device
    steps (mlm_cli/data/flat_masks.py), where the head sees only the masks the batch has.
    """
    positions = ops.cast(mask_positions, "int32")
    rows = sequence_output.shape[0]
    if positions.shape[0] == 1 and rows is not None and rows > 1:
        sequence_output = ops.reshape(sequence_output, (1, -1, sequence_output.shape[-1]))
    return ops.take_along_axis(sequence_output, ops.expand_dims(positions, -1), axis=1)


class MaskedLMHead(keras.layers.Layer):
    """Gather hidden states at `mask_positions`, transform, project with the tied embedding.

    Logits are computed for the P selected positions only ([B, P, V]), never for
    the whole sequence, and are returned in float32 for a stable loss.
    """

    def __init__(
        self,
        token_embedding: TokenEmbedding,
        activation="gelu",
        layer_norm_epsilon: float = 1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Shared with the backbone, not owned: bypass Keras's attribute tracking so
        # the tied matrix is counted and saved once, as part of the backbone.
        object.__setattr__(self, "token_embedding", token_embedding)
        self.hidden_dim = token_embedding.hidden_dim
        self.vocabulary_size = token_embedding.vocabulary_size
        self.dense = keras.layers.Dense(
            self.hidden_dim, activation=activation, kernel_initializer=kernel_initializer, dtype=self.dtype_policy,
            name="transform"
        )
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=self.dtype_policy,
                                                    name="transform_norm")

    def build(self, input_shape=None):
        self.dense.build((None, self.hidden_dim))
        self.norm.build((None, self.hidden_dim))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocabulary_size,), initializer="zeros")
        self.built = True

    def call(self, sequence_output, mask_positions):
        x = self.norm(self.dense(gather_masked(sequence_output, mask_positions)))
        logits = self.token_embedding.project(x)
        logits = ops.cast(logits, "float32")
        if keras.backend.backend() == "torch":  # in place: one [B, P, V] float32 buffer less to fill
            return logits.add_(self.output_bias.value)
        return logits + ops.cast(self.output_bias, "float32")
