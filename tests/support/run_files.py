"""Reading a finished run directory in tests: its metrics records and its published weights."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def records(run: Path) -> list[dict]:
    """Every metrics.jsonl record, in order."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def preset_weights(run: Path) -> dict[str, np.ndarray]:
    """Every array of the run's published backbone and task weights, by file and path."""
    arrays: dict[str, np.ndarray] = {}
    for name in ("model.weights.h5", "task.weights.h5"):
        with h5py.File(run / name, "r") as f:
            f.visititems(lambda path, item: arrays.__setitem__(f"{name}/{path}", item[()]) if isinstance(item,
                h5py.Dataset) else None)
    return arrays


def largest_weight_difference(run: Path, reference: Path) -> float:
    """The largest absolute difference between two runs' published weights (same names required)."""
    ours, theirs = preset_weights(run), preset_weights(reference)
    assert sorted(ours) == sorted(theirs)
    return max(float(np.abs(ours[k].astype(np.float64) - theirs[k].astype(np.float64)).max()) for k in ours)
