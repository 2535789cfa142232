"""`mlm train --gradient-checkpointing`: the same training (float32, dropout on), recorded in the run."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import run_mlm_in_process


def losses(tiny_preset, corpus_files, tmp_path, name: str, *extra: str) -> list[float]:
    run = tmp_path / name
    done = run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output", str(run),
        "--max-steps", "6", "--batch-size", "4", "--sequence-length", "64", "--log-every", "1", "--dropout", "0.1",
        "--learning-rate", "3e-3", "--precision", "float32", "--save-every", "1000", *extra,
        env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.code == 0, done.stderr
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_checkpointed_training_equals_plain_training(tiny_preset, corpus_files, tmp_path):
    plain = losses(tiny_preset, corpus_files, tmp_path, "plain")
    checkpointed = losses(tiny_preset, corpus_files, tmp_path, "checkpointed", "--gradient-checkpointing")
    assert checkpointed == pytest.approx(plain, abs=1e-5)
    assert len(set(plain)) > 1  # it trained
    run = tmp_path / "checkpointed"
    assert json.loads((run / "train_config.json").read_text())["gradient_checkpointing"] is True
    assert "float32 / " in (run / "README.md").read_text() and ", gradient checkpointing" in (
        run / "README.md").read_text()


def test_remat_keeps_fewer_activations_for_the_backward_pass():
    """What the option buys, measured on torch: the tensors autograd saves for the backward pass."""
    import keras

    if keras.backend.backend() != "torch":
        pytest.skip("saved-tensor hooks are torch's")
    import numpy as np
    import torch

    from mlm_cli.models import BertBackbone

    def saved_bytes(checkpointing: bool) -> int:
        backbone = BertBackbone(vocabulary_size=100, num_layers=4, num_heads=2, hidden_dim=32, intermediate_dim=128,
                                max_sequence_length=256, dropout=0.1)
        backbone.enable_gradient_checkpointing(checkpointing)
        inputs = {"token_ids": np.ones((2, 256), "int32"), "segment_ids": np.zeros((2, 256), "int32"),
                  "padding_mask": np.ones((2, 256), bool)}
        total = 0

        def pack(tensor):
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            output = backbone(inputs, training=True)["sequence_output"]
        output.sum().backward()
        return total

    assert saved_bytes(True) < 0.5 * saved_bytes(False)
