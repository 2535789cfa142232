"""Run the real `mlm` entry point, in a subprocess or in-process, on the backend under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import UNREACHABLE, Result, run_mlm, run_mlm_in_process
from tests.support.corpus import sample_sentences, tiny_vocabulary


def cli_environment(tmp_path: Path, backend: str) -> dict[str, str]:
    """An isolated cache, the session's backend, and Kaggle/Hub endpoints that fail fast."""
    return {
        "MLM_CACHE_DIR": str(tmp_path / "cache"),
        "KERAS_BACKEND": backend,
        "KAGGLE_API_ENDPOINT": UNREACHABLE,
        "HF_ENDPOINT": UNREACHABLE,
    }


@pytest.fixture()
def mlm(tmp_path, backend):
    """Call `mlm ...` in a subprocess with `cli_environment`.

    Nothing in the tests may reach the network, whether or not the machine has one.
    """

    def call(*args: str, **kwargs) -> Result:
        env = {**cli_environment(tmp_path, backend), **kwargs.pop("env", {})}
        return run_mlm(*args, env=env, **kwargs)

    return call


@pytest.fixture()
def mlm_in_process(tmp_path, backend):
    """Call `mlm ...` in this process through the real entry point `main(argv)`, with `cli_environment`.

    For usage errors and bad input: the same exit code, `error:` line and stdout as `mlm`, without starting Python.
    """

    def call(*args: str, cwd: Path | None = None, env: dict | None = None) -> Result:
        return run_mlm_in_process(*args, cwd=cwd, env={**cli_environment(tmp_path, backend), **(env or {})})

    return call


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory):
    """A small text corpus and the same documents as JSONL."""
    import json

    root = tmp_path_factory.mktemp("corpus")
    documents = sample_sentences(400, seed=1)
    (root / "train.txt").write_text("\n".join(documents[:350]) + "\n", encoding="utf-8")
    (root / "heldout.txt").write_text("\n".join(documents[350:]) + "\n", encoding="utf-8")
    with open(root / "train.jsonl", "w", encoding="utf-8") as f:
        for doc in documents[:350]:
            f.write(json.dumps({"id": len(doc), "body": doc}) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory):
    """A tiny mlm preset (random weights) with a 24-token preprocessor."""
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer

    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=32,
                            intermediate_dim=64, max_sequence_length=64)
    path = tmp_path_factory.mktemp("presets") / "tiny"
    BertMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(path)
    return path
