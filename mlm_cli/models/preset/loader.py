"""Build tasks, backbones, preprocessors and tokenizers from preset directories."""

from __future__ import annotations

import logging
import os
from typing import Any

from mlm_cli.errors import PresetError
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.json_objects import ParsedObject, parse_object
from mlm_cli.models.preset.registry import Family, family_of_class

log = logging.getLogger("mlm")

BACKBONE_OVERRIDES = ("dropout", "dtype")
PREPROCESSOR_OVERRIDES = (
    "sequence_length",
    "truncate",
    "mask_selection_rate",
    "mask_selection_length",
    "mask_token_rate",
    "random_token_rate",
    "seed",
)


def open_preset(preset: str | os.PathLike) -> PresetDirectory:
    """The local directory of a preset: a path, a built-in name, kaggle:// or hf:// (downloaded on demand)."""
    if isinstance(preset, PresetDirectory):
        return preset
    text = os.fspath(preset)
    looks_like_path = isinstance(preset, os.PathLike) or os.sep in text or text.startswith(
        (".", "~")) or os.path.exists(text)
    if looks_like_path and "://" not in text:
        return PresetDirectory(_keras_hub_layout(text))
    from mlm_cli.hub import resolve

    return PresetDirectory(_keras_hub_layout(resolve(text)))


def _keras_hub_layout(path: str | os.PathLike) -> str | os.PathLike:
    """A transformers checkpoint is converted (once, into the cache) to a keras_hub preset."""
    from mlm_cli.models.convert.transformers_checkpoint import converted_preset, is_transformers_checkpoint

    return converted_preset(path) if is_transformers_checkpoint(path) else path


def _parse(directory: PresetDirectory, filename: str) -> ParsedObject:
    return parse_object(directory.read_json(filename), str(directory.path(filename)))


def _construct(cls: type, config: dict[str, Any], source: str):
    """Instantiate an allow-listed class; bad values become one PresetError naming the file."""
    try:
        return cls(**config)
    except (TypeError, ValueError) as error:
        raise PresetError(f"{source}: invalid {cls.__name__} config ({error})") from None


def _check_family(requested: Family | None, found: Family, cls: type, source: str) -> None:
    if requested is not None and requested.name != found.name:
        raise PresetError(f"{source}: this is a {found.name} preset, not {requested.name}",
                          hint=f"load it with MaskedLM.from_preset or the {found.name} class")


def _split_overrides(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    unknown = set(kwargs) - set(BACKBONE_OVERRIDES) - set(PREPROCESSOR_OVERRIDES)
    if unknown:
        allowed = ", ".join(BACKBONE_OVERRIDES + PREPROCESSOR_OVERRIDES)
        raise TypeError(f"unexpected from_preset arguments: {', '.join(sorted(unknown))} (accepted: {allowed})")
    backbone = {k: v for k, v in kwargs.items() if k in BACKBONE_OVERRIDES}
    preprocessor = {k: v for k, v in kwargs.items() if k in PREPROCESSOR_OVERRIDES}
    return backbone, preprocessor


def load_backbone(directory: PresetDirectory, family: Family | None = None, load_weights: bool = True, **overrides):
    """The backbone from config.json (and model.weights.h5)."""
    parsed = _parse(directory, "config.json")
    source = str(directory.path("config.json"))
    if parsed.role != "backbone":
        raise PresetError(f"{source}: expected a backbone class, found {parsed.class_name!r}")
    _check_family(family, parsed.family, None, source)
    cls = parsed.family.mlm_class(parsed.family.backbone)
    config = {**parsed.config, **_backbone_extensions(directory), **overrides}
    backbone = _construct(cls, config, source)
    if load_weights:
        _load_backbone_weights(directory, backbone, parsed.family)
    return backbone


INLINE_ASSET_KEYS = ("vocabulary", "merges", "proto")  # tokenizer config keys that may carry a file's content
EXTENSION_KEYS = {
    # token_dropout / mask_token_id: ESM-2's input scaling for masked tokens (transformers checkpoints).
    "mlm_backbone_extensions": ("feedforward_activation", "head_layer_norm_epsilon", "token_dropout", "mask_token_id"),
    "mlm_tokenizer_extensions": ("normalization",),
}


def _extensions(directory: PresetDirectory, section: str) -> dict[str, Any]:
    """mlm's own settings that keras_hub's configs cannot hold, from metadata.json.

    Keys are allow-listed here; the classes validate the values.
    """
    if not directory.exists("metadata.json"):
        return {}
    metadata = directory.read_json("metadata.json")
    extensions = metadata.get(section, {}) if isinstance(metadata, dict) else {}
    if not isinstance(extensions, dict) or set(extensions) - set(EXTENSION_KEYS[section]):
        raise PresetError(f"{directory.path('metadata.json')}: unknown {section}",
                          hint=f"allowed keys: {', '.join(EXTENSION_KEYS[section])}")
    return extensions


def _backbone_extensions(directory: PresetDirectory) -> dict[str, Any]:
    return _extensions(directory, "mlm_backbone_extensions")


def _load_backbone_weights(directory: PresetDirectory, backbone, family: Family) -> None:
    from mlm_cli.models.preset.h5_weights import read_arrays

    if not directory.exists("model.weights.h5") and directory.exists("model.weights.json"):
        raise PresetError(f"{directory.root}: sharded weights (model.weights.json) are not supported yet")
    weights = family.weights()
    arrays = read_arrays(directory.require("model.weights.h5"), weights.backbone_shapes(backbone.get_config()))
    weights.import_backbone(backbone, arrays)


def load_tokenizer(directory: PresetDirectory, family: Family | None = None):
    """The tokenizer from tokenizer.json plus its assets."""
    parsed = _parse(directory, "tokenizer.json")
    source = str(directory.path("tokenizer.json"))
    if parsed.role != "tokenizer":
        raise PresetError(f"{source}: expected a tokenizer class, found {parsed.class_name!r}")
    _check_family(family, parsed.family, None, source)
    return _tokenizer_from(directory, parsed, source)


def _tokenizer_from(directory: PresetDirectory, parsed: ParsedObject, source: str):
    cls = parsed.family.mlm_class(parsed.family.tokenizer)
    config = dict(parsed.config)
    for key in INLINE_ASSET_KEYS:
        if isinstance(config.get(key), (str, bytes)):
            # keras_hub would read a file named here; mlm reads tokenizer files only from assets/tokenizer/.
            raise PresetError(f"{source}: the tokenizer's {key!r} names a file",
                              hint="tokenizer files belong in the preset's assets/tokenizer/")
    if config.get("proto") is not None or config.get("merges") is not None:
        raise PresetError(f"{source}: inline tokenizer models are not supported",
                          hint="tokenizer files belong in the preset's assets/tokenizer/")
    inline_vocabulary = config.pop("vocabulary", None)
    tokenizer = _construct(cls, {**config, **_extensions(directory, "mlm_tokenizer_extensions")}, source)
    try:
        if inline_vocabulary is not None:
            tokenizer.set_vocabulary(inline_vocabulary)
        else:
            for name in cls.asset_files:
                directory.require(f"assets/tokenizer/{name}")
            tokenizer.load_assets(directory.path("assets/tokenizer"))
    except (ValueError, TypeError) as error:
        raise PresetError(f"{directory.root}/assets/tokenizer: {error}") from None
    return tokenizer


def load_preprocessor(preset, cls: type | None = None, **overrides):
    """The masked-LM preprocessor of a preset: its preprocessor.json when a masked-LM one, defaults otherwise."""
    directory = open_preset(preset)
    requested = family_of_class(cls) if cls is not None else None
    tokenizer = load_tokenizer(directory, requested)
    family = requested or _parse(directory, "tokenizer.json").family
    config: dict[str, Any] = {}
    if directory.exists("preprocessor.json"):
        parsed = _parse(directory, "preprocessor.json")
        if parsed.role == "preprocessor":
            config = {k: v for k, v in parsed.config.items() if k != "tokenizer"}
    pre_cls = family.mlm_class(family.preprocessor)
    return _construct(pre_cls, {**config, **overrides, "tokenizer": tokenizer},
                      str(directory.path("preprocessor.json")))


def load_masked_lm(preset, cls: type, load_weights: bool = True, **kwargs):
    """Build a masked-LM task from a preset; on the base class the preset chooses the family."""
    directory = open_preset(preset)
    requested = family_of_class(cls)
    backbone_overrides, preprocessor_overrides = _split_overrides(kwargs)

    task_config: dict[str, Any] = {}
    has_task_weights = False
    if directory.exists("task.json"):
        task = _parse(directory, "task.json")
        _check_family(requested, task.family, cls, str(directory.path("task.json")))
        if task.role == "masked_lm":
            task_config = {k: v for k, v in task.config.items() if k == "name"}
            has_task_weights = directory.exists("task.weights.h5")

    backbone = load_backbone(directory, requested, load_weights=load_weights, **backbone_overrides)
    family = _family_of_backbone(backbone)
    preprocessor = load_preprocessor(directory, family.mlm_class(family.preprocessor), **preprocessor_overrides)
    if preprocessor.tokenizer.vocabulary_size() > backbone.vocabulary_size:
        raise PresetError(
            f"{directory.root}: the tokenizer has {preprocessor.tokenizer.vocabulary_size()} tokens "
            f"but the model only {backbone.vocabulary_size}",
            hint="the vocabulary file does not belong to this model",
        )
    if preprocessor.sequence_length > backbone.max_sequence_length:
        raise PresetError(
            f"sequence_length {preprocessor.sequence_length} exceeds the model's maximum of "
            f"{backbone.max_sequence_length}",
            hint=f"use a sequence length of at most {backbone.max_sequence_length}",
        )
    task_cls = family.mlm_class(family.masked_lm)
    model = task_cls(backbone, preprocessor=preprocessor, **task_config)
    if load_weights:
        if has_task_weights:
            from mlm_cli.models.preset.h5_weights import read_arrays

            weights = family.weights()
            arrays = read_arrays(directory.require("task.weights.h5"), weights.head_shapes(backbone.get_config()))
            weights.import_head(model.masked_lm_head, arrays)
        elif family.weights().head_shapes(backbone.get_config()):
            log.warning("%s has no masked-LM head weights; the head starts freshly initialised", directory.root)
    return model


def _family_of_backbone(backbone) -> Family:
    family = family_of_class(type(backbone))
    if family is None:
        raise PresetError(f"no masked-LM family for backbone {type(backbone).__name__}")
    return family
