"""The DeBERTaV3 encoder: token embeddings (no absolute positions) and disentangled-attention layers."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.deberta_v3.disentangled_attention_encoder import DisentangledAttentionEncoder
from mlm_cli.models.deberta_v3.relative_embedding import RelativeEmbedding
from mlm_cli.models.deberta_v3.relative_positions import relative_position_index
from mlm_cli.models.family_examples import append_to_doc, backbone_example
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import TokenEmbedding

LAYER_NORM_EPSILON = 1e-7  # embeddings, relative embeddings and encoder layers, in keras_hub and transformers alike
KERAS_HUB_HEAD_LAYER_NORM_EPSILON = 1e-5  # keras_hub's MaskedLMHead default; transformers' head uses 1e-7


def deberta_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """DeBERTa's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


@append_to_doc(backbone_example(
    "DebertaV3", "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16, bucket_size=4",
    {"token_ids": 'np.array([[1, 4, 16, 7, 2, 0, 0, 0], [1, 5, 10, 18, 14, 4, 13, 2]], "int32")',
      "padding_mask": "np.array([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], bool)"},
    "{'sequence_output': (2, 8, 8)}",
))
class DebertaV3Backbone(Backbone):
    """DeBERTaV3 encoder network.

    Inputs: dict of `token_ids` int [B, S] and `padding_mask` bool [B, S] (`segment_ids`,
    if present, is ignored). Outputs: dict with `sequence_output` [B, S, H].

    Positions enter only through attention: relative distances are bucketed (exactly up
    to `bucket_size // 2`, logarithmically up to `max_sequence_length`) and index a shared,
    layer-normalised table of 2 * `bucket_size` embeddings.

    `head_layer_norm_epsilon` defaults to keras_hub's 1e-5; checkpoints converted from
    transformers use 1e-7. keras_hub's config has no key for it, so a preset records a
    non-default value in metadata.json (see `extension_config`).

    Args:
        vocabulary_size: the number of token-embedding rows (the tokenizer's
            `vocabulary_size()`, appended [MASK] included).
        num_layers: the number of disentangled-attention blocks.
        num_heads: the number of attention heads; must divide `hidden_dim`.
        hidden_dim: the width of the hidden states (H).
        intermediate_dim: the width of each block's feed-forward layer.
        dropout: the dropout rate in [0, 1). Default 0.1.
        max_sequence_length: the distance up to which relative positions are bucketed.
            Default 512.
        bucket_size: the number of relative-position buckets on each side; an integer
            from 2 to `max_sequence_length`. Default 256.
        dtype: a Keras dtype policy name, or None (the default) for Keras' global policy.
        head_layer_norm_epsilon: the layer-norm epsilon of `DebertaV3MaskedLM`'s head, in
            (0, 0.1]. Default 1e-5.
        **kwargs: passed to `keras.Model`, e.g. `name` (default "deberta_v3_backbone").
    """

    config_keys = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout",
                   "max_sequence_length", "bucket_size")
    extension_defaults = {"head_layer_norm_epsilon": KERAS_HUB_HEAD_LAYER_NORM_EPSILON}

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, hidden_dim: int, intermediate_dim: int,
                 dropout: float = 0.1, max_sequence_length: int = 512, bucket_size: int = 256, dtype=None,
                 head_layer_norm_epsilon: float = KERAS_HUB_HEAD_LAYER_NORM_EPSILON, **kwargs):
        self.check_head_layer_norm_epsilon(head_layer_norm_epsilon)
        config = self.checked_config(
            dropout, vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length,
        )
        # The log buckets need a half-width of at least 1; the [2K, H] table stays within a position table's size.
        if isinstance(bucket_size, bool) or not isinstance(bucket_size,
                                                           int) or not 2 <= bucket_size <= max_sequence_length:
            raise ValueError(
                f"bucket_size must be an integer between 2 and max_sequence_length ({max_sequence_length}), got "
                f"{bucket_size!r}")
        self.start(
            "deberta_v3_backbone", dtype, kwargs, **config,
            bucket_size=int(bucket_size), head_layer_norm_epsilon=float(head_layer_norm_epsilon),
        )
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=deberta_initializer(), dtype=policy, name="token_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, dtype=policy,
                                                               name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.relative_embedding = RelativeEmbedding(
            bucket_size, hidden_dim, layer_norm_epsilon=LAYER_NORM_EPSILON, initializer=deberta_initializer(),
            dtype=policy, name="relative_embedding"
        )
        self.encoder_blocks = [
            DisentangledAttentionEncoder(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                layer_norm_epsilon=LAYER_NORM_EPSILON,
                kernel_initializer=deberta_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.build_all()

    def call(self, inputs, training=None):
        token_ids = inputs["token_ids"]
        padding_mask = ops.cast(inputs["padding_mask"], "bool")
        x = self.embeddings_dropout(self.embeddings_norm(self.token_embedding(token_ids)), training=training)
        relative_embeddings = self.relative_embedding.table()
        position_index = relative_position_index(ops.shape(token_ids)[1], self.bucket_size, self.max_sequence_length)
        for block in self.encoder_blocks:
            x = self.run_block(block, x, relative_embeddings, position_index, padding_mask, training=training)
        return {"sequence_output": x}
