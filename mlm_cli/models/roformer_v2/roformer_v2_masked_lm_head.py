"""RoFormerV2's masked-LM head: the tied token embedding alone projects to logits (no transform, no bias)."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.layers.embeddings import TokenEmbedding
from mlm_cli.models.layers.masked_lm_head import gather_masked


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
        gathered = gather_masked(sequence_output, mask_positions)
        return ops.cast(self.token_embedding.project(gathered), "float32")
