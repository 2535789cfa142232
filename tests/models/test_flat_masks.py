"""The flat mask layout of `mlm train`'s single-device steps: same logits, loss and update as the per-row layout."""

from __future__ import annotations

import numpy as np
import pytest

from mlm_cli.data.flat_masks import flat_capacity, flatten_masks
from tests.family_sizes import TINY_SIZES
from tests.support.corpus import sample_sentences, tiny_vocabulary


def test_flatten_keeps_every_mask_in_row_order():
    positions = np.array([[1, 4, 0], [2, 0, 0], [3, 5, 7]], dtype=np.int32)
    ids = np.array([[11, 14, 0], [12, 0, 0], [13, 15, 17]], dtype=np.int32)
    weights = (positions > 0).astype(np.float32)
    flat_positions, flat_ids, flat_weights = flatten_masks(positions, ids, weights, sequence_length=10, capacity=8)
    assert flat_positions.tolist() == [[1, 4, 12, 23, 25, 27, 0, 0]]
    assert flat_ids.tolist() == [[11, 14, 12, 13, 15, 17, 0, 0]]
    assert flat_weights.tolist() == [[1, 1, 1, 1, 1, 1, 0, 0]]
    cut = flatten_masks(positions, ids, weights, sequence_length=10, capacity=4)
    assert cut[0].tolist() == [[1, 4, 12, 23]] and cut[2].tolist() == [[1, 1, 1, 1]]


def test_capacity_covers_the_batch_with_margin_and_only_when_it_saves_slots():
    assert flat_capacity(16, 128, 0.15, slots_per_row=38) == 379  # 307 expected + 4 x 17.5 + 2, of 608
    assert flat_capacity(1, 128, 0.15, slots_per_row=38) is None  # one row: its own slots are as small
    draws = np.random.default_rng(0).binomial(16 * 126, 0.15, size=100_000)  # 126 selectable tokens a row
    assert (draws > flat_capacity(16, 128, 0.15, 38)).mean() < 1e-4


def tiny_pair():
    """Two identical dropout-free tiny BERT masked LMs, compiled with the task defaults."""
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer

    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    models = []
    for _ in range(2):
        preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=8, seed=1)
        backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **{**TINY_SIZES["bert"], "dropout": 0.0})
        models.append(BertMaskedLM(backbone, preprocessor=preprocessor))
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.compile()
    return models


def test_flat_layout_gives_the_per_row_logits_loss_and_update():
    per_row, flat = tiny_pair()
    x, y, weights = per_row.preprocessor(sample_sentences(6, seed=4))
    x = {key: np.asarray(value) for key, value in x.items()}
    y, weights = np.asarray(y), np.asarray(weights)
    assert 0 < weights.sum() < weights.size  # some rows have empty slots
    capacity = int(weights.sum()) + 3
    flat_x = dict(x)
    flat_x["mask_positions"], flat_y, flat_weights = flatten_masks(x["mask_positions"], y, weights, 24, capacity)

    real = weights > 0
    row_logits = np.asarray(per_row.predict_on_batch(x))
    flat_logits = np.asarray(flat.predict_on_batch(flat_x))
    assert flat_logits.shape == (1, capacity, row_logits.shape[-1])
    np.testing.assert_allclose(flat_logits[0, : real.sum()], row_logits[real], rtol=1e-5, atol=1e-5)

    row_logs = per_row.train_on_batch(x, y, sample_weight=weights, return_dict=True)
    flat_logs = flat.train_on_batch(flat_x, flat_y, sample_weight=flat_weights, return_dict=True)
    assert flat_logs["loss"] == pytest.approx(row_logs["loss"], rel=1e-5)
    for before, after in zip(per_row.get_weights(), flat.get_weights()):
        np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-6)


def test_fit_on_text_trains_on_flat_batches_and_evaluates_per_row(monkeypatch):
    from mlm_cli.models.text_dataset import TextBatches

    model, _ = tiny_pair()
    shapes: list[tuple[bool, tuple[int, ...]]] = []
    original = TextBatches.__getitem__

    def recording(self, index):
        batch = original(self, index)
        shapes.append((self.flat_masks, np.shape(batch[0]["mask_positions"])))
        return batch

    monkeypatch.setattr(TextBatches, "__getitem__", recording)
    texts = sample_sentences(24, seed=6)
    history = model.fit(texts, batch_size=8, epochs=2, validation_data=texts[:8], verbose=0).history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert {shape[0] for flat, shape in shapes if flat} == {1}  # training batches: one flat list of masks
    assert {shape[0] for flat, shape in shapes if not flat} == {8}  # validation batches keep their rows' slots
