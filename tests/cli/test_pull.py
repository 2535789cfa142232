"""`mlm pull` and `mlm presets list` against kagglehub's and huggingface_hub's caches, offline."""

from __future__ import annotations

import json

from tests.support.hub_caches import put_in_hf_cache, put_in_kaggle_cache


def test_pull_hf_from_cache_offline(mlm, tiny_preset, tmp_path):
    snapshot = put_in_hf_cache(tiny_preset, tmp_path / "cache", "mlm-tests/tiny-bert")
    offline = {"HF_HUB_OFFLINE": "1"}
    pulled = mlm("pull", "hf://mlm-tests/tiny-bert", env=offline)
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout.strip() == str(snapshot)
    copy = tmp_path / "copy"
    pulled = mlm("pull", "hf://mlm-tests/tiny-bert", "--output", str(copy), env=offline)
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout.strip() == str(copy) and (copy / "model.weights.h5").is_file()
    again = mlm("pull", "hf://mlm-tests/tiny-bert", "--output", str(copy), env=offline)
    assert again.code == 2 and "--overwrite" in again.stderr

    missing = mlm("pull", "hf://mlm-tests/not-cached", env=offline)
    assert missing.code == 1 and "HF_HUB_OFFLINE" in missing.stderr and "Traceback" not in missing.stderr


def test_pull_checks_the_preset_loads(mlm, tiny_preset, tmp_path):
    broken = put_in_hf_cache(tiny_preset, tmp_path / "cache", "mlm-tests/broken")
    (broken / "tokenizer.json").unlink()
    (broken / "tokenizer.json").write_text("{not json")
    result = mlm("pull", "hf://mlm-tests/broken", env={"HF_HUB_OFFLINE": "1"})
    assert result.code == 2 and "tokenizer.json" in result.stderr


def test_builtin_preset_from_kaggle_cache(mlm, tiny_preset, tmp_path):
    handle = "kaggle://keras/bert/keras/bert_tiny_en_uncased/3"
    before = json.loads(mlm("presets", "list", "--json").stdout)
    assert not next(r for r in before if r["name"] == "bert_tiny_en_uncased")["cached"]
    expected = put_in_kaggle_cache(tiny_preset, tmp_path / "cache", handle)
    pulled = mlm("pull", "bert_tiny_en_uncased", env={"KAGGLE_API_ENDPOINT": "http://127.0.0.1:9"})
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout.strip() == str(expected)
    after = json.loads(mlm("presets", "list", "--json").stdout)
    assert next(r for r in after if r["name"] == "bert_tiny_en_uncased")["cached"]


def test_hub_links_may_not_leave_the_repo_storage(mlm, tiny_preset, tmp_path):
    snapshot = put_in_hf_cache(tiny_preset, tmp_path / "cache", "mlm-tests/escape")
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (snapshot / "tokenizer.json").unlink()
    (snapshot / "tokenizer.json").symlink_to(secret)
    result = mlm("pull", "hf://mlm-tests/escape", env={"HF_HUB_OFFLINE": "1"})
    assert result.code == 2 and "outside the preset directory" in result.stderr
