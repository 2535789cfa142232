"""Where FNet's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

Every weight maps one to one. The embedding projection is keras_hub's first dense layer
(`dense`), the pooler its second (`dense_1`); blocks are `f_net_encoder`, `f_net_encoder_1`, ...
The head is keras_hub's MaskedLMHead (masked_lm_head_layout.py).
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset import embeddings_layout, masked_lm_head_layout, task_layout
from mlm_cli.models.preset.embeddings_layout import embedding_pairs, embedding_shapes
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

# The head is keras_hub's MaskedLMHead, stored as every such family stores it.
export_head = masked_lm_head_layout.export_head
head_shapes = masked_lm_head_layout.head_shapes
import_head = masked_lm_head_layout.import_head

PROJECTION = "layers/dense"
POOLER = "layers/dense_1"


def _encoder_prefix(index: int) -> str:
    return "layers/f_net_encoder" + (f"_{index}" if index else "")


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    h, i = config["hidden_dim"], config["intermediate_dim"]
    shapes = {
        **embedding_shapes(config, h),
        f"{PROJECTION}/vars/0": (h, h),
        f"{PROJECTION}/vars/1": (h,),
        f"{POOLER}/vars/0": (h, h),
        f"{POOLER}/vars/1": (h,),
    }
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        for norm in ("_mixing_layer_norm", "_output_layer_norm"):
            shapes[f"{p}/{norm}/vars/0"] = (h,)
            shapes[f"{p}/{norm}/vars/1"] = (h,)
        shapes[f"{p}/_intermediate_dense/vars/0"] = (h, i)
        shapes[f"{p}/_intermediate_dense/vars/1"] = (i,)
        shapes[f"{p}/_output_dense/vars/0"] = (i, h)
        shapes[f"{p}/_output_dense/vars/1"] = (h,)
    return shapes


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every backbone weight."""
    pairs = [
        *embedding_pairs(backbone),
        (f"{PROJECTION}/vars/0", backbone.embeddings_projection.kernel),
        (f"{PROJECTION}/vars/1", backbone.embeddings_projection.bias),
        (f"{POOLER}/vars/0", backbone.pooler.kernel),
        (f"{POOLER}/vars/1", backbone.pooler.bias),
    ]
    for k, block in enumerate(backbone.encoder_blocks):
        p = _encoder_prefix(k)
        pairs += [
            (f"{p}/_mixing_layer_norm/vars/0", block.mixing_norm.gamma),
            (f"{p}/_mixing_layer_norm/vars/1", block.mixing_norm.beta),
            (f"{p}/_intermediate_dense/vars/0", block.intermediate_dense.kernel),
            (f"{p}/_intermediate_dense/vars/1", block.intermediate_dense.bias),
            (f"{p}/_output_dense/vars/0", block.output_dense.kernel),
            (f"{p}/_output_dense/vars/1", block.output_dense.bias),
            (f"{p}/_output_layer_norm/vars/0", block.output_norm.gamma),
            (f"{p}/_output_layer_norm/vars/1", block.output_norm.beta),
        ]
    return pairs


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    return export_pairs(_pairs(backbone))


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    import_pairs(_pairs(backbone), arrays)


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    names = {
        "vars": "f_net_backbone",
        **embeddings_layout.GROUP_NAMES,
        f"{PROJECTION}/vars": "embedding_projection",
        f"{POOLER}/vars": "pooled_dense",
    }
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        names[f"{p}/vars"] = f"f_net_layer_{k}"
        for group in ("intermediate_dense", "mixing_layer_norm", "output_dense", "output_dropout", "output_layer_norm"):
            names[f"{p}/_{group}/vars"] = group
    return names


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
    return task_layout.task_group_names("f_net", packer_name=None)
