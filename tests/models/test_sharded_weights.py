"""Presets whose backbone weights keras_hub saved in shards (`save_to_preset(max_shard_size=...)`): model.weights.json
names model_00000.weights.h5, ...; mlm loads, pulls and pushes them, and refuses an index that leaves the directory."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest

from mlm_cli.errors import PresetError
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.weight_files import SHARD_INDEX_FILE, backbone_weight_files
from mlm_cli.push.preset_files import open_local_preset, upload_names
from tests.support.cli import run_mlm_in_process

keras_hub = pytest.importorskip("keras_hub")

from mlm_cli.models import BertMaskedLM, MaskedLM  # noqa: E402
from tests.models.family_checks import assert_mlm_loads_keras_hub_preset, assert_same_weights, fixed_batch  # noqa: E402


@pytest.fixture(scope="module")
def sharded_preset(tmp_path_factory, keras_hub_preset) -> Path:
    """keras_hub's tiny BERT preset, its backbone saved again by keras_hub in shards of a few kilobytes."""
    path = tmp_path_factory.mktemp("sharded") / "tiny_bert"
    shutil.copytree(keras_hub_preset, path)
    (path / "model.weights.h5").unlink()
    backbone = keras_hub.models.Backbone.from_preset(str(keras_hub_preset))
    backbone.save_to_preset(str(path), max_shard_size=0.00002)
    return path


def shard_names(preset: Path) -> list[str]:
    return sorted(p.name for p in preset.glob("model_*.weights.h5"))


def test_keras_hub_wrote_several_shards_and_no_single_file(sharded_preset):
    assert len(shard_names(sharded_preset)) >= 2
    assert not (sharded_preset / "model.weights.h5").exists()


def test_sharded_preset_loads_with_keras_hubs_weights_and_logits(sharded_preset, keras_hub_preset):
    ours, _ = assert_mlm_loads_keras_hub_preset(sharded_preset, BertMaskedLM, partial(fixed_batch, segments=True))
    assert_same_weights(ours, MaskedLM.from_preset(keras_hub_preset))


def test_pull_checks_every_shard_and_push_stages_them(sharded_preset, tmp_path):
    done = run_mlm_in_process("pull", str(sharded_preset), "--output", str(tmp_path / "copy"))
    assert done.code == 0, done.stderr
    assert shard_names(tmp_path / "copy") == shard_names(sharded_preset)
    chosen, _ = upload_names(open_local_preset(sharded_preset))
    assert {SHARD_INDEX_FILE, *shard_names(sharded_preset)} <= set(chosen)


def edited_copy(preset: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(preset, copy)
    index = json.loads((copy / SHARD_INDEX_FILE).read_text())
    edit(copy, index["weight_map"])
    (copy / SHARD_INDEX_FILE).write_text(json.dumps(index))
    return copy


def test_an_index_naming_a_file_outside_the_preset_is_refused(sharded_preset, tmp_path):
    outside = tmp_path / "outside.weights.h5"
    outside.write_bytes(b"")

    def point_outside(copy: Path, weight_map: dict) -> None:
        first = next(iter(weight_map))
        weight_map[first] = f"../{outside.name}"

    with pytest.raises(PresetError, match="does not name weight files"):
        backbone_weight_files(PresetDirectory(edited_copy(sharded_preset, tmp_path, point_outside)))


def test_a_missing_shard_is_one_error_naming_it(sharded_preset, tmp_path):
    copy = edited_copy(sharded_preset, tmp_path, lambda copy, weight_map: None)
    missing = shard_names(copy)[-1]
    (copy / missing).unlink()
    with pytest.raises(PresetError, match=f"missing {missing}"):
        MaskedLM.from_preset(copy)
    done = run_mlm_in_process("pull", str(copy))
    assert done.code == 2 and missing in done.stderr and "Traceback" not in done.stderr


def test_shards_holding_the_same_weight_twice_are_refused(sharded_preset, tmp_path):
    def duplicate_first_shard(copy: Path, weight_map: dict) -> None:
        names = shard_names(copy)
        shutil.copyfile(copy / names[0], copy / "model_99999.weights.h5")
        weight_map["/extra/vars"] = "model_99999.weights.h5"

    with pytest.raises(PresetError, match="is also in"):
        MaskedLM.from_preset(edited_copy(sharded_preset, tmp_path, duplicate_first_shard))
