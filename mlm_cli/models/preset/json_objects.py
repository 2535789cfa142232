"""keras_hub's serialized-object JSON: {"module", "class_name", "config", "registered_name"}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlm_cli.errors import PresetError
from mlm_cli.models.preset.registry import Family, lookup

DTYPE_POLICIES = {"float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "int32", "int64", "float64"}


@dataclass(frozen=True)
class ParsedObject:
    family: Family
    role: str  # backbone | masked_lm | preprocessor | tokenizer | other_task
    class_name: str
    config: dict[str, Any]


def dtype_policy_json(name: str) -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def parse_dtype(value: Any, source: str) -> str:
    """A dtype policy name from either a plain string or keras's nested DTypePolicy object."""
    if isinstance(value, dict):
        if value.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy"):
            raise PresetError(f"{source}: unsupported dtype policy {value.get('class_name')!r}")
        config = value.get("config")
        value = config.get("name") if isinstance(config, dict) else None
    if not isinstance(value, str) or value not in DTYPE_POLICIES:
        raise PresetError(f"{source}: unsupported dtype {value!r}")
    return value


def object_json(family: Family, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Serialize one object the way keras_hub writes it, so keras_hub can load it."""
    config = dict(config)
    if "dtype" in config:
        config["dtype"] = dtype_policy_json(config["dtype"])
    return {
        "module": family.keras_hub_module(class_name),
        "class_name": class_name,
        "config": config,
        "registered_name": f"keras_hub>{class_name}",
    }


def parse_object(data: Any, source: str) -> ParsedObject:
    """Validate one serialized object and map its class through the allow-list."""
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise PresetError(f"{source}: expected an object with 'class_name' and a 'config' object")
    family, role = lookup(data.get("class_name"), source)
    registered = data.get("registered_name")
    if registered is not None and (not isinstance(registered, str) or registered.split(">")[-1] != data["class_name"]):
        raise PresetError(f"{source}: registered_name {registered!r} does not match class {data['class_name']!r}")
    config = dict(data["config"])
    if "dtype" in config and config["dtype"] is not None:
        config["dtype"] = parse_dtype(config["dtype"], source)
    return ParsedObject(family, role, data["class_name"], config)
