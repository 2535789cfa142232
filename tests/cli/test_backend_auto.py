"""`--backend auto`: the backend the README's table gives for each kind of device, picked without importing either."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlm_cli import backend
from mlm_cli.errors import BadInputError

pytestmark = pytest.mark.run_once  # no Keras backend in-process; the entry-point runs pick their own


@pytest.mark.parametrize("kind, cuda_jax, expected", [
    ("cpu", False, "torch"),
    ("cpu", True, "torch"),
    ("nvidia-gpu", True, "jax"),
    ("nvidia-gpu", False, "torch"),
    ("tpu", False, "jax"),
])
def test_each_row_of_the_table(monkeypatch, kind, cuda_jax, expected):
    monkeypatch.setenv("MLM_DEVICE_KIND", kind)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(backend, "jax_has_cuda", lambda: cuda_jax)
    assert backend.requested_backend() == expected
    assert backend.requested_backend("auto") == expected


def test_the_other_backend_when_the_preferred_one_is_not_installed(monkeypatch):
    monkeypatch.setenv("MLM_DEVICE_KIND", "tpu")
    monkeypatch.setattr(backend, "installed", lambda name: name == "torch")
    assert backend.auto_backend() == "torch"


def test_an_explicit_choice_wins_over_auto(monkeypatch):
    monkeypatch.setenv("MLM_DEVICE_KIND", "tpu")
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend.requested_backend() == "torch"
    assert backend.requested_backend("jax") == "jax"
    assert backend.requested_backend("auto") == "jax"  # the flag says auto: the table decides


def test_device_kind_is_read_from_the_machine(monkeypatch):
    monkeypatch.delenv("MLM_DEVICE_KIND", raising=False)
    monkeypatch.delenv("TPU_ACCELERATOR_TYPE", raising=False)
    monkeypatch.setattr(backend.glob, "glob", lambda pattern: ["/dev/nvidia0"] if "nvidia" in pattern else [])
    assert backend.device_kind() == "nvidia-gpu"
    monkeypatch.setattr(backend.glob, "glob", lambda pattern: ["/dev/accel0"] if "accel" in pattern else [])
    assert backend.device_kind() == "tpu"
    monkeypatch.setattr(backend.glob, "glob", lambda pattern: [])
    assert backend.device_kind() == "cpu"


def test_a_wrong_device_kind_is_one_line(monkeypatch):
    monkeypatch.setenv("MLM_DEVICE_KIND", "quantum")
    with pytest.raises(BadInputError, match="MLM_DEVICE_KIND"):
        backend.device_kind()


@pytest.mark.parametrize("kind, expected", [("tpu", "jax"), ("cpu", "torch")])
def test_mlm_train_picks_by_device(tiny_preset, corpus_files, tmp_path, kind, expected):
    """Through the real entry point, in a fresh process, with KERAS_BACKEND unset."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(MLM_DEVICE_KIND=kind, MLM_CACHE_DIR=str(tmp_path / "cache"))
    output = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", "from mlm_cli.cli.app import main; main()", "train", "--preset", str(tiny_preset),
         "--data", str(corpus_files / "train.txt"), "--output", str(output), "--max-steps", "1",
         "--batch-size", "2", "--sequence-length", "32"],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((output / "train_config.json").read_text())["backend"] == expected
