"""Presets move both ways between keras-hub 0.32 and mlm with equal masked-LM logits."""

import numpy as np
import pytest

from tests.conftest import sample_sentences

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.models import BertMaskedLM, MaskedLM  # noqa: E402


def fixed_batch(vocabulary_size: int, batch=4, length=24, selections=6, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array([length, 17, 9, 5])[:batch]
    padding_mask = np.arange(length)[None, :] < lengths[:, None]
    token_ids = np.where(padding_mask, rng.integers(5, vocabulary_size, (batch, length)), 0).astype("int32")
    segment_ids = np.where(np.arange(length)[None, :] >= lengths[:, None] // 2, 1, 0).astype("int32") * padding_mask
    positions = np.sort(rng.integers(1, 5, (batch, selections)), axis=1).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids.astype("int32"), "padding_mask": padding_mask, "mask_positions": positions}


def logits(model, batch):
    return keras.ops.convert_to_numpy(model(batch, training=False))


def test_keras_hub_preset_loads_in_mlm_with_equal_logits(keras_hub_preset):
    reference = keras_hub.models.BertMaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, BertMaskedLM)
    batch = fixed_batch(ours.backbone.vocabulary_size)
    difference = np.abs(logits(ours, batch) - logits(reference, batch)).max()
    assert logits(ours, batch).shape == (4, 6, ours.backbone.vocabulary_size)
    assert difference <= 1e-4


def test_mlm_preset_loads_in_keras_hub_with_equal_logits(keras_hub_preset, tmp_path):
    ours = MaskedLM.from_preset(keras_hub_preset)
    # Move away from the keras_hub weights so the comparison is about our writer.
    ours.compile()
    ours.fit(sample_sentences(32), batch_size=8, epochs=1, verbose=0)
    ours.save_to_preset(tmp_path / "ours")
    reference = keras_hub.models.BertMaskedLM.from_preset(str(tmp_path / "ours"))
    batch = fixed_batch(ours.backbone.vocabulary_size, seed=1)
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    # keras_hub reads our preprocessor settings and tokenizer too.
    assert reference.preprocessor.sequence_length == ours.preprocessor.sequence_length
    assert reference.preprocessor.mask_selection_length == ours.preprocessor.mask_selection_length
    text = "the model will train on data, then mask a token!"
    assert np.array_equal(
        np.asarray(reference.preprocessor.tokenizer(text)), ours.preprocessor.tokenizer(text)
    )


def test_round_trip_through_mlm_keeps_every_weight(keras_hub_preset, tmp_path):
    first = MaskedLM.from_preset(keras_hub_preset)
    first.save_to_preset(tmp_path / "copy")
    second = MaskedLM.from_preset(tmp_path / "copy")
    for a, b in zip(first.weights, second.weights):
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)), a.path
