"""Build tasks, backbones, preprocessors and tokenizers from preset directories."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.json_objects import ParsedObject, parse_object
from mlm_cli.models.preset.registry import Family, family_of_class
from mlm_cli.models.preset.writers import (
    CONFIG_FILE,
    METADATA_FILE,
    PREPROCESSOR_CONFIG_FILE,
    TASK_CONFIG_FILE,
    TASK_WEIGHTS_FILE,
    TOKENIZER_CONFIG_FILE,
    assets_folder,
    config_file_name,
)

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
# The class each role's `from_preset` may be called on to load any family.
BASE_CLASSES = {"backbone": "Backbone", "tokenizer": "Tokenizer", "preprocessor": "MaskedLMPreprocessor",
                "masked_lm": "MaskedLM"}
_LOAD = object()  # `preprocessor` not given to load_masked_lm: load the preset's


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


def _check_family(requested: Family | None, found: Family, role: str, source: str) -> None:
    """Refuse a preset of another family than the class `from_preset` was called on (of `role`), in one error."""
    if requested is not None and requested.name != found.name:
        raise PresetError(f"{source}: this is a {found.name} preset, not {requested.name}",
                          hint=f"load it with {BASE_CLASSES[role]}.from_preset or {getattr(found, role)}.from_preset")


def _class_for(family: Family, role: str, cls: type | None, source: str) -> type:
    """mlm's class of `role` in `family`, refused unless it is `cls` (or, on a base class, a subclass of it)."""
    found = family.mlm_class(getattr(family, role))
    if cls is None:
        return found
    _check_family(family_of_class(cls), family, role, source)
    if not issubclass(found, cls):
        raise PresetError(f"{source}: the preset holds a {found.__name__}, which is not a {cls.__name__}",
                          hint=f"load it with {found.__name__}.from_preset")
    return found


def _checked_overrides(kwargs: dict[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """`kwargs` if every key is in `allowed`; TypeError naming the others otherwise."""
    allowed = tuple(allowed)
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected from_preset arguments: {', '.join(sorted(unknown))} "
                        f"(accepted: {', '.join(allowed)})")
    return kwargs


def _split_overrides(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    _checked_overrides(kwargs, BACKBONE_OVERRIDES + PREPROCESSOR_OVERRIDES)
    backbone = {k: v for k, v in kwargs.items() if k in BACKBONE_OVERRIDES}
    preprocessor = {k: v for k, v in kwargs.items() if k in PREPROCESSOR_OVERRIDES}
    return backbone, preprocessor


def _parse_role(directory: PresetDirectory, filename: str, role: str) -> tuple[ParsedObject, str]:
    """The object in `filename`, which must be of `role`; and the file's path, for messages."""
    parsed = _parse(directory, filename)
    source = str(directory.path(filename))
    if parsed.role != role:
        raise PresetError(f"{source}: expected a {role} class, found {parsed.class_name!r}")
    return parsed, source


def load_backbone_preset(preset, cls: type, load_weights: bool = True, **kwargs):
    """`Backbone.from_preset`: the backbone of a preset (any family on the base class); kwargs: dropout, dtype."""
    directory = open_preset(preset)
    return load_backbone(directory, cls, load_weights=load_weights, **_checked_overrides(kwargs, BACKBONE_OVERRIDES))


def load_backbone(directory: PresetDirectory, cls: type | None = None, load_weights: bool = True, **overrides):
    """The backbone from config.json (and model.weights.h5 or its shards), refused unless an instance of `cls`
    (if given)."""
    parsed, source = _parse_role(directory, CONFIG_FILE, "backbone")
    cls = _class_for(parsed.family, "backbone", cls, source)
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
    if not directory.exists(METADATA_FILE):
        return {}
    metadata = directory.read_json(METADATA_FILE)
    extensions = metadata.get(section, {}) if isinstance(metadata, dict) else {}
    if not isinstance(extensions, dict) or set(extensions) - set(EXTENSION_KEYS[section]):
        raise PresetError(f"{directory.path('metadata.json')}: unknown {section}",
                          hint=f"allowed keys: {', '.join(EXTENSION_KEYS[section])}")
    return extensions


def _backbone_extensions(directory: PresetDirectory) -> dict[str, Any]:
    return _extensions(directory, "mlm_backbone_extensions")


def _load_backbone_weights(directory: PresetDirectory, backbone, family: Family) -> None:
    from mlm_cli.models.preset.h5_weights import read_arrays
    from mlm_cli.models.preset.weight_files import backbone_weight_files

    weights = family.weights()
    arrays = read_arrays(backbone_weight_files(directory), weights.backbone_shapes(backbone.get_config()))
    weights.import_backbone(backbone, arrays)


def load_tokenizer_preset(preset, cls: type, config_file: str = TOKENIZER_CONFIG_FILE, **kwargs):
    """`Tokenizer.from_preset`: the tokenizer of a preset (any family on the base class); kwargs override its config."""
    return load_tokenizer(open_preset(preset), cls, config_file, **kwargs)


def load_tokenizer(directory: PresetDirectory, cls: type | None = None, config_file: str = TOKENIZER_CONFIG_FILE,
                   **overrides):
    """The tokenizer from its config (tokenizer.json) plus its assets (assets/tokenizer/), refused unless an instance
    of `cls` (if given); `overrides` replace config values (not the vocabulary)."""
    parsed, source = _parse_role(directory, _config_name(config_file), "tokenizer")
    cls = _class_for(parsed.family, "tokenizer", cls, source)
    allowed = {*parsed.config, *EXTENSION_KEYS["mlm_tokenizer_extensions"]} - {*INLINE_ASSET_KEYS, "config_file"}
    _checked_overrides(overrides, sorted(allowed))
    return _tokenizer_from(directory, cls, parsed, source, assets_folder(config_file), overrides)


def _config_name(config_file: Any) -> str:
    """A `config_file` argument, which must name a JSON file directly inside the preset."""
    try:
        return config_file_name(config_file)
    except BadInputError as error:
        raise ValueError(str(error)) from None


def _tokenizer_from(directory: PresetDirectory, cls: type, parsed: ParsedObject, source: str, assets: str,
                    overrides: dict[str, Any]):
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
    tokenizer = _construct(cls, {**config, **_extensions(directory, "mlm_tokenizer_extensions"), **overrides}, source)
    try:
        if inline_vocabulary is not None:
            tokenizer.set_vocabulary(inline_vocabulary)
        else:
            for name in cls.asset_files:
                directory.require(f"{assets}/{name}")
            tokenizer.load_assets(directory.path(assets))
    except (ValueError, TypeError) as error:
        raise PresetError(f"{directory.root}/{assets}: {error}") from None
    return tokenizer


def load_preprocessor(preset, cls: type | None = None, config_file: str = PREPROCESSOR_CONFIG_FILE, **overrides):
    """The masked-LM preprocessor of a preset: its config (preprocessor.json) when a masked-LM one, defaults
    otherwise, and the tokenizer of tokenizer.json; refused unless an instance of `cls` (if given).
    `overrides`: the masking settings (PREPROCESSOR_OVERRIDES)."""
    directory = open_preset(preset)
    _checked_overrides(overrides, PREPROCESSOR_OVERRIDES)
    family = _parse_role(directory, TOKENIZER_CONFIG_FILE, "tokenizer")[0].family
    source = str(directory.path(_config_name(config_file)))
    pre_cls = _class_for(family, "preprocessor", cls, source)
    tokenizer = load_tokenizer(directory, pre_cls.tokenizer_cls)
    config: dict[str, Any] = {}
    if directory.exists(config_file):
        parsed = _parse(directory, config_file)
        if parsed.role == "preprocessor" and parsed.family.name == family.name:
            config = {k: v for k, v in parsed.config.items() if k != "tokenizer"}
    return _construct(pre_cls, {**config, **overrides, "tokenizer": tokenizer}, source)


def load_masked_lm(preset, cls: type, load_weights: bool = True, **kwargs):
    """Build a masked-LM task from a preset; on the base class the preset chooses the family."""
    directory = open_preset(preset)
    requested = family_of_class(cls)
    given_preprocessor = kwargs.pop("preprocessor", _LOAD)
    backbone_overrides, preprocessor_overrides = _split_overrides(kwargs)
    if given_preprocessor is not _LOAD and preprocessor_overrides:
        raise TypeError(f"{', '.join(sorted(preprocessor_overrides))} set the preset's preprocessor; "
                        "they cannot go with preprocessor=")

    task_config: dict[str, Any] = {}
    has_task_weights = False
    if directory.exists(TASK_CONFIG_FILE):
        task = _parse(directory, TASK_CONFIG_FILE)
        _check_family(requested, task.family, "masked_lm", str(directory.path(TASK_CONFIG_FILE)))
        if task.role == "masked_lm":
            task_config = {k: v for k, v in task.config.items() if k == "name"}
            has_task_weights = directory.exists(TASK_WEIGHTS_FILE)
    backbone_family = _parse_role(directory, CONFIG_FILE, "backbone")[0].family
    _check_family(requested, backbone_family, "masked_lm", str(directory.path(CONFIG_FILE)))

    backbone = load_backbone(directory, cls.backbone_cls, load_weights=load_weights, **backbone_overrides)
    family = _family_of_backbone(backbone)
    if given_preprocessor is not _LOAD:
        return _task(family, backbone, given_preprocessor, task_config, directory, has_task_weights, load_weights)
    preprocessor = load_preprocessor(directory, family.mlm_class(family.preprocessor), **preprocessor_overrides)
    _check_preprocessor_fits(directory, preprocessor, backbone)
    return _task(family, backbone, preprocessor, task_config, directory, has_task_weights, load_weights)


def _check_preprocessor_fits(directory: PresetDirectory, preprocessor, backbone) -> None:
    """Refuse a tokenizer larger than the model's vocabulary, or rows longer than its position table."""
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


def _task(family: Family, backbone, preprocessor, task_config: dict[str, Any], directory: PresetDirectory,
          has_task_weights: bool, load_weights: bool):
    """The family's task around `backbone` and `preprocessor`, with the preset's head weights when it has them."""
    task_cls = family.mlm_class(family.masked_lm)
    model = task_cls(backbone, preprocessor=preprocessor, **task_config)
    if load_weights:
        if has_task_weights:
            from mlm_cli.models.preset.h5_weights import read_arrays

            weights = family.weights()
            arrays = read_arrays(directory.require(TASK_WEIGHTS_FILE), weights.head_shapes(backbone.get_config()))
            weights.import_head(model.masked_lm_head, arrays)
        elif family.weights().head_shapes(backbone.get_config()):
            log.warning("%s has no masked-LM head weights; the head starts freshly initialised", directory.root)
    return model


def _family_of_backbone(backbone) -> Family:
    family = family_of_class(type(backbone))
    if family is None:
        raise PresetError(f"no masked-LM family for backbone {type(backbone).__name__}")
    return family
