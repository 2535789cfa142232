"""Where BERT's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

The encoder blocks follow keras_hub's shared TransformerEncoder layout (encoder_layout.py), the head keras_hub's
MaskedLMHead layout (masked_lm_head_layout.py).
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset import embeddings_layout, masked_lm_head_layout, task_layout
from mlm_cli.models.preset.embeddings_layout import embedding_pairs, embedding_shapes
from mlm_cli.models.preset.encoder_layout import encoder_group_names, encoder_shapes, export_encoders, import_encoders
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

# The head is keras_hub's MaskedLMHead, stored as every such family stores it.
export_head = masked_lm_head_layout.export_head
head_shapes = masked_lm_head_layout.head_shapes
import_head = masked_lm_head_layout.import_head


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    h = config["hidden_dim"]
    return {
        **embedding_shapes(config, h),
        "layers/dense/vars/0": (h, h),
        "layers/dense/vars/1": (h,),
        **encoder_shapes(config),
    }


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for the embeddings and pooler."""
    return [
        *embedding_pairs(backbone),
        ("layers/dense/vars/0", backbone.pooler.kernel),
        ("layers/dense/vars/1", backbone.pooler.bias),
    ]


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    arrays = export_pairs(_pairs(backbone))
    return {**arrays, **export_encoders(backbone.encoder_blocks, backbone.hidden_dim, backbone.num_heads)}


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    import_pairs(_pairs(backbone), arrays, optional="layers/dense/")  # transformers' BertForMaskedLM has no pooler
    import_encoders(backbone.encoder_blocks, arrays, backbone.hidden_dim)


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    names = {
        "vars": "bert_backbone",
        **embeddings_layout.GROUP_NAMES,
        "layers/dense/vars": "pooled_dense",
        "layers/input_layer_2/vars": "padding_mask",
    }
    return {**names, **encoder_group_names(config["num_layers"])}


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
    return task_layout.task_group_names("bert", mask_input="input_layer_3")
