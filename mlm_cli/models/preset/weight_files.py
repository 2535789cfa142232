"""Which files hold a preset's backbone weights: model.weights.h5, or the shards model.weights.json lists.

keras_hub writes shards (`model_00000.weights.h5`, ... plus a `model.weights.json` index, Keras'
sharded format) when a backbone is saved with a `max_shard_size` smaller than its weights. The
index is untrusted input like every preset file: each shard it names must be a plain file name
inside the preset directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlm_cli.errors import PresetError
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.writers import MODEL_WEIGHTS_FILE

SHARD_INDEX_FILE = "model.weights.json"
SHARD_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-.]*\.weights\.h5")  # what an index may name
KERAS_SHARD_FILE = re.compile(r"model_\d{5}\.weights\.h5")  # the names keras_hub gives its shards


def backbone_weight_files(directory: PresetDirectory) -> list[Path]:
    """model.weights.h5 when the preset has it, else the shards its index names (each once, in index order)."""
    if directory.exists(MODEL_WEIGHTS_FILE) or not directory.exists(SHARD_INDEX_FILE):
        return [directory.require(MODEL_WEIGHTS_FILE)]
    return shard_files(directory)


def shard_files(directory: PresetDirectory) -> list[Path]:
    """The shard files of model.weights.json's `weight_map` (group path -> file name or list of file names)."""
    index = directory.read_json(SHARD_INDEX_FILE)
    weight_map = index.get("weight_map")
    source = directory.path(SHARD_INDEX_FILE)
    if not isinstance(weight_map, dict) or not weight_map:
        raise PresetError(f"{source}: no weight_map", hint="the preset is incomplete; download or export it again")
    names: dict[str, None] = {}  # ordered set
    for group, files in weight_map.items():
        files = [files] if isinstance(files, str) else files
        if not isinstance(files, list) or not files or not all(
                isinstance(name, str) and SHARD_FILE_NAME.fullmatch(name) for name in files):
            raise PresetError(f"{source}: the entry for {group!r} does not name weight files in the preset directory")
        names.update(dict.fromkeys(files))
    return [directory.require(name) for name in names]
