"""The DistilBERT encoder: BERT without segment embeddings and pooler (token + position embeddings, post-LN blocks)."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.bert.bert_backbone import bert_initializer
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import PositionEmbedding, TokenEmbedding
from mlm_cli.models.layers.transformer_encoder import TransformerEncoderBlock

KERAS_HUB_HEAD_LAYER_NORM_EPSILON = 1e-5  # keras_hub's MaskedLMHead default; transformers' DistilBERT uses 1e-12
LAYER_NORM_EPSILON = 1e-12  # embeddings and encoder layer norms, in keras_hub and transformers alike


class DistilBertBackbone(Backbone):
    """DistilBERT encoder network.

    Inputs: dict of `token_ids` int [B, S] and `padding_mask` bool [B, S] (`segment_ids`,
    if present, is ignored). Outputs: dict with `sequence_output` [B, S, H].

    The feed-forward and head activations are exact GELU, as in keras_hub and transformers.
    `head_layer_norm_epsilon` defaults to keras_hub's 1e-5; checkpoints converted from
    transformers use 1e-12. keras_hub's config has no key for it, so a preset records a
    non-default value in metadata.json (see `extension_config`).
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        max_sequence_length: int = 512,
        dtype=None,
        head_layer_norm_epsilon: float = KERAS_HUB_HEAD_LAYER_NORM_EPSILON,
        **kwargs,
    ):
        epsilon_is_number = isinstance(head_layer_norm_epsilon, (int, float)) and not isinstance(head_layer_norm_epsilon, bool)
        if not epsilon_is_number or not 0 < head_layer_norm_epsilon <= 0.1:
            raise ValueError(f"head_layer_norm_epsilon must be a number in (0, 0.1], got {head_layer_norm_epsilon!r}")
        self.check_sizes(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        self.check_dropout(dropout)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads})")
        kwargs.setdefault("name", "distil_bert_backbone")
        super().__init__(dtype=dtype, **kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.max_sequence_length = int(max_sequence_length)
        self.head_layer_norm_epsilon = float(head_layer_norm_epsilon)
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=bert_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length, hidden_dim, initializer=bert_initializer(), dtype=policy, name="position_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, dtype=policy, name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_blocks = [
            TransformerEncoderBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation="gelu",
                layer_norm_epsilon=LAYER_NORM_EPSILON,
                kernel_initializer=bert_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.build_all()

    def build_all(self) -> None:
        """Create every variable now, so weights can be loaded without a forward pass."""
        hidden = (None, self.hidden_dim)
        self.token_embedding.build()
        self.position_embedding.build()
        self.embeddings_norm.build(hidden)
        for block in self.encoder_blocks:
            block.build(hidden)
        self.built = True

    def call(self, inputs, training=None):
        padding_mask = ops.cast(inputs["padding_mask"], "bool")
        x = self.token_embedding(inputs["token_ids"])
        x = x + self.position_embedding(x)
        x = self.embeddings_norm(x)
        x = self.embeddings_dropout(x, training=training)
        for block in self.encoder_blocks:
            x = block(x, padding_mask, training=training)
        return {"sequence_output": x}

    def get_config(self) -> dict:
        return {
            **self.base_config(),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
        }

    def extension_config(self) -> dict:
        """Settings keras_hub's config cannot hold: the head's layer-norm epsilon when it is not keras_hub's."""
        if self.head_layer_norm_epsilon == KERAS_HUB_HEAD_LAYER_NORM_EPSILON:
            return {}
        return {"head_layer_norm_epsilon": self.head_layer_norm_epsilon}
