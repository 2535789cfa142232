"""`mlm train --data-weights` through the entry point: checked, recorded, resumed exactly."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_mlm_in_process


def train(tiny_preset, corpus_files, tmp_path, *extra: str, steps: int = 6):
    second = tmp_path / "second.txt"
    second.write_text("\n".join(reversed((corpus_files / "train.txt").read_text().splitlines())) + "\n")
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--data", str(second),
        "--output", str(tmp_path / "run"), "--max-steps", str(steps), "--batch-size", "2", "--sequence-length", "32",
        "--save-every", "3", "--log-every", "1", "--precision", "float32", *extra,
        env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_weighted_sources_are_recorded_and_a_resumed_run_equals_an_uninterrupted_one(tiny_preset, corpus_files,
                                                                                    tmp_path):
    done = train(tiny_preset, corpus_files, tmp_path, "--data-weights", "0.8,0.2")
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    assert json.loads((run / "train_config.json").read_text())["data_weights"] == "0.8,0.2"
    card = (run / "README.md").read_text()
    assert "80.0% of the documents" in card and "20.0% of the documents" in card
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]

    # Stop after the step-3 checkpoint (a shorter --max-steps would change the schedule: trim the run instead).
    import shutil

    for name in ("config.json", "model.weights.h5", "README.md"):
        (run / name).unlink()
    shutil.rmtree(run / "checkpoints" / "step-00000006")
    resumed = train(tiny_preset, corpus_files, tmp_path, "--data-weights", "0.8,0.2", "--resume")
    assert resumed.code == 0, resumed.stderr
    again = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert again == pytest.approx(losses, abs=1e-6)

    refused = train(tiny_preset, corpus_files, tmp_path, "--data-weights", "0.5,0.5", "--resume")
    assert refused.code == 2 and "data-weights" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("weights, message", [("0.8,0.1,0.1", "--data-weights needs one weight per --data source (2)"),
                                              ("0.8,-1", "--data-weights takes positive numbers separated by commas")])
def test_bad_weights_are_one_line(tiny_preset, corpus_files, tmp_path, weights, message):
    done = train(tiny_preset, corpus_files, tmp_path, "--data-weights", weights)
    assert done.code == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
