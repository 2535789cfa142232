"""The files that make up a preset: found, checked for completeness, and staged for upload.

A run directory holds its preset beside files that are not part of it (checkpoints/,
metrics.jsonl, train_config.json, training.png, ...), so files are chosen by name: the
keras_hub preset files, or a transformers checkpoint's, plus the model card README.md.
Every chosen file is resolved through PresetDirectory, which refuses links that leave the
directory; the staging folder gets plain copies (or hard links) of exactly these files, so
an upload client walking it can see nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.weight_files import KERAS_SHARD_FILE, SHARD_INDEX_FILE, backbone_weight_files
from mlm_cli.models.preset.writers import (
    ASSETS_DIR,
    CONFIG_FILE,
    METADATA_FILE,
    MODEL_WEIGHTS_FILE,
    OBJECT_FILES,
    TASK_CONFIG_FILE,
    TASK_WEIGHTS_FILE,
    TOKENIZER_CONFIG_FILE,
)

KERAS_HUB = "keras_hub"
TRANSFORMERS = "hf"
FORMATS = (KERAS_HUB, TRANSFORMERS)
CARD_FILE = "README.md"
ASSETS_FOLDER = ASSETS_DIR  # keras_hub presets keep tokenizer files in assets/tokenizer/
MAX_ASSET_DEPTH = 8

KERAS_HUB_FILES = frozenset({*OBJECT_FILES, METADATA_FILE, MODEL_WEIGHTS_FILE, SHARD_INDEX_FILE, TASK_WEIGHTS_FILE,
                             CARD_FILE})
TRANSFORMERS_FILES = frozenset({
    "config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "spm.model", "sentencepiece.bpe.model", CARD_FILE,
})
TRANSFORMERS_SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")


@dataclass(frozen=True)
class LocalPreset:
    """A preset directory on this machine and its format (keras_hub or hf)."""

    directory: PresetDirectory
    format: str

    @property
    def root(self) -> Path:
        return self.directory.root


def open_local_preset(path: str | os.PathLike) -> LocalPreset:
    """The preset in directory `path` (a preset, a finished run directory or a checkpoint), checked for its files."""
    from mlm_cli.models.convert.transformers_checkpoint import is_transformers_checkpoint

    location = Path(path).expanduser()
    if not location.exists():
        raise BadInputError(f"preset directory {location} does not exist",
                            hint="pass a preset or run directory (e.g. the --output of mlm train)")
    if not location.is_dir():
        raise BadInputError(f"preset {location} is a file, not a directory",
                            hint="pass the directory that holds config.json")
    directory = PresetDirectory(location)
    if not directory.exists("config.json"):
        raise _no_preset_error(directory.root)
    preset = LocalPreset(directory, TRANSFORMERS if is_transformers_checkpoint(directory.root) else KERAS_HUB)
    check_complete(preset)
    return preset


def _no_preset_error(root: Path) -> BadInputError:
    from mlm_cli.workflows.run_directory import holds_run

    if holds_run(root):
        return BadInputError(f"{root} is a training run without a published preset yet",
                             hint="let mlm train finish (or rerun it with --resume), or push one of its "
                                  "checkpoints/step-* directories")
    return BadInputError(f"{root} holds no preset (no config.json)",
                         hint="pass the directory that holds config.json, e.g. a finished run directory")


def check_complete(preset: LocalPreset) -> None:
    """The files a loadable, complete preset needs; missing ones are a PresetError (exit 2)."""
    directory = preset.directory
    if preset.format == KERAS_HUB:
        backbone_weight_files(directory)  # model.weights.h5, or every shard its index names
        required = [CONFIG_FILE, TOKENIZER_CONFIG_FILE]
        if directory.exists(TASK_CONFIG_FILE):
            required.append(TASK_WEIGHTS_FILE)  # without it the masked-LM head would be pushed untrained
    else:
        weights = "model.safetensors.index.json" if directory.exists(
            "model.safetensors.index.json") else "model.safetensors"
        required = ["config.json", weights]
    for name in required:
        directory.require(name)


def upload_names(preset: LocalPreset) -> tuple[list[str], list[str]]:
    """(files to upload as posix paths relative to the preset, top-level names left out), both sorted."""
    directory = preset.directory
    chosen: list[str] = []
    left_out: list[str] = []
    for entry in sorted(directory.root.iterdir(), key=lambda p: p.name):
        name = entry.name
        if preset.format == KERAS_HUB and name == ASSETS_FOLDER:
            chosen.extend(_asset_files(directory, name, depth=0))
        elif _is_preset_file(preset.format, name):
            if directory.path(name).is_file():  # refuses a link that leaves the directory
                chosen.append(name)
            else:
                left_out.append(f"{name}/")
        else:
            left_out.append(f"{name}/" if entry.is_dir() and not entry.is_symlink() else name)
    return sorted(chosen), left_out


def _is_preset_file(format: str, name: str) -> bool:
    if format == KERAS_HUB:
        return name in KERAS_HUB_FILES or bool(KERAS_SHARD_FILE.fullmatch(name))
    return name in TRANSFORMERS_FILES or bool(TRANSFORMERS_SHARD.match(name))


def _asset_files(directory: PresetDirectory, relative: str, depth: int) -> list[str]:
    """Every regular file under assets/ (links followed only while they stay inside the preset)."""
    resolved = directory.path(relative)
    if resolved.is_file():
        return [relative]
    if not resolved.is_dir() or depth > MAX_ASSET_DEPTH:
        return []
    return [name for child in sorted(os.listdir(resolved))
            for name in _asset_files(directory, f"{relative}/{child}", depth + 1)]


def stage(preset: LocalPreset, names: list[str], staging: Path) -> None:
    """Put exactly `names` into the empty folder `staging` as regular files.

    Hard links where the filesystem allows (no copy of large weights), copies elsewhere. Links
    are resolved here, inside the preset, so the staging folder holds no links at all.
    """
    for name in names:
        source = preset.directory.path(name)
        if not source.is_file():
            raise PresetError(f"{preset.root}: {name} vanished while preparing the upload",
                              hint="is something rewriting the preset? push again once it is done")
        destination = staging.joinpath(*name.split("/"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, destination)
        except OSError:
            shutil.copyfile(source, destination)
