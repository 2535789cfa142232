"""`mlm train --early-stopping-patience`: a run whose validation loss stops improving ends early, with exit 0."""

from __future__ import annotations

import json

import pytest

from mlm_cli.workflows.training_loop import BestEvaluation
from tests.support.cli import run_mlm_in_process


def train(tiny_preset, corpus_files, tmp_path, *extra: str):
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--max-steps", "12", "--batch-size", "2", "--sequence-length", "32", "--eval-every",
        "2", "--eval-batches", "2", "--validation-split", "0.2", "--save-every", "1000", *extra,
        env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_a_run_that_stops_improving_ends_early_and_names_the_best_step(tiny_preset, corpus_files, tmp_path):
    # A learning rate far too small to move the validation loss by the threshold: no evaluation after the first
    # improves, so the run stops after the first evaluation plus two more (steps 2, 4, 6).
    done = train(tiny_preset, corpus_files, tmp_path, "--learning-rate", "1e-9", "--early-stopping-patience", "2",
                 "--early-stopping-threshold", "1e-3")
    assert done.code == 0, done.stderr
    assert "stopping early at step 6: the validation loss has not improved for 2 evaluations" in done.stderr
    assert "at step 2)" in done.stderr
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "eval"] == [2, 4, 6]
    assert [r["step"] for r in records if r["type"] == "train"] == [6]  # the last window is logged (--log-every 10)
    assert (run / "model.weights.h5").exists()  # published as usual
    assert "stopped at step 6 (patience 2 evaluations)" in (run / "README.md").read_text()


def test_patience_needs_validation_data(tiny_preset, corpus_files, tmp_path):
    done = run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--early-stopping-patience", "3", env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert done.code == 2 and "--early-stopping-patience needs --validation-data or --validation-split" in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("losses, threshold, best_step, stale", [
    ([3.0, 2.9, 2.95, 2.95], 0.0, 2, 2),
    ([3.0, 2.9995, 2.9991], 1e-3, 1, 2),  # improvements smaller than the threshold do not count
    ([3.0, 3.1, 2.5], 0.0, 3, 0),
])
def test_best_evaluation_counts_evaluations_since_the_best(losses, threshold, best_step, stale):
    best = BestEvaluation()
    for step, loss in enumerate(losses, start=1):
        best.update(loss, step, threshold)
    assert (best.step, best.stale) == (best_step, stale)
    assert BestEvaluation.from_state(best.state()) == best
