"""`mlm train --whole-word-masking` and `mlm eval --whole-word-masking` through the entry point."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_mlm_in_process


def train(tiny_preset, corpus_files, tmp_path, *extra: str):
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--max-steps", "4", "--batch-size", "4", "--sequence-length", "32", "--save-every",
        "2", "--validation-data", str(corpus_files / "heldout.txt"), "--eval-every", "2", "--eval-batches", "2",
        *extra, env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_whole_word_training_is_recorded_kept_on_resume_and_scored_by_eval(tiny_preset, corpus_files, tmp_path):
    done = train(tiny_preset, corpus_files, tmp_path, "--whole-word-masking")
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    assert json.loads((run / "train_config.json").read_text())["whole_word_masking"] is True
    assert "| mask rate | 0.15 (whole words) |" in (run / "README.md").read_text()
    report = run_mlm_in_process("report", str(run), "--json", "--no-plot")
    assert json.loads(report.stdout)["whole_word_masking"] is True

    refused = train(tiny_preset, corpus_files, tmp_path, "--resume")  # without the option: another masking
    assert refused.code == 2 and "whole-word-masking" in refused.stderr and "Traceback" not in refused.stderr

    def evaluate(*extra: str) -> dict:
        result = run_mlm_in_process("eval", "--preset", str(run), "--data", str(corpus_files / "heldout.txt"),
                                    "--batch-size", "4", "--max-batches", "5", "--json", *extra,
                                    env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
        assert result.code == 0, result.stderr
        return json.loads(result.stdout)

    words = evaluate("--whole-word-masking")
    tokens = evaluate()
    assert "masked_words" not in tokens and "word_loss" not in tokens
    assert 0 < words["masked_words"] <= words["masked_tokens"]
    # A word's loss is the sum of its pieces' losses: the same total spread over fewer units.
    assert words["word_loss"] * words["masked_words"] == \
        pytest.approx(words["loss"] * words["masked_tokens"], rel=1e-6)
    assert 0 <= words["word_accuracy"] <= 1

    both = run_mlm_in_process("eval", "--preset", str(run), "--data", str(corpus_files / "heldout.txt"),
                              "--whole-word-masking", "--pseudo-perplexity")
    assert both.code == 2 and "--whole-word-masking does not apply to --pseudo-perplexity" in both.stderr
