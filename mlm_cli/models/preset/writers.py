"""The files each object contributes to a keras_hub-format preset, written into a (staging) directory.

A backbone writes config.json, model.weights.h5 and metadata.json; a tokenizer its config
(tokenizer.json) and its vocabulary files under assets/tokenizer/; a preprocessor its config
(preprocessor.json, the tokenizer's nested in it) and its tokenizer's files. These are the
files keras_hub's `save_to_preset` writes for each object. mlm's settings that keras_hub's
configs cannot hold go into metadata.json, which every writer merges into.

Keras is imported only to write a backbone, so tokenizers and preprocessors save without it.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

from mlm_cli.errors import BadInputError
from mlm_cli.models.preset.json_objects import object_json
from mlm_cli.models.preset.registry import Family, family_of_class

KERAS_HUB_FORMAT_VERSION = "0.32.0"  # the keras_hub release whose preset format this writes
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
TASK_WEIGHTS_FILE = "task.weights.h5"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
TASK_CONFIG_FILE = "task.json"
ASSETS_DIR = "assets"
# keras_hub's JSON files that name one object's class each.
OBJECT_FILES = (CONFIG_FILE, TASK_CONFIG_FILE, PREPROCESSOR_CONFIG_FILE, TOKENIZER_CONFIG_FILE)
PLAIN_JSON_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*\.json")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON (keras_hub's layout) and fsync it."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=4))
        f.flush()
        os.fsync(f.fileno())


def family_of(obj: Any, kind: str) -> Family:
    """The family of a registered mlm class's instance; TypeError for anything else."""
    family = family_of_class(type(obj))
    if family is None:
        raise TypeError(f"{type(obj).__name__} is not a registered {kind} class")
    return family


def config_file_name(name: Any) -> str:
    """`name` if it is a plain `<stem>.json` file name (a config keras_hub writes inside the preset); BadInputError
    otherwise, so that a config_file read from an untrusted preset can never make a save write elsewhere."""
    if not isinstance(name, str) or not PLAIN_JSON_NAME.fullmatch(name):
        raise BadInputError(f"config_file {name!r} is not a plain file name ending in .json",
                            hint='use a name such as "tokenizer.json"')
    return name


def assets_folder(config_file: str) -> str:
    """Where keras_hub keeps the files of the object configured in `config_file`: assets/<stem>/."""
    return f"{ASSETS_DIR}/{config_file.split('.')[0]}"


def read_metadata(directory: Path) -> dict[str, Any]:
    """directory/metadata.json as a dict, or {} if it is absent or not a JSON object."""
    path = directory / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def update_metadata(directory: Path, changes: dict[str, Any]) -> None:
    """Merge `changes` into directory/metadata.json; a value of None removes its key. No file is created for nothing."""
    metadata = read_metadata(directory)
    metadata.update(changes)
    metadata = {key: value for key, value in metadata.items() if value is not None}
    if metadata or (directory / METADATA_FILE).exists():
        write_json(directory / METADATA_FILE, metadata)


def extensions(obj: Any) -> dict[str, Any] | None:
    """`obj.extension_config()` (mlm's settings keras_hub has no key for), None when there are none."""
    method = getattr(obj, "extension_config", None)
    return (method() or None) if method else None


# --- backbone ---------------------------------------------------------------------


def backbone_config(backbone) -> dict[str, Any]:
    """The backbone's config, its dtype being the variables' (mixed precision is a training choice, not part of the
    model)."""
    config = backbone.get_config()
    config["dtype"] = backbone.dtype_policy.variable_dtype
    return config


def backbone_metadata(backbone, family: Family) -> dict[str, Any]:
    """metadata.json's keys for a backbone: keras_hub's, plus mlm's version and backbone extensions."""
    import keras

    from mlm_cli import __version__

    return {
        "keras_version": keras.__version__,
        "keras_hub_version": KERAS_HUB_FORMAT_VERSION,
        "mlm_version": __version__,
        "parameter_count": backbone.parameter_count(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": list(family.metadata_tasks),
        "mlm_backbone_extensions": extensions(backbone),
    }


def write_backbone_files(backbone, directory: Path) -> dict[str, Any]:
    """config.json, model.weights.h5 and metadata.json of `backbone`; returns config.json's object."""
    from mlm_cli.models.preset.h5_weights import write_arrays

    family = family_of(backbone, "backbone")
    config = backbone_config(backbone)
    weights = family.weights()
    arrays = weights.export_backbone(backbone)
    write_arrays(directory / MODEL_WEIGHTS_FILE, arrays, weights.backbone_group_names(config))
    backbone_object = object_json(family, family.backbone, config)
    write_json(directory / CONFIG_FILE, backbone_object)
    update_metadata(directory, backbone_metadata(backbone, family))
    return backbone_object


# --- tokenizer and preprocessor ------------------------------------------------------


def tokenizer_json(tokenizer) -> dict[str, Any]:
    """tokenizer.json's object (the vocabulary lives in the assets, so the config holds none)."""
    family = family_of(tokenizer, "tokenizer")
    return object_json(family, family.tokenizer, tokenizer.get_config())


def write_tokenizer_files(tokenizer, directory: Path, config_file: str | None = None) -> dict[str, Any]:
    """The tokenizer's config (default: its own `config_file`) and its assets folder; returns the config's object."""
    config_file = config_file_name(tokenizer.config_file if config_file is None else config_file)
    config = tokenizer_json(tokenizer)
    assets = directory / assets_folder(config_file)
    assets.mkdir(parents=True, exist_ok=True)
    tokenizer.save_assets(assets)
    write_json(directory / config_file, config)
    update_metadata(directory, {"mlm_tokenizer_extensions": extensions(tokenizer)})
    return config


def preprocessor_json(preprocessor, tokenizer_object: dict[str, Any]) -> dict[str, Any]:
    """preprocessor.json's object: its config with the tokenizer's object nested, in keras_hub's key order."""
    family = family_of(preprocessor, "preprocessor")
    config = {**preprocessor.get_config(), "tokenizer": tokenizer_object}
    ordered = {key: config[key] for key in ("name", "trainable", "dtype", "tokenizer")}
    return object_json(family, family.preprocessor, {**ordered, **config})


def write_preprocessor_files(preprocessor, directory: Path, config_file: str | None = None,
                             tokenizer_config_file: str | None = None) -> dict[str, Any]:
    """The preprocessor's config (default: its own `config_file`) and its tokenizer's files; returns its object."""
    config_file = config_file_name(preprocessor.config_file if config_file is None else config_file)
    config = preprocessor_json(preprocessor, write_tokenizer_files(preprocessor.tokenizer, directory,
                                                                   tokenizer_config_file))
    write_json(directory / config_file, config)
    return config


def backbone_entries() -> list[str]:
    """What `write_backbone_files` writes besides metadata.json, relative to the preset directory."""
    return [MODEL_WEIGHTS_FILE, CONFIG_FILE]


def tokenizer_entries(tokenizer) -> list[str]:
    """What `write_tokenizer_files` writes besides metadata.json: the assets folder, then the config."""
    config_file = config_file_name(tokenizer.config_file)
    return [assets_folder(config_file), config_file]


def preprocessor_entries(preprocessor) -> list[str]:
    """What `write_preprocessor_files` writes besides metadata.json: the tokenizer's files, then its config."""
    return [*tokenizer_entries(preprocessor.tokenizer), config_file_name(preprocessor.config_file)]
