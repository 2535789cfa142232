"""`mlm train --schedule`: the learning rate each step follows the chosen shape, which the run records and resumes."""

from __future__ import annotations

import json
import tomllib

import pytest

from mlm_cli.workflows.schedule import WarmupDecay
from tests.support.cli import run_mlm_in_process

STEPS, WARMUP, PEAK = 8, 2, 1e-3


def train(tiny_preset, corpus_files, tmp_path, *extra: str):
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--max-steps", str(STEPS), "--warmup", str(WARMUP), "--learning-rate", str(PEAK),
        "--log-every", "1", "--batch-size", "2", "--sequence-length", "32", "--save-every", "4", *extra,
        env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_cosine_schedule_is_followed_recorded_and_kept_on_resume(tiny_preset, corpus_files, tmp_path):
    done = train(tiny_preset, corpus_files, tmp_path, "--schedule", "cosine")
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [r["learning_rate"] for r in records if r["type"] == "train"]
    expected = WarmupDecay(PEAK, WARMUP, STEPS, "cosine")
    assert logged == pytest.approx([expected.value_at(step) for step in range(STEPS)], rel=1e-6)
    assert logged != pytest.approx([WarmupDecay(PEAK, WARMUP, STEPS).value_at(step) for step in range(STEPS)])
    assert json.loads((run / "train_config.json").read_text())["schedule"] == "cosine"
    assert "cosine, 2 warm-up steps" in (run / "README.md").read_text()  # the model card

    # --resume refuses another schedule in one line, and changes nothing.
    before = sorted(path.name for path in run.rglob("*"))
    again = train(tiny_preset, corpus_files, tmp_path, "--schedule", "linear", "--resume")
    assert again.code == 2 and "schedule" in again.stderr and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert sorted(path.name for path in run.rglob("*")) == before


def test_schedule_is_checked_and_printed(tiny_preset, corpus_files, tmp_path):
    bad = train(tiny_preset, corpus_files, tmp_path, "--schedule", "exponential")
    assert bad.code == 2 and "--schedule must be one of linear, cosine, constant, inverse_sqrt" in bad.stderr
    assert not (tmp_path / "run").exists()
    printed = train(tiny_preset, corpus_files, tmp_path, "--schedule", "inverse_sqrt", "--print-config")
    assert printed.code == 0 and tomllib.loads(printed.stdout)["schedule"] == "inverse_sqrt"
