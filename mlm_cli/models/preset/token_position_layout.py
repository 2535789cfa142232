"""keras_hub's h5 layout for TokenPositionBackbone families (DistilBERT, RoBERTa, XLM-RoBERTa).

Token and position tables sit under keras_hub's `token_and_position_embedding` layer,
followed by one layer norm and the shared TransformerEncoder blocks (encoder_layout.py);
there is no segment embedding or pooler. Their masked-LM heads are keras_hub's MaskedLMHead (masked_lm_head_layout.py).
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset.encoder_layout import encoder_group_names, encoder_shapes, export_encoders, import_encoders
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

TOKEN_EMBEDDING = "layers/token_and_position_embedding/token_embedding/vars/0"
POSITION_EMBEDDING = "layers/token_and_position_embedding/position_embedding/vars/0"
EMBEDDINGS_NORM = "layers/layer_normalization"


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    v, h = config["vocabulary_size"], config["hidden_dim"]
    return {
        TOKEN_EMBEDDING: (v, h),
        POSITION_EMBEDDING: (config["max_sequence_length"], h),
        f"{EMBEDDINGS_NORM}/vars/0": (h,),
        f"{EMBEDDINGS_NORM}/vars/1": (h,),
        **encoder_shapes(config),
    }


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for the embeddings."""
    return [
        (TOKEN_EMBEDDING, backbone.token_embedding.embeddings),
        (POSITION_EMBEDDING, backbone.position_embedding.embeddings),
        (f"{EMBEDDINGS_NORM}/vars/0", backbone.embeddings_norm.gamma),
        (f"{EMBEDDINGS_NORM}/vars/1", backbone.embeddings_norm.beta),
    ]


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    arrays = export_pairs(_pairs(backbone))
    return {**arrays, **export_encoders(backbone.encoder_blocks, backbone.hidden_dim, backbone.num_heads)}


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    import_pairs(_pairs(backbone), arrays)
    import_encoders(backbone.encoder_blocks, arrays, backbone.hidden_dim)


def group_names(backbone_name: str, embeddings_name: str, num_layers: int) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    return {
        "vars": backbone_name,
        "layers/dropout/vars": "embeddings_dropout",
        "layers/input_layer/vars": "token_ids",
        "layers/input_layer_1/vars": "padding_mask",
        f"{EMBEDDINGS_NORM}/vars": "embeddings_layer_norm",
        "layers/token_and_position_embedding/vars": embeddings_name,
        "layers/token_and_position_embedding/token_embedding/vars": "token_embedding",
        "layers/token_and_position_embedding/position_embedding/vars": "position_embedding",
        **encoder_group_names(num_layers),
    }

