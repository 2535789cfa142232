"""Run as a script under XLA_FLAGS=--xla_force_host_platform_device_count=4 (see test_model_parallel_families.py).

For every family named on the command line (all when none is): build a tiny masked LM on one device, copy its weights
into the same
model built under mlm's model-parallel distribution (2 replicas x 2 shards), check that
the embedding, attention and feed-forward kernels are sharded, train both three steps on
one batch and print the largest loss difference as JSON.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mlm_cli.distributed.cluster import Cluster  # noqa: E402
from mlm_cli.distributed.layouts import MODEL_AXIS, make_distribution  # noqa: E402
from mlm_cli.models.preset.registry import FAMILIES  # noqa: E402
from tests.family_sizes import tiny_sizes  # noqa: E402

VOCABULARY = 64
MUST_SHARD = ("token_embedding/embeddings", "intermediate/kernel", "feedforward_output/kernel")
ATTENTION = ("self_attention/qkv/kernel", "self_attention/attention_output/kernel")


def build(name: str):
    family = FAMILIES[name]
    backbone = family.mlm_class(family.backbone)(vocabulary_size=VOCABULARY, **tiny_sizes(name, dropout=0.0))
    model = family.mlm_class(family.masked_lm)(backbone)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    return model


def batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, VOCABULARY, (8, 16)).astype("int32")
    features = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": np.ones((8, 16), bool),
                "mask_positions": np.sort(rng.integers(1, 16, (8, 4)), axis=1).astype("int32")}
    return features, rng.integers(5, VOCABULARY, (8, 4)).astype("int32"), np.ones((8, 4), "float32")


def sharded_paths(model) -> set[str]:
    return {v.path for v in model.trainable_variables if MODEL_AXIS in tuple(v.value.sharding.spec)}


def main(names: list[str]) -> None:
    results = {}
    x, y, w = batch()
    for name in names or FAMILIES:
        keras.distribution.set_distribution(None)
        keras.utils.set_random_seed(1)
        reference = build(name)
        weights = [v.numpy() for v in reference.weights]
        expected_losses = [float(reference.train_on_batch(x, y, sample_weight=w, return_dict=True)[
            "loss"]) for _ in range(3)]
        keras.distribution.set_distribution(make_distribution(
            Cluster(kind="model", devices=4, local_devices=4, model_shards=2)))
        sharded = build(name)
        for variable, value in zip(sharded.weights, weights):
            variable.assign(value)
        paths = sharded_paths(sharded)
        expected = MUST_SHARD + (() if name == "f_net" else ATTENTION)
        missing = [part for part in expected if not any(path.endswith(part) for path in paths)]
        losses = [abs(float(sharded.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"]) - expected)
                  for expected in expected_losses]
        results[name] = {"max_loss_difference": max(losses), "unsharded": missing, "sharded_variables": len(paths)}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
