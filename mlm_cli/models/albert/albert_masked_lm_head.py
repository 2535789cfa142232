"""ALBERT's masked-LM head: transform the encoder width down to the embedding width, then project."""

from __future__ import annotations

from mlm_cli.models.layers.embeddings import TokenEmbedding
from mlm_cli.models.layers.masked_lm_head import MaskedLMHead


class AlbertMaskedLMHead(MaskedLMHead):
    """MaskedLMHead whose dense layer maps `input_dim` (the encoder's hidden_dim) to the
    embedding width, so the tied [V, embedding_dim] token embedding can project to logits."""

    def __init__(self, token_embedding: TokenEmbedding, input_dim: int, **kwargs):
        super().__init__(token_embedding, **kwargs)
        self.input_dim = int(input_dim)

    def build(self, input_shape=None):
        self.dense.build((None, self.input_dim))
        self.norm.build((None, self.hidden_dim))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocabulary_size,), initializer="zeros")
        self.built = True
