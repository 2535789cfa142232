"""Shared fixtures: tiny vocabularies and presets, and the active Keras backend."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from mlm_cli.seeding import set_seed
from tests.family_sizes import TINY_SIZES
from tests.support.corpus import tiny_vocabulary


@pytest.fixture(scope="session")
def backend() -> str:
    import keras

    return keras.backend.backend()


@pytest.fixture(scope="session")
def keras_hub_preset(tmp_path_factory):
    """A tiny random BertMaskedLM saved by keras-hub (the reference implementation)."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    set_seed(7)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(tiny_vocabulary()), **TINY_SIZES["bert"])
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor)
    # Random non-zero head weights, so that a head that fails to load is noticed.
    for variable in model.masked_lm_head.weights:
        variable.assign(keras.random.normal(variable.shape, stddev=0.5, seed=3))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_bert"
    model.save_to_preset(str(path))
    return path


@pytest.fixture()
def tiny_model():
    """A freshly initialised tiny mlm BertMaskedLM with a preprocessor."""
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer

    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6, seed=1)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **TINY_SIZES["bert"])
    return BertMaskedLM(backbone, preprocessor=preprocessor)


@pytest.fixture()
def tiny_transformers_mlm(tmp_path) -> Path:
    """A random BertForMaskedLM written by transformers (safetensors), with a WordPiece vocabulary."""
    import json

    import torch
    import transformers

    torch.manual_seed(3)
    vocabulary = tiny_vocabulary()
    config = transformers.BertConfig(vocab_size=len(vocabulary), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertForMaskedLM(config)
    with torch.no_grad():  # non-trivial head and norm parameters, so a mapping mistake shows
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                parameter.add_(torch.randn_like(parameter) * 0.1)
    path = tmp_path / "hf-tiny"
    model.save_pretrained(path, safe_serialization=True)
    (path / "vocab.txt").write_text("".join(t + "\n" for t in vocabulary), encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}))
    return path


DEFAULT_TEST_BACKEND = "torch"  # the pass in which tests marked `run_once` run


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "run_once: needs no Keras backend (numpy, tokenizers, file formats), picks its own (a subprocess's), or repeats"
        " on backend-free code what a sibling test already checks on both; runs only in the torch pass",
    )
    config.addinivalue_line("markers",
        "jax_pass: drives jax-only features (device meshes, several processes) in subprocesses; runs only in the jax "
        "pass")
    config.addinivalue_line(
        "markers",
        "slow: takes many seconds (end-to-end training runs, kill-and-resume runs, conversions of real checkpoints);"
        " CI runs it, `pytest -m 'not slow'` leaves it out for a quick loop while developing",
    )


def pytest_collection_modifyitems(config, items):
    """CI runs the suite once per backend; tests that never touch a backend run in one of those passes."""
    active = os.environ.get("KERAS_BACKEND")
    skip_once = pytest.mark.skip(reason=f"run_once: runs in the {DEFAULT_TEST_BACKEND} pass")
    skip_jax = pytest.mark.skip(reason="jax_pass: runs in the jax pass")
    for item in items:
        if item.get_closest_marker("run_once") and active != DEFAULT_TEST_BACKEND:
            item.add_marker(skip_once)
        if item.get_closest_marker("jax_pass") and active != "jax":
            item.add_marker(skip_jax)
