"""The BERT encoder: token + position + segment embeddings and post-layer-norm transformer blocks."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import PositionEmbedding, TokenEmbedding
from mlm_cli.models.layers.transformer_encoder import TransformerEncoderBlock


def bert_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """BERT's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def gelu_tanh(x):
    """GELU with the tanh approximation, as keras_hub's BERT feed-forward layers use it."""
    return keras.activations.gelu(x, approximate=True)


def gelu_exact(x):
    """GELU with the error function, as transformers' BERT uses it (`hidden_act="gelu"`)."""
    return keras.activations.gelu(x, approximate=False)


FEEDFORWARD_ACTIVATIONS = {"gelu_approximate": gelu_tanh, "gelu": gelu_exact}


class BertBackbone(Backbone):
    """BERT encoder network.

    Inputs: dict of `token_ids` int [B, S], `segment_ids` int [B, S], `padding_mask` bool [B, S].
    Outputs: dict of `sequence_output` [B, S, H] and `pooled_output` [B, H] (tanh dense on [CLS]).

    `feedforward_activation` and `head_layer_norm_epsilon` default to keras_hub's numerics;
    checkpoints converted from transformers use exact GELU and 1e-12. keras_hub's config has
    no keys for them, so presets record non-default values in metadata.json (see
    `extension_config`), where keras_hub ignores them.

    Token, position and segment embeddings are summed and layer-normalised, then run
    through post-layer-norm transformer blocks. A missing `segment_ids` counts as all zeros.

    Args:
        vocabulary_size: the number of token-embedding rows; at least the tokenizer's
            `vocabulary_size()`.
        num_layers: the number of transformer blocks.
        num_heads: the number of attention heads; must divide `hidden_dim`.
        hidden_dim: the width of the hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        dropout: the dropout rate in [0, 1). Default 0.1.
        max_sequence_length: the length of the position table, the longest input.
            Default 512.
        num_segments: the number of segment-embedding rows (segment ids 0 to
            num_segments - 1). Default 2.
        dtype: a Keras dtype policy name ("float32", "mixed_bfloat16", ...), or None (the
            default) for Keras' global policy.
        feedforward_activation: "gelu_approximate" (the default: tanh GELU, as keras_hub) or
            "gelu" (exact GELU, as transformers).
        head_layer_norm_epsilon: the layer-norm epsilon of `BertMaskedLM`'s head, in
            (0, 0.1]. Default 1e-5 (keras_hub's); transformers' BERT uses 1e-12.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "bert_backbone").

    Examples:

    >>> import numpy as np
    >>> from mlm_cli.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16, max_sequence_length=16)
    >>> inputs = {
    ...     "token_ids": np.array([[2, 5, 6, 7, 8, 3, 0, 0], [2, 13, 14, 15, 16, 5, 17, 3]], "int32"),
    ...     "segment_ids": np.zeros((2, 8), "int32"),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], bool),
    ... }
    >>> outputs = backbone(inputs)
    >>> {key: tuple(value.shape) for key, value in outputs.items()}
    {'sequence_output': (2, 8, 8), 'pooled_output': (2, 8)}

    transformers' numerics, as a converted checkpoint has them:

    >>> converted = BertBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...                          feedforward_activation="gelu", head_layer_norm_epsilon=1e-12)
    >>> converted.extension_config()
    {'feedforward_activation': 'gelu', 'head_layer_norm_epsilon': 1e-12}
    """

    config_keys = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout",
                   "max_sequence_length", "num_segments")
    extension_defaults = {"feedforward_activation": "gelu_approximate", "head_layer_norm_epsilon": 1e-5}

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, hidden_dim: int, intermediate_dim: int,
                 dropout: float = 0.1, max_sequence_length: int = 512, num_segments: int = 2, dtype=None,
                 feedforward_activation: str = "gelu_approximate", head_layer_norm_epsilon: float = 1e-5, **kwargs):
        if feedforward_activation not in FEEDFORWARD_ACTIVATIONS:
            raise ValueError(
                f"feedforward_activation must be one of {', '.join(FEEDFORWARD_ACTIVATIONS)}, got "
                f"{feedforward_activation!r}")
        if not 0 < float(head_layer_norm_epsilon) <= 0.1:
            raise ValueError(f"head_layer_norm_epsilon must be in (0, 0.1], got {head_layer_norm_epsilon}")
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length, num_segments=num_segments,
        )
        self.start(
            "bert_backbone", dtype, kwargs, **config,
            feedforward_activation=feedforward_activation, head_layer_norm_epsilon=float(head_layer_norm_epsilon),
        )
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=bert_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length, hidden_dim, initializer=bert_initializer(), dtype=policy, name="position_embedding"
        )
        self.segment_embedding = TokenEmbedding(
            num_segments, hidden_dim, initializer=bert_initializer(), dtype=policy, name="segment_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=1e-12, dtype=policy, name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_blocks = [
            TransformerEncoderBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation=FEEDFORWARD_ACTIVATIONS[feedforward_activation],
                layer_norm_epsilon=1e-12,
                kernel_initializer=bert_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooler = keras.layers.Dense(
            hidden_dim, activation="tanh", kernel_initializer=bert_initializer(), dtype=policy, name="pooler"
        )
        self.build_all()

    def call(self, inputs, training=None):
        token_ids = inputs["token_ids"]
        padding_mask = ops.cast(inputs["padding_mask"], "bool")
        segment_ids = inputs.get("segment_ids")
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        x = self.token_embedding(token_ids) + self.segment_embedding(segment_ids)
        x = x + self.position_embedding(x)
        x = self.embeddings_norm(x)
        x = self.embeddings_dropout(x, training=training)
        for block in self.encoder_blocks:
            x = self.run_block(block, x, padding_mask, training=training)
        return {"sequence_output": x, "pooled_output": self.pooler(x[:, 0, :])}
