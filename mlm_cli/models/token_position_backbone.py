"""The encoder DistilBERT and RoBERTa share: token + position embeddings and post-layer-norm transformer blocks."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.bert.bert_backbone import bert_initializer
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import PositionEmbedding, TokenEmbedding
from mlm_cli.models.layers.transformer_encoder import TransformerEncoderBlock
from mlm_cli.models.naming import snake_case


class TokenPositionBackbone(Backbone):
    """BERT's encoder without segment embeddings and pooler; families set `layer_norm_epsilon`.

    Inputs: dict of `token_ids` int [B, S] and `padding_mask` bool [B, S] (`segment_ids`,
    if present, is ignored). Output: dict with `sequence_output` [B, S, H]. The feed-forward
    activation is exact GELU and weights start from BERT's initialisation.

    The shared base of `DistilBertBackbone` and `RobertaBackbone` (and so
    `XLMRobertaBackbone`); build those, not this class.

    Args:
        vocabulary_size: the number of rows of the token embedding.
        num_layers: the number of transformer blocks.
        num_heads: the number of attention heads; must divide `hidden_dim`.
        hidden_dim: the width of the hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        dropout: the dropout rate in [0, 1). Default 0.1.
        max_sequence_length: the length of the position table, the longest input.
            Default 512.
        dtype: a Keras dtype policy name, or None (the default) for Keras' global policy.
        **kwargs: passed to `keras.Model` (e.g. `name`; default the class name in snake
            case, `roberta_backbone`, ...).

    Examples:

    >>> import numpy as np
    >>> from mlm_cli.models import RobertaBackbone
    >>> backbone = RobertaBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                            intermediate_dim=16, max_sequence_length=16)
    >>> outputs = backbone({"token_ids": np.ones((2, 8), "int32"), "padding_mask": np.ones((2, 8), bool)})
    >>> {key: tuple(value.shape) for key, value in outputs.items()}
    {'sequence_output': (2, 8, 8)}
    """

    config_keys = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout",
                   "max_sequence_length")
    layer_norm_epsilon: float  # every layer norm: the embeddings' and each block's two

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, hidden_dim: int, intermediate_dim: int,
                 dropout: float = 0.1, max_sequence_length: int = 512, dtype=None, **kwargs):
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length,
        )
        self.start(self.default_name(), dtype, kwargs, **config)
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=bert_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length, hidden_dim, initializer=bert_initializer(), dtype=policy, name="position_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy,
                                                               name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_blocks = [
            TransformerEncoderBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation="gelu",
                layer_norm_epsilon=self.layer_norm_epsilon,
                kernel_initializer=bert_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.build_all()

    @classmethod
    def default_name(cls) -> str:
        """keras_hub's layer name for the class: DistilBertBackbone -> distil_bert_backbone."""
        return snake_case(cls.__name__)

    def call(self, inputs, training=None):
        padding_mask = ops.cast(inputs["padding_mask"], "bool")
        x = self.token_embedding(inputs["token_ids"])
        x = x + self.position_embedding(x)
        x = self.embeddings_norm(x)
        x = self.embeddings_dropout(x, training=training)
        for block in self.encoder_blocks:
            x = self.run_block(block, x, padding_mask, training=training)
        return {"sequence_output": x}
