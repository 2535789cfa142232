"""Many `mlm` processes, one disk: a run directory has one writer, and the cache survives parallel jobs.

Every test starts real, concurrent `mlm` processes. The lock is the same on every backend,
so the tests run once (the subprocesses train on the torch pass's backend).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hub_caches import put_in_hf_cache, put_in_kaggle_cache

pytestmark = [pytest.mark.run_once, pytest.mark.slow]  # several mlm processes at once, most of them training

MLM = [sys.executable, "-c", "from mlm_cli.cli.app import main; main()"]
TRAIN_FLAGS = ("--batch-size", "8", "--sequence-length", "32", "--log-every", "1", "--precision", "float32", "--seed",
               "3")


def environment(tmp_path: Path, backend: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "MLM_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1", "KAGGLE_API_ENDPOINT": "http://127.0.0.1:9", **extra}


def train_command(preset: Path, data: Path, output: Path, *extra: str) -> list[str]:
    return [*MLM, "train", "--preset", str(preset), "--data", str(data), "--output", str(output), *TRAIN_FLAGS, *extra]


def wait_for(condition, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def logged_steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.endswith(
        "}") and '"train"' in line]


def files_under(root: Path) -> dict[str, str]:
    """Every file and folder under `root` with a digest of its content: equal snapshots mean nothing was written."""
    snapshot = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            snapshot[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() + f" {path.stat().st_mtime_ns}"
        else:
            snapshot[str(path)] = "folder"
    return snapshot


def refused_quickly(command: list[str], env: dict[str, str], holder_pid: int) -> str:
    """Run a command that must be refused by the run directory's lock; returns its error line."""
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    seconds = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert seconds < 5, seconds
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "in use by another mlm process" in lines[0] and f"pid {holder_pid} on host {socket.gethostname()}" in lines[
        0]
    assert "started 20" in lines[0] and "Traceback" not in done.stderr
    return lines[0]


def test_a_live_run_directory_has_one_writer_and_a_killed_one_none(tmp_path, tiny_preset, corpus_files, backend):
    run = tmp_path / "run"
    env = environment(tmp_path, backend)
    command = train_command(tiny_preset, corpus_files / "train.txt", run, "--save-every", "2")
    first = subprocess.Popen([*command, "--max-steps", "100000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        wait_for(lambda: any((run / "checkpoints").glob("step-*")), first)
        refused_quickly([*command, "--max-steps", "100000", "--resume"], env, first.pid)  # while it trains

        first.send_signal(
            signal.SIGSTOP)  # alive and holding the lock, but writing nothing: any change is the second process's
        before = files_under(tmp_path)
        for extra in ([], ["--resume"], ["--overwrite"]):
            refused_quickly([*command, "--max-steps", "100000", *extra], env, first.pid)
        refused_quickly([*MLM, "export", "--preset", str(tiny_preset), "--output", str(run), "--overwrite"], env,
                        first.pid)
        assert files_under(tmp_path) == before
    finally:
        first.kill()  # SIGKILL: no chance to release anything itself
        first.wait(timeout=60)

    step = max(int(p.name.removeprefix("step-")) for p in (run / "checkpoints").glob("step-*"))
    resumed = subprocess.run([*command, "--max-steps", str(step + 2), "--resume"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at step {step}" in resumed.stderr
    assert logged_steps(run) == list(range(1, step + 3))  # one writer: each step once
    assert not (tmp_path / ".run.lock").exists()  # the finished run left no lock file behind


def test_two_fresh_runs_started_together_get_one_writer(tmp_path, tiny_preset, corpus_files, backend):
    run = tmp_path / "new" / "run"  # neither the run directory nor its parent exists yet
    command = train_command(tiny_preset, corpus_files / "train.txt", run, "--max-steps", "3")
    env = environment(tmp_path, backend)
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env) for _ in range(2)]
    results = [(p, *p.communicate(timeout=300)) for p in processes]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 2], [stderr for _, _, stderr in results]
    winner = next(p for p, _, _ in results if p.returncode == 0)
    refused = next(stderr for p, _, stderr in results if p.returncode == 2)
    assert f"pid {winner.pid} " in refused and len(refused.strip().splitlines()) == 1
    assert logged_steps(run) == [1, 2, 3]


def test_parallel_pulls_of_one_transformers_checkpoint_share_one_conversion(tmp_path, tiny_transformers_mlm, backend):
    env = environment(tmp_path, backend)
    processes = [subprocess.Popen([*MLM, "pull", str(tiny_transformers_mlm)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=env) for _ in range(4)]
    results = [(*p.communicate(timeout=300), p.returncode) for p in processes]
    assert [code for _, _, code in results] == [0, 0, 0, 0], [stderr for _, stderr, _ in results]
    paths = {stdout.strip() for stdout, _, _ in results}
    assert len(paths) == 1
    converted = Path(paths.pop())
    assert converted.parent == tmp_path / "cache" / "converted"
    assert [p.name for p in converted.parent.iterdir()] == [converted.name]  # no second copy, no staging left over

    from mlm_cli.models import MaskedLM

    model = MaskedLM.from_preset(converted)
    x, _, _ = model.preprocessor(["the model will train on data"])
    assert model(x).shape[-1] == model.backbone.vocabulary_size


FAKE_KAGGLEHUB = '''
"""A stand-in for kagglehub: lays out a download as kagglehub does, slowly, and logs when it runs."""
import os, shutil, time

def model_download(handle):
    owner, model, framework, variation, version = handle.split("/")
    folder = os.path.join(os.environ["KAGGLEHUB_CACHE"], "models", owner, model, framework, variation)
    with open(os.environ["FAKE_KAGGLE_LOG"], "a") as log:
        log.write(f"start {os.getpid()}\\n")
    if not os.path.exists(os.path.join(folder, version + ".complete")):
        shutil.copytree(os.environ["FAKE_KAGGLE_SOURCE"], os.path.join(folder, version), dirs_exist_ok=True)
        time.sleep(1.0)
        open(os.path.join(folder, version + ".complete"), "w").close()
    with open(os.environ["FAKE_KAGGLE_LOG"], "a") as log:
        log.write(f"end {os.getpid()}\\n")
    return os.path.join(folder, version)
'''
FAKE_KAGGLEHUB_EXCEPTIONS = '''
class KaggleApiHTTPError(Exception): pass
class UnauthenticatedError(Exception): pass
class CredentialError(Exception): pass
'''


def test_parallel_kaggle_downloads_take_turns(tmp_path, tiny_preset, backend):
    fake = tmp_path / "fake" / "kagglehub"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_KAGGLEHUB)
    (fake / "exceptions.py").write_text(FAKE_KAGGLEHUB_EXCEPTIONS)
    log = tmp_path / "downloads.log"
    env = environment(tmp_path, backend, PYTHONPATH=os.pathsep.join(
        [str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")]),
                      FAKE_KAGGLE_LOG=str(log), FAKE_KAGGLE_SOURCE=str(tiny_preset))
    env.pop("KAGGLEHUB_CACHE", None)
    processes = [subprocess.Popen([*MLM, "pull", "kaggle://keras/bert/keras/bert_tiny_en_uncased/3"],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    results = [(*p.communicate(timeout=300), p.returncode) for p in processes]
    assert [code for _, _, code in results] == [0, 0, 0, 0], [stderr for _, stderr, _ in results]
    expected = tmp_path / "cache" / "kaggle" / "models" / "keras" / "bert" / "keras" / "bert_tiny_en_uncased" / "3"
    assert {stdout.strip() for stdout, _, _ in results} == {str(expected)}
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events and events == ["start", "end"] * (len(events) // 2)  # never two downloads at once


def test_cache_clean_keeps_the_entries_running_processes_use(tmp_path, tiny_preset, backend):
    cache = tmp_path / "cache"
    kaggle = put_in_kaggle_cache(tiny_preset, cache, "kaggle://keras/bert/keras/bert_tiny_en_uncased/3")
    hub = put_in_hf_cache(tiny_preset, cache, "mlm-tests/tiny-bert")
    put_in_hf_cache(tiny_preset, cache, "mlm-tests/unused")
    env = environment(tmp_path, backend)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from mlm_cli.hub import resolve; "
         "[resolve(h) for h in ('bert_tiny_en_uncased', 'hf://mlm-tests/tiny-bert')]; print('ready', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        everything = subprocess.run([*MLM, "cache", "clean", "--all", "--yes", "--json"], capture_output=True,
                                    text=True, env=env)
        assert everything.returncode == 0, everything.stderr
        result = json.loads(everything.stdout)
        assert result["removed"] == ["hf://mlm-tests/unused"]
        assert sorted(result["in_use"]) == ["hf://mlm-tests/tiny-bert",
                                            "kaggle://keras/bert/keras/bert_tiny_en_uncased/3"]
        assert everything.stderr.count("a running process uses it") == 2
        assert (kaggle / "model.weights.h5").is_file() and (hub / "model.weights.h5").is_file()

        named = subprocess.run([*MLM, "cache", "clean", "bert_tiny_en_uncased", "--yes"], capture_output=True,
                               text=True, env=env)
        assert named.returncode == 1 and len(named.stderr.strip().splitlines()) == 1, named.stderr
        assert "kept kaggle://keras/bert/keras/bert_tiny_en_uncased/3" in named.stderr
    finally:
        holder.kill()
        holder.wait(timeout=60)
    freed = subprocess.run([*MLM, "cache", "clean", "--all", "--yes", "--json"], capture_output=True, text=True,
                           env=env)
    assert freed.returncode == 0 and len(json.loads(freed.stdout)["removed"]) == 2, freed.stderr
    assert not kaggle.exists() and not hub.parent.exists()


def test_cache_clean_during_a_train_keeps_its_converted_checkpoint(tmp_path, tiny_transformers_mlm, corpus_files,
                                                                   backend):
    run = tmp_path / "run"
    env = environment(tmp_path, backend)
    command = train_command(tiny_transformers_mlm, corpus_files / "train.txt", run, "--max-steps", "100000",
                            "--save-every", "100000")
    training = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: len(logged_steps(run)) >= 1, training)
        converted = next((tmp_path / "cache" / "converted").iterdir())
        cleaned = subprocess.run([*MLM, "cache", "clean", "--converted", "--yes", "--json"], capture_output=True,
                                 text=True, env=env)
        assert cleaned.returncode == 0, cleaned.stderr
        assert json.loads(cleaned.stdout) | {"bytes": 0} == {"removed": [], "would_remove": [],
                                                             "in_use": [converted.name], "bytes": 0}
        assert (converted / "config.json").is_file() and (converted / "model.weights.h5").is_file()
        steps = len(logged_steps(run))
        wait_for(lambda: len(logged_steps(run)) > steps, training)  # still training
    finally:
        training.kill()
        training.wait(timeout=60)
    cleaned = subprocess.run([*MLM, "cache", "clean", converted.name, "--yes"], capture_output=True, text=True, env=env)
    assert cleaned.returncode == 0 and f"removed {converted.name}" in cleaned.stdout, cleaned.stderr
    assert not converted.exists()
