"""Read and write the safetensors format with numpy alone: a JSON header, then raw little-endian tensors.

Reading is safe on untrusted files: no code runs, every offset is checked against the file
size, and only plain numeric dtypes are accepted.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mlm_cli.atomic_files import write_atomic
from mlm_cli.errors import PresetError
from mlm_cli.models.preset.directory import PresetDirectory

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
MAX_HEADER_BYTES = 100 * 1024 * 1024


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path: str | os.PathLike, names: set[str] | None = None) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file (all, or those in `names`); bf16 comes back as float32."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise PresetError(f"{path}: truncated safetensors file")
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length > min(MAX_HEADER_BYTES, size - 8):
            raise PresetError(f"{path}: corrupt safetensors header length {header_length}")
        try:
            header = json.loads(f.read(header_length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise PresetError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise PresetError(f"{path}: corrupt safetensors header")
    data_start = 8 + header_length
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start,
                     shape=(size - data_start,)) if size > data_start else np.zeros(0, np.uint8)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or (names is not None and name not in names):
            continue
        try:
            dtype_name, shape, (begin, end) = entry["dtype"], [int(n) for n in entry["shape"]], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise PresetError(f"{path}: malformed entry for tensor {name!r}") from None
        if dtype_name == "BF16":
            itemsize = 2
        elif dtype_name in DTYPES:
            itemsize = DTYPES[dtype_name].itemsize
        else:
            raise PresetError(f"{path}: tensor {name!r} has unsupported dtype {dtype_name}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(n < 0 for n in shape) or not (0 <= begin <= end <= data.size) or end - begin != count * itemsize:
            raise PresetError(f"{path}: tensor {name!r} lies outside the file or has inconsistent size")
        raw = np.asarray(data[begin:end])
        if dtype_name == "BF16":
            array = _bf16_to_f32(raw.view("<u2")).reshape(shape)
        else:
            array = raw.view(DTYPES[dtype_name]).reshape(shape).copy()
        tensors[name] = array
    return tensors


def read_checkpoint_tensors(directory: PresetDirectory) -> dict[str, np.ndarray]:
    """Every tensor of a transformers checkpoint: model.safetensors, or the shards its index lists."""
    if directory.exists("model.safetensors"):
        return read_safetensors(directory.path("model.safetensors"))
    if directory.exists("model.safetensors.index.json"):
        index = directory.read_json("model.safetensors.index.json")
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v,
            str) and "/" not in v and "\\" not in v for v in weight_map.values()):
            raise PresetError(f"{directory.path('model.safetensors.index.json')}: malformed safetensors index")
        tensors: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(directory.require(shard), {n for n, s in weight_map.items() if s == shard}))
        return tensors
    if directory.exists("pytorch_model.bin"):
        raise PresetError(
            f"{directory.root}: only pytorch_model.bin (a pickle) is present; mlm never unpickles untrusted files",
            hint="convert it to model.safetensors (e.g. with transformers' save_pretrained(safe_serialization=True))",
        )
    raise PresetError(f"{directory.root}: no model.safetensors or model.safetensors.index.json")


def float32_to_bfloat16_bits(array: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of float32 values, rounded to nearest even."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(np.uint16)


def write_safetensors(
    path: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
    bfloat16: bool = False,
) -> None:
    """Write tensors atomically (temp file, fsync, rename); `bfloat16` stores float tensors as BF16."""
    reverse = {dtype: name for name, dtype in DTYPES.items()}
    header: dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    arrays = []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        if bfloat16 and array.dtype.kind == "f":
            array, dtype_name = float32_to_bfloat16_bits(array), "BF16"
        else:
            if array.dtype.newbyteorder("<") not in reverse:
                raise ValueError(f"cannot store dtype {array.dtype} of {name}")
            array = array.astype(array.dtype.newbyteorder("<"), copy=False)
            dtype_name = reverse[array.dtype]
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    path = Path(path)

    def write(f: BinaryIO) -> None:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for array in arrays:
            f.write(array.tobytes())

    write_atomic(path, write)


STORAGE_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "float32"}  # bfloat16 is rounded from float32


def write_transformers_weights(directory: Path, tensors: dict[str, np.ndarray], hf_config: dict, dtype: str) -> None:
    """A transformers checkpoint's config.json and model.safetensors, tensors stored in `dtype`."""
    tensors = {name: array.astype(STORAGE_DTYPES[dtype]) for name, array in tensors.items()}
    (Path(directory) / "config.json").write_text(json.dumps(hf_config, indent=2), encoding="utf-8")
    write_safetensors(Path(directory) / "model.safetensors", tensors, {"format": "pt"}, bfloat16=dtype == "bfloat16")
