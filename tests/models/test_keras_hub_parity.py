"""Presets move both ways between keras-hub 0.32 and mlm with equal masked-LM logits."""

from functools import partial

import pytest

from tests.models.family_checks import (
    assert_keras_hub_loads_trained_preset,
    assert_mlm_loads_keras_hub_preset,
    assert_round_trip_keeps_every_weight,
    fit_and_save,
    fixed_batch,
)

keras_hub = pytest.importorskip("keras_hub")

from mlm_cli.models import BertMaskedLM  # noqa: E402

bert_batch = partial(fixed_batch, segments=True)  # BERT reads segment ids


def test_keras_hub_preset_loads_in_mlm_with_equal_logits(keras_hub_preset):
    assert_mlm_loads_keras_hub_preset(keras_hub_preset, BertMaskedLM, bert_batch)


def test_mlm_preset_loads_in_keras_hub_with_equal_logits(keras_hub_preset, tmp_path):
    # Move away from the keras_hub weights so the comparison is about our writer.
    trained = fit_and_save(keras_hub_preset, tmp_path / "ours", bert_batch)
    # keras_hub reads our preprocessor settings and tokenizer too.
    assert_keras_hub_loads_trained_preset(trained, BertMaskedLM, ["the model will train on data, then mask a token!"])


def test_round_trip_through_mlm_keeps_every_weight(keras_hub_preset, tmp_path):
    assert_round_trip_keeps_every_weight(keras_hub_preset, tmp_path / "copy")
