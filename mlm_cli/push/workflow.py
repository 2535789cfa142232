"""`mlm push`: check a local preset, stage exactly its files, and upload them to the Hub or Kaggle.

Order: destination and credentials first (cheap, no model), then the preset is checked by
loading it with the engine (or converted with `mlm export`'s exporter when the requested
format differs from the directory's), then its files are staged and uploaded.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlm_cli import __version__
from mlm_cli.errors import BadInputError
from mlm_cli.push.preset_files import FORMATS, LocalPreset, open_local_preset, stage, upload_names
from mlm_cli.push.targets import HfTarget, KaggleTarget, check_framework, parse_target
from mlm_cli.workflows.run_lock import read_lock


@dataclass
class PushOptions:
    preset: str | os.PathLike  # a local preset, finished run or checkpoint directory
    target: str  # hf://owner/repo or kaggle://owner/model/framework/variation
    format: str | None = None  # keras_hub or hf; None: the directory's own format
    private: bool = False  # a new Hugging Face repository is private
    message: str | None = None  # commit message (Hub) or version notes (Kaggle)
    progress: bool = True
    command_line: str | None = None  # how the push was started, for the card of a converted preset


def push(options: PushOptions, report: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Upload the preset to its destination; returns where it lives (`url`) and what was sent.

    `report` receives progress lines (what is being checked, left out and uploaded).
    """
    target = parse_target(options.target)
    if options.format is not None and options.format not in FORMATS:
        raise BadInputError(f"unsupported --format {options.format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    _require_login(target)
    preset = open_local_preset(options.preset)
    preset_name = preset.root.name
    format = options.format or preset.format
    check_framework(target, format)
    with tempfile.TemporaryDirectory(prefix="mlm-push-") as temporary:
        staging = Path(temporary) / "upload"
        staging.mkdir()
        # No mlm process may rewrite the preset between the check and the snapshot (hard links or copies) staged.
        with read_lock(_owning_directory(preset.root)):
            if format == preset.format:
                report(f"checking that {preset.root} loads")
                _check_loads(preset.root)
            else:
                report(f"converting {preset.root} to the {format} format")
                preset = _converted(preset.root, format, Path(temporary) / "converted", options.command_line)
            names, left_out = upload_names(preset)
            if left_out:
                report(f"not part of the preset, not uploaded: {', '.join(left_out)}")
            stage(preset, names, staging)
        if isinstance(target, HfTarget):
            from mlm_cli.push.huggingface import add_card_if_missing

            names = add_card_if_missing(staging, names, target, format)
        size = sum((staging / name).stat().st_size for name in names)
        report(f"uploading {len(names)} files ({size:,} bytes) to {target}")
        message = options.message or f"Upload {preset_name} with mlm {__version__}"
        url = _upload(staging, names, target, message, options)
    return {"url": url, "target": str(target), "format": format, "files": names, "bytes": size}


def _owning_directory(root: Path) -> Path:
    """The directory whose writers' lock covers `root`: its run for a checkpoint (RUN/checkpoints/NAME), else itself."""
    from mlm_cli.workflows.run_directory import holds_run

    run = root.parent.parent
    return run if root.parent.name == "checkpoints" and holds_run(run) else root


def _require_login(target: HfTarget | KaggleTarget) -> None:
    if isinstance(target, HfTarget):
        from mlm_cli.push.huggingface import require_login
    else:
        from mlm_cli.push.kaggle import require_login
    require_login()


def _check_loads(root: Path) -> None:
    """Build the model from the preset (weights, tokenizer, head) as any command would; broken presets fail here."""
    from mlm_cli.workflows.model_setup import load_masked_lm

    load_masked_lm(str(root), precision="float32")


def _converted(root: Path, format: str, output: Path, command_line: str | None) -> LocalPreset:
    """The preset in `format`, written by `mlm export`'s exporter (which loads and so checks it)."""
    from mlm_cli.workflows.export import ExportOptions, export

    export(ExportOptions(preset=str(root), output=output, format=format, command_line=command_line))
    return open_local_preset(output)


def _upload(staging: Path, names: list[str], target: HfTarget | KaggleTarget, message: str,
            options: PushOptions) -> str:
    if isinstance(target, HfTarget):
        from mlm_cli.push import huggingface

        return huggingface.upload(staging, names, target, message=message, private=options.private,
                                  progress=options.progress)
    from mlm_cli.push import kaggle

    return kaggle.upload(staging, target, message=message, progress=options.progress)
