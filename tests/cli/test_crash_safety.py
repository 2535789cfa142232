"""Crash safety through the real entry point: SIGKILL at random moments, SIGINT/SIGTERM, diverging loss.

A run killed at any moment and resumed (the same command plus --resume, as often as it
takes) must end with exactly the weights of a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # every test trains in subprocesses, most of them several times

MAX_STEPS = 10
FLAGS = ("--batch-size", "8", "--sequence-length", "32", "--log-every", "1", "--save-every", "2", "--keep-checkpoints",
         "2",
         "--learning-rate", "3e-3", "--precision", "float32", "--seed", "5", "--max-steps", str(MAX_STEPS))


def train_command(preset: Path, data: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from mlm_cli.cli.app import main; main()", "train", "--preset", str(preset),
            "--data", str(data),
            "--output", str(output), *FLAGS, *extra]


def environment(tmp_path: Path, backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "MLM_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}


def weights(run: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays: dict[str, np.ndarray] = {}
    with h5py.File(run / "model.weights.h5", "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def logged_step(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return -1
    steps = [json.loads(line).get("step", -1) for line in path.read_text().splitlines() if line.endswith("}")]
    return max(steps, default=-1)


def kill_when(process: subprocess.Popen, run: Path, step: int, extra_delay: float, timeout: float = 120) -> bool:
    """SIGKILL once `step` has been logged (plus a delay, to land anywhere in the following work); False if it finished
    first.
    """
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and logged_step(run) < step:
        time.sleep(0.02)
    time.sleep(extra_delay)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return True


@pytest.fixture(scope="module")
def reference_weights(tmp_path_factory, tiny_preset, corpus_files, backend):
    tmp_path = tmp_path_factory.mktemp("reference")
    run = tmp_path / "run"
    done = subprocess.run(train_command(tiny_preset, corpus_files / "train.txt", run), capture_output=True, text=True,
                          env=environment(tmp_path, backend), timeout=300)
    assert done.returncode == 0, done.stderr
    return weights(run)


# Trial 0 on both backends; the other kill patterns exercise the same (backend-free) checkpoint code, in the torch pass.
@pytest.mark.parametrize("trial", [0, pytest.param(1, marks=pytest.mark.run_once),
                                   pytest.param(2, marks=pytest.mark.run_once)])
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(trial, tmp_path, tiny_preset,
                                                                               corpus_files, backend,
                                                                                reference_weights):
    rng = random.Random(trial)
    run = tmp_path / "run"
    env = environment(tmp_path, backend)
    command = train_command(tiny_preset, corpus_files / "train.txt", run)
    kills = 0
    # Kill points: before the first step is logged (start-up, vocabulary, model build), then at random later steps.
    for target in sorted(rng.sample(range(-1, MAX_STEPS - 1), 2)):
        process = subprocess.Popen(command + (["--resume"] if kills else []), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE,
                                   text=True, env=env)
        if kill_when(process, run, target, extra_delay=rng.uniform(0.0, 0.4)):
            kills += 1
            partial = [p.name for p in (run / "checkpoints").glob("step-*")] if (run / "checkpoints").is_dir() else []
            assert all(p.startswith("step-") and len(p) == 13 for p in partial), partial
            if (run / "config.json").exists():  # killed after publishing: the final preset is complete
                assert (run / "model.weights.h5").is_file() and (run / "checkpoints" / f"step-{MAX_STEPS:08d}").is_dir()
        else:
            process.communicate(timeout=60)
    finished = subprocess.run(command + ["--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
    assert steps == list(range(1, MAX_STEPS + 1))  # each step logged once, none lost, none repeated
    assert kills >= 1
    got = weights(run)
    assert set(got) == set(reference_weights)
    worst = max(float(np.max(np.abs(got[name] - reference_weights[name]))) for name in got)
    assert worst <= 1e-6, worst


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130),
                                          pytest.param(signal.SIGTERM, 143, marks=pytest.mark.run_once)])
def test_sigint_and_sigterm_save_a_checkpoint_and_say_how_to_resume(signum, code, tmp_path, tiny_preset, corpus_files,
                                                                    backend):
    run = tmp_path / "run"
    command = train_command(tiny_preset, corpus_files / "train.txt", run, "--max-steps", "100000", "--save-every",
                            "100000")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(tmp_path, backend))
    deadline = time.time() + 120
    while time.time() < deadline and logged_step(run) < 3:
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert lines and "--resume" in stderr
    checkpoints = sorted((run / "checkpoints").glob("step-*"))
    assert checkpoints and (checkpoints[-1] / "state.json").is_file() and (checkpoints[-1] / "rng_state.npz").is_file()
    saved = json.loads((checkpoints[-1] / "state.json").read_text())
    assert saved["step"] >= 3 and saved["reason"] == "interrupted"


def finished_four_step_run(tmp_path: Path, preset: Path, data: Path, backend: str) -> tuple[Path, dict[str, str]]:
    """A completed 4-step run to resume from, and the environment used."""
    run = tmp_path / "run"
    env = environment(tmp_path, backend)
    first = subprocess.run(train_command(preset, data, run, "--max-steps", "4"), capture_output=True, text=True,
                           env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    return run, env


def test_diverging_loss_stops_with_exit_1_and_keeps_the_last_good_checkpoint(tmp_path, tiny_preset, corpus_files,
                                                                             backend):
    run, env = finished_four_step_run(tmp_path, tiny_preset, corpus_files / "train.txt", backend)
    # Resumed with an absurd learning rate, the next updates overflow.
    command = train_command(tiny_preset, corpus_files / "train.txt", run, "--max-steps", "40", "--learning-rate",
                            "1e30", "--resume")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "diverged" in done.stderr and "--learning-rate" in done.stderr and "float32" in done.stderr
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    assert "step-00000004" in checkpoints
    for name in checkpoints:
        for weight, array in weights(run / "checkpoints" / name).items():
            assert np.isfinite(array).all(), (name, weight)


@pytest.mark.run_once  # file writing is the same code on every backend
def test_a_full_disk_is_one_clear_error_and_earlier_outputs_stay_intact(tmp_path, tiny_preset, corpus_files, backend):
    """Writes beyond a file-size limit fail like a full disk (EFBIG instead of ENOSPC)."""
    import hashlib
    import resource

    run, env = finished_four_step_run(tmp_path, tiny_preset, corpus_files / "train.txt", backend)

    def digest() -> dict[str, str]:
        return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*"))
                if p.is_file() and p.name != "metrics.jsonl"}

    before = digest()

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write then fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    command = train_command(tiny_preset, corpus_files / "train.txt", run, "--max-steps", "8", "--resume")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, preexec_fn=limit_file_size)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "disk" in done.stderr, done.stderr
    assert digest() == before  # the finished preset and its checkpoints are untouched
    assert not [p for p in run.rglob("*partial*")]  # no half-written checkpoint left behind
