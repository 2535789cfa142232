"""Write a masked-LM task as a keras_hub-format preset directory, atomically."""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.atomic_files import staging_directory
from mlm_cli.errors import BadInputError
from mlm_cli.models.preset.h5_weights import write_arrays
from mlm_cli.models.preset.json_objects import object_json
from mlm_cli.models.preset.registry import family_of_class

KERAS_HUB_FORMAT_VERSION = "0.32.0"  # the keras_hub release whose preset format this writes


# keras_hub tasks are compiled on construction, so its presets store a fresh Adam's two
# scalars (iterations, learning rate); writing them too keeps keras_hub from warning on load.
# mlm's real optimizer state lives in run checkpoints, never in a preset.
FRESH_OPTIMIZER_GROUPS = {"optimizer/vars": "adam"}
FRESH_OPTIMIZER_ARRAYS = {"optimizer/vars/0": np.int32(0), "optimizer/vars/1": np.float32(5e-5)}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=4))
        f.flush()
        os.fsync(f.fileno())


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_preset_files(model, directory: Path) -> None:
    """Write every file of the preset into an existing empty `directory`."""
    import keras

    from mlm_cli import __version__

    family = family_of_class(type(model))
    if family is None:
        raise TypeError(f"{type(model).__name__} is not a registered masked-LM class")
    weights = family.weights()
    backbone = model.backbone
    backbone_config = backbone.get_config()
    # Mixed precision is a training choice, not part of the model: store the variables' dtype.
    backbone_config["dtype"] = backbone.dtype_policy.variable_dtype
    backbone_json = object_json(family, family.backbone, backbone_config)
    _write_json(directory / "config.json", backbone_json)

    objects = {"backbone": backbone_json, "name": model.name}
    if model.preprocessor is not None:
        preprocessor = model.preprocessor
        tokenizer_json = object_json(family, family.tokenizer, preprocessor.tokenizer.get_config())
        preprocessor_json = object_json(family, family.preprocessor,
                                        {**preprocessor.get_config(), "tokenizer": tokenizer_json})
        # keras_hub orders the preprocessor's keys: base keys, tokenizer, then its own.
        config = preprocessor_json["config"]
        ordered = {k: config[k] for k in ("name", "trainable", "dtype", "tokenizer")}
        preprocessor_json["config"] = {**ordered, **config}
        _write_json(directory / "tokenizer.json", tokenizer_json)
        _write_json(directory / "preprocessor.json", preprocessor_json)
        objects = {"backbone": backbone_json, "preprocessor": preprocessor_json, "name": model.name}
        assets = directory / "assets" / "tokenizer"
        assets.mkdir(parents=True)
        preprocessor.tokenizer.save_assets(assets)
    _write_json(directory / "task.json", object_json(family, family.masked_lm, objects))

    write_arrays(directory / "model.weights.h5", weights.export_backbone(backbone),
                 weights.backbone_group_names(backbone_config))
    task_arrays = {**weights.export_head(model.masked_lm_head), **FRESH_OPTIMIZER_ARRAYS}
    write_arrays(directory / "task.weights.h5", task_arrays, {**weights.task_group_names(), **FRESH_OPTIMIZER_GROUPS})
    _write_json(
        directory / "metadata.json",
        {
            "keras_version": keras.__version__,
            "keras_hub_version": KERAS_HUB_FORMAT_VERSION,
            "mlm_version": __version__,
            "parameter_count": backbone.parameter_count(),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "tasks": ["MaskedLM"],
            **({"mlm_backbone_extensions": extensions} if (extensions := backbone_extensions(backbone)) else {}),
            **({"mlm_tokenizer_extensions": extensions} if (extensions := tokenizer_extensions(model)) else {}),
        },
    )


def backbone_extensions(backbone) -> dict[str, Any]:
    method = getattr(backbone, "extension_config", None)
    return method() if method else {}


def tokenizer_extensions(model) -> dict[str, Any]:
    if model.preprocessor is None:
        return {}
    method = getattr(model.preprocessor.tokenizer, "extension_config", None)
    return method() if method else {}


def save_masked_lm(model, preset_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write into a temporary sibling directory, then rename it into place.

    An existing non-empty `preset_dir` is replaced only with `overwrite=True`, and
    only after the new preset is completely written.
    """
    target = Path(preset_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise BadInputError(f"{target} exists and is not a directory", hint="choose another output path")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise BadInputError(f"{target} already exists and is not empty",
                            hint="choose another directory or pass overwrite=True (--overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_directory(target.parent, f".{target.name}.partial-")
    try:
        write_preset_files(model, staging)
        if target.exists():
            backup = staging_directory(target.parent, f".{target.name}.old-")
            os.rename(target, backup / "old")
            os.rename(staging, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(staging, target)
        _fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
