"""Options as TOML text that `--config` reads back (the standard library reads TOML but cannot write it)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def options_as_toml(options: dict[str, Any]) -> str:
    """One `long-flag-name = value` line per option; unset options (None) as comments."""
    lines = []
    for key in sorted(options):
        name, value = key.replace("_", "-"), options[key]
        lines.append(f"# {name} = (not set)" if value is None else f"{name} = {toml_value(value)}")
    return "\n".join(lines) + "\n"
