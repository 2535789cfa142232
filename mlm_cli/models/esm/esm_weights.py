"""Where ESM's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

keras_hub stores separate [H, H] query/key/value kernels; mlm keeps one fused [H, 3H]
projection, so the mapping splits and joins their columns. Which embedding and layer-norm
groups exist depends on `position_embedding_type` and `use_pre_layer_norm`, and dense
layers have no bias datasets when `use_bias` is false.
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset import masked_lm_head_layout, task_layout
from mlm_cli.models.preset.variable_pairs import (
    dense_pairs,
    dense_shapes,
    export_fused_dense,
    export_pairs,
    import_fused_dense,
    import_pairs,
    norm_pairs,
)

# The head is keras_hub's MaskedLMHead, stored as every such family stores it.
export_head = masked_lm_head_layout.export_head
import_head = masked_lm_head_layout.import_head

PARTS = ("q", "k", "v")


def _encoder_prefix(index: int) -> str:
    return "layers/esm_encoder" + (f"_{index}" if index else "")


def _qkv_paths(index: int) -> list[str]:
    """The query, key and value Dense groups of encoder layer `index`."""
    return [f"{_encoder_prefix(index)}/attention_layer/{part}_dense" for part in PARTS]


def _norm_groups(config: dict) -> tuple[str | None, str]:
    """(embeddings layer norm group or None, final layer norm group): keras_hub numbers them in creation order."""
    if config["use_pre_layer_norm"]:
        return "layers/layer_normalization", "layers/layer_normalization_1"
    return None, "layers/layer_normalization"


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    v, h, i = config["vocabulary_size"], config["hidden_dim"], config["intermediate_dim"]
    use_bias = config.get("use_bias", True)
    shapes: dict[str, tuple[int, ...]] = {"layers/embedding/vars/0": (v, h)}
    if config["position_embedding_type"] == "absolute":
        shapes["layers/position_embedding/vars/0"] = (config["max_sequence_length"], h)
    for norm in _norm_groups(config):
        if norm:
            shapes[f"{norm}/vars/0"] = (h,)
            shapes[f"{norm}/vars/1"] = (h,)
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        for part in (*PARTS, "o"):
            shapes.update(dense_shapes(f"{p}/attention_layer/{part}_dense", h, h, use_bias))
        for norm in ("attention_norm", "feedforward_norm"):
            shapes[f"{p}/{norm}/vars/0"] = (h,)
            shapes[f"{p}/{norm}/vars/1"] = (h,)
        shapes.update(dense_shapes(f"{p}/feedforward_intermediate_dense", h, i, use_bias))
        shapes.update(dense_shapes(f"{p}/feedforward_output_dense", i, h, use_bias))
    return shapes


def head_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The masked-PLM head datasets in keras_hub's task.weights.h5 (its own [H, V] projection)."""
    h = config["hidden_dim"]
    return masked_lm_head_layout.shapes(h, h, config["vocabulary_size"], projection=True)


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every weight that maps one to one."""
    config = backbone.get_config()
    embeddings_norm, output_norm = _norm_groups(config)
    pairs: list[tuple[str, object]] = [("layers/embedding/vars/0", backbone.token_embedding.embeddings)]
    if backbone.position_embedding is not None:
        pairs.append(("layers/position_embedding/vars/0", backbone.position_embedding.embeddings))
    if embeddings_norm:
        pairs += norm_pairs(embeddings_norm, backbone.embeddings_norm)
    pairs += norm_pairs(output_norm, backbone.output_norm)
    for k, block in enumerate(backbone.encoder_blocks):
        p = _encoder_prefix(k)
        pairs += dense_pairs(f"{p}/attention_layer/o_dense", block.attention.output_dense)
        pairs += norm_pairs(f"{p}/attention_norm", block.attention_norm)
        pairs += norm_pairs(f"{p}/feedforward_norm", block.feedforward_norm)
        pairs += dense_pairs(f"{p}/feedforward_intermediate_dense", block.intermediate_dense)
        pairs += dense_pairs(f"{p}/feedforward_output_dense", block.output_dense)
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


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included.

    keras_hub's attention layers always hold a RoFormer positional-embedding sublayer;
    with rotary positions ESM replaces it by its own, and both take process-wide
    auto-generated names (`..._1`, `..._2`, ...) as in a fresh process.
    """
    embeddings_norm, output_norm = _norm_groups(config)
    names = {
        "vars": config.get("name") or "esm_backbone",
        "layers/input_layer/vars": "token_ids",
        "layers/embedding/vars": "token_embedding",
        f"{output_norm}/vars": "output_layer_norm",
    }
    if config["position_embedding_type"] == "absolute":
        names["layers/position_embedding/vars"] = "position_embedding"
        names["layers/add/vars"] = "embeddings_add"
    if embeddings_norm:
        names[f"{embeddings_norm}/vars"] = "emb_layer_norm"
    rotary = "esm_rotary_embedding" if config["position_embedding_type"] == "rotary" else "roformr_positional_embedding"
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        names[f"{p}/vars"] = f"transformer_layer_{k}"
        for group, name in (
            ("attention_layer", "attention_layer"),
            ("attention_layer/q_dense", "q_dense_layer"),
            ("attention_layer/k_dense", "k_dense_layer"),
            ("attention_layer/v_dense", "v_dense_layer"),
            ("attention_layer/o_dense", "o_dense_layer"),
            ("attention_layer/rotary_embedding_layer", rotary + (f"_{k}" if k else "")),
            ("attention_norm", "attention_norm"),
            ("dropout_layer", "self_attention_dropout"),
            ("feedforward_intermediate_dense", "feedforward_intermediate_dense"),
            ("feedforward_norm", "ffn_norm"),
            ("feedforward_output_dense", "feedforward_output_dense"),
        ):
            names[f"{p}/{group}/vars"] = name
    return names


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and preprocessor layers)."""
    return task_layout.task_group_names("esm", task="masked_plm", mask_input="input_layer_1", packer_name=None)
