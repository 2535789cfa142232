"""XLM-RoBERTa checkpoints move both ways between transformers and mlm: equal logits, equal token ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import torch
import transformers

from mlm_cli.errors import PresetError
from mlm_cli.models import MaskedLM, XLMRobertaBackbone, XLMRobertaMaskedLM, XLMRobertaMaskedLMPreprocessor, XLMRobertaTokenizer
from mlm_cli.models.convert.safetensors_io import read_safetensors
from mlm_cli.models.convert.transformers_checkpoint import export_transformers
from tests.interop.test_transformers_roberta import TEXTS, mlm_logits, transformers_logits
from tests.models.test_roberta import SENTENCES
from tests.models.test_xlm_roberta import tiny_spm


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def proto() -> bytes:
    return tiny_spm()


@pytest.fixture()
def hf_xlm_roberta(proto, tmp_path) -> Path:
    """A random XLMRobertaForMaskedLM with its SentencePiece model and the tokenizer files transformers writes for it."""
    torch.manual_seed(4)
    path = tmp_path / "hf-xlm-roberta"
    path.mkdir()
    (path / "sentencepiece.bpe.model").write_bytes(proto)
    vocabulary_size = XLMRobertaTokenizer(proto=proto).vocabulary_size()
    config = transformers.XLMRobertaConfig(vocab_size=vocabulary_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                           intermediate_size=64, max_position_embeddings=66, layer_norm_eps=1e-5, type_vocab_size=1)
    model = transformers.XLMRobertaForMaskedLM(config)
    with torch.no_grad():  # non-trivial head, norm and token-type parameters, so a mapping mistake shows
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or "token_type" in name or name.endswith("bias"):
                parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(path, safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(path).save_pretrained(path)  # converted from the .model file, as on the Hub
    return path


def test_masked_lm_logits_equal_transformers(hf_xlm_roberta):
    model = MaskedLM.from_preset(hf_xlm_roberta)
    assert isinstance(model, XLMRobertaMaskedLM) and model.backbone.max_sequence_length == 64
    reference = transformers.XLMRobertaForMaskedLM.from_pretrained(hf_xlm_roberta).eval()
    x, _, _ = model.preprocessor(TEXTS)
    assert not x["padding_mask"].all()
    assert np.abs(mlm_logits(model, x) - transformers_logits(reference, x)).max() <= 1e-4


def test_tokenization_equals_transformers(hf_xlm_roberta):
    tokenizer = MaskedLM.from_preset(hf_xlm_roberta, load_weights=False).preprocessor.tokenizer
    reference = transformers.AutoTokenizer.from_pretrained(hf_xlm_roberta)
    assert tokenizer.normalization == "transformers" and tokenizer.vocabulary_size() == len(reference)
    for text in SENTENCES + TEXTS:
        assert tokenizer(text).tolist() == reference(text, add_special_tokens=False)["input_ids"], repr(text)
    packed, _ = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=32).pack((["a word of the day"], ["the model"]))
    assert packed["token_ids"][0].tolist() == reference("a word of the day", "the model", padding="max_length", max_length=32)["input_ids"]


def test_export_loads_in_transformers_with_equal_logits_and_ids(hf_xlm_roberta, tmp_path):
    model = MaskedLM.from_preset(hf_xlm_roberta)
    export_transformers(model, tmp_path / "exported")
    reference = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    assert type(reference).__name__ == "XLMRobertaForMaskedLM" and type(tokenizer).__name__ == "XLMRobertaTokenizer"
    x, _, _ = model.preprocessor(TEXTS)
    assert np.abs(mlm_logits(model, x) - transformers_logits(reference, x)).max() <= 1e-4
    for text in SENTENCES + TEXTS:
        assert model.preprocessor.tokenizer(text).tolist() == tokenizer(text, add_special_tokens=False)["input_ids"], repr(text)
    assert tokenizer.mask_token_id == model.preprocessor.tokenizer.mask_token_id
    returned = MaskedLM.from_preset(tmp_path / "exported")
    assert np.abs(mlm_logits(returned, x) - mlm_logits(model, x)).max() <= 1e-5


def test_round_trip_keeps_weights_with_token_types_folded_into_positions(hf_xlm_roberta, tmp_path):
    export_transformers(MaskedLM.from_preset(hf_xlm_roberta), tmp_path / "back")
    original = read_safetensors(hf_xlm_roberta / "model.safetensors")
    returned = read_safetensors(tmp_path / "back" / "model.safetensors")
    positions, token_type = "roberta.embeddings.position_embeddings.weight", "roberta.embeddings.token_type_embeddings.weight"
    assert set(returned) == set(original) - {"lm_head.decoder.weight", "lm_head.decoder.bias"}
    for name in set(returned) - {positions, token_type}:
        np.testing.assert_array_equal(returned[name], original[name], err_msg=name)
    np.testing.assert_allclose(returned[positions][2:], original[positions][2:] + original[token_type][0], atol=1e-6)
    assert (tmp_path / "back" / "sentencepiece.bpe.model").read_bytes() == (hf_xlm_roberta / "sentencepiece.bpe.model").read_bytes()


def test_keras_hub_tokenization_exports_with_equal_ids_on_ordinary_text(proto, tmp_path):
    """transformers always matches special-token strings in text; everything else tokenizes the same."""
    tokenizer = XLMRobertaTokenizer(proto=proto)
    backbone = XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=16,
                                  intermediate_dim=32, max_sequence_length=32)
    model = XLMRobertaMaskedLM(backbone, preprocessor=XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=4))
    export_transformers(model, tmp_path / "exported")
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    for text in [t for t in SENTENCES + TEXTS if "<" not in t]:
        assert tokenizer(text).tolist() == reference(text, add_special_tokens=False)["input_ids"], repr(text)
    hf_model = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported").eval()
    x, _, _ = model.preprocessor(TEXTS)
    assert np.abs(mlm_logits(model, x) - transformers_logits(hf_model, x)).max() <= 1e-4


def test_unsupported_checkpoints_are_refused(hf_xlm_roberta):
    config_path = hf_xlm_roberta / "config.json"
    original = config_path.read_text()
    config_path.write_text(json.dumps({**json.loads(original), "layer_norm_eps": 1e-12}))
    with pytest.raises(PresetError, match="unsupported XLM-RoBERTa variant: layer_norm_eps"):
        MaskedLM.from_preset(hf_xlm_roberta)
    config_path.write_text(original)
    (hf_xlm_roberta / "sentencepiece.bpe.model").unlink()
    with pytest.raises(PresetError, match="sentencepiece.bpe.model"):
        MaskedLM.from_preset(hf_xlm_roberta)
