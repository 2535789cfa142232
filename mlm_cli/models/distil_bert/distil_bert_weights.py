"""Where DistilBERT's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

The encoder blocks are stored like BERT's (query/key/value kernels per head, [H, A, d]);
mlm keeps one fused [H, 3H] projection, so the mapping splits and joins them. The
embeddings sit under keras_hub's `token_and_position_embedding` layer, and there is no
segment embedding or pooler. The masked-LM head is stored exactly like BERT's.
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.bert.bert_weights import export_head, head_shapes, import_head
from mlm_cli.models.preset.h5_weights import assign

__all__ = [
    "backbone_shapes",
    "head_shapes",
    "import_backbone",
    "export_backbone",
    "import_head",
    "export_head",
    "backbone_group_names",
    "task_group_names",
]

TOKEN_EMBEDDING = "layers/token_and_position_embedding/token_embedding/vars/0"
POSITION_EMBEDDING = "layers/token_and_position_embedding/position_embedding/vars/0"
EMBEDDINGS_NORM = "layers/layer_normalization"
ATTENTION_PARTS = ("query", "key", "value")


def encoder_prefix(index: int) -> str:
    """keras_hub's h5 group of encoder block `index` (Keras names repeated layers `name`, `name_1`, ...)."""
    return "layers/transformer_encoder" + (f"_{index}" if index else "")


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    v, h, i = config["vocabulary_size"], config["hidden_dim"], config["intermediate_dim"]
    a = config["num_heads"]
    d = h // a
    shapes = {
        TOKEN_EMBEDDING: (v, h),
        POSITION_EMBEDDING: (config["max_sequence_length"], h),
        f"{EMBEDDINGS_NORM}/vars/0": (h,),
        f"{EMBEDDINGS_NORM}/vars/1": (h,),
    }
    for k in range(config["num_layers"]):
        p = encoder_prefix(k)
        for part in ATTENTION_PARTS:
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


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every weight that maps one to one."""
    pairs = [
        (TOKEN_EMBEDDING, backbone.token_embedding.embeddings),
        (POSITION_EMBEDDING, backbone.position_embedding.embeddings),
        (f"{EMBEDDINGS_NORM}/vars/0", backbone.embeddings_norm.gamma),
        (f"{EMBEDDINGS_NORM}/vars/1", backbone.embeddings_norm.beta),
    ]
    for k, block in enumerate(backbone.encoder_blocks):
        p = encoder_prefix(k)
        pairs += [
            (f"{p}/_self_attention_layer/output_dense/vars/1", block.attention.output_dense.bias),
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
    h, a = backbone.hidden_dim, backbone.num_heads
    d = h // a
    arrays = {path: np.asarray(variable.numpy()) for path, variable in _pairs(backbone)}
    for k, block in enumerate(backbone.encoder_blocks):
        p = f"{encoder_prefix(k)}/_self_attention_layer"
        kernel = np.asarray(block.attention.qkv_dense.kernel.numpy())
        bias = np.asarray(block.attention.qkv_dense.bias.numpy())
        for j, part in enumerate(ATTENTION_PARTS):
            arrays[f"{p}/{part}_dense/vars/0"] = kernel[:, j * h : (j + 1) * h].reshape(h, a, d)
            arrays[f"{p}/{part}_dense/vars/1"] = bias[j * h : (j + 1) * h].reshape(a, d)
        arrays[f"{p}/output_dense/vars/0"] = np.asarray(block.attention.output_dense.kernel.numpy()).reshape(a, d, h)
    return arrays


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    h = backbone.hidden_dim
    for path, variable in _pairs(backbone):
        assign(variable, arrays[path])
    for k, block in enumerate(backbone.encoder_blocks):
        p = f"{encoder_prefix(k)}/_self_attention_layer"
        kernel = np.concatenate([arrays[f"{p}/{part}_dense/vars/0"].reshape(h, h) for part in ATTENTION_PARTS], axis=1)
        bias = np.concatenate([arrays[f"{p}/{part}_dense/vars/1"].reshape(h) for part in ATTENTION_PARTS])
        assign(block.attention.qkv_dense.kernel, kernel)
        assign(block.attention.qkv_dense.bias, bias)
        assign(block.attention.output_dense.kernel, arrays[f"{p}/output_dense/vars/0"].reshape(h, h))


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included.

    Attention dropout and softmax layers carry Keras's automatic names, numbered per
    process; these are the names a fresh process gives them.
    """
    names = {
        "vars": "distil_bert_backbone",
        "layers/dropout/vars": "embeddings_dropout",
        "layers/input_layer/vars": "token_ids",
        "layers/input_layer_1/vars": "padding_mask",
        f"{EMBEDDINGS_NORM}/vars": "embeddings_layer_norm",
        "layers/token_and_position_embedding/vars": "token_and_position_embedding",
        "layers/token_and_position_embedding/token_embedding/vars": "token_embedding",
        "layers/token_and_position_embedding/position_embedding/vars": "position_embedding",
    }
    for k in range(config["num_layers"]):
        p = encoder_prefix(k)
        suffix = f"_{k}" if k else ""
        names[f"{p}/vars"] = f"transformer_layer_{k}"
        for group, name in (
            ("_feedforward_dropout", "feedforward_dropout"),
            ("_feedforward_intermediate_dense", "feedforward_intermediate_dense"),
            ("_feedforward_layer_norm", "feedforward_layer_norm"),
            ("_feedforward_output_dense", "feedforward_output_dense"),
            ("_self_attention_dropout", "self_attention_dropout"),
            ("_self_attention_layer", "self_attention_layer"),
            ("_self_attention_layer/_dropout_layer", f"dropout{suffix}"),
            ("_self_attention_layer/_softmax", f"softmax{suffix}"),
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
        "vars": "distil_bert_masked_lm",
        "layers/input_layer_2/vars": "mask_positions",
        "layers/masked_lm_head/vars": "mlm_head",
        "layers/masked_lm_head/_intermediate_dense/vars": "intermediate_dense",
        "layers/masked_lm_head/_intermediate_layer_norm/vars": "intermediate_layer_norm",
        "preprocessor/vars": "distil_bert_masked_lm_preprocessor",
        "preprocessor/masker/vars": "masked_lm_mask_generator",
        "preprocessor/packer/vars": "multi_segment_packer",
        "preprocessor/tokenizer/vars": "distil_bert_tokenizer",
    }
