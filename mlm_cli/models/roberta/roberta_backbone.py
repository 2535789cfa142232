"""The RoBERTa encoder: token + position embeddings (no segments) and post-layer-norm transformer blocks."""

from __future__ import annotations

import keras
from keras import ops

from mlm_cli.models.backbone import Backbone
from mlm_cli.models.layers.dropout import Dropout
from mlm_cli.models.layers.embeddings import PositionEmbedding, TokenEmbedding
from mlm_cli.models.layers.transformer_encoder import TransformerEncoderBlock
from mlm_cli.models.naming import snake_case

LAYER_NORM_EPSILON = 1e-5  # every RoBERTa layer norm, as in fairseq and keras_hub


def roberta_initializer(stddev: float = 0.02) -> keras.initializers.Initializer:
    """RoBERTa's weight initialisation: truncated normal with standard deviation 0.02."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def gelu_exact(x):
    """GELU with the error function, as keras_hub's ("gelu") and transformers' RoBERTa use it."""
    return keras.activations.gelu(x, approximate=False)


class RobertaBackbone(Backbone):
    """RoBERTa encoder network.

    Inputs: dict of `token_ids` int [B, S] and `padding_mask` bool [B, S]; `segment_ids`
    is accepted and ignored (RoBERTa has no segment embeddings). Output: dict with
    `sequence_output` [B, S, H]. Position i uses row i of the position table (keras_hub's
    layout; transformers' table has two extra leading rows, see the converter).
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
        **kwargs,
    ):
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
        kwargs.setdefault("name", self.default_name())
        super().__init__(dtype=dtype, **kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.max_sequence_length = int(max_sequence_length)
        policy = self.dtype_policy

        self.token_embedding = TokenEmbedding(
            vocabulary_size, hidden_dim, initializer=roberta_initializer(), dtype=policy, name="token_embedding"
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length, hidden_dim, initializer=roberta_initializer(), dtype=policy, name="position_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, dtype=policy, name="embeddings_norm")
        self.embeddings_dropout = Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_blocks = [
            TransformerEncoderBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation=gelu_exact,
                layer_norm_epsilon=LAYER_NORM_EPSILON,
                kernel_initializer=roberta_initializer(),
                dtype=policy,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.build_all()

    @classmethod
    def default_name(cls) -> str:
        return snake_case(cls.__name__)

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
        """Nothing beyond keras_hub's config: RoBERTa's numerics are the same in keras_hub and transformers."""
        return {}
