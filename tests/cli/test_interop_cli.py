"""transformers checkpoints through the real `mlm` commands: train from one, export for transformers, pull from the Hub
cache.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import transformers

from tests.support.hub_caches import put_in_hf_cache


@pytest.mark.slow
def test_train_from_transformers_then_export_for_transformers(mlm, mlm_in_process, tiny_transformers_mlm, corpus_files,
                                                              tmp_path):
    import keras

    from mlm_cli.models import MaskedLM

    run = tmp_path / "run"
    trained = mlm("train", "--preset", str(tiny_transformers_mlm), "--data", str(corpus_files / "train.txt"),
                  "--output", str(run),
                  "--max-steps", "4", "--batch-size", "8", "--sequence-length", "32", "--precision", "float32",
                  "--learning-rate", "1e-3")
    assert trained.code == 0, trained.stderr
    exported = tmp_path / "hf"
    result = mlm("export", "--preset", str(run), "--format", "hf", "--output", str(exported))
    assert result.code == 0, result.stderr
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} <= {
        p.name for p in exported.iterdir()}

    ours = MaskedLM.from_preset(run)
    reference = transformers.AutoModelForMaskedLM.from_pretrained(exported).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(exported)
    sentences = ["the model will train on data", "A Word, of the DAY!", "Café [MASK] naïve"]
    for sentence in sentences:
        assert list(ours.preprocessor.tokenizer.encoder.encode(sentence)) == tokenizer(sentence,
            add_special_tokens=False)["input_ids"]
    x, _, _ = ours.preprocessor(sentences)
    with torch.no_grad():
        logits = reference(
            input_ids=torch.tensor(np.asarray(x["token_ids"]), dtype=torch.long),
            token_type_ids=torch.tensor(np.asarray(x["segment_ids"]), dtype=torch.long),
            attention_mask=torch.tensor(np.asarray(x["padding_mask"]), dtype=torch.long),
        ).logits.numpy()
    expected = np.take_along_axis(logits, np.asarray(x["mask_positions"])[..., None].astype(np.int64), axis=1)
    assert np.abs(keras.ops.convert_to_numpy(ours(x)) - expected).max() <= 1e-4

    refused = mlm_in_process("export", "--preset", str(run), "--format", "onnx", "--output", str(tmp_path / "x"))
    assert refused.code == 2 and "hf" in refused.stderr


def test_pull_converts_a_transformers_repo_once(mlm, tiny_transformers_mlm, tmp_path):
    snapshot = put_in_hf_cache(tiny_transformers_mlm, tmp_path / "cache", "mlm-tests/hf-bert")
    offline = {"HF_HUB_OFFLINE": "1"}
    first = mlm("pull", "hf://mlm-tests/hf-bert", env=offline)
    assert first.code == 0, first.stderr
    converted = first.stdout.strip()
    assert converted.startswith(str(tmp_path / "cache" / "converted")) and converted != str(snapshot)
    config = json.loads((tmp_path / "cache" / "converted").joinpath(converted.rsplit("/", 1)[1],
                                                                    "config.json").read_text())
    assert config["class_name"] == "BertBackbone"
    second = mlm("pull", "hf://mlm-tests/hf-bert", env=offline)
    assert second.stdout.strip() == converted
    shutil.rmtree(tmp_path / "cache" / "converted")
    assert not (tmp_path / "cache" / "converted").exists()
    assert mlm("pull", "hf://mlm-tests/hf-bert", env=offline).stdout.strip() == converted  # same key, converted again
