"""Property-based fuzzing of the preset loader: random mutations of a real keras_hub preset.

Every mutated preset either loads (and runs) or fails with one clean mlm error line. It
never raises anything else, never hangs, never imports a module a file names, and never
writes or reads through a path outside the preset directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlm_cli.errors import MlmError
from mlm_cli.models import MaskedLM

CANARY_MODULE = "mlm_fuzz_canary_module"  # must never appear in sys.modules
JSON_FILES = ["config.json", "tokenizer.json", "preprocessor.json", "task.json", "metadata.json"]
BINARY_FILES = ["model.weights.h5", "task.weights.h5", "assets/tokenizer/vocabulary.txt"]

HOSTILE_STRINGS = st.sampled_from([
    "../../outside.txt", "/etc/passwd", "assets/../../outside.txt", CANARY_MODULE, f"{CANARY_MODULE}>Evil",
    "keras_hub.models.BertBackbone",
    "os", "system", "builtins>eval", "", "\x00", "x" * 5000, "bert_backbone", "float16", "mixed_bfloat16", "int8",
])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.sampled_from(
        [0, -1, 1, 10**12, 2**31])
    | st.floats(allow_nan=True, allow_infinity=True) | HOSTILE_STRINGS | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | HOSTILE_STRINGS, children,
                                                                      max_size=4),
    max_leaves=8,
)


def json_paths(value, prefix=()):
    """Every (path) to a value inside nested dicts/lists."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from json_paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from json_paths(child, prefix + (index,))


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["json_value", "json_delete", "json_add", "truncate", "flip", "symlink",
                                 "replace_bytes"]))
    if kind.startswith("json"):
        return kind, draw(st.sampled_from(JSON_FILES)), draw(st.integers(0, 10**6)), draw(JSON_VALUES), draw(
            HOSTILE_STRINGS | st.text(max_size=8))
    return kind, draw(st.sampled_from(BINARY_FILES + JSON_FILES)), draw(st.integers(0, 10**6)), draw(
        st.binary(max_size=64)), None


def apply(mutation, preset: Path, outside: Path) -> None:
    kind, name, choice, value, key = mutation
    path = preset / name
    if not path.exists():
        return
    if kind.startswith("json"):
        data = json.loads(path.read_text())
        paths = list(json_paths(data))
        target = paths[choice % len(paths)]
        parent = data
        for step in target[:-1]:
            parent = parent[step]
        if not target:
            data = value if kind == "json_value" else data
        elif kind == "json_value":
            parent[target[-1]] = value
        elif kind == "json_delete" and isinstance(parent, dict):
            del parent[target[-1]]
        elif kind == "json_add" and isinstance(parent, dict):
            parent[key] = value
        path.write_text(json.dumps(data))
    elif kind == "truncate":
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(choice % (size + 1))
    elif kind == "flip":
        raw = bytearray(path.read_bytes())
        if raw:
            for offset, byte in enumerate(value or b"\xff"):
                raw[(choice + offset * 7919) % len(raw)] ^= byte or 0xFF
            path.write_bytes(bytes(raw))
    elif kind == "symlink":
        path.unlink()
        path.symlink_to(outside)
    elif kind == "replace_bytes":
        path.write_bytes(value)


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def pristine(keras_hub_preset):
    return keras_hub_preset


class Hung(Exception):
    pass


def _alarm(signum, frame):
    raise Hung("the preset loader hung")


@settings(max_examples=int(os.environ.get("MLM_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutations())
def test_mutated_presets_load_or_fail_cleanly(pristine, tmp_path_factory, mutation):
    root = tmp_path_factory.mktemp("fuzz")
    preset = root / "preset"
    shutil.copytree(pristine, preset)
    outside = root / "outside.txt"
    outside.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nsecret\n")
    apply(mutation, preset, outside)
    before = listing(root)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        model = MaskedLM.from_preset(preset)
    except MlmError as error:
        message = str(error)
        assert message and "\n" not in message
    else:
        assert mutation[0] != "symlink" or not (preset / mutation[
            1]).is_symlink(), "loaded through a link leaving the preset"
        x = {"token_ids": np.full((1, 8), 5, "int32"), "segment_ids": np.zeros((1, 8), "int32"),
             "padding_mask": np.ones((1, 8), bool), "mask_positions": np.array([[1, 2]], "int32")}
        import keras

        logits = keras.ops.convert_to_numpy(model(x))
        assert logits.shape[:2] == (1, 2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert CANARY_MODULE not in sys.modules
    assert listing(root) == before  # nothing written, inside or outside the preset
    assert outside.read_text().endswith("secret\n")
