"""Load transformers-format checkpoints as keras_hub presets, and export presets for transformers.

A transformers checkpoint is converted once into a keras_hub preset under mlm's cache
(`MLM_CACHE_DIR/converted/`), keyed by the checkpoint's files, and loaded from there.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import shutil
from pathlib import Path

from mlm_cli.atomic_files import staging_directory
from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.registry import converted_families, family_of_class, family_of_model_type

CONVERTER_VERSION = "1"


def is_transformers_checkpoint(directory: str | os.PathLike) -> bool:
    """A directory whose config.json is a transformers config (has model_type, no keras class_name)."""
    try:
        data = PresetDirectory(directory).read_json("config.json")
    except PresetError:
        return False  # not a readable config: the preset loader reports it
    return "model_type" in data and "class_name" not in data


def _fingerprint(directory: PresetDirectory) -> str:
    """Identity of a checkpoint: its path plus the names, sizes and mtimes of its files."""
    digest = hashlib.sha256(f"{CONVERTER_VERSION}\0{directory.root}".encode())
    for name in directory.files():
        stat = directory.path(name).stat()
        digest.update(f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def converted_preset(directory: str | os.PathLike) -> Path:
    """The keras_hub preset converted from a transformers checkpoint (converting on first use).

    Safe in parallel: concurrent converters of one checkpoint take turns on the cache
    entry's lock, and all but the first find the published copy. The entry stays locked
    (shared) while this process lives, so `mlm cache clean` keeps it.
    """
    from mlm_cli.cache_locks import converted_key, create_entry, use_entry
    from mlm_cli.hub import cache_dir

    source = PresetDirectory(directory)
    target = cache_dir() / "converted" / f"{source.root.name}-{_fingerprint(source)}"
    key = converted_key(target.name)
    while True:
        use_entry(key)
        if (target / "config.json").is_file():
            return target
        with create_entry(key) as alone:
            if not (target / "config.json").is_file():
                _publish_conversion(source, target, remove_leftovers=alone)


def _publish_conversion(source: PresetDirectory, target: Path, remove_leftovers: bool) -> None:
    """Convert into a private staging folder and rename it into place; a copy published meanwhile wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if remove_leftovers:  # no other process uses the entry: what is there is left from killed conversions
        for stale in [*target.parent.glob(f".{glob.escape(target.name)}.partial-*"), target]:
            shutil.rmtree(stale, ignore_errors=True)
    staging = staging_directory(target.parent, f".{target.name}.partial-")
    try:
        convert_checkpoint(source, staging / "preset")
        try:
            os.rename(staging / "preset", target)
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def convert_checkpoint(source: PresetDirectory, target: Path) -> None:
    """Write `target` as a keras_hub preset equivalent to the transformers checkpoint in `source`."""
    config_path = str(source.path("config.json"))
    model_type = source.read_json("config.json").get("model_type")
    family = family_of_model_type(model_type)
    if family is None:
        raise PresetError(
            f"{config_path}: model_type {model_type!r} is not supported",
            hint=f"mlm converts: {', '.join(sorted(f.model_type for f in converted_families()))}",
        )
    model = family.converter().model_from_checkpoint(source)
    model.save_to_preset(target)


def export_transformers(model, output: Path, dtype: str = "float32") -> None:
    """Write config.json, model.safetensors and tokenizer files that transformers' Auto classes load."""
    family = family_of_class(type(model))
    if family is None or family.model_type is None:
        name = family.name if family else type(model).__name__
        raise BadInputError(
            f"{name} models have no transformers counterpart to export to",
            hint=f"--format hf works for: {', '.join(sorted(f.name for f in converted_families()))}; "
            "use --format keras_hub",
        )
    output = Path(output)
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        family.converter().write_checkpoint(model, staging, dtype)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
