"""Run and export files get the user's umask, like any other file a program writes (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

pytestmark = pytest.mark.run_once  # file modes do not depend on the backend


def modes(root: Path) -> dict[str, int]:
    """Permission bits of everything under `root`, by relative path."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in sorted(root.rglob("*"))}


def wrong_modes(root: Path) -> dict[str, str]:
    expected = {True: 0o755, False: 0o644}
    return {name: oct(mode) for name, mode in modes(root).items() if mode != expected[(root / name).is_dir()]}


@pytest.mark.slow  # trains and exports in subprocesses under several umasks
def test_run_and_export_files_follow_the_umask(mlm, tiny_preset, corpus_files, tmp_path):
    previous = os.umask(0o022)  # inherited by the `mlm` subprocesses
    try:
        run = tmp_path / "run"
        data, heldout = str(corpus_files / "train.txt"), str(corpus_files / "heldout.txt")
        done = mlm("train", "--preset", str(tiny_preset), "--data", data, "--output", str(run),
                   "--validation-data", heldout, "--max-steps", "2", "--log-every", "1",
                   "--batch-size", "4", "--sequence-length", "32", "--eval-batches", "1", "--json")
        assert done.code == 0, done.stderr
        written = ("README.md", "train_config.json", "metrics.jsonl", "config.json", "model.weights.h5", "training.png")
        for name in written:
            assert (run / name).is_file(), name
        assert any((run / "checkpoints").iterdir())
        hf, keras_hub = tmp_path / "hf", tmp_path / "keras_hub"
        for output, format in ((hf, "hf"), (keras_hub, "keras_hub")):
            done = mlm("export", "--preset", str(run), "--output", str(output), "--format", format)
            assert done.code == 0, done.stderr
    finally:
        os.umask(previous)
    assert (hf / "model.safetensors").is_file() and (keras_hub / "README.md").is_file()
    for root in (run, hf, keras_hub):
        assert wrong_modes(root) == {}, root
    assert stat.S_IMODE(keras_hub.stat().st_mode) == 0o755
