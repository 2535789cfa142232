"""End to end through the real `mlm` entry point: train, eval, export, load in keras-hub, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

TRAIN_FLAGS = ("--batch-size", "8", "--sequence-length", "32", "--log-every", "2", "--learning-rate", "3e-3",
               "--precision", "float32")


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_train_eval_export_round_trip(mlm, tiny_preset, corpus_files, tmp_path):
    run = tmp_path / "run"
    trained = mlm("train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
                  str(run),
                  "--max-steps", "12", "--validation-data", str(corpus_files / "heldout.txt"), "--eval-every", "6",
                  "--json", *TRAIN_FLAGS)
    assert trained.code == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["steps"] == 12 and summary["output"] == str(run)
    for name in ("config.json", "task.json", "model.weights.h5", "task.weights.h5", "metrics.jsonl",
                 "train_config.json"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints").is_dir()
    records = read_metrics(run)
    train_records = [r for r in records if r["type"] == "train"]
    assert [r["step"] for r in train_records] == [2, 4, 6, 8, 10, 12]
    assert train_records[-1]["loss"] < train_records[0]["loss"]
    assert {"loss", "accuracy", "learning_rate", "tokens_per_second", "epoch"} <= set(train_records[0])
    assert [r["step"] for r in records if r["type"] == "eval"] == [6, 12]
    config = json.loads((run / "train_config.json").read_text())
    assert config["max_steps"] == 12 and config["batch_size"] == 8 and config["precision"] == "float32"

    first = mlm("eval", "--preset", str(run), "--data", str(corpus_files / "heldout.txt"), "--json", "--batch-size",
                "8")
    second = mlm("eval", "--preset", str(run), "--data", str(corpus_files / "heldout.txt"), "--json", "--batch-size",
                 "8")
    assert first.code == 0, first.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a == b
    assert a["perplexity"] == pytest.approx(np.exp(a["loss"]))
    assert a["masked_tokens"] > 0 and 0 <= a["accuracy"] <= 1

    exported = tmp_path / "exported"
    result = mlm("export", "--preset", str(run), "--output", str(exported))
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == str(exported)
    assert not (exported / "metrics.jsonl").exists() and not (exported / "checkpoints").exists()
    check_keras_hub_logits(exported)


def check_keras_hub_logits(preset):
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    from mlm_cli.models import MaskedLM

    ours = MaskedLM.from_preset(preset)
    reference = keras_hub.models.MaskedLM.from_preset(str(preset))
    x, _, _ = ours.preprocessor(["the model will train on data", "a word"])
    difference = np.abs(keras.ops.convert_to_numpy(ours(x)) - keras.ops.convert_to_numpy(reference(x))).max()
    assert difference <= 1e-4


@pytest.mark.slow
def test_train_on_jsonl_with_text_column_and_bfloat16_export(mlm, tiny_preset, corpus_files, tmp_path):
    run = tmp_path / "run"
    trained = mlm("train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.jsonl"), "--text-column",
                  "body",
                  "--output", str(run), "--max-steps", "4", "--no-packing", *TRAIN_FLAGS)
    assert trained.code == 0, trained.stderr
    assert json.loads((run / "train_config.json").read_text())["packing"] is False
    exported = mlm("export", "--preset", str(run), "--output", str(tmp_path / "bf16"), "--dtype", "bfloat16")
    assert exported.code == 0, exported.stderr
    evaluated = mlm("eval", "--preset", str(tmp_path / "bf16"), "--data", str(corpus_files / "heldout.txt"), "--json")
    assert evaluated.code == 0, evaluated.stderr
    assert (tmp_path / "bf16" / "model.weights.h5").stat().st_size < (run / "model.weights.h5").stat().st_size


@pytest.mark.run_once  # option merging is backend-free; training on both backends is checked above
def test_config_file_and_flags_win(mlm, tiny_preset, corpus_files, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        f'preset = "{tiny_preset}"\ndata = ["{corpus_files / "train.txt"}"]\nmax-steps = 3\nbatch-size = '
        '4\nsequence-length = 32\nprecision = "float32"\n')
    run = tmp_path / "run"
    result = mlm("train", "--config", str(config), "--output", str(run), "--batch-size", "6")
    assert result.code == 0, result.stderr
    resolved = json.loads((run / "train_config.json").read_text())
    assert resolved["batch_size"] == 6 and resolved["max_steps"] == 3


@pytest.mark.slow
# SIGINT (test_crash_safety) and exact resumption (its SIGKILL trial 0) are checked on both backends
@pytest.mark.run_once
def test_interrupt_then_resume(tiny_preset, corpus_files, tmp_path, backend):
    run = tmp_path / "run"
    base = [sys.executable, "-c", "from mlm_cli.cli.app import main; main()", "train", "--preset", str(tiny_preset),
            "--data", str(corpus_files / "train.txt"), "--output", str(run), "--epochs", "1000", "--save-every",
            "1000", *TRAIN_FLAGS]
    env = {**os.environ, "KERAS_BACKEND": backend, "MLM_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(base + ["--max-steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (run / "metrics.jsonl").exists() and len(read_metrics(run)) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    checkpoints = sorted((run / "checkpoints").iterdir())
    saved_step = int(checkpoints[-1].name.split("-")[1])
    assert saved_step >= 4
    assert not (run / "config.json").exists()  # no final preset from an interrupted run

    resumed = subprocess.run(base + ["--max-steps", str(saved_step + 4), "--resume"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    steps = [r["step"] for r in read_metrics(run) if r["type"] == "train"]
    assert steps == sorted(steps) and steps[-1] == saved_step + 4
    assert len(steps) == len(set(steps))
    state = json.loads((run / "checkpoints" / f"step-{saved_step + 4:08d}" / "state.json").read_text())
    assert state["step"] == saved_step + 4
    assert (run / "config.json").exists()


@pytest.mark.slow
@pytest.mark.run_once  # the vocabulary and the scratch config are backend-free; training is checked on both above
def test_pretrain_from_scratch_with_corpus_vocabulary(mlm, corpus_files, tmp_path):
    run = tmp_path / "scratch"
    trained = mlm("train", "--preset", "bert_tiny_scratch", "--vocabulary-size", "150", "--data",
                  str(corpus_files / "train.txt"),
                  "--output", str(run), "--max-steps", "6", "--validation-split", "0.1", "--eval-every", "3", "--json",
                  *TRAIN_FLAGS)
    assert trained.code == 0, trained.stderr
    vocabulary = (run / "assets" / "tokenizer" / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert 100 <= len(vocabulary) <= 150 and {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} <= set(vocabulary)
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["vocabulary_size"] == len(vocabulary) and config["num_layers"] == 2 and config["hidden_dim"] == 128
    assert [r["step"] for r in read_metrics(run) if r["type"] == "eval"] == [3, 6]
    check_keras_hub_logits(run)
