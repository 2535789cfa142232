"""The ALBERT encoder: factorised embeddings and transformer blocks shared across layers."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import MAX_SIZES, Backbone
from mlm_cli.models.bert.bert_backbone import FEEDFORWARD_ACTIVATIONS
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import PositionEmbedding, TokenEmbedding
from mlm_cli.models.layers.transformer_encoder import TransformerEncoderBlock

KERAS_HUB_NUMERICS = {"feedforward_activation": "gelu_approximate", "head_layer_norm_epsilon": 1e-5}
ENCODER_LAYER_NORM_EPSILON = 1e-12


def albert_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """ALBERT's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


class AlbertBackbone(Backbone):
    """ALBERT encoder network.

    Tokens, positions and segments are embedded in `embedding_dim`, normalised, then
    projected to `hidden_dim`. The encoder holds `num_groups` groups of
    `num_inner_repetitions` transformer blocks; the `num_layers` layers run the groups in
    order, each group `num_layers // num_groups` times, so blocks share their weights.

    Inputs: dict of `token_ids` int [B, S], `segment_ids` int [B, S], `padding_mask` bool [B, S].
    Outputs: dict of `sequence_output` [B, S, H] and `pooled_output` [B, H] (tanh dense on [CLS]).

    `feedforward_activation` (feed-forward and masked-LM head) and `head_layer_norm_epsilon`
    default to keras_hub's numerics; checkpoints converted from transformers may use exact GELU
    and use 1e-12. keras_hub's config has no keys for them, so presets record non-default values
    in metadata.json (see `extension_config`).

    A missing `segment_ids` counts as all zeros.

    Args:
        vocabulary_size: the number of token-embedding rows.
        num_layers: the number of encoder layers run; a multiple of `num_groups`.
        num_heads: the number of attention heads; must divide `hidden_dim`.
        embedding_dim: the width of the token, position and segment embeddings.
        hidden_dim: the width of the hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        num_groups: the number of groups of blocks with their own weights. Default 1.
        num_inner_repetitions: the number of blocks in each group. Default 1.
        dropout: the dropout rate in [0, 1). Default 0.0 (keras_hub's ALBERT default).
        max_sequence_length: the length of the position table, the longest input.
            Default 512.
        num_segments: the number of segment-embedding rows. Default 2.
        dtype: a Keras dtype policy name, or None (the default) for Keras' global policy.
        feedforward_activation: "gelu_approximate" (the default: tanh GELU, as keras_hub) or
            "gelu" (exact GELU).
        head_layer_norm_epsilon: the layer-norm epsilon of `AlbertMaskedLM`'s head, in
            (0, 0.1]. Default 1e-5.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "albert_backbone").

    Examples:

    Two layers that share one block:

    >>> import numpy as np
    >>> from mlm_cli.models import AlbertBackbone
    >>> backbone = AlbertBackbone(vocabulary_size=20, num_layers=2, num_heads=2, embedding_dim=4, hidden_dim=8,
    ...                           intermediate_dim=16, max_sequence_length=16)
    >>> len(backbone.encoder_blocks)
    1
    >>> inputs = {
    ...     "token_ids": np.array([[2, 6, 18, 9, 3, 0, 0, 0], [2, 7, 12, 16, 6, 15, 3, 0]], "int32"),
    ...     "segment_ids": np.zeros((2, 8), "int32"),
    ...     "padding_mask": np.array([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]], bool),
    ... }
    >>> {key: tuple(value.shape) for key, value in backbone(inputs).items()}
    {'sequence_output': (2, 8, 8), 'pooled_output': (2, 8)}
    """

    config_keys = (
        "vocabulary_size", "num_layers", "num_heads", "num_groups", "num_inner_repetitions", "embedding_dim",
        "hidden_dim", "intermediate_dim", "dropout", "max_sequence_length", "num_segments",
    )
    extension_defaults = KERAS_HUB_NUMERICS

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, embedding_dim: int, hidden_dim: int,
                 intermediate_dim: int, num_groups: int = 1, num_inner_repetitions: int = 1, dropout: float = 0.0,
                 max_sequence_length: int = 512, num_segments: int = 2, dtype=None,
                 feedforward_activation: str = "gelu_approximate", head_layer_norm_epsilon: float = 1e-5, **kwargs):
        if feedforward_activation not in FEEDFORWARD_ACTIVATIONS:
            raise ValueError(
                f"feedforward_activation must be one of {', '.join(FEEDFORWARD_ACTIVATIONS)}, got "
                f"{feedforward_activation!r}")
        self.check_head_layer_norm_epsilon(head_layer_norm_epsilon)
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads,
            embedding_dim=embedding_dim, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments, num_groups=num_groups, num_inner_repetitions=num_inner_repetitions,
        )
        if num_layers % num_groups:
            raise ValueError(f"num_layers ({num_layers}) must be divisible by num_groups ({num_groups})")
        if num_groups * num_inner_repetitions > MAX_SIZES[
            "num_layers"] or num_layers * num_inner_repetitions > MAX_SIZES["num_layers"]:
            raise ValueError(
                "num_groups x num_inner_repetitions and num_layers x num_inner_repetitions must be at most "
                f"{MAX_SIZES['num_layers']}")
        self.start(
            "albert_backbone", dtype, kwargs, **config,
            feedforward_activation=feedforward_activation, head_layer_norm_epsilon=float(head_layer_norm_epsilon),
        )
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, embedding_dim, initializer=albert_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length, embedding_dim, initializer=albert_initializer(), dtype=policy,
            name="position_embedding"
        )
        self.segment_embedding = TokenEmbedding(
            num_segments, embedding_dim, initializer=albert_initializer(), dtype=policy, name="segment_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=ENCODER_LAYER_NORM_EPSILON, dtype=policy,
                                                               name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.embeddings_projection = keras.layers.Dense(
            hidden_dim, kernel_initializer=albert_initializer(), dtype=policy, name="embeddings_projection"
        )
        # One block per (group, inner repetition), group-major: block g * num_inner_repetitions + i.
        self.encoder_blocks = [
            TransformerEncoderBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation=FEEDFORWARD_ACTIVATIONS[feedforward_activation],
                layer_norm_epsilon=ENCODER_LAYER_NORM_EPSILON,
                kernel_initializer=albert_initializer(),
                dtype=policy,
                name=f"group_{group}_inner_block_{inner}",
            )
            for group in range(num_groups)
            for inner in range(num_inner_repetitions)
        ]
        self.pooler = keras.layers.Dense(
            hidden_dim, activation="tanh", kernel_initializer=albert_initializer(), dtype=policy, name="pooler"
        )
        self.build_all()

    def build_all(self) -> None:
        """Create every variable now, so weights can be loaded without a forward pass."""
        embedded, hidden = (None, self.embedding_dim), (None, self.hidden_dim)
        self.token_embedding.build()
        self.position_embedding.build()
        self.segment_embedding.build()
        self.embeddings_norm.build(embedded)
        self.embeddings_projection.build(embedded)
        for block in self.encoder_blocks:
            block.build(hidden)
        self.pooler.build(hidden)
        self.built = True

    def layer_blocks(self) -> list[TransformerEncoderBlock]:
        """The block each of the `num_layers * num_inner_repetitions` encoder steps runs, in order."""
        repeats = self.num_layers // self.num_groups
        inner = self.num_inner_repetitions
        steps = []
        for group in range(self.num_groups):
            steps += self.encoder_blocks[group * inner : (group + 1) * inner] * repeats
        return steps

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
        x = self.embeddings_projection(x)
        for block in self.layer_blocks():
            x = self.run_block(block, x, padding_mask, training=training)
        return {"sequence_output": x, "pooled_output": self.pooler(x[:, 0, :])}
