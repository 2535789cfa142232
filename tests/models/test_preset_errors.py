"""Malformed or hostile presets fail with one PresetError naming the file; nothing is imported or written."""

import json
import os
import shutil
import sys

import h5py
import numpy as np
import pytest

from mlm_cli.errors import PresetError
from mlm_cli.models import MaskedLM


@pytest.fixture()
def preset(keras_hub_preset, tmp_path):
    copy = tmp_path / "preset"
    shutil.copytree(keras_hub_preset, copy)
    return copy


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def load_error(preset) -> str:
    before = sorted(p.name for p in preset.parent.iterdir())
    with pytest.raises(PresetError) as error:
        MaskedLM.from_preset(preset)
    assert sorted(p.name for p in preset.parent.iterdir()) == before
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_directory(tmp_path):
    with pytest.raises(PresetError, match="does not exist"):
        MaskedLM.from_preset(tmp_path / "nope")


@pytest.mark.parametrize("name", ["config.json", "model.weights.h5", "tokenizer.json",
                                  "assets/tokenizer/vocabulary.txt"])
def test_missing_file_is_named(preset, name):
    (preset / name).unlink()
    assert name.split("/")[-1] in load_error(preset)


def test_invalid_json(preset):
    (preset / "config.json").write_text("{not json")
    assert "config.json" in load_error(preset)


def test_unknown_class_is_never_imported(preset):
    def evil(data):
        data["module"] = "os"
        data["class_name"] = "system"
        data["registered_name"] = "os>system"

    edit_json(preset / "config.json", evil)
    modules_before = set(sys.modules)
    message = load_error(preset)
    assert "unsupported class 'system'" in message and "config.json" in message
    assert not {m for m in set(sys.modules) - modules_before if m.startswith("os")}


def test_mismatched_registered_name(preset):
    edit_json(preset / "config.json", lambda d: d.update(registered_name="evil>Thing"))
    assert "registered_name" in load_error(preset)


def test_absurd_vocabulary_is_refused_before_allocating(preset):
    edit_json(preset / "config.json", lambda d: d["config"].update(vocabulary_size=10**12))
    assert "vocabulary_size" in load_error(preset)


def test_bad_config_value(preset):
    edit_json(preset / "config.json", lambda d: d["config"].update(num_heads=3))
    assert "config.json" in load_error(preset)


def test_unexpected_config_key(preset):
    edit_json(preset / "config.json", lambda d: d["config"].update(__import__="os"))
    assert "config.json" in load_error(preset)


def test_wrong_weight_shape(preset):
    with h5py.File(preset / "model.weights.h5", "r+") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((3, 3), "float32")
    message = load_error(preset)
    assert "model.weights.h5" in message and "shape" in message


def test_wrong_weight_dtype(preset):
    with h5py.File(preset / "model.weights.h5", "r+") as f:
        shape = f["layers/dense/vars/0"].shape
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros(shape, "int32")
    assert "dtype" in load_error(preset)


def test_truncated_weights_file(preset):
    path = preset / "model.weights.h5"
    path.write_bytes(path.read_bytes()[:2000])
    assert "model.weights.h5" in load_error(preset)


def test_external_link_in_weights_is_refused(preset, tmp_path):
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["x"] = np.zeros(3)
    with h5py.File(preset / "model.weights.h5", "r+") as f:
        f["layers/sneaky"] = h5py.ExternalLink(str(outside), "x")
    assert "link" in load_error(preset)


def test_config_file_pointing_outside_is_refused(preset):
    edit_json(preset / "tokenizer.json", lambda d: d["config"].update(config_file="../../etc/passwd"))
    # config_file is informational; loading still reads tokenizer.json from inside the preset.
    MaskedLM.from_preset(preset)


@pytest.mark.parametrize("key", ["vocabulary", "merges", "proto"])
def test_tokenizer_config_naming_a_file_is_refused(preset, tmp_path, key):
    outside = tmp_path / "outside_vocab.txt"
    shutil.copy(preset / "assets/tokenizer/vocabulary.txt", outside)
    edit_json(preset / "tokenizer.json", lambda d: d["config"].update({key: str(outside)}))
    assert "names a file" in load_error(preset)


def test_vocabulary_symlink_leaving_the_directory(preset, tmp_path):
    outside = tmp_path / "outside_vocab.txt"
    shutil.copy(preset / "assets/tokenizer/vocabulary.txt", outside)
    target = preset / "assets/tokenizer/vocabulary.txt"
    target.unlink()
    os.symlink(outside, target)
    assert "outside the preset directory" in load_error(preset)


def test_directory_path_checks():
    from mlm_cli.models.preset.directory import PresetDirectory

    directory = PresetDirectory(os.path.dirname(__file__))
    for bad in ["../x", "/etc/passwd", "a/../../b", "", "C:\\windows"]:
        with pytest.raises(PresetError):
            directory.path(bad)


def test_vocabulary_missing_special_tokens(preset):
    vocab = preset / "assets/tokenizer/vocabulary.txt"
    vocab.write_text("\n".join(t for t in vocab.read_text().splitlines() if t != "[MASK]") + "\n")
    assert "[MASK]" in load_error(preset)


def test_sequence_length_above_model_maximum(preset):
    with pytest.raises(PresetError, match="exceeds the model's maximum of 32"):
        MaskedLM.from_preset(preset, sequence_length=64)
