"""`mlm cache list/clean`, `mlm train --print-config`, shell completion, through the real entry point."""

from __future__ import annotations

import json
import shutil
import tomllib

import pytest

from tests.support.cli import run_mlm

pytestmark = pytest.mark.run_once  # no Keras backend involved


@pytest.fixture()
def mlm(mlm_in_process):
    """These commands run in-process through the real entry point; shell completion starts a real process."""
    return mlm_in_process


@pytest.fixture()
def filled_cache(tmp_path, tiny_preset):
    """A cache with a complete and an interrupted Kaggle download, a Hub snapshot and a converted checkpoint."""
    cache = tmp_path / "cache"
    variation = cache / "kaggle" / "models" / "keras" / "bert" / "keras" / "bert_tiny_en_uncased"
    shutil.copytree(tiny_preset, variation / "3")
    (variation / "3.complete").write_text("")
    shutil.copytree(tiny_preset, variation / "2")  # no 2.complete: interrupted
    snapshot = cache / "huggingface" / "models--someone--tiny-bert" / "snapshots" / "abc123"
    shutil.copytree(tiny_preset, snapshot)
    converted = cache / "converted" / "hf-tiny-0123abcd"
    shutil.copytree(tiny_preset, converted)
    outside = tmp_path / "keep-me"
    outside.mkdir()
    (outside / "file").write_text("precious")
    return cache


def cache_listing(mlm, tmp_path) -> dict:
    done = mlm("cache", "list", "--json")
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)


def test_cache_list_names_every_entry_with_size_and_state(mlm, tmp_path, filled_cache):
    listing = cache_listing(mlm, tmp_path)
    assert listing["cache"] == str(filled_cache)
    by_handle = {e["handle"]: e for e in listing["entries"]}
    assert set(by_handle) == {
        "kaggle://keras/bert/keras/bert_tiny_en_uncased/2", "kaggle://keras/bert/keras/bert_tiny_en_uncased/3",
        "hf://someone/tiny-bert", "hf-tiny-0123abcd",
    }
    assert by_handle["kaggle://keras/bert/keras/bert_tiny_en_uncased/3"]["names"] == ["bert_tiny_en_uncased"]
    assert by_handle["kaggle://keras/bert/keras/bert_tiny_en_uncased/3"]["complete"] is True
    assert by_handle["kaggle://keras/bert/keras/bert_tiny_en_uncased/2"]["complete"] is False
    weights = (filled_cache / "converted" / "hf-tiny-0123abcd" / "model.weights.h5").stat().st_size
    assert all(e["bytes"] > weights for e in listing["entries"])
    assert listing["bytes"] == sum(e["bytes"] for e in listing["entries"])
    table = mlm("cache", "list")
    assert table.code == 0
    assert "bert_tiny_en_uncased" in table.stdout and "incomplete" in table.stdout and "4 entries" in table.stdout


def test_cache_clean_removes_what_it_is_told_and_nothing_else(mlm, tmp_path, filled_cache):
    dry = mlm("cache", "clean", "--all", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    assert len(json.loads(dry.stdout)["would_remove"]) == 4
    assert len(cache_listing(mlm, tmp_path)["entries"]) == 4  # nothing removed

    incomplete = mlm("cache", "clean", "--incomplete", "--yes", "--json")
    assert json.loads(incomplete.stdout)["removed"] == ["kaggle://keras/bert/keras/bert_tiny_en_uncased/2"]
    presets = json.loads(mlm("presets", "list", "--family", "bert", "--json").stdout)
    assert next(p for p in presets if p["name"] == "bert_tiny_en_uncased")["cached"] is True

    by_name = mlm("cache", "clean", "bert_tiny_en_uncased", "--yes")
    assert by_name.code == 0, by_name.stderr
    assert "removed kaggle://keras/bert/keras/bert_tiny_en_uncased/3" in by_name.stdout
    kaggle_entry = filled_cache / "kaggle" / "models" / "keras" / "bert" / "keras" / "bert_tiny_en_uncased"
    assert not (kaggle_entry / "3.complete").exists()
    presets = json.loads(mlm("presets", "list", "--family", "bert", "--json").stdout)
    assert next(p for p in presets if p["name"] == "bert_tiny_en_uncased")["cached"] is False

    rest = mlm("cache", "clean", "hf://someone", "--converted", "--yes", "--json")
    assert sorted(json.loads(rest.stdout)["removed"]) == ["hf-tiny-0123abcd", "hf://someone/tiny-bert"]
    assert cache_listing(mlm, tmp_path)["entries"] == []
    assert (tmp_path / "keep-me" / "file").read_text() == "precious"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cache", "clean"], "say what to remove"),
        (["cache", "clean", "no_such_preset", "--yes"], "is not in the cache"),
        (["cache", "clean", "--all"], "needs confirmation"),  # stdin is not a terminal here
    ],
)
def test_cache_clean_mistakes_are_one_line(mlm, tmp_path, filled_cache, args, message):
    done = mlm(*args)
    assert done.code == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert len(cache_listing(mlm, tmp_path)["entries"]) == 4


def test_print_config_is_a_config_file_that_reads_back(mlm, tmp_path, corpus_files):
    config = tmp_path / "run.toml"
    config.write_text('batch-size = 7\nlearning-rate = 3e-4\ndata = ["a.txt", "b \\"quoted\\" ü.txt"]\n')
    done = mlm("train", "--config", str(config), "--preset", "bert_tiny_scratch", "--output", "out", "--max-steps",
               "9", "--print-config")
    assert done.code == 0, done.stderr
    printed = tomllib.loads(done.stdout)
    assert printed["batch-size"] == 7 and printed["learning-rate"] == 3e-4 and printed["max-steps"] == 9
    assert printed["data"] == ["a.txt", 'b "quoted" ü.txt'] and printed["preset"] == "bert_tiny_scratch"
    assert printed["sequence-length"] == 128 and printed["packing"] is True  # defaults are resolved too
    assert "# dropout = (not set)" in done.stdout
    assert not (tmp_path / "out").exists()  # printing trains nothing
    again_file = tmp_path / "printed.toml"
    again_file.write_text(done.stdout)
    again = mlm("train", "--config", str(again_file), "--print-config")
    assert again.code == 0 and again.stdout == done.stdout


def test_shell_completion_is_offered():
    done = run_mlm("--help")  # a real process: typer reads its completion settings from the environment at import
    assert "--install-completion" in done.stdout
    script = run_mlm("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert script.code == 0 and "complete" in script.stdout and "mlm" in script.stdout
