"""Write keras_hub-format preset directories atomically: a whole masked-LM task, or one backbone, tokenizer or
preprocessor added to a preset directory (as keras_hub composes presets: `backbone.save_to_preset(dir)`, then
`preprocessor.save_to_preset(dir)`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlm_cli.atomic_files import staging_directory
from mlm_cli.errors import BadInputError, MlmError
from mlm_cli.models.preset.json_objects import object_json
from mlm_cli.models.preset.registry import Family
from mlm_cli.models.preset.writers import (
    METADATA_FILE,
    OBJECT_FILES,
    PREPROCESSOR_CONFIG_FILE,
    TASK_CONFIG_FILE,
    TASK_WEIGHTS_FILE,
    TOKENIZER_CONFIG_FILE,
    backbone_entries,
    family_of,
    preprocessor_entries,
    tokenizer_entries,
    write_backbone_files,
    write_json,
    write_preprocessor_files,
    write_tokenizer_files,
)

# keras_hub tasks are compiled on construction, so its presets store a fresh Adam's two
# scalars (iterations, learning rate); writing them too keeps keras_hub from warning on load.
# mlm's real optimizer state lives in run checkpoints, never in a preset.
FRESH_OPTIMIZER_GROUPS = {"optimizer/vars": "adam"}
FRESH_OPTIMIZER_ARRAYS = {"optimizer/vars/0": np.int32(0), "optimizer/vars/1": np.float32(5e-5)}

Writer = Callable[[Path], object]


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- a whole masked-LM task -------------------------------------------------------------


def write_preset_files(model, directory: Path) -> None:
    """Write every file of the task's preset into an existing empty `directory`."""
    from mlm_cli.models.preset.h5_weights import write_arrays

    family = family_of(model, "masked-LM")
    objects = {"backbone": write_backbone_files(model.backbone, directory), "name": model.name}
    if model.preprocessor is not None:
        # A task's preset always uses keras_hub's file names, whatever config_file its parts were loaded with.
        preprocessor = write_preprocessor_files(model.preprocessor, directory, PREPROCESSOR_CONFIG_FILE,
                                                TOKENIZER_CONFIG_FILE)
        objects = {"backbone": objects["backbone"], "preprocessor": preprocessor, "name": model.name}
    write_json(directory / TASK_CONFIG_FILE, object_json(family, family.masked_lm, objects))
    weights = family.weights()
    task_arrays = {**weights.export_head(model.masked_lm_head), **FRESH_OPTIMIZER_ARRAYS}
    write_arrays(directory / TASK_WEIGHTS_FILE, task_arrays, {**weights.task_group_names(), **FRESH_OPTIMIZER_GROUPS})


def _target(preset_dir: str | os.PathLike) -> Path:
    target = Path(preset_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise BadInputError(f"{target} exists and is not a directory", hint="choose another output path")
    return target


def _is_empty(target: Path) -> bool:
    return not target.is_dir() or not any(target.iterdir())


def _replace_directory(source: Path, target: Path) -> None:
    """Rename `source` to `target`; an existing `target` is moved aside first and deleted only afterwards."""
    if not target.exists():
        os.rename(source, target)
        return
    backup = staging_directory(target.parent, f".{target.name}.old-")
    os.rename(target, backup / "old")
    os.rename(source, target)
    shutil.rmtree(backup, ignore_errors=True)


def publish_directory(write: Writer, target: Path) -> Path:
    """Run `write` on a temporary sibling directory, then rename it into place (replacing `target`, if any, only
    once the new one is complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_directory(target.parent, f".{target.name}.partial-")
    try:
        write(staging)
        _replace_directory(staging, target)
        _fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def save_masked_lm(model, preset_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the task's preset into a temporary sibling directory, then rename it into place.

    An existing non-empty `preset_dir` is replaced only with `overwrite=True`, and
    only after the new preset is completely written.
    """
    target = _target(preset_dir)
    if not _is_empty(target) and not overwrite:
        raise BadInputError(f"{target} already exists and is not empty",
                            hint="choose another directory or pass overwrite=True (--overwrite)")
    return publish_directory(lambda directory: write_preset_files(model, directory), target)


# --- one backbone, tokenizer or preprocessor ------------------------------------------------


def save_backbone(backbone, preset_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """config.json, model.weights.h5 and metadata.json, as keras_hub's `Backbone.save_to_preset` writes them."""
    return save_object(lambda directory: write_backbone_files(backbone, directory), backbone_entries(),
                       family_of(backbone, "backbone"), preset_dir, overwrite)


def save_tokenizer(tokenizer, preset_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """The tokenizer's config (tokenizer.json) and assets, as keras_hub's `Tokenizer.save_to_preset` writes them."""
    return save_object(lambda directory: write_tokenizer_files(tokenizer, directory), tokenizer_entries(tokenizer),
                       family_of(tokenizer, "tokenizer"), preset_dir, overwrite)


def save_preprocessor(preprocessor, preset_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """preprocessor.json and the tokenizer's files, as keras_hub's `Preprocessor.save_to_preset` writes them."""
    return save_object(lambda directory: write_preprocessor_files(preprocessor, directory),
                       preprocessor_entries(preprocessor), family_of(preprocessor, "preprocessor"), preset_dir,
                       overwrite)


def save_object(write: Writer, entries: list[str], family: Family, preset_dir: str | os.PathLike,
                overwrite: bool) -> Path:
    """Write one object's `entries` (files and asset folders) into a preset directory, atomically.

    A missing or empty directory is written whole and renamed into place. A preset directory of the same family
    gains the entries, each moved into place once all are written (metadata.json merged, last); one it already
    holds is replaced only with `overwrite=True`. A non-empty directory that is not a preset is refused unless
    `overwrite=True` (its files are kept); a preset of another family is always refused.
    """
    target = _target(preset_dir)
    if _is_empty(target):
        return publish_directory(write, target)
    _check_can_join(target, entries, family, overwrite)
    staging = staging_directory(target.parent, f".{target.name}.partial-")
    try:
        if (target / METADATA_FILE).is_file():
            shutil.copyfile(target / METADATA_FILE, staging / METADATA_FILE)  # the writers merge into it
        write(staging)
        _move_entries(staging, target, [*entries, METADATA_FILE])
        _fsync_directory(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_can_join(target: Path, entries: list[str], family: Family, overwrite: bool) -> None:
    """Refuse to add an object to a directory it does not belong in (see `save_object`)."""
    held = [entry for entry in entries if (target / entry).exists()]
    if held and not overwrite:
        raise BadInputError(f"{target} already holds {', '.join(held)}",
                            hint="choose another directory or pass overwrite=True to replace them")
    kept = [name for name in OBJECT_FILES if (target / name).is_file() and name not in entries]
    if not kept and not held and not overwrite:
        raise BadInputError(f"{target} already exists and is not empty",
                            hint="choose another directory or pass overwrite=True (its files are kept)")
    for name in kept:
        found = _family_named_in(target, name)
        if found != family.name:
            raise BadInputError(
                f"{target / name} belongs to {'a ' + found + ' preset' if found else 'no preset mlm reads'}; "
                f"a {family.name} object cannot join it", hint="choose another directory")


def _family_named_in(target: Path, name: str) -> str | None:
    """The family whose class `target/name` names, or None if mlm cannot read it."""
    from mlm_cli.models.preset.directory import PresetDirectory
    from mlm_cli.models.preset.json_objects import parse_object

    directory = PresetDirectory(target)
    try:
        return parse_object(directory.read_json(name), str(target / name)).family.name
    except MlmError:
        return None


def _move_entries(staging: Path, target: Path, entries: list[str]) -> None:
    """Move each staged entry over its namesake in `target`, in order; a folder replaces the old one whole."""
    for entry in entries:
        source, destination = staging / entry, target / entry
        if not source.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir() and destination.is_dir():
            _replace_directory(source, destination)
        else:
            os.replace(source, destination)
