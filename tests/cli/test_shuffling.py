"""`mlm train --shuffle/--no-shuffle --shuffle-buffer`: flags, --config, resume checks, through the real entry point."""

from __future__ import annotations

import json
import tomllib

import pytest

pytestmark = pytest.mark.run_once  # the subprocess picks its own backend

FLAGS = ("--batch-size", "4", "--sequence-length", "32", "--precision", "float32", "--log-every", "1")


def test_shuffle_flags_and_config_keys_resolve(mlm_in_process, tmp_path):
    mlm = mlm_in_process
    config = tmp_path / "run.toml"
    config.write_text("shuffle = false\nshuffle-buffer = 500\n")
    base = ("train", "--preset", "bert_tiny_scratch", "--data", "a.txt", "--output", "out", "--print-config")
    defaults = tomllib.loads(mlm(*base).stdout)
    assert defaults["shuffle"] is True and defaults["shuffle-buffer"] == 100_000
    from_file = tomllib.loads(mlm(*base, "--config", str(config)).stdout)
    assert from_file["shuffle"] is False and from_file["shuffle-buffer"] == 500
    flags_win = tomllib.loads(mlm(*base, "--config", str(config), "--shuffle", "--shuffle-buffer", "64").stdout)
    assert flags_win["shuffle"] is True and flags_win["shuffle-buffer"] == 64
    refused = mlm("train", "--preset", "bert_tiny_scratch", "--data", "a.txt", "--output", str(tmp_path / "out"),
                  "--shuffle-buffer", "0")
    assert refused.code == 2 and "--shuffle-buffer" in refused.stderr


def test_resume_keeps_the_shuffle_settings_of_the_run(mlm, mlm_in_process, tmp_path, tiny_preset, corpus_files):
    run = tmp_path / "run"
    train = ("train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output", str(run),
             *FLAGS,
             "--validation-split", "0.2", "--eval-every", "2", "--shuffle-buffer", "50")
    first = mlm(*train, "--max-steps", "2", "--save-every", "1")
    assert first.code == 0, first.stderr
    recorded = json.loads((run / "train_config.json").read_text())
    assert recorded["shuffle"] is True and recorded["shuffle_buffer"] == 50
    state = json.loads(sorted((run / "checkpoints").glob("step-*"))[-1].joinpath("state.json").read_text())
    assert {"epoch", "window", "next_unit", "slots", "emitted"} <= set(state["data"]["shards"]["0"]["documents"])
    for changed, name in ((("--no-shuffle",), "shuffle"), (("--shuffle-buffer", "64"), "shuffle-buffer")):
        done = mlm_in_process(*train[:-2], *changed, "--max-steps", "3", "--resume")
        assert done.code == 2 and f"different {name} (" in done.stderr, done.stderr
