"""transformers `distilbert` checkpoints load in mlm and export back, checked against transformers itself."""

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
from mlm_cli.models import DistilBertMaskedLM, MaskedLM
from mlm_cli.models.convert.safetensors_io import read_safetensors
from mlm_cli.models.convert.transformers_checkpoint import export_transformers
from tests.models.family_checks import (
    assert_encode_batch_flat,
    assert_mlm_reads_transformers_checkpoint,
    assert_transformers_reads_export,
    perturb_weights,
    update_json,
)
from tests.support.corpus import tiny_vocabulary

EXTRA_TOKENS = ["café", "naïve", "é", "##é", "東", "京", "日", "本", "語", "🙂", "straße", "zurich", "##ich"]
PIECES = [
    "The", "quick", "BROWN", "fox", "naïve", "Café", "résumé", "Zürich", "東京", "日本語", "don't", "U.S.A.", "e-mail",
    "3.14", "1,000", "(brackets)", "[CLS]", "[MASK]", "[SEP]", "[PAD]", "#hashtag", "🙂", "—", "“quotes”", "straße",
    "ﬁne",
    "model", "trained", "\t", "\n", "  ",
]


def vocabulary() -> list[str]:
    base = tiny_vocabulary()
    return base + [token for token in EXTRA_TOKENS if token not in base]


def varied_sentences(count: int = 200) -> list[str]:
    rng = random.Random(5)
    texts = [" ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12))) + rng.choice(
        ["", ".", "!", "?"]) for _ in range(count)]
    return texts + ["", "   ", "a[MASK]b", "x" * 120]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


def save_checkpoint(model, path: Path) -> Path:
    """A transformers model plus a DistilBERT WordPiece tokenizer, both written with save_pretrained."""
    model.save_pretrained(path, safe_serialization=True)
    tokenizer = transformers.DistilBertTokenizer(vocab={token: index for index, token in enumerate(vocabulary())},
                                                 do_lower_case=True)
    tokenizer.save_pretrained(path)
    return path


def random_config(**changes) -> transformers.DistilBertConfig:
    return transformers.DistilBertConfig(vocab_size=len(vocabulary()), dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                         max_position_embeddings=64, **changes)


@pytest.fixture()
def tiny_distilbert(tmp_path) -> Path:
    """A random DistilBertForMaskedLM, every parameter perturbed well beyond its initialisation.

    Activations of order one make a mapping mistake or a wrong activation or epsilon show in the logits.
    """
    torch.manual_seed(3)
    model = transformers.DistilBertForMaskedLM(random_config())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return save_checkpoint(model, tmp_path / "hf-distilbert")


def test_masked_lm_logits_equal_transformers(tiny_distilbert):
    texts = ["the model will train on data", "a word of the day, naïve café", "東京"]
    model, x = assert_mlm_reads_transformers_checkpoint(tiny_distilbert, DistilBertMaskedLM,
                                                        transformers.DistilBertForMaskedLM, texts)
    assert model.backbone.head_layer_norm_epsilon == 1e-12
    assert set(x) == {"token_ids", "padding_mask", "mask_positions"}


def test_tokenization_equals_transformers(tiny_distilbert):
    tokenizer = MaskedLM.from_preset(tiny_distilbert, load_weights=False).preprocessor.tokenizer
    reference = transformers.AutoTokenizer.from_pretrained(tiny_distilbert)
    texts = varied_sentences()
    expected = [reference(text, add_special_tokens=False)["input_ids"] for text in texts]
    assert [tokenizer(text).tolist() for text in texts] == expected
    assert_encode_batch_flat(tokenizer, texts, expected)
    assert sum(ids.count(tokenizer.token_to_id("[UNK]")) for ids in expected) > 0
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)


def test_export_loads_in_transformers_auto_classes_with_equal_logits_and_ids(tiny_distilbert, tmp_path):
    model = MaskedLM.from_preset(tiny_distilbert)
    perturb_weights(model.weights, seed=0,
                    stddev=0.05)  # weights no longer the checkpoint's: the export is about mlm's writer
    export_transformers(model, tmp_path / "exported")
    texts = ["the model will train on data", "a word of the day, naïve café"]
    class_names = ("DistilBertForMaskedLM", "DistilBertTokenizer")
    tokenizer = assert_transformers_reads_export(model, tmp_path / "exported", texts, varied_sentences(60), class_names)
    assert tokenizer("the model")["input_ids"][0] == model.preprocessor.tokenizer.cls_token_id


def test_round_trip_reproduces_every_weight(tiny_distilbert, tmp_path):
    export_transformers(MaskedLM.from_preset(tiny_distilbert), tmp_path / "back")
    original = read_safetensors(tiny_distilbert / "model.safetensors")
    returned = read_safetensors(tmp_path / "back" / "model.safetensors")
    original.pop("vocab_projector.weight", None)  # tied to the word embeddings
    assert set(returned) == set(original)
    for name, array in original.items():
        np.testing.assert_array_equal(returned[name], array, err_msg=name)
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert config["model_type"] == "distilbert" and config["sinusoidal_pos_embds"] is False


def test_export_of_keras_hub_numerics_warns(tmp_path, caplog):
    from mlm_cli.models import DistilBertBackbone, DistilBertMaskedLMPreprocessor, DistilBertTokenizer

    tokenizer = DistilBertTokenizer(vocabulary=vocabulary(), lowercase=True)
    backbone = DistilBertBackbone(vocabulary_size=len(vocabulary()), num_layers=1, num_heads=2, hidden_dim=16,
                                  intermediate_dim=32)
    model = DistilBertMaskedLM(backbone, preprocessor=DistilBertMaskedLMPreprocessor(tokenizer, sequence_length=16))
    with caplog.at_level(logging.WARNING, logger="mlm"):
        export_transformers(model, tmp_path / "exported")
    assert any("epsilon" in record.getMessage() for record in caplog.records)
    assert transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exported").config.model_type == "distilbert"


def test_backbone_only_checkpoint_loads_with_a_fresh_head(tmp_path, caplog):
    import keras

    torch.manual_seed(4)
    reference = transformers.DistilBertModel(random_config()).eval()
    path = save_checkpoint(reference, tmp_path / "hf-backbone")
    with caplog.at_level(logging.WARNING, logger="mlm"):
        model = MaskedLM.from_preset(path)
    assert sum("no masked-LM head" in record.getMessage() for record in caplog.records) == 1
    x, _, _ = model.preprocessor(["the model will train on data", "a word"])
    with torch.no_grad():
        expected = reference(input_ids=torch.tensor(x["token_ids"], dtype=torch.long),
                             attention_mask=torch.tensor(x["padding_mask"], dtype=torch.long)).last_hidden_state.numpy()
    ours = keras.ops.convert_to_numpy(model.backbone(x)["sequence_output"])
    assert np.abs(ours - expected)[x["padding_mask"]].max() <= 1e-4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sinusoidal_pos_embds": True}, "sinusoidal_pos_embds"),
        ({"activation": "relu"}, "activation 'relu'"),
        ({"n_heads": 5}, "num_heads"),
        ({"vocab_size": 10**12}, "vocabulary_size"),
        ({"hidden_dim": 48}, "ffn.lin1.weight' has shape \\(64, 32\\), which does not fit the config"),
    ],
)
def test_unsupported_configs_are_one_clear_error(tiny_distilbert, change, message):
    update_json(tiny_distilbert / "config.json", change)
    with pytest.raises(PresetError, match=message):
        MaskedLM.from_preset(tiny_distilbert)


def test_untied_projection_is_refused(tmp_path):
    torch.manual_seed(5)
    model = transformers.DistilBertForMaskedLM(random_config(tie_word_embeddings=False))
    with torch.no_grad():
        model.vocab_projector.weight.add_(1.0)
    path = save_checkpoint(model, tmp_path / "untied")
    with pytest.raises(PresetError, match="vocab_projector is not tied"):
        MaskedLM.from_preset(path)
