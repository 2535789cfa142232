"""keras_hub's TransformerEncoder blocks in `.weights.h5`, mapped onto mlm's TransformerEncoderBlock.

BERT, DistilBERT, RoBERTa, XLM-RoBERTa and ALBERT store their encoder blocks alike:
`layers/transformer_encoder[_k]/...`, with query/key/value kernels per head ([H, A, d]).
mlm keeps one fused [H, 3H] projection, so the mapping splits and joins them. DeBERTaV3's
DisentangledAttentionEncoder stores the same weights under other names (an `EncoderNaming`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlm_cli.models.preset.h5_weights import assign
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

ATTENTION_PARTS = ("query", "key", "value")


@dataclass(frozen=True)
class EncoderNaming:
    """How one keras_hub encoder block class names its layers in `.weights.h5`."""

    layer: str  # the block's layer name: `layers/<layer>`, `layers/<layer>_1`, ...
    dense_prefix: str  # before `query_dense`, `key_dense`, ... inside `_self_attention_layer`
    per_head_output: bool  # whether the attention output kernel is stored per head ([A, d, H]) or as [H, H]

    def prefix(self, index: int) -> str:
        """The h5 group of encoder block `index`."""
        return repeated_layer_path(self.layer, index)

    def dense(self, part: str) -> str:
        """The attention projection `part` ("query", ..., "output") of a block, below its prefix."""
        return f"_self_attention_layer/{self.dense_prefix}{part}_dense"


def repeated_layer_path(name: str, index: int) -> str:
    """The h5 group of the `index`-th layer called `name` (Keras names repeats `name`, `name_1`, ...)."""
    return f"layers/{name}" + (f"_{index}" if index else "")


# keras_hub's TransformerEncoder (BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ALBERT).
TRANSFORMER_ENCODER = EncoderNaming("transformer_encoder", "", per_head_output=True)


def encoder_prefix(index: int) -> str:
    """The h5 group of TransformerEncoder block `index`."""
    return TRANSFORMER_ENCODER.prefix(index)


def encoder_shapes(config: dict, naming: EncoderNaming = TRANSFORMER_ENCODER) -> dict[str, tuple[int, ...]]:
    """Every dataset of the config's encoder blocks, with its shape."""
    h, i, a = config["hidden_dim"], config["intermediate_dim"], config["num_heads"]
    d = h // a
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(config["num_layers"]):
        p = naming.prefix(k)
        for part in ATTENTION_PARTS:
            shapes[f"{p}/{naming.dense(part)}/vars/0"] = (h, a, d)
            shapes[f"{p}/{naming.dense(part)}/vars/1"] = (a, d)
        shapes[f"{p}/{naming.dense('output')}/vars/0"] = (a, d, h) if naming.per_head_output else (h, h)
        shapes[f"{p}/{naming.dense('output')}/vars/1"] = (h,)
        for norm in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
            shapes[f"{p}/{norm}/vars/0"] = (h,)
            shapes[f"{p}/{norm}/vars/1"] = (h,)
        shapes[f"{p}/_feedforward_intermediate_dense/vars/0"] = (h, i)
        shapes[f"{p}/_feedforward_intermediate_dense/vars/1"] = (i,)
        shapes[f"{p}/_feedforward_output_dense/vars/0"] = (i, h)
        shapes[f"{p}/_feedforward_output_dense/vars/1"] = (h,)
    return shapes


def _pairs(blocks, naming: EncoderNaming) -> list[tuple[str, object]]:
    """(h5 path, mlm variable) for every encoder weight that maps one to one."""
    pairs = []
    for k, block in enumerate(blocks):
        p = naming.prefix(k)
        output = f"{p}/{naming.dense('output')}"
        if not naming.per_head_output:
            pairs.append((f"{output}/vars/0", block.attention.output_dense.kernel))
        pairs += [
            (f"{output}/vars/1", block.attention.output_dense.bias),
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


def export_encoders(
    blocks, hidden_dim: int, num_heads: int, naming: EncoderNaming = TRANSFORMER_ENCODER
) -> dict[str, np.ndarray]:
    """The blocks' weights as keras_hub's datasets (fused QKV split per head)."""
    h, a = hidden_dim, num_heads
    d = h // a
    arrays = export_pairs(_pairs(blocks, naming))
    for k, block in enumerate(blocks):
        p = naming.prefix(k)
        kernel = np.asarray(block.attention.qkv_dense.kernel.numpy())
        bias = np.asarray(block.attention.qkv_dense.bias.numpy())
        for j, part in enumerate(ATTENTION_PARTS):
            arrays[f"{p}/{naming.dense(part)}/vars/0"] = kernel[:, j * h : (j + 1) * h].reshape(h, a, d)
            arrays[f"{p}/{naming.dense(part)}/vars/1"] = bias[j * h : (j + 1) * h].reshape(a, d)
        if naming.per_head_output:
            output_kernel = np.asarray(block.attention.output_dense.kernel.numpy())
            arrays[f"{p}/{naming.dense('output')}/vars/0"] = output_kernel.reshape(a, d, h)
    return arrays


def import_encoders(
    blocks, arrays: dict[str, np.ndarray], hidden_dim: int, naming: EncoderNaming = TRANSFORMER_ENCODER
) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the blocks' variables."""
    h = hidden_dim
    import_pairs(_pairs(blocks, naming), arrays)
    for k, block in enumerate(blocks):
        p = naming.prefix(k)
        kernel = np.concatenate([arrays[f"{p}/{naming.dense(part)}/vars/0"].reshape(h, h) for part in ATTENTION_PARTS],
                                axis=1)
        bias = np.concatenate([arrays[f"{p}/{naming.dense(part)}/vars/1"].reshape(h) for part in ATTENTION_PARTS])
        assign(block.attention.qkv_dense.kernel, kernel)
        assign(block.attention.qkv_dense.bias, bias)
        if naming.per_head_output:
            assign(block.attention.output_dense.kernel, arrays[f"{p}/{naming.dense('output')}/vars/0"].reshape(h, h))


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
