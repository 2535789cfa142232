"""Where ALBERT's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

keras_hub stores each shared transformer block once, in keras_hub's shared TransformerEncoder
layout (encoder_layout.py): `transformer_encoder`, `_1`, ... in group-major order, named
`group_<g>_inner_layer_<i>`. The embedding projection is keras_hub's first dense layer
(`dense`), the pooler its second (`dense_1`).
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset import embeddings_layout, masked_lm_head_layout, task_layout
from mlm_cli.models.preset.embeddings_layout import embedding_pairs, embedding_shapes
from mlm_cli.models.preset.encoder_layout import (
    encoder_group_names,
    encoder_prefix,
    encoder_shapes,
    export_encoders,
    import_encoders,
)
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

# The head is keras_hub's MaskedLMHead, stored as every such family stores it.
export_head = masked_lm_head_layout.export_head
import_head = masked_lm_head_layout.import_head

PROJECTION = "layers/dense"
POOLER = "layers/dense_1"


def _block_count(config: dict) -> int:
    """Blocks stored (and allocated): one per group and inner repetition, however many layers run them."""
    return config["num_groups"] * config["num_inner_repetitions"]


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    e, h = config["embedding_dim"], config["hidden_dim"]
    return {
        **embedding_shapes(config, e),
        f"{PROJECTION}/vars/0": (e, h),
        f"{PROJECTION}/vars/1": (h,),
        f"{POOLER}/vars/0": (h, h),
        f"{POOLER}/vars/1": (h,),
        **encoder_shapes({**config, "num_layers": _block_count(config)}),
    }


def head_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The masked-LM head datasets in keras_hub's task.weights.h5 (dense maps hidden -> embedding width)."""
    return masked_lm_head_layout.shapes(config["hidden_dim"], config["embedding_dim"], config["vocabulary_size"])


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every embedding, projection and pooler weight."""
    return [
        *embedding_pairs(backbone),
        (f"{PROJECTION}/vars/0", backbone.embeddings_projection.kernel),
        (f"{PROJECTION}/vars/1", backbone.embeddings_projection.bias),
        (f"{POOLER}/vars/0", backbone.pooler.kernel),
        (f"{POOLER}/vars/1", backbone.pooler.bias),
    ]


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    arrays = export_pairs(_pairs(backbone))
    arrays.update(export_encoders(backbone.encoder_blocks, backbone.hidden_dim, backbone.num_heads))
    return arrays


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables.

    A source without a pooler (transformers' AlbertForMaskedLM) keeps the initialised one.
    """
    import_pairs(_pairs(backbone), arrays, optional=f"{POOLER}/")
    import_encoders(backbone.encoder_blocks, arrays, backbone.hidden_dim)


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    names = {
        "vars": "albert_backbone",
        **embeddings_layout.GROUP_NAMES,
        f"{PROJECTION}/vars": "embedding_projection",
        f"{POOLER}/vars": "pooled_dense",
        "layers/input_layer_2/vars": "padding_mask",
        **encoder_group_names(_block_count(config)),
    }
    inner = config["num_inner_repetitions"]
    for k in range(_block_count(config)):
        names[f"{encoder_prefix(k)}/vars"] = f"group_{k // inner}_inner_layer_{k % inner}"
    return names


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
    return task_layout.task_group_names("albert", mask_input="input_layer_3", packer_name=None)
