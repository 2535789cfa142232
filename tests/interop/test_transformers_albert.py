"""ALBERT and Hugging Face transformers: checkpoints load with transformers' logits and token ids, and export back."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from mlm_cli.errors import PresetError
from mlm_cli.models import AlbertBackbone, AlbertMaskedLM, AlbertMaskedLMPreprocessor, AlbertTokenizer, MaskedLM
from mlm_cli.models.convert.safetensors_io import read_safetensors
from mlm_cli.models.convert.transformers_checkpoint import export_transformers
from tests.models.family_checks import (
    assert_encode_batch_flat,
    logits,
    perturb_norms_biases_and_token_types,
    transformers_logits,
    update_json,
)
from tests.models.sentencepiece_fixtures import ALBERT_SENTENCES, albert_proto
from tests.support.corpus import sample_sentences

TOKENIZER_TEXTS = ALBERT_SENTENCES + [
    "Hello ``world''", "x [MASK] y", " [CLS]x", "naïve ÉCOLE ÀÁÂ", "a\u0301 Ǆ İ", "\u3000ideographic space",
]
# Text on which SentencePiece alone (keras_hub) and transformers' uncased-off, accents-kept tokenizer agree.
PLAIN_TEXTS = [t for t in TOKENIZER_TEXTS if not any(mark in t for mark in ("``", "''", "[CLS]", "[SEP]", "[MASK]",
                                                                            "<pad>", "<unk>"))]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def proto() -> bytes:
    return albert_proto()


def save_transformers_tokenizer(proto: bytes, path: Path, **settings) -> None:
    """transformers' AlbertTokenizer for this SentencePiece model, saved as transformers saves it (tokenizer.json)."""
    source = path.parent / f"{path.name}-spiece"
    source.mkdir(exist_ok=True)
    (source / "spiece.model").write_bytes(proto)
    transformers.AlbertTokenizer.from_pretrained(source, **settings).save_pretrained(path)


@pytest.fixture()
def hf_albert(proto, tmp_path) -> Path:
    """A random AlbertForMaskedLM (4 layers: 2 groups of 2 shared blocks) and its tokenizer, via save_pretrained."""
    torch.manual_seed(3)
    config = transformers.AlbertConfig(
        vocab_size=AlbertTokenizer(proto=proto).vocabulary_size(), embedding_size=8, hidden_size=16,
        num_hidden_layers=4,
        num_hidden_groups=2, inner_group_num=2, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
    )
    model = transformers.AlbertForMaskedLM(config)
    perturb_norms_biases_and_token_types(model)
    path = tmp_path / "hf-albert"
    model.save_pretrained(path, safe_serialization=True)
    save_transformers_tokenizer(proto, path)
    return path


def albert_logits(path: Path, x: dict) -> np.ndarray:
    """The logits of the AlbertForMaskedLM saved at `path`, at the masked positions of mlm batch `x` (segments
    included).
    """
    return transformers_logits(transformers.AlbertForMaskedLM.from_pretrained(path).eval(), x, segments=True)


def transformers_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


def test_checkpoint_loads_with_transformers_logits_and_token_ids(hf_albert):
    model = MaskedLM.from_preset(hf_albert)
    assert isinstance(model, AlbertMaskedLM)
    x, _, _ = model.preprocessor(["The Model will TRAIN on data", "a word of the day, naïve", "Café 12 ok!"])
    assert np.abs(logits(model, x) - albert_logits(hf_albert, x)).max() <= 1e-4
    reference = transformers.AutoTokenizer.from_pretrained(hf_albert)
    assert [ids.tolist() for ids in model.preprocessor.tokenizer(TOKENIZER_TEXTS)] == transformers_ids(reference,
                                                                                                       TOKENIZER_TEXTS)
    packed, _ = model.preprocessor.pack(("The Model", "will TRAIN"))
    expected = reference("The Model", "will TRAIN")["input_ids"]  # [CLS] A [SEP] B [SEP]
    assert packed["token_ids"][0, : len(expected)].tolist() == expected


@pytest.mark.parametrize("settings", [{}, {"do_lower_case": False}, {"keep_accents": True},
                                      {"do_lower_case": False, "keep_accents": True}])
@pytest.mark.parametrize("source", ["tokenizer.json", "spiece.model"])
def test_tokenizer_settings_and_files_convert_with_equal_ids(proto, hf_albert, settings, source):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (hf_albert / name).unlink(missing_ok=True)
    save_transformers_tokenizer(proto, hf_albert, **settings)
    if source == "spiece.model":
        (hf_albert / "tokenizer.json").unlink()
        (hf_albert / "spiece.model").write_bytes(proto)
    tokenizer = MaskedLM.from_preset(hf_albert, load_weights=False).preprocessor.tokenizer
    reference = transformers.AutoTokenizer.from_pretrained(hf_albert)
    assert [ids.tolist() for ids in tokenizer(TOKENIZER_TEXTS)] == transformers_ids(reference, TOKENIZER_TEXTS)
    assert_encode_batch_flat(tokenizer, TOKENIZER_TEXTS, transformers_ids(reference, TOKENIZER_TEXTS))
    # The model file kept for keras_hub reads [MASK] in raw text, as ALBERT's own SentencePiece models do.
    assert AlbertTokenizer(proto=tokenizer.proto)("a [MASK]").tolist()[-1] == tokenizer.mask_token_id


def test_export_round_trip_reproduces_every_weight(hf_albert, tmp_path):
    model = MaskedLM.from_preset(hf_albert)
    export_transformers(model, tmp_path / "back")
    original = read_safetensors(hf_albert / "model.safetensors")
    returned = read_safetensors(tmp_path / "back" / "model.safetensors")
    assert set(original) <= set(returned) <= set(original) | {"albert.pooler.weight", "albert.pooler.bias"}
    for name, array in original.items():
        np.testing.assert_array_equal(returned[name], array, err_msg=name)


def test_trained_model_exports_to_transformers_with_equal_logits_and_ids(hf_albert, tmp_path):
    import keras

    model = MaskedLM.from_preset(hf_albert)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, _, _ = model.preprocessor(["the model will train on data", "A word, naïve ÉCOLE"])
    before = logits(model, x)
    model.fit(sample_sentences(32), batch_size=8, epochs=1, verbose=0)
    assert np.abs(logits(model, x) - before).max() > 1e-3  # the fit moved the weights
    export_transformers(model, tmp_path / "exported")
    reloaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported")
    assert isinstance(reloaded, transformers.AlbertForMaskedLM)
    assert np.abs(logits(model, x) - albert_logits(tmp_path / "exported", x)).max() <= 1e-4
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    assert [ids.tolist() for ids in model.preprocessor.tokenizer(TOKENIZER_TEXTS)] == transformers_ids(reference,
                                                                                                       TOKENIZER_TEXTS)


def test_keras_hub_style_model_exports_with_warnings(proto, tmp_path, caplog):
    tokenizer = AlbertTokenizer(proto=proto)
    backbone = AlbertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, embedding_dim=8,
                              hidden_dim=16,
                              intermediate_dim=32, max_sequence_length=64)
    model = AlbertMaskedLM(backbone, preprocessor=AlbertMaskedLMPreprocessor(tokenizer, sequence_length=32,
                                                                             mask_selection_length=6))
    with caplog.at_level(logging.WARNING, logger="mlm"):
        export_transformers(model, tmp_path / "exported")
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "layer-norm epsilon" in messages and "special tokens" in messages
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    assert [ids.tolist() for ids in tokenizer(PLAIN_TEXTS)] == transformers_ids(reference, PLAIN_TEXTS)
    x, _, _ = model.preprocessor(["the model will train on data", "a word"])
    model.masked_lm_head.norm.epsilon = 1e-12  # the one numeric difference the warning names
    assert np.abs(logits(model, x) - albert_logits(tmp_path / "exported", x)).max() <= 1e-4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_act": "relu"}, "hidden_act 'relu'"),
        ({"layer_norm_eps": 1e-6}, "layer_norm_eps"),
        ({"num_hidden_groups": 3}, "not divisible"),
        ({"num_hidden_layers": 10**6}, "invalid ALBERT config"),
    ],
)
def test_unsupported_configs_are_named(hf_albert, change, message):
    update_json(hf_albert / "config.json", change)
    with pytest.raises(PresetError, match=message):
        MaskedLM.from_preset(hf_albert)


def test_missing_or_foreign_tokenizer_is_refused(hf_albert):
    settings = json.loads((hf_albert / "tokenizer_config.json").read_text())
    (hf_albert / "tokenizer_config.json").write_text(json.dumps({**settings, "mask_token": "<mask>"}))
    with pytest.raises(PresetError, match="mask_token"):
        MaskedLM.from_preset(hf_albert)
    (hf_albert / "tokenizer_config.json").write_text(json.dumps(settings))
    (hf_albert / "tokenizer.json").unlink()
    with pytest.raises(PresetError, match="spiece.model or tokenizer.json"):
        MaskedLM.from_preset(hf_albert)
    (hf_albert / "spiece.model").write_bytes(b"\x0a\x03not a model")
    with pytest.raises(PresetError, match="unusable ALBERT tokenizer"):
        MaskedLM.from_preset(hf_albert)
