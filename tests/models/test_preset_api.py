"""keras_hub's preset API on every class (issue 17): `from_preset`, `save_to_preset` and `presets` on the Backbone,
Tokenizer and MaskedLMPreprocessor classes, base and per family.

For every registered family, a tiny preset saved by keras_hub loads in mlm with keras_hub's weights, outputs, token
ids and preprocessor settings, and what mlm saves loads back in keras_hub unchanged. keras_hub's own documented BERT
examples (read from the installed keras_hub's docstrings) run with `keras_hub.models` replaced by `mlm_cli.models`.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from mlm_cli import hub
from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.models.preset.registry import FAMILIES
from tests.family_sizes import tiny_sizes
from tests.models.family_checks import (
    assert_same_preprocessor_settings,
    assert_same_weights,
    assert_token_ids_equal_keras_hub,
    save_keras_hub_preset,
)
from tests.models.sentencepiece_fixtures import albert_proto, deberta_v3_proto, xlm_roberta_proto
from tests.support.corpus import tiny_vocabulary
from tests.support.imports import heavy_modules_imported

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

import mlm_cli.models  # noqa: E402
from tests.models.test_esm import ESM_VOCABULARY, PAD  # noqa: E402
from tests.models.test_roberta import SENTENCES as ROBERTA_SENTENCES  # noqa: E402
from tests.models.test_roberta import read_bpe, tiny_bpe  # noqa: E402

models = mlm_cli.models
FAMILY_NAMES = sorted(FAMILIES)
# Text of every kind a tokenizer meets: ASCII, accents, CJK, emoji, protein letters, whitespace, the empty string.
TEXTS = [
    "The quick brown fox jumps over the lazy dog.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符",
    "emoji 😀👍 ok", "", "   ", "MKTAYIAKQR", "the model will train on data, then mask a token!",
]
WORDPIECE = tiny_vocabulary() + ["café", "é", "##é", "日", "本", "語", "😀", "straße"]
SIZES = {name: tiny_sizes(name) for name in FAMILY_NAMES} | {
    "esm": tiny_sizes("esm", max_sequence_length=40, pad_token_id=PAD)}


def tokenizer_arguments(name: str, directory: Path) -> dict[str, Any]:
    """The arguments of a tiny keras_hub tokenizer of family `name` (vocabulary files trained in `directory`)."""
    if name in ("bert", "distil_bert", "roformer_v2"):
        return {"vocabulary": WORDPIECE, "lowercase": True}
    if name == "esm":
        return {"vocabulary": ESM_VOCABULARY}
    if name == "roberta":
        tiny_bpe(directory)
        vocabulary, merges = read_bpe(directory)
        return {"vocabulary": vocabulary, "merges": merges}
    protos = {"xlm_roberta": lambda: xlm_roberta_proto(ROBERTA_SENTENCES), "albert": albert_proto,
              "f_net": albert_proto, "deberta_v3": deberta_v3_proto}
    return {"proto": protos[name]()}


@pytest.fixture(scope="session")
def presets(tmp_path_factory) -> Callable[[str], Path]:
    """`presets(name)`: a tiny random masked LM of family `name` saved by keras_hub, built once per session."""
    built: dict[str, Path] = {}

    def preset(name: str) -> Path:
        if name not in built:
            family = FAMILIES[name]
            root = tmp_path_factory.mktemp(f"preset_api_{name}")
            tokenizer = keras_hub_class(family.tokenizer)(**tokenizer_arguments(name, root / "vocabulary"))
            built[name] = save_keras_hub_preset(root / "keras_hub", keras_hub_class(family.masked_lm), tokenizer,
                                                SIZES[name], seed=5, used_preprocessor=False)
        return built[name]

    return preset


def keras_hub_class(name: str) -> type:
    return getattr(keras_hub.models, name)


def mlm_class(name: str) -> type:
    return getattr(models, name)


def backbone_batch(vocabulary_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Two unpadded rows of random ids in two segments (keras_hub 0.32 masks padding wrongly on JAX in some
    families; padding is checked in each family's own tests)."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocabulary_size, (2, 12)).astype("int32")
    segment_ids = (np.arange(12)[None, :] >= 6).astype("int32").repeat(2, axis=0)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": np.ones((2, 12), bool)}


def sequence_output(outputs: Any) -> np.ndarray:
    """The [B, S, H] hidden states of a backbone's outputs (a dict in mlm, a tensor in some keras_hub families)."""
    return keras.ops.convert_to_numpy(outputs["sequence_output"] if isinstance(outputs, dict) else outputs)


def h5_datasets(path: Path) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def as_numpy(value: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


# --- keras_hub presets load in mlm, on every family ----------------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_backbone_from_preset_has_keras_hub_weights_and_outputs(name, presets):
    preset, family = presets(name), FAMILIES[name]
    ours = mlm_class(family.backbone).from_preset(preset)
    assert type(ours) is mlm_class(family.backbone)
    assert type(models.Backbone.from_preset(preset, load_weights=False)) is type(ours)
    stored = h5_datasets(preset / "model.weights.h5")
    exported = family.weights().export_backbone(ours)
    assert set(exported) == set(stored)
    for path, array in exported.items():
        assert np.array_equal(array, stored[path]), path
    reference = keras_hub_class(family.backbone).from_preset(str(preset))
    assert ours.parameter_count() == reference.count_params()
    batch = backbone_batch(ours.vocabulary_size)
    expected = reference({key: value for key, value in batch.items() if key in reference.input})
    assert np.abs(sequence_output(ours(batch)) - sequence_output(expected)).max() <= 1e-4


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_tokenizer_from_preset_gives_keras_hub_ids(name, presets):
    preset, family = presets(name), FAMILIES[name]
    ours = mlm_class(family.tokenizer).from_preset(preset)
    assert type(ours) is mlm_class(family.tokenizer) and type(models.Tokenizer.from_preset(preset)) is type(ours)
    reference = keras_hub_class(family.tokenizer).from_preset(str(preset))
    assert_token_ids_equal_keras_hub(ours, reference, TEXTS)
    rows = mlm_class(family.tokenizer).from_preset(preset, sequence_length=6)(TEXTS).tolist()
    if name == "xlm_roberta":  # keras_hub 0.32's XLMRobertaTokenizer fails on a batch with a sequence_length
        expected = [np.asarray(reference(text)).tolist()[:6] for text in TEXTS]
        assert [row[: len(ids)] for row, ids in zip(rows, expected)] == expected
    else:
        reference_padded = keras_hub_class(family.tokenizer).from_preset(str(preset), sequence_length=6)
        assert rows == as_numpy(reference_padded(TEXTS)).tolist()


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_preprocessor_from_preset_packs_as_keras_hub(name, presets):
    preset, family = presets(name), FAMILIES[name]
    ours = mlm_class(family.preprocessor).from_preset(preset, seed=0)
    assert type(ours) is mlm_class(family.preprocessor)
    assert type(models.MaskedLMPreprocessor.from_preset(preset)) is type(ours)
    reference = keras_hub_class(family.preprocessor).from_preset(str(preset))
    assert_same_preprocessor_settings(ours, reference)
    x, y, weights = ours(TEXTS)
    expected, _, expected_weights = reference(TEXTS)
    length, selections = ours.sequence_length, ours.mask_selection_length
    assert x["token_ids"].shape == (len(TEXTS), length) and y.shape == weights.shape == (len(TEXTS), selections)
    # Masking is random in both: the rows agree wherever neither selected a token.
    selected = np.zeros((len(TEXTS), length), bool)
    for positions, chosen in ((x["mask_positions"], weights), (as_numpy(expected["mask_positions"]),
                                                               as_numpy(expected_weights))):
        rows, columns = np.nonzero(chosen > 0)
        selected[rows, positions[rows, columns]] = True
    assert np.array_equal(np.where(selected, 0, x["token_ids"]), np.where(selected, 0, as_numpy(expected["token_ids"])))
    for key in ("padding_mask", "segment_ids"):
        if key in expected:
            assert np.array_equal(x[key], as_numpy(expected[key])), key


# --- mlm's presets load in keras_hub ---------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_saved_backbone_and_preprocessor_load_in_keras_hub(name, presets, tmp_path):
    preset, family = presets(name), FAMILIES[name]
    backbone, preprocessor = models.Backbone.from_preset(preset), models.MaskedLMPreprocessor.from_preset(preset)
    ours = tmp_path / "ours"
    backbone.save_to_preset(ours)  # a new directory
    preprocessor.save_to_preset(ours)  # joins the backbone's preset
    reference_backbone = keras_hub_class(family.backbone).from_preset(str(preset))
    assert_same_weights(keras_hub_class(family.backbone).from_preset(str(ours)), reference_backbone)
    tokenizer = keras_hub_class(family.tokenizer).from_preset(str(ours))
    assert_token_ids_equal_keras_hub(preprocessor.tokenizer, tokenizer, TEXTS)
    assert_same_preprocessor_settings(preprocessor, keras_hub_class(family.preprocessor).from_preset(str(ours)))

    # keras_hub, saving the same objects, writes the same files and configs.
    theirs = tmp_path / "keras_hub"
    reference_backbone.save_to_preset(str(theirs))
    keras_hub_class(family.preprocessor).from_preset(str(preset)).save_to_preset(str(theirs))
    assert listing(ours) == listing(theirs)
    for config in ("config.json", "tokenizer.json", "preprocessor.json"):
        assert read_json(ours / config) == read_json(theirs / config), config
    metadata, expected = read_json(ours / "metadata.json"), read_json(theirs / "metadata.json")
    assert set(expected) <= set(metadata)
    assert {key: metadata[key] for key in ("keras_version", "parameter_count", "tasks")} == {
        key: expected[key] for key in ("keras_version", "parameter_count", "tasks")}


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_saved_tokenizer_alone_loads_back(name, presets, tmp_path):
    preset, family = presets(name), FAMILIES[name]
    tokenizer = mlm_class(family.tokenizer).from_preset(preset)
    tokenizer.save_to_preset(tmp_path / "tokenizer")
    assert {"tokenizer.json", "assets"} <= set(listing(tmp_path / "tokenizer"))
    restored = models.Tokenizer.from_preset(tmp_path / "tokenizer")
    assert type(restored) is type(tokenizer) and restored.get_vocabulary() == tokenizer.get_vocabulary()
    assert [ids.tolist() for ids in restored(TEXTS)] == [ids.tolist() for ids in tokenizer(TEXTS)]


def listing(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# --- one family's classes refuse another family's presets -----------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_classes_refuse_another_familys_preset(name, presets):
    other = "distil_bert" if name == "bert" else "bert"  # DistilBERT's mlm tokenizer subclasses BERT's
    preset, family = presets(other), FAMILIES[name]
    for role in ("backbone", "tokenizer", "preprocessor", "masked_lm"):
        with pytest.raises(PresetError, match=f"this is a {other} preset, not {name}") as error:
            mlm_class(getattr(family, role)).from_preset(preset)
        assert "\n" not in str(error.value) and f"{getattr(FAMILIES[other], role)}.from_preset" in str(error.value)


@pytest.mark.run_once
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_class_lists_its_familys_presets(name):
    family = FAMILIES[name]
    builtin = {preset: info for preset, info in hub.builtin_presets().items() if not info.scratch}
    expected = {preset for preset, info in builtin.items() if info.family == name}
    for role in ("backbone", "tokenizer", "preprocessor", "masked_lm"):
        assert set(mlm_class(getattr(family, role)).presets) == expected, role
    for base in ("Backbone", "Tokenizer", "MaskedLMPreprocessor", "MaskedLM"):
        assert set(mlm_class(base).presets) == set(builtin), base


# --- arguments and safe writing (BERT) --------------------------------------------------------


def test_from_preset_arguments(keras_hub_preset):
    backbone = models.BertBackbone.from_preset(keras_hub_preset, dropout=0.0)
    fresh = models.Backbone.from_preset(keras_hub_preset, load_weights=False)
    assert backbone.dropout == 0.0 and fresh.dropout == 0.1
    assert not np.allclose(as_numpy(backbone.token_embedding.embeddings), as_numpy(fresh.token_embedding.embeddings))
    tokenizer = models.Tokenizer.from_preset(keras_hub_preset, sequence_length=5, special_tokens_in_strings=True)
    words = [tokenizer.token_to_id(token) for token in ("the", "[MASK]", "model")]
    assert tokenizer("the [MASK] model").tolist() == [*words, 0, 0]
    preprocessor = models.MaskedLMPreprocessor.from_preset(keras_hub_preset, sequence_length=12,
                                                           mask_selection_length=3)
    assert (preprocessor.sequence_length, preprocessor.mask_selection_length) == (12, 3)
    assert models.BertMaskedLM.from_preset(keras_hub_preset, preprocessor=None).preprocessor is None
    for load, argument in ((models.Backbone.from_preset, "hidden_dim"), (models.Tokenizer.from_preset, "vocabulary"),
                           (models.MaskedLMPreprocessor.from_preset, "lowercase")):
        with pytest.raises(TypeError, match=f"unexpected from_preset arguments: {argument}"):
            load(keras_hub_preset, **{argument: 1})
    with pytest.raises(ValueError, match="plain file name"):
        models.Tokenizer.from_preset(keras_hub_preset, config_file="../tokenizer.json")


def test_save_to_preset_refuses_to_overwrite_and_keeps_families_apart(tiny_model, tmp_path):
    backbone, preprocessor = tiny_model.backbone, tiny_model.preprocessor
    target = tmp_path / "preset"
    backbone.save_to_preset(target)
    with pytest.raises(BadInputError, match="already holds model.weights.h5, config.json"):
        backbone.save_to_preset(target)
    preprocessor.save_to_preset(target)
    with pytest.raises(BadInputError, match="already holds assets/tokenizer, tokenizer.json"):
        preprocessor.tokenizer.save_to_preset(target)
    preprocessor.tokenizer.save_to_preset(target, overwrite=True)
    backbone.save_to_preset(target, overwrite=True)
    assert listing(target) == ["assets", "assets/tokenizer", "assets/tokenizer/vocabulary.txt", "config.json",
                               "metadata.json", "model.weights.h5", "preprocessor.json", "tokenizer.json"]
    assert models.MaskedLM.from_preset(target).backbone.parameter_count() == backbone.parameter_count()

    protein = models.ESMTokenizer(vocabulary=ESM_VOCABULARY)
    with pytest.raises(BadInputError, match="a bert preset; a esm object cannot join it"):
        protein.save_to_preset(target, overwrite=True)

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(BadInputError, match="already exists and is not empty"):
        backbone.save_to_preset(mine)
    backbone.save_to_preset(mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep" and (mine / "config.json").is_file()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging leftovers


def test_tokenizer_settings_keras_hub_cannot_hold_survive_joining(tmp_path):
    tokenizer = models.BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True, normalization="transformers")
    tokenizer.save_to_preset(tmp_path / "preset")
    backbone = models.BertBackbone(vocabulary_size=len(tiny_vocabulary()), **tiny_sizes("bert"))
    backbone.save_to_preset(tmp_path / "preset")
    metadata = read_json(tmp_path / "preset" / "metadata.json")
    assert metadata["mlm_tokenizer_extensions"] == {"normalization": "transformers"}
    assert metadata["tasks"] == ["MaskedLM", "TextClassifier", "TextEmbedder"]
    assert models.BertTokenizer.from_preset(tmp_path / "preset").normalization == "transformers"


@pytest.mark.run_once
def test_tokenizers_and_preprocessors_save_and_load_without_keras(tmp_path):
    """Data workers use them alone: their presets move without importing keras or a backend."""
    code = (
        "import sys\n"
        "from mlm_cli.models import BertMaskedLMPreprocessor, BertTokenizer, MaskedLMPreprocessor, Tokenizer\n"
        f"tokenizer = BertTokenizer(vocabulary={tiny_vocabulary()!r})\n"
        f"BertMaskedLMPreprocessor(tokenizer, sequence_length=16).save_to_preset({str(tmp_path / 'a')!r})\n"
        f"Tokenizer.from_preset({str(tmp_path / 'a')!r}).save_to_preset({str(tmp_path / 'b')!r})\n"
        f"preprocessor = MaskedLMPreprocessor.from_preset({str(tmp_path / 'a')!r})\n"
        f"preprocessor.save_to_preset({str(tmp_path / 'b')!r}, overwrite=True)\n"
        "assert preprocessor.sequence_length == 16\n"
    )
    assert heavy_modules_imported(code, ("keras", "jax", "torch", "tensorflow")) == []
    assert listing(tmp_path / "b") == ["assets", "assets/tokenizer", "assets/tokenizer/vocabulary.txt",
                                       "preprocessor.json", "tokenizer.json"]


def test_config_file_from_an_untrusted_preset_never_leaves_the_directory(tmp_path):
    tokenizer = models.BertTokenizer(vocabulary=tiny_vocabulary(), config_file="../escape.json")
    with pytest.raises(BadInputError, match="plain file name"):
        tokenizer.save_to_preset(tmp_path / "preset")
    assert listing(tmp_path) == []


# --- keras_hub's documented examples, with keras_hub.models replaced by mlm_cli.models --------

EXAMPLE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def keras_hub_examples(class_name: str, preset: Path, package: str) -> list[str]:
    """The ```python blocks of keras_hub's docstring of `class_name`, with `keras_hub.models` replaced by `package`
    and the preset name they download by a local tiny preset; nothing else changes."""
    docstring = keras_hub_class(class_name).__doc__
    blocks = [textwrap.dedent(block) for block in EXAMPLE_BLOCK.findall(docstring)]
    assert blocks, class_name
    return [block.replace("keras_hub.models.", f"{package}.").replace('"bert_base_en_uncased"', repr(str(preset)))
            for block in blocks]


def run_example(code: str, name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"np": np, "keras": keras, "mlm_cli": mlm_cli, "keras_hub": keras_hub}
    exec(compile(code, f"<keras_hub's {name} example>", "exec"), namespace)  # noqa: S102 (keras_hub's own docs)
    return namespace


@pytest.mark.parametrize("class_name", [
    # Its example compiles with jit_compile=True: on torch, torch.compile takes half a minute on a CPU.
    pytest.param("BertMaskedLM", marks=pytest.mark.slow), "BertBackbone", "BertTokenizer"])
def test_keras_hub_docstring_examples_run_on_mlm(class_name, keras_hub_preset):
    for code in keras_hub_examples(class_name, keras_hub_preset, "mlm_cli.models"):
        assert "keras_hub" not in code.replace(repr(str(keras_hub_preset)), "")
        run_example(code, class_name)


def test_keras_hub_tokenizer_example_gives_keras_hub_ids(keras_hub_preset):
    ours = keras_hub_examples("BertTokenizer", keras_hub_preset, "mlm_cli.models")
    theirs = keras_hub_examples("BertTokenizer", keras_hub_preset, "keras_hub.models")
    for code, reference_code in zip(ours, theirs):
        tokenizer = run_example(code, "BertTokenizer")["tokenizer"]
        reference = run_example(reference_code, "BertTokenizer")["tokenizer"]
        assert_token_ids_equal_keras_hub(tokenizer, reference, TEXTS)
