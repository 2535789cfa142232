"""Where BERT's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

keras_hub stores query/key/value kernels per head ([H, A, d]); mlm keeps one fused
[H, 3H] projection, so the mapping splits and joins them.
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset.h5_weights import assign


def _encoder_prefix(index: int) -> str:
    return "layers/transformer_encoder" + (f"_{index}" if index else "")


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    v, h, i = config["vocabulary_size"], config["hidden_dim"], config["intermediate_dim"]
    a = config["num_heads"]
    d = h // a
    shapes = {
        "layers/reversible_embedding/vars/0": (v, h),
        "layers/position_embedding/vars/0": (config["max_sequence_length"], h),
        "layers/embedding/vars/0": (config["num_segments"], h),
        "layers/layer_normalization/vars/0": (h,),
        "layers/layer_normalization/vars/1": (h,),
        "layers/dense/vars/0": (h, h),
        "layers/dense/vars/1": (h,),
    }
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        for part in ("query", "key", "value"):
            shapes[f"{p}/_self_attention_layer/{part}_dense/vars/0"] = (h, a, d)
            shapes[f"{p}/_self_attention_layer/{part}_dense/vars/1"] = (a, d)
        shapes[f"{p}/_self_attention_layer/output_dense/vars/0"] = (a, d, h)
        shapes[f"{p}/_self_attention_layer/output_dense/vars/1"] = (h,)
        for norm in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
            shapes[f"{p}/{norm}/vars/0"] = (h,)
            shapes[f"{p}/{norm}/vars/1"] = (h,)
        shapes[f"{p}/_feedforward_intermediate_dense/vars/0"] = (h, i)
        shapes[f"{p}/_feedforward_intermediate_dense/vars/1"] = (i,)
        shapes[f"{p}/_feedforward_output_dense/vars/0"] = (i, h)
        shapes[f"{p}/_feedforward_output_dense/vars/1"] = (h,)
    return shapes


def head_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The masked-LM head datasets in keras_hub's task.weights.h5."""
    h, v = config["hidden_dim"], config["vocabulary_size"]
    return {
        "layers/masked_lm_head/_intermediate_dense/vars/0": (h, h),
        "layers/masked_lm_head/_intermediate_dense/vars/1": (h,),
        "layers/masked_lm_head/_intermediate_layer_norm/vars/0": (h,),
        "layers/masked_lm_head/_intermediate_layer_norm/vars/1": (h,),
        "layers/masked_lm_head/vars/0": (v,),
    }


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every weight that maps one to one."""
    pairs = [
        ("layers/reversible_embedding/vars/0", backbone.token_embedding.embeddings),
        ("layers/position_embedding/vars/0", backbone.position_embedding.embeddings),
        ("layers/embedding/vars/0", backbone.segment_embedding.embeddings),
        ("layers/layer_normalization/vars/0", backbone.embeddings_norm.gamma),
        ("layers/layer_normalization/vars/1", backbone.embeddings_norm.beta),
        ("layers/dense/vars/0", backbone.pooler.kernel),
        ("layers/dense/vars/1", backbone.pooler.bias),
    ]
    for k, block in enumerate(backbone.encoder_blocks):
        p = _encoder_prefix(k)
        pairs += [
            (f"{p}/_self_attention_layer_norm/vars/0", block.attention_norm.gamma),
            (f"{p}/_self_attention_layer_norm/vars/1", block.attention_norm.beta),
            (f"{p}/_feedforward_intermediate_dense/vars/0", block.intermediate_dense.kernel),
            (f"{p}/_feedforward_intermediate_dense/vars/1", block.intermediate_dense.bias),
            (f"{p}/_feedforward_output_dense/vars/0", block.output_dense.kernel),
            (f"{p}/_feedforward_output_dense/vars/1", block.output_dense.bias),
            (f"{p}/_feedforward_layer_norm/vars/0", block.feedforward_norm.gamma),
            (f"{p}/_feedforward_layer_norm/vars/1", block.feedforward_norm.beta),
        ]
    return pairs


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    h = backbone.hidden_dim
    a = backbone.num_heads
    d = h // a
    arrays = {path: np.asarray(variable.numpy()) for path, variable in _pairs(backbone)}
    for k, block in enumerate(backbone.encoder_blocks):
        p = f"{_encoder_prefix(k)}/_self_attention_layer"
        kernel = np.asarray(block.attention.qkv_dense.kernel.numpy())
        bias = np.asarray(block.attention.qkv_dense.bias.numpy())
        for j, part in enumerate(("query", "key", "value")):
            arrays[f"{p}/{part}_dense/vars/0"] = kernel[:, j * h : (j + 1) * h].reshape(h, a, d)
            arrays[f"{p}/{part}_dense/vars/1"] = bias[j * h : (j + 1) * h].reshape(a, d)
        arrays[f"{p}/output_dense/vars/0"] = np.asarray(block.attention.output_dense.kernel.numpy()).reshape(a, d, h)
        arrays[f"{p}/output_dense/vars/1"] = np.asarray(block.attention.output_dense.bias.numpy())
    return arrays


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    h = backbone.hidden_dim
    for path, variable in _pairs(backbone):
        if path.startswith("layers/dense/") and path not in arrays:
            continue  # no pooler in the source (transformers' BertForMaskedLM): keep the initialised one
        assign(variable, arrays[path])
    for k, block in enumerate(backbone.encoder_blocks):
        p = f"{_encoder_prefix(k)}/_self_attention_layer"
        kernel = np.concatenate([arrays[f"{p}/{part}_dense/vars/0"].reshape(h, h) for part in ("query", "key", "value")], axis=1)
        bias = np.concatenate([arrays[f"{p}/{part}_dense/vars/1"].reshape(h) for part in ("query", "key", "value")])
        attention = block.attention
        assign(attention.qkv_dense.kernel, kernel)
        assign(attention.qkv_dense.bias, bias)
        assign(attention.output_dense.kernel, arrays[f"{p}/output_dense/vars/0"].reshape(h, h))
        assign(attention.output_dense.bias, arrays[f"{p}/output_dense/vars/1"])


def _head_pairs(head) -> list[tuple[str, object]]:
    return [
        ("layers/masked_lm_head/_intermediate_dense/vars/0", head.dense.kernel),
        ("layers/masked_lm_head/_intermediate_dense/vars/1", head.dense.bias),
        ("layers/masked_lm_head/_intermediate_layer_norm/vars/0", head.norm.gamma),
        ("layers/masked_lm_head/_intermediate_layer_norm/vars/1", head.norm.beta),
        ("layers/masked_lm_head/vars/0", head.output_bias),
    ]


def export_head(head) -> dict[str, np.ndarray]:
    return {path: np.asarray(variable.numpy()) for path, variable in _head_pairs(head)}


def import_head(head, arrays: dict[str, np.ndarray]) -> None:
    for path, variable in _head_pairs(head):
        assign(variable, arrays[path])


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    names = {
        "vars": "bert_backbone",
        "layers/add/vars": "embeddings_add",
        "layers/dense/vars": "pooled_dense",
        "layers/dropout/vars": "embeddings_dropout",
        "layers/embedding/vars": "segment_embedding",
        "layers/input_layer/vars": "token_ids",
        "layers/input_layer_1/vars": "segment_ids",
        "layers/input_layer_2/vars": "padding_mask",
        "layers/layer_normalization/vars": "embeddings_layer_norm",
        "layers/position_embedding/vars": "position_embedding",
        "layers/reversible_embedding/vars": "token_embedding",
    }
    for k in range(config["num_layers"]):
        p = _encoder_prefix(k)
        names[f"{p}/vars"] = f"transformer_layer_{k}"
        for group, name in (
            ("_feedforward_dropout", "feedforward_dropout"),
            ("_feedforward_intermediate_dense", "feedforward_intermediate_dense"),
            ("_feedforward_layer_norm", "feedforward_layer_norm"),
            ("_feedforward_output_dense", "feedforward_output_dense"),
            ("_self_attention_dropout", "self_attention_dropout"),
            ("_self_attention_layer", "self_attention_layer"),
            ("_self_attention_layer/_dropout_layer", "dropout"),
            ("_self_attention_layer/_softmax", "softmax"),
            ("_self_attention_layer/key_dense", "key"),
            ("_self_attention_layer/query_dense", "query"),
            ("_self_attention_layer/value_dense", "value"),
            ("_self_attention_layer/output_dense", "attention_output"),
            ("_self_attention_layer_norm", "self_attention_layer_norm"),
        ):
            names[f"{p}/{group}/vars"] = name
    return names


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
    return {
        "vars": "bert_masked_lm",
        "layers/input_layer_3/vars": "mask_positions",
        "layers/masked_lm_head/vars": "mlm_head",
        "layers/masked_lm_head/_intermediate_dense/vars": "intermediate_dense",
        "layers/masked_lm_head/_intermediate_layer_norm/vars": "intermediate_layer_norm",
        "preprocessor/vars": "bert_masked_lm_preprocessor",
        "preprocessor/masker/vars": "masked_lm_mask_generator",
        "preprocessor/packer/vars": "multi_segment_packer",
        "preprocessor/tokenizer/vars": "bert_tokenizer",
    }
