"""A training run's directory, apart from its checkpoints: the output check, the config and
metrics files, and publishing the trained preset.

RUN/ holds train_config.json (the resolved options), metrics.jsonl (one JSON record per
logged step or evaluation), checkpoints/ (mlm_cli.workflows.checkpoints) and, once the run
ends, the trained preset with its model card.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlm_cli.atomic_files import staging_directory, write_text_atomic
from mlm_cli.errors import BadInputError

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
PRESET_CONFIG_FILE = "config.json"  # written last: a run directory with it holds a complete preset


def holds_run(output: Path) -> bool:
    return (output / CONFIG_FILE).is_file()


def check_output(output: Path, resume: bool, overwrite: bool) -> tuple[bool, bool]:
    """Check `output` against --resume / --overwrite before any work starts; returns the (resume, overwrite) to use.

    A run killed before its first checkpoint has nothing to resume: the same command with
    --resume then starts it over.
    """
    from mlm_cli.workflows.checkpoints import latest_checkpoint

    if output.exists() and not output.is_dir():
        raise BadInputError(f"output {output} exists and is not a directory", hint="choose another --output")
    occupied = output.is_dir() and any(output.iterdir())
    if resume:
        if latest_checkpoint(output) is not None:
            return True, overwrite
        if occupied and not holds_run(output) and not overwrite:
            raise BadInputError(f"nothing to resume in {output}: it holds no mlm run",
                                hint="check --output, or start the run without --resume")
        return False, True
    if occupied and not overwrite:
        raise BadInputError(
            f"output directory {output} already exists and is not empty",
            hint="pass --resume to continue that run, --overwrite to replace it, or choose another --output",
        )
    return False, overwrite


def create_output(output: Path, overwrite: bool) -> None:
    """A fresh, empty run directory (the old one removed under --overwrite)."""
    if output.exists() and overwrite:
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)


def read_config(output: Path) -> dict[str, Any]:
    return json.loads((output / CONFIG_FILE).read_text(encoding="utf-8"))


def write_config(output: Path, config: dict[str, Any]) -> None:
    write_text_atomic(output / CONFIG_FILE, json.dumps(config, indent=2))


def trim_metrics(output: Path, step: int) -> None:
    """Drop metrics logged after the checkpoint a run resumes from (and a line cut short by a crash)."""
    path = output / METRICS_FILE
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= step:
            kept.append(line)
    write_text_atomic(path, "".join(f"{line}\n" for line in kept))


class MetricsLog:
    """Appends records to metrics.jsonl, and to TensorBoard event files when asked; `enabled=False` writes nothing
    (processes other than 0 of a multi-host run)."""

    def __init__(self, output: Path, enabled: bool = True, tensorboard: bool = False, tracker=None):
        self.path = output / METRICS_FILE
        self.enabled = enabled
        self.tracker = tracker  # --mlflow (workflows/mlflow_tracking.py)
        self.board = None
        if tensorboard and enabled:
            from mlm_cli.workflows.tensorboard import TensorBoardWriter

            self.board = TensorBoardWriter(output / "tensorboard")

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.board is not None:
            self.board.write(record)
        if self.tracker is not None:
            self.tracker.log_record(record)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def copy_preset_files(source: Path, staging: Path) -> None:
    """The preset files of a checkpoint-like directory (not its loop state) into `staging`."""
    from mlm_cli.workflows.checkpoints import STATE_FILE

    shutil.copytree(source, staging, dirs_exist_ok=True, ignore=lambda folder, names: [
        name for name in names if Path(folder) == source and name == STATE_FILE])


def publish_preset(model, output: Path, card: str | None = None, weights_from: Path | None = None,
                   write_files: Callable[[Path], object] | None = None) -> list[str]:
    """Write the trained preset (and its model card) into the run directory; returns the names written there.

    `weights_from`: a preset directory saved from this model earlier (--keep-best), whose
    files are published instead, unchanged. config.json lands last, so a loadable preset is
    always complete. `write_files(staging)`: write these files instead of the model's preset (--lora-only).
    """
    from mlm_cli.models.preset.saver import write_preset_files
    from mlm_cli.workflows.model_card import write_card

    staging = staging_directory(output, ".preset.partial-")
    names: list[str] = []
    try:
        if write_files is not None:
            write_files(staging)
        elif weights_from is None:
            write_preset_files(model, staging)
        else:
            copy_preset_files(weights_from, staging)
        if card is not None:
            write_card(staging, card)
        if (output / PRESET_CONFIG_FILE).exists():
            os.remove(output / PRESET_CONFIG_FILE)
        for item in sorted(staging.iterdir(), key=lambda p: p.name == PRESET_CONFIG_FILE):
            destination = output / item.name
            if destination.is_dir():
                shutil.rmtree(destination)
            os.replace(item, destination)
            names.append(item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return names
