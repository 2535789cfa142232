"""--accumulation-steps: N passes of --batch-size train exactly as one pass over N times the batch.

Through the real entry point on both backends (float32, no dropout, so both runs draw the
same numbers): every logged loss, gradient norm and validation loss, and the final weights,
equal those of a run with the large batch; a SIGKILL mid-run followed by --resume ends with
the uninterrupted run's weights; on four jax devices the accumulated data-parallel run
equals them too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.cli.test_crash_safety import kill_when
from tests.support.cli import run_mlm, run_mlm_in_process
from tests.support.run_files import largest_weight_difference, records

pytestmark = pytest.mark.run_once  # picks its own backends: one subprocess each

STEPS = 8
TOLERANCE = 1e-5
# Float32 sums in another order differ in the last bits; for a weight whose gradient is a near
# cancellation that is a large relative error, and Adam turns any gradient into a step of up to the
# learning rate. So the weights of two exact runs differ by up to a small fraction of the learning
# rate (measured: about 1e-3 of it, 3e-3 of it on one CI machine): 3e-4 keeps that far under 1e-5,
# while a wrong weighting of the parts moves every step by a large fraction of it.
LEARNING_RATE = "3e-4"


def train_args(preset: Path, corpus: Path, output: Path, *extra: str) -> list[str]:
    return ["train", "--preset", str(preset), "--data", str(corpus / "train.txt"), "--output", str(output),
            "--validation-data", str(corpus / "heldout.txt"), "--max-steps", str(STEPS), "--log-every", "1",
            "--save-every", "2", "--eval-every", "4", "--eval-batches", "2", "--sequence-length", "32",
            "--learning-rate", LEARNING_RATE, "--dropout", "0", "--precision", "float32", "--max-grad-norm", "0.5",
            *extra]


def environment(tmp_path: Path, backend: str, devices: int = 1) -> dict[str, str]:
    flags = "--xla_force_host_platform_device_count=4" if devices == 4 else ""
    return {"KERAS_BACKEND": backend, "MLM_CACHE_DIR": str(tmp_path / "cache"), "XLA_FLAGS": flags,
            "PYTHONUNBUFFERED": "1"}


def assert_same_training(run: Path, reference: Path) -> None:
    ours, theirs = records(run), records(reference)
    assert [(r["type"], r["step"]) for r in ours] == [(r["type"], r["step"]) for r in theirs]
    assert [r["step"] for r in ours if r["type"] == "train"] == list(range(1, STEPS + 1))
    for mine, other in zip(ours, theirs):
        if mine["type"] == "train":
            assert mine["loss"] == pytest.approx(other["loss"], abs=TOLERANCE), mine["step"]
            assert mine["gradient_norm"] == pytest.approx(other["gradient_norm"], rel=1e-4), mine["step"]
            assert mine["learning_rate"] == pytest.approx(other["learning_rate"], rel=1e-6), mine["step"]
            assert mine["tokens_seen"] == other["tokens_seen"]
        else:
            assert mine["val_loss"] == pytest.approx(other["val_loss"], abs=TOLERANCE), mine["step"]
    assert largest_weight_difference(run, reference) <= TOLERANCE


def train(tiny_preset, corpus_files, tmp_path: Path, name: str, backend: str, *extra: str, devices: int = 1) -> Path:
    output = tmp_path / name
    done = run_mlm(*train_args(tiny_preset, corpus_files, output, *extra),
                   env=environment(tmp_path, backend, devices))
    assert done.code == 0, done.stderr
    return output


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_four_accumulated_passes_equal_one_batch_four_times_larger(backend, tiny_preset, corpus_files, tmp_path):
    large = train(tiny_preset, corpus_files, tmp_path, "large", backend, "--batch-size", "16")
    accumulated = train(tiny_preset, corpus_files, tmp_path, "accumulated", backend, "--batch-size", "4",
                        "--accumulation-steps", "4")
    assert_same_training(accumulated, large)
    config = json.loads((accumulated / "train_config.json").read_text())
    assert (config["accumulation_steps"], config["batch_size"], config["global_batch_size"]) == (4, 4, 16)
    assert "| gradient accumulation | 4 passes of 4 sequences per device per step |" in (
        accumulated / "README.md").read_text()  # the model card
    # The clipping limit binds, so the norm compared above is the accumulated gradient's (clipped as one).
    assert max(r["gradient_norm"] for r in records(accumulated) if r["type"] == "train") > 0.5

    # Killed mid-run, then resumed: the uninterrupted run's weights, each step logged once.
    resumed = tmp_path / "resumed"
    command = [sys.executable, "-c", "from mlm_cli.cli.app import main; main()",
               *train_args(tiny_preset, corpus_files, resumed, "--batch-size", "4", "--accumulation-steps", "4")]
    env = {**os.environ, **environment(tmp_path, backend)}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    assert kill_when(process, resumed, 3, extra_delay=0.0)
    finished = subprocess.run(command + ["--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert [r["step"] for r in records(resumed) if r["type"] == "train"] == list(range(1, STEPS + 1))
    assert largest_weight_difference(resumed, accumulated) <= 1e-6

    # --resume refuses another accumulation in one line (the optimizer state has its shape).
    refused = run_mlm_in_process(*train_args(tiny_preset, corpus_files, resumed, "--batch-size", "8",
                                             "--accumulation-steps", "2", "--resume"),
                                 env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert refused.code == 2 and "accumulation-steps" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow
def test_accumulation_under_data_parallelism_equals_one_large_batch(tiny_preset, corpus_files, tmp_path):
    large = train(tiny_preset, corpus_files, tmp_path, "large", "jax", "--batch-size", "16")
    spread = train(tiny_preset, corpus_files, tmp_path, "spread", "jax", "--batch-size", "2", "--accumulation-steps",
                   "2", devices=4)
    config = json.loads((spread / "train_config.json").read_text())
    assert (config["distribution"], config["devices"], config["global_batch_size"]) == ("data", 4, 16)
    assert_same_training(spread, large)


def test_accumulation_steps_is_checked_and_printed(tiny_preset, corpus_files, tmp_path):
    bad = run_mlm_in_process(*train_args(tiny_preset, corpus_files, tmp_path / "run", "--accumulation-steps", "0"),
                             env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert bad.code == 2 and "--accumulation-steps must be at least 1" in bad.stderr
    assert not (tmp_path / "run").exists()
    printed = run_mlm_in_process(*train_args(tiny_preset, corpus_files, tmp_path / "run", "--accumulation-steps", "3",
                                             "--print-config"), env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert printed.code == 0 and tomllib.loads(printed.stdout)["accumulation-steps"] == 3
