"""Keras 3 `.weights.h5` files: read named arrays safely, write keras_hub's layout."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import ml_dtypes
import numpy as np

from mlm_cli.errors import PresetError

ALLOWED_KINDS = "fiub"  # float, signed int, unsigned int, bool
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


def _is_floating(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype == BFLOAT16


def read_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every dataset in the file: path -> (shape, dtype), without reading any data.

    External links, soft links, external storage and virtual datasets are refused:
    they would make the loader read outside the preset directory.
    """
    found: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with h5py.File(path, "r") as f:
            _walk(f, "", path, found)
    except PresetError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise PresetError(f"{path}: not a readable weights file ({error})",
                          hint="the file is corrupt or truncated; download it again") from None
    return found


def _walk(group: h5py.Group, prefix: str, path: Path, found: dict) -> None:
    for name in group:
        link = group.get(name, getlink=True)
        full = f"{prefix}{name}"
        if not isinstance(link, h5py.HardLink):
            raise PresetError(f"{path}: entry {full!r} is a link, which presets may not contain")
        item = group[name]
        if isinstance(item, h5py.Group):
            _walk(item, full + "/", path, found)
        elif isinstance(item, h5py.Dataset):
            if item.is_virtual or item.external:
                raise PresetError(f"{path}: dataset {full!r} stores its data outside the file")
            dtype = item.dtype
            if dtype.kind == "V" and dtype.itemsize == 2 and item.attrs.get("dtype") == "bfloat16":
                dtype = BFLOAT16  # how Keras stores bfloat16 (opaque 2-byte values, tagged)
            elif dtype.kind not in ALLOWED_KINDS:
                raise PresetError(f"{path}: dataset {full!r} has unsupported dtype {item.dtype}")
            found[full] = (tuple(int(d) for d in item.shape), dtype)


def read_arrays(files: Path | Sequence[Path], expected: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Read the datasets named in `expected` from one weights file or from shards that together hold them, after
    checking that each exists exactly once with exactly that shape."""
    files = [files] if isinstance(files, Path) else list(files)
    where: dict[str, Path] = {}
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for path in files:
        for name, found in read_shapes(path).items():
            if name in where:
                raise PresetError(f"{path}: weight {name!r} is also in {where[name].name}",
                                  hint="the preset's shards overlap; download or export it again")
            where[name], shapes[name] = path, found
    source = files[0] if len(files) == 1 else f"{files[0].parent} (shards {', '.join(p.name for p in files)})"
    missing = [name for name in expected if name not in shapes]
    if missing:
        raise PresetError(f"{source}: missing weights {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}",
                          hint="the preset does not match its config")
    for name, shape in expected.items():
        if shapes[name][0] != tuple(shape):
            raise PresetError(f"{where[name]}: weight {name!r} has shape {shapes[name][0]}, expected {tuple(shape)}")
        if not _is_floating(shapes[name][1]):
            raise PresetError(f"{where[name]}: weight {name!r} has dtype {shapes[name][1]}, expected floating point")
    arrays: dict[str, np.ndarray] = {}
    for path in files:
        names = [name for name in expected if where[name] == path]
        if not names:
            continue
        try:
            with h5py.File(path, "r") as f:
                for name in names:
                    raw = np.asarray(f[name][()])
                    arrays[name] = raw.view(BFLOAT16) if shapes[name][1] == BFLOAT16 else raw
        except (OSError, KeyError, ValueError, RuntimeError) as error:
            raise PresetError(f"{path}: cannot read weights ({error})",
                              hint="the file is corrupt or truncated") from None
    for name in expected:
        if not np.all(np.isfinite(arrays[name].astype(np.float32, copy=False))):
            raise PresetError(f"{where[name]}: weight {name!r} contains NaN or infinite values")
    return {name: arrays[name] for name in expected}


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], group_names: Mapping[str, str] | None = None) -> None:
    """Write arrays at their paths (creating groups), tag `vars` groups with layer names, fsync."""
    group_names = group_names or {}
    # The file is built in memory and written with plain Python I/O: a full disk then raises a
    # clean OSError, where HDF5 writing straight to disk fails inside its own destructors
    # (and can crash the process). The price is holding one file's bytes in memory once.
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        for group_path, layer_name in group_names.items():
            f.require_group(group_path).attrs["name"] = layer_name
        for name, array in arrays.items():
            array = np.asarray(array)
            dataset = f.create_dataset(name, data=array)
            if array.dtype == BFLOAT16:
                dataset.attrs["dtype"] = "bfloat16"
    with open(path, "wb") as handle:
        handle.write(image.getbuffer())
        handle.flush()
        os.fsync(handle.fileno())


def assign(variable, array: np.ndarray) -> None:
    """Set a Keras variable from a stored array; Keras casts to the variable's dtype."""
    if array.dtype == BFLOAT16 or array.dtype.kind != "f":
        array = array.astype(np.float32)
    variable.assign(array)
