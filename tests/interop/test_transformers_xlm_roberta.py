"""XLM-RoBERTa checkpoints move both ways between transformers and mlm: equal logits, equal token ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from mlm_cli.errors import PresetError
from mlm_cli.models import (
    MaskedLM,
    XLMRobertaBackbone,
    XLMRobertaMaskedLM,
    XLMRobertaMaskedLMPreprocessor,
    XLMRobertaTokenizer,
)
from mlm_cli.models.convert.transformers_checkpoint import export_transformers
from tests.interop.test_transformers_roberta import CONFIG_SIZES, TEXTS, assert_export_folds_token_types_into_positions
from tests.models.family_checks import (
    assert_mlm_reads_transformers_checkpoint,
    assert_transformers_reads_export,
    logits,
    perturb_norms_biases_and_token_types,
    text_batch,
    transformers_logits,
    update_json,
)
from tests.models.sentencepiece_fixtures import xlm_roberta_proto
from tests.models.test_roberta import SENTENCES


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def proto() -> bytes:
    return xlm_roberta_proto(SENTENCES)


@pytest.fixture()
def hf_xlm_roberta(proto, tmp_path) -> Path:
    """A random XLMRobertaForMaskedLM with its SentencePiece model and the tokenizer files transformers writes."""
    torch.manual_seed(4)
    path = tmp_path / "hf-xlm-roberta"
    path.mkdir()
    (path / "sentencepiece.bpe.model").write_bytes(proto)
    vocabulary_size = XLMRobertaTokenizer(proto=proto).vocabulary_size()
    model = transformers.XLMRobertaForMaskedLM(transformers.XLMRobertaConfig(vocab_size=vocabulary_size,
                                                                             **CONFIG_SIZES))
    perturb_norms_biases_and_token_types(model)
    model.save_pretrained(path, safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(path).save_pretrained(
        path)  # converted from the .model file, as on the Hub
    return path


def test_masked_lm_logits_equal_transformers(hf_xlm_roberta):
    model, x = assert_mlm_reads_transformers_checkpoint(hf_xlm_roberta, XLMRobertaMaskedLM,
                                                        transformers.XLMRobertaForMaskedLM, TEXTS)
    assert model.backbone.max_sequence_length == 64 and not x["padding_mask"].all()  # the batch has padding


def test_tokenization_equals_transformers(hf_xlm_roberta):
    tokenizer = MaskedLM.from_preset(hf_xlm_roberta, load_weights=False).preprocessor.tokenizer
    reference = transformers.AutoTokenizer.from_pretrained(hf_xlm_roberta)
    assert tokenizer.normalization == "transformers" and tokenizer.vocabulary_size() == len(reference)
    for text in SENTENCES + TEXTS:
        assert tokenizer(text).tolist() == reference(text, add_special_tokens=False)["input_ids"], repr(text)
    packed, _ = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=32).pack(
        (["a word of the day"], ["the model"]))
    assert packed["token_ids"][0].tolist() == reference("a word of the day", "the model", padding="max_length",
                                                        max_length=32)["input_ids"]


def test_export_loads_in_transformers_with_equal_logits_and_ids(hf_xlm_roberta, tmp_path):
    model = MaskedLM.from_preset(hf_xlm_roberta)
    export_transformers(model, tmp_path / "exported")
    class_names = ("XLMRobertaForMaskedLM", "XLMRobertaTokenizer")
    tokenizer = assert_transformers_reads_export(model, tmp_path / "exported", TEXTS, SENTENCES + TEXTS, class_names)
    assert tokenizer.mask_token_id == model.preprocessor.tokenizer.mask_token_id
    x, _, _ = model.preprocessor(TEXTS)
    returned = MaskedLM.from_preset(tmp_path / "exported")
    assert np.abs(logits(returned, x) - logits(model, x)).max() <= 1e-5


def test_round_trip_keeps_weights_with_token_types_folded_into_positions(hf_xlm_roberta, tmp_path):
    export_transformers(MaskedLM.from_preset(hf_xlm_roberta), tmp_path / "back")
    assert_export_folds_token_types_into_positions(hf_xlm_roberta, tmp_path / "back")
    assert (tmp_path / "back" / "sentencepiece.bpe.model").read_bytes() == (
        hf_xlm_roberta / "sentencepiece.bpe.model").read_bytes()


def test_keras_hub_tokenization_exports_with_equal_ids_on_ordinary_text(proto, tmp_path):
    """transformers always matches special-token strings in text; everything else tokenizes the same."""
    tokenizer = XLMRobertaTokenizer(proto=proto)
    backbone = XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=16,
                                  intermediate_dim=32, max_sequence_length=32)
    model = XLMRobertaMaskedLM(backbone, preprocessor=XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=24,
                                                                                     mask_selection_length=4))
    export_transformers(model, tmp_path / "exported")
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    for text in [t for t in SENTENCES + TEXTS if "<" not in t]:
        assert tokenizer(text).tolist() == reference(text, add_special_tokens=False)["input_ids"], repr(text)
    hf_model = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported").eval()
    x = text_batch(model, TEXTS)
    assert np.abs(logits(model, x) - transformers_logits(hf_model, x)).max() <= 1e-4


def test_unsupported_checkpoints_are_refused(hf_xlm_roberta):
    config_path = hf_xlm_roberta / "config.json"
    original = config_path.read_text()
    update_json(config_path, {"layer_norm_eps": 1e-12})
    with pytest.raises(PresetError, match="unsupported XLM-RoBERTa variant: layer_norm_eps"):
        MaskedLM.from_preset(hf_xlm_roberta)
    config_path.write_text(original)
    (hf_xlm_roberta / "sentencepiece.bpe.model").unlink()
    with pytest.raises(PresetError, match="sentencepiece.bpe.model"):
        MaskedLM.from_preset(hf_xlm_roberta)
