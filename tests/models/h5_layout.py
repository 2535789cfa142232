"""Compare the layout of two `.weights.h5` files: datasets with shapes, `vars` groups with layer names."""

import re
from pathlib import Path

import h5py

KERAS_NUMBERING = re.compile(r"_\d+$")  # Keras numbers automatic layer names per process: dropout_3, adam_12


def h5_layout(path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """An h5 weights file's datasets with their shapes, and its `vars` groups with their layer-name attributes."""
    datasets, groups = {}, {}

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            datasets[name] = item.shape
        elif name.endswith("vars"):
            groups[name] = item.attrs.get("name")

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return datasets, groups


def assert_same_h5_layout(written_path, expected_path) -> None:
    """Same datasets and shapes, same groups, same layer names up to Keras's per-process numbering."""
    written_datasets, written_groups = h5_layout(written_path)
    expected_datasets, expected_groups = h5_layout(expected_path)
    assert written_datasets == expected_datasets, written_path
    assert set(written_groups) == set(expected_groups), written_path
    for group, name in expected_groups.items():
        assert KERAS_NUMBERING.sub("", written_groups[group] or "") == KERAS_NUMBERING.sub("", name or ""), group


def assert_same_weight_files(written_preset: Path, expected_preset: Path) -> None:
    """Both weight files of a preset, the backbone's and the task's, have the layout of the other preset's."""
    for name in ("model.weights.h5", "task.weights.h5"):
        assert_same_h5_layout(written_preset / name, expected_preset / name)
