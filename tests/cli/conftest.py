"""Run the real `mlm` entry point in a subprocess, on the backend under test."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import sample_sentences

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connections are refused at once


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_mlm(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> Result:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", "from mlm_cli.cli.app import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture()
def mlm(tmp_path, backend):
    """Call `mlm ...` with an isolated cache, the session's backend, and Kaggle/Hub endpoints that fail fast.

    Nothing in the tests may reach the network, whether or not the machine has one.
    """

    def call(*args: str, **kwargs) -> Result:
        env = {
            "MLM_CACHE_DIR": str(tmp_path / "cache"),
            "KERAS_BACKEND": backend,
            "KAGGLE_API_ENDPOINT": UNREACHABLE,
            "HF_ENDPOINT": UNREACHABLE,
            **kwargs.pop("env", {}),
        }
        return run_mlm(*args, env=env, **kwargs)

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
    from tests.conftest import tiny_vocabulary

    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer

    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64, max_sequence_length=64)
    path = tmp_path_factory.mktemp("presets") / "tiny"
    BertMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(path)
    return path
