"""(h5 path, Keras variable) pairs and dataset shapes: the one-to-one part of every family's weights layout."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset.h5_weights import assign

Pairs = list[tuple[str, object]]
Shapes = dict[str, tuple[int, ...]]


def dense_pairs(path: str, dense) -> Pairs:
    """A Dense layer's kernel (vars/0) and, when it has one, bias (vars/1) under `path`."""
    return [(f"{path}/vars/0", dense.kernel)] + ([(f"{path}/vars/1", dense.bias)] if dense.use_bias else [])


def norm_pairs(path: str, norm) -> Pairs:
    """A LayerNormalization's gamma (vars/0) and beta (vars/1) under `path`."""
    return [(f"{path}/vars/0", norm.gamma), (f"{path}/vars/1", norm.beta)]


def dense_shapes(path: str, inputs: int, units: int, use_bias: bool = True) -> Shapes:
    """The datasets of a Dense layer `inputs` -> `units` under `path`."""
    return {f"{path}/vars/0": (inputs, units), **({f"{path}/vars/1": (units,)} if use_bias else {})}


def norm_shapes(path: str, width: int) -> Shapes:
    """The datasets of a LayerNormalization of `width` under `path`."""
    return {f"{path}/vars/0": (width,), f"{path}/vars/1": (width,)}


def export_fused_dense(dense, paths: list[str]) -> dict[str, np.ndarray]:
    """A Dense layer fused from equal parts (query, key, value) as one Dense layer's datasets a part, under `paths`."""
    kernels = np.split(np.asarray(dense.kernel.numpy()), len(paths), axis=1)
    biases = np.split(np.asarray(dense.bias.numpy()), len(paths)) if dense.use_bias else None
    arrays = {}
    for j, path in enumerate(paths):
        arrays[f"{path}/vars/0"] = kernels[j]
        if biases is not None:
            arrays[f"{path}/vars/1"] = biases[j]
    return arrays


def import_fused_dense(dense, arrays: dict[str, np.ndarray], paths: list[str]) -> None:
    """Assign a fused Dense layer the parts stored under `paths` (the inverse of `export_fused_dense`)."""
    assign(dense.kernel, np.concatenate([arrays[f"{path}/vars/0"] for path in paths], axis=1))
    if dense.use_bias:
        assign(dense.bias, np.concatenate([arrays[f"{path}/vars/1"] for path in paths]))


def export_pairs(pairs: Pairs) -> dict[str, np.ndarray]:
    """Each variable's value at its path."""
    return {path: np.asarray(variable.numpy()) for path, variable in pairs}


def import_pairs(pairs: Pairs, arrays: dict[str, np.ndarray], optional: str | None = None) -> None:
    """Assign each variable its array (already shape-checked); a path starting with `optional` may be absent
    (a source without that layer, such as transformers' *ForMaskedLM without a pooler: the variable keeps its value)."""
    for path, variable in pairs:
        if optional is not None and path.startswith(optional) and path not in arrays:
            continue
        assign(variable, arrays[path])
