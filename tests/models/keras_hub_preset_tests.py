"""Tests every family with keras_hub presets runs: presets move both ways, weights and files keep keras_hub's layout.

A family's test module subclasses `KerasHubPresetTests` as `TestKerasHubPresets`, sets its class attributes, and
defines the module fixture `keras_hub_preset`: a tiny keras_hub preset of the family, every weight perturbed so that a
mapping mistake shows. Hooks (`check_loaded`, `check_round_trip`, `check_files`) add a family's own assertions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from mlm_cli.models import MaskedLM
from tests.models.family_checks import (
    BatchMaker,
    TrainedPreset,
    assert_backbone_config_refused,
    assert_configs_equal_keras_hub,
    assert_keras_hub_loads_trained_preset,
    assert_mlm_loads_keras_hub_preset,
    assert_round_trip_keeps_every_weight,
    fit_and_save,
)
from tests.models.h5_layout import assert_same_weight_files

ASSETS = "assets/tokenizer"


class KerasHubPresetTests:
    """keras_hub preset -> mlm -> trained mlm preset -> keras_hub, and mlm -> mlm, for one family."""

    masked_lm: ClassVar[type[MaskedLM]]
    make_batch: ClassVar[BatchMaker]  # set with staticmethod(...)
    sentences: ClassVar[Sequence[str]]  # texts keras_hub's tokenizer must encode alike after the round trip
    weight_count: ClassVar[int]  # variables of the loaded masked LM (backbone and head)
    tokenizer_settings: ClassVar[tuple[str, ...]] = ()  # tokenizer attributes keras_hub must read back unchanged
    hostile_change: ClassVar[dict[str, Any]] = {"vocabulary_size": 10**12}  # a config.json change mlm must refuse
    round_trip_assets: ClassVar[tuple[str, ...]] = ()  # tokenizer assets a second save must write byte for byte
    keras_hub_assets: ClassVar[tuple[str, ...]] = ()  # tokenizer assets mlm must write as keras_hub does, byte for byte

    @pytest.fixture(scope="class")
    def trained_preset(self, keras_hub_preset: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedPreset:
        return fit_and_save(keras_hub_preset, tmp_path_factory.mktemp("mlm") / "trained", self.make_batch)

    def check_loaded(self, ours: MaskedLM, logits: np.ndarray) -> None:
        """The family's own checks of the model read from keras_hub's preset (`logits`: its logits on `make_batch`)."""

    def check_round_trip(self, trained: TrainedPreset, first: MaskedLM, copy: Path) -> None:
        """The family's own checks of a trained preset saved again (`first` read it back, `copy` has the new files)."""

    def check_files(self, ours: Path, keras_hub_preset: Path) -> None:
        """The family's own checks of mlm's preset files against keras_hub's."""

    def test_keras_hub_preset_loads_in_mlm_with_equal_logits(self, keras_hub_preset):
        self.check_loaded(*assert_mlm_loads_keras_hub_preset(keras_hub_preset, self.masked_lm, self.make_batch))

    def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(self, trained_preset):
        reference = assert_keras_hub_loads_trained_preset(trained_preset, self.masked_lm, self.sentences)
        for setting in self.tokenizer_settings:
            ours = getattr(trained_preset.model.preprocessor.tokenizer, setting)
            assert getattr(reference.preprocessor.tokenizer, setting) == ours, setting

    def test_round_trip_through_mlm_keeps_every_weight(self, trained_preset, tmp_path):
        first, _ = assert_round_trip_keeps_every_weight(trained_preset.path, tmp_path / "copy")
        assert len(first.weights) == self.weight_count
        for name in self.round_trip_assets:
            copy, trained = tmp_path / "copy" / ASSETS / name, trained_preset.path / ASSETS / name
            assert copy.read_bytes() == trained.read_bytes(), name
        self.check_round_trip(trained_preset, first, tmp_path / "copy")

    def test_files_have_keras_hub_layout_and_configs(self, keras_hub_preset, trained_preset):
        assert_same_weight_files(trained_preset.path, keras_hub_preset)
        assert_configs_equal_keras_hub(trained_preset.path, keras_hub_preset, self.masked_lm)
        for name in self.keras_hub_assets:
            ours, reference = trained_preset.path / ASSETS / name, keras_hub_preset / ASSETS / name
            assert ours.read_bytes() == reference.read_bytes(), name
        self.check_files(trained_preset.path, keras_hub_preset)

    def test_hostile_preset_config_is_one_preset_error(self, keras_hub_preset, tmp_path):
        key = next(iter(self.hostile_change))
        assert_backbone_config_refused(keras_hub_preset, tmp_path / "hostile", self.hostile_change, match=key)
