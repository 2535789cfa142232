"""keras_hub's TransformerEncoder blocks in `.weights.h5`, mapped onto mlm's TransformerEncoderBlock.

BERT, DistilBERT, RoBERTa and XLM-RoBERTa store their encoder blocks alike:
`layers/transformer_encoder[_k]/...`, with query/key/value kernels per head ([H, A, d]).
mlm keeps one fused [H, 3H] projection, so the mapping splits and joins them.
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset.h5_weights import assign
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

ATTENTION_PARTS = ("query", "key", "value")


def encoder_prefix(index: int) -> str:
    """The h5 group of encoder block `index` (Keras names repeated layers `name`, `name_1`, ...)."""
    return "layers/transformer_encoder" + (f"_{index}" if index else "")


def encoder_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every dataset of the config's encoder blocks, with its shape."""
    h, i, a = config["hidden_dim"], config["intermediate_dim"], config["num_heads"]
    d = h // a
    shapes: dict[str, tuple[int, ...]] = {}
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


def _pairs(blocks) -> list[tuple[str, object]]:
    """(h5 path, mlm variable) for every encoder weight that maps one to one."""
    pairs = []
    for k, block in enumerate(blocks):
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


def export_encoders(blocks, hidden_dim: int, num_heads: int) -> dict[str, np.ndarray]:
    """The blocks' weights as keras_hub's datasets (fused QKV split per head)."""
    h, a = hidden_dim, num_heads
    d = h // a
    arrays = export_pairs(_pairs(blocks))
    for k, block in enumerate(blocks):
        p = f"{encoder_prefix(k)}/_self_attention_layer"
        kernel = np.asarray(block.attention.qkv_dense.kernel.numpy())
        bias = np.asarray(block.attention.qkv_dense.bias.numpy())
        for j, part in enumerate(ATTENTION_PARTS):
            arrays[f"{p}/{part}_dense/vars/0"] = kernel[:, j * h : (j + 1) * h].reshape(h, a, d)
            arrays[f"{p}/{part}_dense/vars/1"] = bias[j * h : (j + 1) * h].reshape(a, d)
        arrays[f"{p}/output_dense/vars/0"] = np.asarray(block.attention.output_dense.kernel.numpy()).reshape(a, d, h)
    return arrays


def import_encoders(blocks, arrays: dict[str, np.ndarray], hidden_dim: int) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the blocks' variables."""
    h = hidden_dim
    import_pairs(_pairs(blocks), arrays)
    for k, block in enumerate(blocks):
        p = f"{encoder_prefix(k)}/_self_attention_layer"
        kernel = np.concatenate([arrays[f"{p}/{part}_dense/vars/0"].reshape(h, h) for part in ATTENTION_PARTS], axis=1)
        bias = np.concatenate([arrays[f"{p}/{part}_dense/vars/1"].reshape(h) for part in ATTENTION_PARTS])
        assign(block.attention.qkv_dense.kernel, kernel)
        assign(block.attention.qkv_dense.bias, bias)
        assign(block.attention.output_dense.kernel, arrays[f"{p}/output_dense/vars/0"].reshape(h, h))


def encoder_group_names(num_layers: int) -> dict[str, str]:
    """The blocks' `vars` groups with their layer names, empty ones included.

    Attention dropout and softmax layers carry Keras's automatic names, numbered per
    process; these are the names a fresh process gives them.
    """
    names = {}
    for k in range(num_layers):
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
