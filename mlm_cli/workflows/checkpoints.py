"""Training checkpoints: a loadable preset plus optimizer state and loop state, written atomically.

Layout: RUN/checkpoints/step-00000100/ holds the preset files, `optimizer.weights.h5`
and `state.json`. A checkpoint directory only ever appears under its final name once
complete (staged in a hidden sibling, fsynced, renamed), so a crash at any moment
leaves the previous checkpoints intact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.errors import MlmError, PresetError

CHECKPOINT_PATTERN = re.compile(r"^step-(\d{8})$")
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.weights.h5"


def checkpoint_root(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if CHECKPOINT_PATTERN.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _save_optimizer(optimizer, path: Path) -> None:
    from mlm_cli.models.preset.h5_weights import write_arrays

    arrays = {f"optimizer/vars/{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
    write_arrays(path, arrays, {"optimizer/vars": optimizer.name})


def _load_optimizer(optimizer, path: Path, trainable_variables) -> None:
    from mlm_cli.models.preset.h5_weights import read_shapes

    import h5py

    optimizer.build(trainable_variables)
    variables = optimizer.variables
    shapes = read_shapes(path)
    expected = {f"optimizer/vars/{i}": tuple(v.shape) for i, v in enumerate(variables)}
    if set(shapes) != set(expected) or any(shapes[k][0] != shape for k, shape in expected.items()):
        raise PresetError(f"{path}: optimizer state does not match this model and optimizer", hint="resume with the same preset and options")
    with h5py.File(path, "r") as f:
        for i, variable in enumerate(variables):
            variable.assign(np.asarray(f[f"optimizer/vars/{i}"][()]).astype(variable.dtype))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(run_dir: Path, model, state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step-{state['step']}` atomically and prune to the newest `keep`."""
    from mlm_cli.models.preset.saver import write_preset_files

    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{int(state['step']):08d}"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=root))
    try:
        write_preset_files(model, staging)
        _save_optimizer(model.optimizer, staging / OPTIMIZER_FILE)
        _write_json(staging / STATE_FILE, state)
        if final.exists():
            shutil.rmtree(final)
        os.rename(staging, final)
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise MlmError(f"could not write checkpoint {final}: {error.strerror or error}", hint="check free disk space and permissions") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PresetError(f"{checkpoint / STATE_FILE}: unreadable checkpoint state ({error})") from None


def restore_optimizer(checkpoint: Path, model) -> None:
    _load_optimizer(model.optimizer, checkpoint / OPTIMIZER_FILE, model.trainable_variables)


def clean_partial_checkpoints(run_dir: Path) -> None:
    """Remove staging directories left behind by a crash mid-write."""
    root = checkpoint_root(run_dir)
    if root.is_dir():
        for leftover in root.glob(".step-*.partial-*"):
            shutil.rmtree(leftover, ignore_errors=True)
