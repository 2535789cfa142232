"""The fast training pieces give the same numbers as the Keras originals they replace."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mlm_cli.models import BertBackbone, BertMaskedLM
from mlm_cli.models.layers.dropout import dropout
from mlm_cli.models.optimizers import FusedAdamW
from mlm_cli.seeding import set_seed


def train(optimizer_class, steps: int = 6):
    set_seed(0)
    backbone = BertBackbone(vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0)
    model = BertMaskedLM(backbone)
    optimizer = optimizer_class(learning_rate=3e-3, weight_decay=0.01, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=optimizer)
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(5, 300, (4, 12)).astype("int32"),
        "segment_ids": np.zeros((4, 12), "int32"),
        "padding_mask": np.ones((4, 12), bool),
        "mask_positions": np.tile(np.array([1, 4, 7], "int32"), (4, 1)),
    }
    y, w = rng.integers(5, 300, (4, 3)).astype("int32"), np.ones((4, 3), "float32")
    losses = [float(model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"]) for _ in range(steps)]
    return losses, [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def test_fused_adamw_matches_keras_adamw():
    expected_losses, expected_weights = train(keras.optimizers.AdamW)
    losses, weights = train(FusedAdamW)
    assert losses == pytest.approx(expected_losses, rel=1e-5)
    assert expected_losses[-1] < expected_losses[0]
    for got, want in zip(weights, expected_weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_keeps_the_right_fraction_and_scale(rate):
    x = keras.ops.ones((64, 128, 32))
    out = keras.ops.convert_to_numpy(dropout(x, rate, keras.random.SeedGenerator(1)))
    kept = out != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(out[kept], 1 / (1 - rate), rtol=1e-6)


def test_dropout_mask_is_uniform_in_every_lane_of_a_random_word():
    """On torch four mask entries share one 64-bit draw: each of the four positions must keep 1 - rate."""
    x = keras.ops.ones((63, 129, 31))  # size not a multiple of 4
    out = keras.ops.convert_to_numpy(dropout(x, 0.25, keras.random.SeedGenerator(2))).reshape(-1)
    kept = (out != 0)[: out.size // 4 * 4].reshape(-1, 4)
    for lane in range(4):
        assert abs(kept[:, lane].mean() - 0.75) < 0.01, lane
