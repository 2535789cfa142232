"""Preset handles: the built-in table, suggestions, and resolution through kagglehub's cache offline."""

from __future__ import annotations

import pytest

from mlm_cli import hub
from mlm_cli.errors import BadInputError, MlmError
from tests.support.hub_caches import put_in_kaggle_cache

pytestmark = pytest.mark.run_once

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: every request fails at once


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))
    # mlm sets KAGGLEHUB_CACHE for kagglehub. Set, then delete: monkeypatch records the original value (often none)
    # only when it changes one, and teardown must remove what mlm set, or later tests' subprocesses inherit it.
    monkeypatch.setenv("KAGGLEHUB_CACHE", "")
    monkeypatch.delenv("KAGGLEHUB_CACHE")
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", UNREACHABLE)
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    return tmp_path / "cache"


def test_builtin_table_is_consistent():
    from mlm_cli.models.preset.registry import FAMILIES

    presets = hub.builtin_presets()
    assert {"bert_base_en", "bert_tiny_en_uncased", "bert_base_multi", "bert_tiny_scratch",
            "bert_base_scratch"} <= set(presets)
    for info in presets.values():
        family = FAMILIES[info.family]  # every row names a registered family and its masked-LM class
        assert info.task == family.masked_lm and info.parameters > 0 and info.description
        if info.handle:
            assert f"/{info.name}/" in info.handle
        if info.scratch:
            assert info.handle is None and info.config["num_layers"] >= 1
        else:
            hub.parse_kaggle_handle(info.handle)  # every handle is well formed and versioned
            assert hub.parse_kaggle_handle(info.handle).version is not None


def test_parameter_counts_match_the_architecture():
    """The table's counts equal what the backbone really builds (keras_hub counts backbones the same way)."""
    from mlm_cli.models import BertBackbone

    presets = hub.builtin_presets()
    scratch = presets["bert_tiny_scratch"].config
    sizes = {k: scratch[k] for k in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim",
                                     "max_sequence_length")}
    backbone = BertBackbone(vocabulary_size=scratch["vocabulary_size"], **sizes)
    assert backbone.count_params() == presets["bert_tiny_scratch"].parameters == presets[
        "bert_tiny_en_uncased"].parameters


def test_class_preset_listings():
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertTokenizer, MaskedLM

    assert "bert_base_en_uncased" in MaskedLM.presets
    bert_presets = {name for name, info in hub.builtin_presets().items() if info.family == "bert" and not info.scratch}
    assert set(BertMaskedLM.presets) == set(BertBackbone.presets) == set(BertTokenizer.presets) == bert_presets
    assert len(MaskedLM.presets) == 61
    assert "roberta_base_en" in MaskedLM.presets and "roberta_base_en" not in BertMaskedLM.presets
    assert not any(name.endswith("_scratch") for name in MaskedLM.presets)
    assert MaskedLM.presets["bert_tiny_en_uncased"]["params"] == 4385920


def test_unknown_names_get_suggestions():
    with pytest.raises(BadInputError, match="bert_tiny_en_uncased") as caught:
        hub.resolve("bert_tiny_en")
    assert "unknown preset" in str(caught.value)
    with pytest.raises(BadInputError, match="does not exist"):
        hub.resolve("./no/such/dir")
    with pytest.raises(BadInputError, match="malformed Kaggle handle"):
        hub.resolve("kaggle://keras/bert")
    with pytest.raises(BadInputError, match="unsupported preset handle"):
        hub.resolve("s3://bucket/model")
    with pytest.raises(BadInputError, match="from-scratch"):
        hub.resolve("bert_small_scratch")


def test_builtin_name_resolves_from_cache_offline(isolated_cache, tiny_model_preset):
    info = hub.builtin_presets()["bert_tiny_en_uncased"]
    assert not hub.is_cached("bert_tiny_en_uncased")
    expected = put_in_kaggle_cache(tiny_model_preset, isolated_cache, info.handle)
    assert hub.is_cached("bert_tiny_en_uncased")
    assert hub.resolve("bert_tiny_en_uncased") == expected
    assert hub.resolve(info.handle) == expected

    from mlm_cli.models import MaskedLM

    model = MaskedLM.from_preset("bert_tiny_en_uncased")
    assert model.backbone.num_layers == 2


def test_kagglehub_itself_finds_our_cache_layout(isolated_cache, tiny_model_preset, monkeypatch):
    """Bypass mlm's own cache check: kagglehub must find the same files without touching the network."""
    handle = "kaggle://keras/bert/keras/bert_tiny_en_uncased/3"
    expected = put_in_kaggle_cache(tiny_model_preset, isolated_cache, handle)
    monkeypatch.setattr(hub.KaggleHandle, "cached_path", lambda self: None)
    assert hub.resolve(handle).resolve() == expected.resolve()


def test_kaggle_download_failure_is_one_clear_error(isolated_cache):
    with pytest.raises(MlmError) as caught:
        hub.resolve("kaggle://keras/bert/keras/bert_tiny_en_uncased/3", progress=False)
    assert not isinstance(caught.value, BadInputError)  # a runtime failure (exit 1), not bad input
    assert "bert_tiny_en_uncased" in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def tiny_model_preset(tmp_path_factory):
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer
    from tests.support.corpus import tiny_vocabulary

    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=16, mask_selection_length=4)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=16,
                            intermediate_dim=32, max_sequence_length=32)
    path = tmp_path_factory.mktemp("hub") / "tiny"
    BertMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(path)
    return path
