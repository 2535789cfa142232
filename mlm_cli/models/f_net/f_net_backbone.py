"""The FNet encoder: BERT-style embeddings, then blocks that mix tokens with a Fourier transform."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.bert.bert_backbone import gelu_tanh
from mlm_cli.models.f_net.f_net_encoder import FNetEncoderBlock
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import PositionEmbedding, TokenEmbedding

LAYER_NORM_EPSILON = 1e-12


def f_net_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """FNet's initialisation for kernels, biases and embeddings: normal with standard deviation 0.02."""
    return keras.initializers.RandomNormal(stddev=stddev)


class FNetBackbone(Backbone):
    """FNet encoder network.

    Token, position and segment embeddings are summed, normalised and projected; each block
    replaces self-attention with the real part of a 2-D Fourier transform, so there is no
    attention mask and no heads (`num_heads` is None).

    Inputs: dict of `token_ids` int [B, S] and `segment_ids` int [B, S] (a `padding_mask`, if
    given, is ignored). Outputs: dict of `sequence_output` [B, S, H] and `pooled_output` [B, H].

    A missing `segment_ids` counts as all zeros. The feed-forward activation is tanh GELU
    and every layer norm uses epsilon 1e-12.

    Args:
        vocabulary_size: the number of token-embedding rows.
        num_layers: the number of Fourier blocks.
        hidden_dim: the width of the hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        dropout: the dropout rate in [0, 1). Default 0.1.
        max_sequence_length: the length of the position table, the longest input.
            Default 512.
        num_segments: the number of segment-embedding rows. Default 4 (keras_hub's).
        dtype: a Keras dtype policy name, or None (the default) for Keras' global policy.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "f_net_backbone").

    Examples:

    >>> import numpy as np
    >>> from mlm_cli.models import FNetBackbone
    >>> backbone = FNetBackbone(vocabulary_size=20, num_layers=1, hidden_dim=8, intermediate_dim=16,
    ...                         max_sequence_length=16)
    >>> inputs = {"token_ids": np.array([[2, 6, 18, 9, 3, 0, 0, 0], [2, 7, 12, 16, 6, 15, 3, 0]], "int32"),
    ...           "segment_ids": np.zeros((2, 8), "int32")}
    >>> {key: tuple(value.shape) for key, value in backbone(inputs).items()}
    {'sequence_output': (2, 8, 8), 'pooled_output': (2, 8)}
    """

    num_heads = None
    config_keys = ("vocabulary_size", "num_layers", "hidden_dim", "intermediate_dim", "dropout", "max_sequence_length",
                   "num_segments")

    def __init__(self, vocabulary_size: int, num_layers: int, hidden_dim: int, intermediate_dim: int,
                 dropout: float = 0.1, max_sequence_length: int = 512, num_segments: int = 4, dtype=None, **kwargs):
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length, num_segments=num_segments,
        )
        self.start("f_net_backbone", dtype, kwargs, **config)
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=f_net_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length, hidden_dim, initializer=f_net_initializer(), dtype=policy, name="position_embedding"
        )
        self.segment_embedding = TokenEmbedding(
            num_segments, hidden_dim, initializer=f_net_initializer(), dtype=policy, name="segment_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, dtype=policy,
                                                               name="embeddings_norm")
        self.embeddings_projection = keras.layers.Dense(
            hidden_dim, kernel_initializer=f_net_initializer(), bias_initializer=f_net_initializer(), dtype=policy,
            name="embeddings_projection"
        )
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_blocks = [
            FNetEncoderBlock(
                hidden_dim,
                intermediate_dim,
                dropout=dropout,
                activation=gelu_tanh,
                layer_norm_epsilon=LAYER_NORM_EPSILON,
                kernel_initializer=f_net_initializer(),
                bias_initializer=f_net_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooler = keras.layers.Dense(
            hidden_dim, activation="tanh", kernel_initializer=f_net_initializer(),
            bias_initializer=f_net_initializer(), dtype=policy, name="pooler"
        )
        self.build_all()

    def call(self, inputs, training=None):
        token_ids = inputs["token_ids"]
        segment_ids = inputs.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        x = self.token_embedding(token_ids) + self.segment_embedding(segment_ids)
        x = x + self.position_embedding(x)
        x = self.embeddings_norm(x)
        x = self.embeddings_projection(x)
        x = self.embeddings_dropout(x, training=training)
        for block in self.encoder_blocks:
            x = self.run_block(block, x, training=training)
        return {"sequence_output": x, "pooled_output": self.pooler(x[:, 0, :])}
