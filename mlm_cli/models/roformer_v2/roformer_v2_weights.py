"""Where RoFormerV2's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

keras_hub keeps separate query/key/value dense layers ([H, N * d] kernels); mlm keeps one
fused [H, 3 * N * d] projection, so the mapping joins and splits them. Biases exist only
with `use_bias`. The masked-LM head has no weights, so task.weights.h5 holds none.
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset import task_layout
from mlm_cli.models.preset.variable_pairs import (
    dense_pairs,
    dense_shapes,
    export_fused_dense,
    export_pairs,
    import_fused_dense,
    import_pairs,
)

ATTENTION_PARTS = ("q", "k", "v")


def _encoder_prefix(index: int) -> str:
    return "layers/roformer_v2_encoder" + (f"_{index}" if index else "")


def _qkv_paths(index: int) -> list[str]:
    """The query, key and value Dense groups of encoder layer `index`."""
    return [f"{_encoder_prefix(index)}/attention_layer/{part}_dense" for part in ATTENTION_PARTS]


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    h, i = config["hidden_dim"], config["intermediate_dim"]
    inner = config["num_heads"] * config["head_size"]
    use_bias = config["use_bias"]
    shapes = {
        "layers/reversible_embedding/vars/0": (config["vocabulary_size"], h),
        "layers/embedding/vars/0": (config["num_segments"], h),
        "layers/roformer_norm/vars/0": (h,),
    }
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        for part in ATTENTION_PARTS:
            shapes.update(dense_shapes(f"{p}/attention_layer/{part}_dense", h, inner, use_bias))
        shapes.update(dense_shapes(f"{p}/attention_layer/o_dense", inner, h, use_bias))
        shapes.update(dense_shapes(f"{p}/feedforward_intermediate_dense", h, i, use_bias))
        shapes.update(dense_shapes(f"{p}/feedforward_output_dense", i, h, use_bias))
        shapes[f"{p}/attention_norm/vars/0"] = (h,)
        shapes[f"{p}/feedforward_norm/vars/0"] = (h,)
    return shapes


def head_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """RoFormerV2's masked-LM head has no datasets of its own."""
    return {}


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every weight that maps one to one."""
    pairs = [
        ("layers/reversible_embedding/vars/0", backbone.token_embedding.embeddings),
        ("layers/embedding/vars/0", backbone.segment_embedding.embeddings),
        ("layers/roformer_norm/vars/0", backbone.embeddings_norm.scale),
    ]
    for k, block in enumerate(backbone.encoder_blocks):
        p = _encoder_prefix(k)
        pairs += dense_pairs(f"{p}/attention_layer/o_dense", block.attention.output_dense)
        pairs += dense_pairs(f"{p}/feedforward_intermediate_dense", block.intermediate_dense)
        pairs += dense_pairs(f"{p}/feedforward_output_dense", block.output_dense)
        pairs += [
            (f"{p}/attention_norm/vars/0", block.attention_norm.scale),
            (f"{p}/feedforward_norm/vars/0", block.feedforward_norm.scale),
        ]
    return pairs


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    arrays = export_pairs(_pairs(backbone))
    for k, block in enumerate(backbone.encoder_blocks):
        arrays.update(export_fused_dense(block.attention.qkv_dense, _qkv_paths(k)))
    return arrays


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    import_pairs(_pairs(backbone), arrays)
    for k, block in enumerate(backbone.encoder_blocks):
        import_fused_dense(block.attention.qkv_dense, arrays, _qkv_paths(k))


def export_head(head) -> dict[str, np.ndarray]:
    """Nothing: the head projects with the backbone's token embedding."""
    return {}


def import_head(head, arrays: dict[str, np.ndarray]) -> None:
    """Nothing to assign: the head has no weights."""


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    names = {
        "vars": config.get("name", "roformer_v2_backbone"),
        "layers/add/vars": "embeddings_add",
        "layers/dropout/vars": "embeddings_dropout",
        "layers/embedding/vars": "segment_embedding",
        "layers/input_layer/vars": "token_ids",
        "layers/input_layer_1/vars": "segment_ids",
        "layers/reversible_embedding/vars": "token_embedding",
        "layers/roformer_norm/vars": "embeddings_layer_norm",
    }
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        names[f"{p}/vars"] = f"transformer_layer_{k}"
        # keras_hub leaves the rotary layer's name to Keras's per-process counter; these
        # are the names a fresh process gives (the attribute is informational only).
        rotary_name = "roformr_positional_embedding" + (f"_{k}" if k else "")
        for group, name in (
            ("attention_layer", "attention_layer"),
            ("attention_layer/q_dense", "q_dense_layer"),
            ("attention_layer/k_dense", "k_dense_layer"),
            ("attention_layer/v_dense", "v_dense_layer"),
            ("attention_layer/o_dense", "o_dense_layer"),
            ("attention_layer/rotary_embedding_layer", rotary_name),
            ("attention_norm", "attention_norm"),
            ("dropout_layer", "self_attention_dropout"),
            ("feedforward_intermediate_dense", "feedforward_intermediate_dense"),
            ("feedforward_norm", "feedforward_norm"),
            ("feedforward_output_dense", "feedforward_output_dense"),
        ):
            names[f"{p}/{group}/vars"] = name
    return names


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (the weight-free head and stateless preprocessor layers)."""
    return task_layout.task_group_names(
        "roformer_v2", head_groups={"layers/roformer_v2_masked_lm_head/vars": "mlm_head"}
    )
