"""Options shared by several commands, and `--config FILE.toml` merging (flags win)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import typer

from mlm_cli.errors import BadInputError

BACKEND_OPTION = typer.Option(None, "--backend",
                              help="Keras backend: auto, torch or jax. auto (the default, unless KERAS_BACKEND is "
                                   "set) picks jax on NVIDIA GPUs and TPUs, torch on CPUs.")


def use_backend(name: str | None) -> str:
    """Fix the Keras backend for this process before anything imports keras."""
    from mlm_cli.backend import configure_backend

    return configure_backend(name)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"config file {path} not found", hint="check the --config path") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BadInputError(f"config file {path} is not valid TOML ({error})") from None
    return {key.replace("-", "_"): value for key, value in data.items()}


def merge_config(ctx: typer.Context, values: dict[str, Any], config_path: Path | None) -> dict[str, Any]:
    """Fill options the user did not give on the command line from the TOML config file."""
    if config_path is None:
        return values
    config = read_config_file(config_path)
    unknown = sorted(set(config) - set(values) - {"config"})
    if unknown:
        raise BadInputError(f"{config_path}: unknown keys {', '.join(unknown)}",
                            hint="keys are the long flag names, e.g. batch-size")
    merged = dict(values)
    for key, value in config.items():
        source = ctx.get_parameter_source(key)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
            merged[key] = value
    return merged
