"""DeBERTaV3 <-> transformers' DeBERTa-v2 (DebertaV2ForMaskedLM), checked against transformers itself."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from mlm_cli.errors import PresetError
from mlm_cli.models import DebertaV3MaskedLM, MaskedLM
from mlm_cli.models.convert.safetensors_io import read_safetensors
from mlm_cli.models.convert.transformers_checkpoint import export_transformers
from tests.models.family_checks import logits, update_json
from tests.models.sentencepiece_fixtures import deberta_v3_proto
from tests.models.test_deberta_v3 import SENTENCES
from tests.support.corpus import sample_sentences

EXTRA_EMBEDDING_ROWS = 6  # real DeBERTaV3 checkpoints have more embedding rows than tokens (128100 for 128001)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spm") / "spm.model"
    path.write_bytes(deberta_v3_proto())
    return path


def varied_sentences(count: int = 200) -> list[str]:
    rng = random.Random(11)
    pieces = [
        "The", "quick", "BROWN", "fox", "naïve", "Café", "résumé", "Zürich", "東京", "北京大学", "日本語",
        "don't", "U.S.A.",
        "e-mail", "3.14", "1,000", "(brackets)", "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "#hashtag", "🙂", "—",
        "“quotes”",
        "ﬁne", "ＡＢＣ", "１２３", "İstanbul", "straße", "model", "train", "data", "  ", "\t", "\n",
    ]
    return SENTENCES + [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) + rng.choice(
        ["", ".", "!", "?"]) for _ in range(count)]


def write_checkpoint(path: Path, spm_model: Path, *, legacy: bool = True,
                     tokenizer_files: str = "save_pretrained") -> Path:
    """A random DebertaV2ForMaskedLM (DeBERTaV3 settings) saved by transformers, every parameter perturbed.

    tokenizer_files: "save_pretrained" (tokenizer.json, as transformers 5 writes it) or "hub" (spm.model, as on the
    Hub).
    """
    torch.manual_seed(3)
    staging = path.parent / f"{path.name}-tokenizer"
    staging.mkdir()
    shutil.copy(spm_model, staging / "spm.model")
    (staging / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DebertaV2Tokenizer"}))
    tokenizer = transformers.AutoTokenizer.from_pretrained(staging)
    config = transformers.DebertaV2Config(
        vocab_size=len(tokenizer) + EXTRA_EMBEDDING_ROWS, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, relative_attention=True, position_buckets=16,
        max_relative_positions=-1,
        pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False,
        type_vocab_size=0, layer_norm_eps=1e-7, legacy=legacy, pad_token_id=tokenizer.pad_token_id,
    )
    model = transformers.DebertaV2ForMaskedLM(config)
    with torch.no_grad():  # non-trivial norms, biases and relative embeddings, so a mapping mistake shows
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(path, safe_serialization=True)
    if tokenizer_files == "hub":
        shutil.copy(spm_model, path / "spm.model")
        (path / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False}))
    else:
        tokenizer.save_pretrained(path)
    return path


@pytest.fixture(params=["save_pretrained", "hub"])
def checkpoint(request, tmp_path, spm_model) -> Path:
    return write_checkpoint(tmp_path / "hf-deberta", spm_model, tokenizer_files=request.param)


def reference_logits(model, tokenizer, sentences, mask_positions: np.ndarray) -> tuple[np.ndarray, dict]:
    """transformers' masked-LM logits at `mask_positions`, and the batch (ours) the same tokens make."""
    encoded = tokenizer(sentences, padding="max_length", max_length=24, truncation=True, return_tensors="pt")
    with torch.no_grad():
        full = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits.numpy()
    batch = {
        "token_ids": encoded["input_ids"].numpy().astype("int32"),
        "padding_mask": encoded["attention_mask"].numpy().astype(bool),
        "mask_positions": mask_positions,
    }
    return np.take_along_axis(full, mask_positions[..., None].astype(np.int64), axis=1), batch


MASK_POSITIONS = np.array([[1, 2, 5, 9, 17, 22], [1, 2, 3, 4, 6, 7], [0, 1, 2, 3, 3, 3]], dtype="int32")
LOGIT_SENTENCES = [" ".join(["the model will train on data and then mask a token for the day"] * 3),
                   "Café naïve 東京 [MASK] x", "a word"]


def test_masked_lm_logits_equal_transformers(checkpoint):
    model = MaskedLM.from_preset(checkpoint)
    assert isinstance(model, DebertaV3MaskedLM)
    reference = transformers.AutoModelForMaskedLM.from_pretrained(checkpoint).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    expected, batch = reference_logits(reference, tokenizer, LOGIT_SENTENCES, MASK_POSITIONS)
    lengths = batch["padding_mask"].sum(axis=1)
    assert lengths[0] == 24 and lengths[2] < 24  # a full row (distances in log buckets) and padded ones
    assert np.abs(logits(model, batch) - expected).max() <= 1e-4


def test_tokenization_equals_transformers(checkpoint):
    model = MaskedLM.from_preset(checkpoint, load_weights=False)
    reference = transformers.AutoTokenizer.from_pretrained(checkpoint)
    tokenizer = model.preprocessor.tokenizer
    sentences = varied_sentences()
    expected = [reference(s, add_special_tokens=False)["input_ids"] for s in sentences]
    mismatches = [s for s, ids in zip(sentences, expected) if tokenizer(s).tolist() != ids]
    assert not mismatches, mismatches[:5]
    flat, offsets = tokenizer.encoder.encode_batch_flat(sentences)
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(sentences))] == expected
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert tokenizer.vocabulary_size() == len(reference)


def test_tokenizer_json_without_a_normalisation_table_tokenizes_as_transformers(tmp_path, spm_model):
    """A tokenizer.json normalising with NFC (as early transformers 5 releases wrote it) keeps NFC: ids as transformers
    gives them.
    """
    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model)
    data = json.loads((checkpoint / "tokenizer.json").read_text())
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"Regex": "\\s{2,}|[\\n\\r\\t]"}, "content": " "}, {"type": "NFC"},
        {"type": "Strip", "strip_left": False, "strip_right": True}]}
    (checkpoint / "tokenizer.json").write_text(json.dumps(data))
    reference = transformers.AutoTokenizer.from_pretrained(checkpoint)
    assert "Precompiled" not in reference.backend_tokenizer.to_str()
    tokenizer = MaskedLM.from_preset(checkpoint, load_weights=False).preprocessor.tokenizer
    sentences = varied_sentences()
    mismatches = [s for s in sentences if tokenizer(s).tolist() != reference(s, add_special_tokens=False)["input_ids"]]
    assert not mismatches, mismatches[:5]
    assert tokenizer("ﬁne").tolist() != MaskedLM.from_preset(write_checkpoint(tmp_path / "with-table", spm_model),
                                                             load_weights=False).preprocessor.tokenizer("ﬁne").tolist()


def test_round_trip_reproduces_every_weight(checkpoint, tmp_path):
    model = MaskedLM.from_preset(checkpoint)
    export_transformers(model, tmp_path / "back")
    original = read_safetensors(checkpoint / "model.safetensors")
    returned = read_safetensors(tmp_path / "back" / "model.safetensors")
    assert set(original) == set(returned)
    for name, array in original.items():
        np.testing.assert_array_equal(returned[name], array, err_msg=name)


def test_export_after_training_loads_in_transformers_with_equal_logits_and_ids(tmp_path, spm_model):
    import keras

    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model)
    model = MaskedLM.from_preset(checkpoint)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(sample_sentences(32), batch_size=8, epochs=1, verbose=0)
    export_transformers(model, tmp_path / "exported")
    exported = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    expected, batch = reference_logits(exported, tokenizer, LOGIT_SENTENCES, MASK_POSITIONS)
    before, _ = reference_logits(transformers.AutoModelForMaskedLM.from_pretrained(checkpoint).eval(), tokenizer,
                                 LOGIT_SENTENCES, MASK_POSITIONS)
    assert np.abs(expected - before).max() > 1e-3  # the fit moved the weights
    assert np.abs(logits(model, batch) - expected).max() <= 1e-4
    ours = model.preprocessor.tokenizer
    mismatches = [s for s in varied_sentences() if ours(s).tolist() != tokenizer(s, add_special_tokens=False)[
        "input_ids"]]
    assert not mismatches, mismatches[:5]


def test_keras_hub_style_model_exports_with_a_warning(tmp_path, spm_model, caplog):
    """A model tokenizing like keras_hub (sentencepiece) exports; ids agree on ordinary text, differences are named."""
    from mlm_cli.models import DebertaV3Backbone, DebertaV3MaskedLMPreprocessor, DebertaV3Tokenizer

    tokenizer = DebertaV3Tokenizer(proto=spm_model)
    backbone = DebertaV3Backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=16,
                                 intermediate_dim=32, max_sequence_length=32, bucket_size=8)
    model = DebertaV3MaskedLM(backbone, DebertaV3MaskedLMPreprocessor(tokenizer, sequence_length=24))
    with caplog.at_level(logging.WARNING, logger="mlm"):
        export_transformers(model, tmp_path / "exported")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "epsilon" in messages and "NFC" in messages
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    for sentence in sample_sentences(20) + ["Café naïve 東京 🙂", "tabs\tand\nnewlines", "repeated   spaces"]:
        assert tokenizer(sentence).tolist() == reference(sentence, add_special_tokens=False)["input_ids"], sentence
    exported = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported").eval()
    positions = np.array([[1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 3, 3]], dtype="int32")  # real tokens only
    expected, batch = reference_logits(exported, reference, ["the model will train on data", "a word"], positions)
    # Only the head's layer-norm epsilon differs (1e-5 here, 1e-7 there): large on this fresh head's tiny variances,
    # still close.
    assert np.abs(logits(model, batch) - expected).max() <= 0.02 * np.abs(expected).max()


def test_non_legacy_head_is_read(tmp_path, spm_model):
    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model, legacy=False)
    assert any(name.startswith("lm_predictions.") for name in read_safetensors(checkpoint / "model.safetensors"))
    model = MaskedLM.from_preset(checkpoint)
    reference = transformers.AutoModelForMaskedLM.from_pretrained(checkpoint).eval()
    expected, batch = reference_logits(reference, transformers.AutoTokenizer.from_pretrained(checkpoint),
                                       LOGIT_SENTENCES, MASK_POSITIONS)
    assert np.abs(logits(model, batch) - expected).max() <= 1e-4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"position_biased_input": True}, "position_biased_input"),
        ({"relative_attention": False}, "relative_attention"),
        ({"pos_att_type": ["c2p"]}, "pos_att_type"),
        ({"share_att_key": False}, "share_att_key"),
        ({"norm_rel_ebd": "none"}, "norm_rel_ebd"),
        ({"type_vocab_size": 2}, "type_vocab_size"),
        ({"conv_kernel_size": 3}, "conv_kernel_size"),
        ({"hidden_act": "relu"}, "hidden_act 'relu'"),
        ({"layer_norm_eps": 1e-5}, "layer_norm_eps"),
        ({"max_relative_positions": 16}, "max_relative_positions"),
        ({"position_buckets": -1}, "position_buckets"),
        ({"position_buckets": 10**9}, "bucket_size"),
    ],
)
def test_unsupported_configs_are_named(tmp_path, spm_model, change, message):
    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model)
    update_json(checkpoint / "config.json", change)
    with pytest.raises(PresetError, match=message):
        MaskedLM.from_preset(checkpoint)


@pytest.mark.parametrize("change", [{"pos_att_type": "p2c|c2p"}, {"max_relative_positions": 64},
                                    {"norm_rel_ebd": "Layer_Norm"}])
def test_equivalent_config_spellings_are_accepted(tmp_path, spm_model, change):
    """Hub configs write pos_att_type as "p2c|c2p"; max_relative_positions may repeat max_position_embeddings."""
    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model)
    update_json(checkpoint / "config.json", change)
    model = MaskedLM.from_preset(checkpoint)
    reference = transformers.AutoModelForMaskedLM.from_pretrained(checkpoint).eval()
    expected, batch = reference_logits(reference, transformers.AutoTokenizer.from_pretrained(checkpoint),
                                       LOGIT_SENTENCES, MASK_POSITIONS)
    assert np.abs(logits(model, batch) - expected).max() <= 1e-4


@pytest.mark.parametrize(("change", "message"), [({"do_lower_case": True}, "do_lower_case"),
                                                 ({"mask_token": "<mask>"}, "mask_token")])
def test_unsupported_tokenizer_settings_are_named(tmp_path, spm_model, change, message):
    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model)
    update_json(checkpoint / "tokenizer_config.json", change)
    with pytest.raises(PresetError, match=message):
        MaskedLM.from_preset(checkpoint)


def test_missing_or_corrupt_tokenizer_is_one_preset_error(tmp_path, spm_model):
    checkpoint = write_checkpoint(tmp_path / "hf-deberta", spm_model)
    tokenizer_json = checkpoint / "tokenizer.json"
    tokenizer_json.write_text('{"model": {"type": "WordPiece", "vocab": {}}}')
    with pytest.raises(PresetError, match="tokenizer.json"):
        MaskedLM.from_preset(checkpoint)
    tokenizer_json.unlink()
    with pytest.raises(PresetError, match="spm.model"):
        MaskedLM.from_preset(checkpoint)
