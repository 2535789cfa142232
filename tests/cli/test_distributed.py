"""Scaling out through the real `mlm` entry point: 4 simulated CPU devices, and two processes on 127.0.0.1.

Each comparison trains the same tiny preset on the same global batch twice: once spread
out, once on a single device (for two processes: one process reading the same two data
shards), and requires the losses, held-out metrics and final weights to agree.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import UNREACHABLE, run_mlm, run_mlm_in_process
from tests.support.run_files import largest_weight_difference, records

pytestmark = pytest.mark.jax_pass

FOUR_DEVICES = "--xla_force_host_platform_device_count=4"
TOLERANCE = 1e-4


def environment(tmp_path: Path, devices: int = 1) -> dict[str, str]:
    env = {"KERAS_BACKEND": "jax", "MLM_CACHE_DIR": str(tmp_path / "cache"), "KAGGLE_API_ENDPOINT": UNREACHABLE,
           "HF_ENDPOINT": UNREACHABLE, "PYTHONUNBUFFERED": "1"}
    env["XLA_FLAGS"] = FOUR_DEVICES if devices == 4 else ""
    return env


def train_args(preset: Path, corpus: Path, output: Path, *extra: str, steps: int = 20) -> list[str]:
    return ["train", "--backend", "jax", "--preset", str(preset), "--data", str(corpus / "train.txt"), "--output",
            str(output),
            "--validation-data", str(corpus / "heldout.txt"), "--max-steps", str(steps), "--log-every", "1",
            "--save-every", "5", "--eval-every", "10", "--eval-batches", "2", "--sequence-length", "32", *extra]


def assert_same_training(run: Path, reference: Path, steps: int = 20) -> None:
    ours, theirs = records(run), records(reference)
    assert [r["step"] for r in ours if r["type"] == "train"] == list(range(1, steps + 1))
    assert [(r["type"], r["step"]) for r in ours] == [(r["type"], r["step"]) for r in theirs]
    for mine, other in zip(ours, theirs):
        key = "loss" if mine["type"] == "train" else "val_loss"
        assert abs(mine[key] - other[key]) <= TOLERANCE, (mine["step"], mine[key], other[key])
    assert largest_weight_difference(run, reference) <= TOLERANCE


def config(run: Path) -> dict:
    return json.loads((run / "train_config.json").read_text())


@pytest.fixture(scope="module")
def one_device_run(tiny_preset, corpus_files, tmp_path_factory):
    """The reference: 20 steps of 8 sequences on one device, reading the corpus as two data shards."""
    tmp = tmp_path_factory.mktemp("reference")
    output = tmp / "run"
    done = run_mlm(*train_args(tiny_preset, corpus_files, output, "--batch-size", "8", "--data-shards", "2"),
                   env=environment(tmp))
    assert done.code == 0, done.stderr
    assert config(output)["distribution"] == "none"
    return output


@pytest.fixture(scope="module")
def one_device_one_shard_run(tiny_preset, corpus_files, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference-one-shard")
    output = tmp / "run"
    done = run_mlm(*train_args(tiny_preset, corpus_files, output, "--batch-size", "8"), env=environment(tmp))
    assert done.code == 0, done.stderr
    return output


@pytest.mark.slow
def test_data_parallel_on_four_devices_matches_one_device(tiny_preset, corpus_files, one_device_one_shard_run,
                                                          tmp_path):
    output = tmp_path / "run"
    done = run_mlm(*train_args(tiny_preset, corpus_files, output, "--batch-size", "2"),
                   env=environment(tmp_path, devices=4))
    assert done.code == 0, done.stderr
    settings = config(output)
    assert (settings["distribution"], settings["devices"], settings["global_batch_size"]) == ("data", 4,
        8)  # auto picks data parallel
    assert_same_training(output, one_device_one_shard_run)


@pytest.mark.slow
def test_model_parallel_on_four_devices_matches_one_device(tiny_preset, corpus_files, one_device_one_shard_run,
                                                           tmp_path):
    output = tmp_path / "run"
    done = run_mlm(*train_args(tiny_preset, corpus_files, output, "--batch-size", "4", "--distribute", "model",
                               "--model-shards", "2"),
                   env=environment(tmp_path, devices=4))
    assert done.code == 0, done.stderr
    settings = config(output)
    assert (settings["distribution"], settings["model_shards"], settings["global_batch_size"]) == ("model", 2, 8)
    assert_same_training(output, one_device_one_shard_run)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_processes(args: list[str], tmp_path: Path, count: int = 2, via_environment: bool = False) -> list[
    subprocess.Popen]:
    """`count` processes on 127.0.0.1, told their places by flags or by the MLM_* environment variables."""
    port = free_port()
    processes = []
    for index in range(count):
        place = {"coordinator": f"127.0.0.1:{port}", "num-processes": str(count), "process-id": str(index)}
        flags = [] if via_environment else [item for name, value in place.items() for item in (f"--{name}", value)]
        env = {**os.environ, **environment(tmp_path)}
        if via_environment:
            env |= {f"MLM_{name.replace('-', '_').upper()}": value for name, value in place.items()}
        log = open(tmp_path / f"process-{index}.err", "w")
        processes.append(subprocess.Popen([sys.executable, "-c", "from mlm_cli.cli.app import main; main()", *args,
                                           *flags],
                                          env=env, stdout=subprocess.PIPE, stderr=log, text=True))
    return processes


def finish(processes: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise AssertionError("the processes hung") from None
    return codes


def error_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_two_processes_train_together_like_one(tiny_preset, corpus_files, one_device_run, tmp_path):
    output = tmp_path / "run"
    processes = start_processes(train_args(tiny_preset, corpus_files, output, "--batch-size", "4"), tmp_path)
    assert finish(processes) == [0, 0], [(tmp_path / f"process-{i}.err").read_text()[-2000:] for i in range(2)]
    settings = config(output)
    assert (settings["processes"], settings["data_shards"], settings["global_batch_size"]) == (2, 2, 8)
    assert "process_id" not in settings and "coordinator" not in settings
    assert_same_training(output, one_device_run)  # also: one writer, so every metrics line appears once
    assert len(list((output / "checkpoints").iterdir())) == 2


@pytest.mark.slow
def test_killed_process_ends_the_run_with_one_error_and_resume_finishes_it(tiny_preset, corpus_files, one_device_run,
                                                                           tmp_path):
    output = tmp_path / "run"
    args = train_args(tiny_preset, corpus_files, output, "--batch-size", "4")
    survivor, victim = start_processes(args, tmp_path)
    deadline = time.monotonic() + 180
    while not (output / "checkpoints" / "step-00000010").is_dir():
        assert time.monotonic() < deadline and survivor.poll() is None, (tmp_path / "process-0.err").read_text()[-2000:]
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert finish([survivor, victim], timeout=60) == [1, -signal.SIGKILL]
    assert time.monotonic() - killed_at < 30
    lines = error_lines(tmp_path / "process-0.err")
    assert len(lines) == 1 and "lost contact with another process" in lines[0] and "--resume" in lines[0], lines
    assert "Traceback" not in (tmp_path / "process-0.err").read_text()

    resumed = start_processes([*args, "--resume"], tmp_path)
    assert finish(resumed) == [0, 0], (tmp_path / "process-0.err").read_text()[-2000:]
    assert largest_weight_difference(output,
                                  one_device_run) <= TOLERANCE  # resumed exactly: same weights as one uninterrupted run


@pytest.mark.slow
def test_a_two_process_run_resumes_on_one_process(tiny_preset, corpus_files, one_device_run, tmp_path):
    """The data shards are fixed per run, so a run can continue on fewer hosts (same global batch)."""
    output = tmp_path / "run"
    first = start_processes(train_args(tiny_preset, corpus_files, output, "--batch-size", "4"), tmp_path,
                            via_environment=True)
    assert finish(first) == [0, 0]
    assert config(output)["processes"] == 2
    (output / "config.json").unlink()  # as if both hosts had stopped after the step-15 checkpoint
    shutil.rmtree(output / "checkpoints" / "step-00000020")
    done = run_mlm(*train_args(tiny_preset, corpus_files, output, "--batch-size", "8", "--resume"),
                   env=environment(tmp_path))
    assert done.code == 0, done.stderr
    assert "resuming at step 15" in done.stderr
    assert largest_weight_difference(output, one_device_run) <= TOLERANCE


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--backend", "jax", "--num-processes", "2"],
         "needs --coordinator, --num-processes and --process-id together"),
        (["--backend", "jax", "--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"],
         "is not HOST:PORT"),
        (["--backend", "jax", "--coordinator", "127.0.0.1:5", "--num-processes", "2", "--process-id", "2"],
         "outside 0..1"),
        (["--backend", "jax", "--distribute", "everywhere"], "unknown --distribute"),
        (["--backend", "jax", "--model-shards", "2"], "only applies with --distribute model"),
    ],
)
def test_unusable_distribution_flags_fail_with_one_line(flags, message, tiny_preset, corpus_files, tmp_path):
    """In-process through the real entry point: the flags are refused before anything is loaded."""
    done = run_mlm_in_process("train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"),
                              "--output", str(tmp_path / "run"), *flags, env=environment(tmp_path))
    assert done.code == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_distribution_on_the_torch_backend_is_refused_with_one_line(tiny_preset, corpus_files, tmp_path):
    """A real process: --backend torch must be chosen before keras loads, which this jax test process has done."""
    done = run_mlm("train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
                   str(tmp_path / "run"), "--backend", "torch", "--distribute", "data", env=environment(tmp_path))
    assert done.code == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "only on the jax backend" in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()
