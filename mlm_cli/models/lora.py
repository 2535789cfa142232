"""LoRA on a backbone: add low-rank adapters to its encoder projections, save and load them in
keras_hub's `.lora.h5` layout, and fold them into the kernels for a plain model.

Semantics follow keras_hub's `Backbone.enable_lora`: every backbone weight is frozen and only
the adapters train; an adapter adds (alpha / rank) x A.B to its projection's kernel, with
alpha = rank unless given (Keras' default, a scale of 1). Query, key and value adapters are
per attention head where keras_hub's projections are (A [H, heads, rank], B [rank, head
width]), so the same adapter file serves mlm and keras_hub. Unlike keras_hub, biases stay
frozen too: the base weights are exactly those of the base model until merging.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.lora_targets import DEFAULT_TARGETS, KERAS_HUB_NUMBERING, TARGETS, KerasHubNumbering
from mlm_cli.models.layers.adaptable_dense import AdaptableDense, LowRankAdapter
from mlm_cli.models.preset.registry import family_of_class

LORA_SUFFIX = ".lora.h5"
ALPHA_ATTRIBUTE, TARGETS_ATTRIBUTE = "mlm_lora_alpha", "mlm_lora_targets"  # keras_hub ignores file attributes


@dataclass(frozen=True)
class LoraSettings:
    """What `enable_lora` set up: the rank, alpha and target names."""

    rank: int
    alpha: float
    targets: tuple[str, ...]

    def describe(self) -> str:
        alpha = "" if self.alpha == self.rank else f", alpha {self.alpha:g}"
        return f"LoRA rank {self.rank}{alpha} on {','.join(self.targets)}"


@dataclass(frozen=True)
class Projection:
    """One projection a target names in one encoder block: a layer and the columns [start, stop) it owns."""

    layer: AdaptableDense
    start: int
    stop: int
    heads: int | None  # attention heads, for query/key/value


def _unique_blocks(backbone) -> list:
    """Encoder blocks, each once (ALBERT's shared blocks once, not once per step)."""
    return list(backbone.encoder_blocks)


def block_projections(block) -> dict[str, Projection]:
    """target name -> the projection it names in `block`, for every target the block has."""
    found: dict[str, Projection] = {}
    attention = getattr(block, "attention", None)
    qkv = getattr(attention, "qkv_dense", None)
    if qkv is not None:
        width = qkv.units // 3
        for part, name in enumerate(("query", "key", "value")):
            found[name] = Projection(qkv, part * width, (part + 1) * width, attention.num_heads)
    if getattr(attention, "output_dense", None) is not None:
        found["attention_output"] = Projection(attention.output_dense, 0, attention.output_dense.units, None)
    for name, attribute in (("intermediate", "intermediate_dense"), ("feedforward_output", "output_dense")):
        layer = getattr(block, attribute, None)
        if layer is not None:
            found[name] = Projection(layer, 0, layer.units, None)
    return found


def available_targets(backbone) -> tuple[str, ...]:
    """The target names this backbone's blocks have, in TARGETS order."""
    present = block_projections(_unique_blocks(backbone)[0])
    return tuple(name for name in TARGETS if name in present)


def _numbering(backbone) -> KerasHubNumbering:
    family = family_of_class(type(backbone))
    if family is None or family.name not in KERAS_HUB_NUMBERING:
        raise BadInputError(f"LoRA is not available for {type(backbone).__name__}")
    return KERAS_HUB_NUMBERING[family.name]


def lora_settings(backbone) -> LoraSettings | None:
    """The backbone's LoRA settings, None when `enable_lora` was not called."""
    return getattr(backbone, "_lora_settings", None)


def enable_lora(backbone, rank: int, target_names=None, alpha: float | None = None) -> LoraSettings:
    """Freeze every weight of `backbone` and add trainable rank-`rank` adapters to the `target_names` projections
    of each encoder block (default query and value; see mlm_cli.lora_targets); returns the settings.

    BadInputError (a ValueError) for a rank below 1, an unknown target, a target the family's blocks lack, or a
    second call.
    """
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise BadInputError(f"LoRA rank must be an integer of at least 1, got {rank!r}")
    if alpha is not None and not alpha > 0:
        raise BadInputError(f"LoRA alpha must be positive, got {alpha!r}")
    if lora_settings(backbone) is not None:
        raise BadInputError("LoRA is already enabled on this backbone; it can be enabled once")
    targets = tuple(DEFAULT_TARGETS if target_names is None else target_names)
    unknown = [name for name in targets if name not in TARGETS]
    if unknown or not targets:
        raise BadInputError(f"unknown LoRA target {unknown[0] if unknown else targets!r}",
                            hint=f"use {', '.join(TARGETS)}")
    missing = [name for name in targets if name not in available_targets(backbone)]
    if missing:
        raise BadInputError(f"{type(backbone).__name__} has no {', '.join(missing)} projection to adapt (its blocks "
                            f"have {', '.join(available_targets(backbone)) or 'none'})",
                            hint="choose --lora-targets among those")
    numbering = _numbering(backbone)
    settings = LoraSettings(int(rank), float(alpha if alpha is not None else rank),
                            tuple(name for name in TARGETS if name in targets))
    backbone.trainable = True
    for layer in backbone._flatten_layers(include_self=False):
        layer.trainable = False
    for block in _unique_blocks(backbone):
        projections = block_projections(block)
        for name in settings.targets:
            projection = projections[name]
            layer = projection.layer
            layer.trainable = True
            for variable in (layer.kernel, layer.bias):
                if variable is not None:
                    variable.trainable = False
            heads = projection.heads if numbering.per_head_qkv else None
            layer.add_adapter(name, projection.start, projection.stop, settings.rank, settings.alpha, heads)
    backbone._lora_settings = settings
    return settings


def adapters(backbone) -> list[tuple[int, LowRankAdapter]]:
    """(keras_hub layer index, adapter) for every adapter, in block and target order."""
    numbering = _numbering(backbone)
    found = []
    for index, block in enumerate(_unique_blocks(backbone)):
        for name, projection in block_projections(block).items():
            for adapter in projection.layer.adapters:
                if adapter.target == name:
                    found.append((numbering.index(index, name), adapter))
    return found


def adapter_variables(backbone) -> list:
    """Every adapter weight (A and B of each adapter)."""
    return [v for _, adapter in adapters(backbone) for v in (adapter.lora_kernel_a, adapter.lora_kernel_b)]


def _file_a_shape(backbone, adapter: LowRankAdapter) -> tuple[int, ...]:
    """The shape keras_hub's layer gives A: attention output per head where its kernel is [heads, d, H]."""
    shape = tuple(adapter.lora_kernel_a.shape)
    if adapter.target == "attention_output" and _numbering(backbone).per_head_output:
        heads = block_projections(_unique_blocks(backbone)[0])["query"].heads
        return (heads, shape[0] // heads, shape[1])
    return shape


def _check_path(path: str | os.PathLike) -> Path:
    if not str(path).endswith(LORA_SUFFIX):
        raise BadInputError(f"a LoRA weights file name must end in {LORA_SUFFIX}, got {os.fspath(path)!r}")
    return Path(path)


def save_lora_weights(backbone, path: str | os.PathLike) -> None:
    """Write the adapters to `path` (`*.lora.h5`) in keras_hub's layout: `lora/vars/rank`, then
    `lora/<layer index>/vars/lora_kernel_a|b` for each adapted layer; alpha and targets as file attributes."""
    import h5py

    from mlm_cli.atomic_files import write_bytes_atomic

    settings = lora_settings(backbone)
    if settings is None:
        raise BadInputError("this backbone has no LoRA adapters", hint="call enable_lora(rank) first")
    path = _check_path(path)
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        f.attrs[ALPHA_ATTRIBUTE] = settings.alpha
        f.attrs[TARGETS_ATTRIBUTE] = ",".join(settings.targets)
        f.create_dataset("lora/vars/rank", data=np.int64(settings.rank))
        for index, adapter in adapters(backbone):
            a = np.asarray(adapter.lora_kernel_a.numpy(), np.float32).reshape(_file_a_shape(backbone, adapter))
            f.create_dataset(f"lora/{index}/vars/lora_kernel_a", data=a)
            f.create_dataset(f"lora/{index}/vars/lora_kernel_b", data=np.asarray(adapter.lora_kernel_b.numpy(),
                                                                                 np.float32))
    write_bytes_atomic(path, image.getvalue())


def read_lora_settings(path: str | os.PathLike, backbone=None) -> LoraSettings:
    """The rank, alpha and targets of an adapter file (a keras_hub-written one: alpha = rank, targets from its layer
    indices, which needs `backbone`)."""
    import h5py

    from mlm_cli.models.preset.h5_weights import read_shapes

    path = _check_path(path)
    read_shapes(path)  # refuses links, external storage and odd dtypes: an adapter file is untrusted input
    try:
        with h5py.File(path, "r") as f:
            rank = int(f["lora/vars/rank"][()])
            alpha = float(f.attrs.get(ALPHA_ATTRIBUTE, rank))
            names = f.attrs.get(TARGETS_ATTRIBUTE)
            indices = sorted(int(key) for key in f["lora"] if key.isdigit())
    except (OSError, KeyError, ValueError) as error:
        raise PresetError(f"{path}: not a readable LoRA weights file ({error})") from None
    if names is not None:
        targets = tuple(str(names).split(","))
    elif backbone is not None:
        numbering = _numbering(backbone)
        offsets = {(index - numbering.first_block) % numbering.block_stride for index in indices}
        targets = tuple(name for name, offset in numbering.offsets.items() if offset in offsets)
        targets = tuple(name for name in TARGETS if name in targets)
    else:
        raise PresetError(f"{path}: the file does not name its targets; pass the backbone to read them")
    return LoraSettings(rank, alpha, targets)


def load_lora_weights(backbone, path: str | os.PathLike) -> None:
    """Set the adapters from a `.lora.h5` file (mlm's or keras_hub's), enabling LoRA with the file's rank, alpha and
    targets first if it is not enabled; PresetError when the file does not fit this backbone."""
    import h5py

    file_settings = read_lora_settings(path, backbone)
    if not 1 <= file_settings.rank <= backbone.hidden_dim:  # checked before any adapter is allocated
        raise PresetError(f"{path}: LoRA rank {file_settings.rank} does not fit a backbone of width "
                          f"{backbone.hidden_dim}", hint="load it onto the model it was trained for")
    settings = lora_settings(backbone)
    if settings is None:
        settings = enable_lora(backbone, file_settings.rank, file_settings.targets, file_settings.alpha)
    elif settings.rank != file_settings.rank:
        raise PresetError(f"{path}: LoRA rank {file_settings.rank}, but this backbone's adapters have rank "
                          f"{settings.rank}", hint="enable LoRA with the file's rank")
    with h5py.File(path, "r") as f:
        for index, adapter in adapters(backbone):
            group = f.get(f"lora/{index}/vars")
            if group is None:
                raise PresetError(f"{path}: no weights for the {adapter.target} adapter (layer {index})",
                                  hint="load it onto the model and targets it was trained for")
            a, b = np.asarray(group["lora_kernel_a"]), np.asarray(group["lora_kernel_b"])
            if not all(array.dtype.kind == "f" and np.isfinite(array).all() for array in (a, b)):
                raise PresetError(f"{path}: the {adapter.target} adapter of layer {index} is not finite floating "
                                  "point", hint="the file is corrupt; train or download it again")
            if a.size != np.prod(adapter.lora_kernel_a.shape) or b.shape != tuple(adapter.lora_kernel_b.shape):
                raise PresetError(f"{path}: the {adapter.target} adapter of layer {index} has shapes {a.shape}, "
                                  f"{b.shape}; this model's are {tuple(adapter.lora_kernel_a.shape)}, "
                                  f"{tuple(adapter.lora_kernel_b.shape)}", hint="use the base model it was trained on")
            adapter.lora_kernel_a.assign(a.reshape(adapter.lora_kernel_a.shape))
            adapter.lora_kernel_b.assign(b)


def merge_lora_weights(backbone) -> None:
    """Fold every adapter into its kernel (kernel + (alpha / rank) x A.B) and zero its B: the outputs stay the same,
    and the backbone's own weights now hold the change, so a preset saved from it is a plain model."""
    for layer in {id(adapter_layer): adapter_layer for adapter_layer in _adapted_layers(backbone)}.values():
        layer.merge_adapters()


def _adapted_layers(backbone) -> list[AdaptableDense]:
    return [projection.layer for block in _unique_blocks(backbone)
            for projection in block_projections(block).values() if projection.layer.adapters]
