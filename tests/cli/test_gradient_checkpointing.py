"""`mlm train --gradient-checkpointing`: the same training (float32, dropout on), recorded in the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def tiny_long_backbone(checkpointing: bool):
    from mlm_cli.models import BertBackbone

    backbone = BertBackbone(vocabulary_size=100, num_layers=4, num_heads=2, hidden_dim=32, intermediate_dim=128,
                            max_sequence_length=256, dropout=0.1)
    backbone.enable_gradient_checkpointing(checkpointing)
    return backbone


def long_inputs():
    import numpy as np

    return {"token_ids": np.ones((2, 256), "int32"), "segment_ids": np.zeros((2, 256), "int32"),
            "padding_mask": np.ones((2, 256), bool)}


def test_recomputed_activations_are_freed_with_the_backward_pass():
    """No recomputed activation waits for Python's cyclic collector (torch's early stop left ~550 MB at bert_small).

    Measured on a step after the first (building the model makes garbage of its own): the
    tensors that only the cyclic collector would free are the same with and without
    checkpointing.
    """
    import gc

    import keras

    if keras.backend.backend() != "torch":
        pytest.skip("torch's checkpoint")
    import torch

    def stranded_bytes(checkpointing: bool) -> int:
        backbone = tiny_long_backbone(checkpointing)
        for _ in range(2):
            gc.collect()
            gc.disable()
            try:
                output = backbone(long_inputs(), training=True)["sequence_output"]
                output.sum().backward()
                del output
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                stranded = sum(o.numel() * o.element_size() for o in gc.garbage if isinstance(o, torch.Tensor))
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        return stranded

    assert stranded_bytes(True) <= stranded_bytes(False)


@pytest.mark.run_once  # picks its own backend: a subprocess
def test_xla_keeps_the_rematerialisation(tmp_path):
    """On jax the compiled training step needs far less scratch memory with checkpointing.

    XLA's CPU compiler would merge the recomputation away unless mlm turns its barrier-removing
    pass off before jax starts, so this runs in a fresh process set up as `mlm` sets up jax.
    """
    script = """
import json
from mlm_cli.backend import configure_backend
configure_backend("jax")
import jax, jax.numpy as jnp
from tests.cli.test_gradient_checkpointing import long_inputs, tiny_long_backbone

def scratch(checkpointing):
    backbone = tiny_long_backbone(checkpointing)
    trainable = [v.value for v in backbone.trainable_variables]
    others = [v.value for v in backbone.non_trainable_variables]
    def loss(trainable):
        output, _ = backbone.stateless_call(trainable, others, long_inputs(), training=True)
        return jnp.sum(output["sequence_output"])
    return jax.jit(jax.grad(loss)).lower(trainable).compile().memory_analysis().temp_size_in_bytes

print(json.dumps([scratch(False), scratch(True)]))
"""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(root)}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=root,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    plain, checkpointed = json.loads(done.stdout.strip().splitlines()[-1])
    assert checkpointed < 0.6 * plain, (plain, checkpointed)


@pytest.mark.run_once  # no backend
@pytest.mark.parametrize("before, after", [
    ("", "--xla_disable_hlo_passes=cse_barrier_expander"),
    ("--xla_force_host_platform_device_count=4",
     "--xla_force_host_platform_device_count=4 --xla_disable_hlo_passes=cse_barrier_expander"),
    ("--xla_disable_hlo_passes=foo", "--xla_disable_hlo_passes=foo,cse_barrier_expander"),
    ("--xla_disable_hlo_passes=cse_barrier_expander", "--xla_disable_hlo_passes=cse_barrier_expander"),
])
def test_the_xla_flag_joins_the_users_own(monkeypatch, before, after):
    from mlm_cli.backend import keep_xla_rematerialisation

    monkeypatch.setenv("XLA_FLAGS", before)
    keep_xla_rematerialisation()
    keep_xla_rematerialisation()
    assert os.environ["XLA_FLAGS"] == after
