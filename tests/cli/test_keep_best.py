"""`mlm train --keep-best`: the published preset holds the weights of the best evaluation, named everywhere."""

from __future__ import annotations

import json

from tests.support.cli import run_mlm_in_process

STEPS = 12


def train(tiny_preset, corpus_files, tmp_path, *extra: str):
    # One sentence over and over: the model soon overfits it, so held-out loss falls, then rises.
    one_sentence = tmp_path / "one_sentence.txt"
    one_sentence.write_text(((corpus_files / "train.txt").read_text().splitlines()[0] + "\n") * 400)
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(one_sentence), "--validation-data",
        str(corpus_files / "heldout.txt"), "--output", str(tmp_path / "run"), "--max-steps", str(STEPS),
        "--batch-size", "4", "--sequence-length", "32", "--eval-every", "2", "--eval-batches", "2",
        "--learning-rate", "1e-2", "--schedule", "constant", "--warmup", "0", "--save-every", "4",
        "--keep-checkpoints", "1", "--precision", "float32", *extra,
        env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_the_published_preset_is_the_best_evaluations_checkpoint(tiny_preset, corpus_files, tmp_path):
    done = train(tiny_preset, corpus_files, tmp_path, "--keep-best")
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    best = min(evals, key=lambda record: record["val_loss"])["step"]
    assert best < STEPS  # the setup above makes the last step worse than an earlier one
    assert f"publishing the weights of step {best} (best validation loss" in done.stderr

    kept = sorted(path.name for path in (run / "checkpoints").iterdir())
    assert kept == [f"best-{best:08d}", f"step-{STEPS:08d}"]
    for name in ("model.weights.h5", "task.weights.h5", "config.json"):
        assert (run / name).read_bytes() == (run / "checkpoints" / f"best-{best:08d}" / name).read_bytes(), name
    assert (run / "model.weights.h5").read_bytes() != (
        run / "checkpoints" / f"step-{STEPS:08d}" / "model.weights.h5").read_bytes()
    assert f"| published weights | step {best}, the best validation loss" in (run / "README.md").read_text()
    report = run_mlm_in_process("report", str(run), "--json", "--no-plot")
    assert report.code == 0 and json.loads(report.stdout)["published_step"] == best


def test_without_keep_best_the_last_step_is_published(tiny_preset, corpus_files, tmp_path):
    done = train(tiny_preset, corpus_files, tmp_path)
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    assert "publishing the weights of step" not in done.stderr
    assert not list((run / "checkpoints").glob("best-*"))
    assert (run / "model.weights.h5").read_bytes() == (
        run / "checkpoints" / f"step-{STEPS:08d}" / "model.weights.h5").read_bytes()
    assert f"| published weights | step {STEPS}, the last |" in (run / "README.md").read_text()


def test_keep_best_needs_validation_data(tiny_preset, corpus_files, tmp_path):
    done = run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--keep-best", env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert done.code == 2 and "--keep-best needs --validation-data or --validation-split" in done.stderr
    assert not (tmp_path / "run").exists()
