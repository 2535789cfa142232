"""keras_hub's BERT-style embeddings in `.weights.h5` (BERT, ALBERT, FNet): token, position and segment tables,
summed and layer-normalised, mapped onto mlm's backbones."""

from __future__ import annotations

from mlm_cli.models.preset.variable_pairs import Pairs, Shapes, norm_pairs, norm_shapes

NORM = "layers/layer_normalization"
# The embeddings' `vars` groups in model.weights.h5, with keras_hub's layer names.
GROUP_NAMES = {
    "layers/add/vars": "embeddings_add",
    "layers/dropout/vars": "embeddings_dropout",
    "layers/embedding/vars": "segment_embedding",
    "layers/input_layer/vars": "token_ids",
    "layers/input_layer_1/vars": "segment_ids",
    f"{NORM}/vars": "embeddings_layer_norm",
    "layers/position_embedding/vars": "position_embedding",
    "layers/reversible_embedding/vars": "token_embedding",
}


def embedding_shapes(config: dict, width: int) -> Shapes:
    """The embedding datasets for a backbone config whose embeddings are `width` wide."""
    return {
        "layers/reversible_embedding/vars/0": (config["vocabulary_size"], width),
        "layers/position_embedding/vars/0": (config["max_sequence_length"], width),
        "layers/embedding/vars/0": (config["num_segments"], width),
        **norm_shapes(NORM, width),
    }


def embedding_pairs(backbone) -> Pairs:
    """(keras_hub path, mlm variable) for the token, position and segment tables and their layer norm."""
    return [
        ("layers/reversible_embedding/vars/0", backbone.token_embedding.embeddings),
        ("layers/position_embedding/vars/0", backbone.position_embedding.embeddings),
        ("layers/embedding/vars/0", backbone.segment_embedding.embeddings),
        *norm_pairs(NORM, backbone.embeddings_norm),
    ]
