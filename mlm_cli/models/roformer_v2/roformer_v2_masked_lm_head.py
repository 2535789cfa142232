"""RoFormerV2's masked-LM head: the tied token embedding alone projects to logits (no transform, no bias)."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.layers.embeddings import TokenEmbedding


class RoformerV2MaskedLMHead(keras.layers.Layer):
    """Gather hidden states at `mask_positions` and multiply by the transposed token embedding.

    The head owns no weights (keras_hub's RoformerV2MaskedLMHead has none either), so a
    RoFormerV2 task's only parameters are the backbone's. Logits are float32, [B, P, V].
    """

    def __init__(self, token_embedding: TokenEmbedding, **kwargs):
        super().__init__(**kwargs)
        # Shared with the backbone, not owned: bypass Keras's attribute tracking so the
        # tied matrix is counted and saved once, as part of the backbone.
        object.__setattr__(self, "token_embedding", token_embedding)
        self.vocabulary_size = token_embedding.vocabulary_size

    def build(self, input_shape=None):
        self.built = True

    def call(self, sequence_output, mask_positions):
        positions = ops.expand_dims(ops.cast(mask_positions, "int32"), -1)
        gathered = ops.take_along_axis(sequence_output, positions, axis=1)
        return ops.cast(self.token_embedding.project(gathered), "float32")
