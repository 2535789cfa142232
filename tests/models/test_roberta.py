"""RoBERTa: presets move both ways between keras-hub 0.32 and mlm with equal logits, token ids and packing
equal keras_hub's, weights round-trip bit-exactly, and the real `mlm` entry point trains and evaluates it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import WORDS, sample_sentences
from tests.models.h5_layout import assert_same_h5_layout

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.errors import PresetError  # noqa: E402
from mlm_cli.models import (  # noqa: E402
    MaskedLM,
    RobertaBackbone,
    RobertaMaskedLM,
    RobertaMaskedLMPreprocessor,
    RobertaTokenizer,
)
from mlm_cli.seeding import set_seed  # noqa: E402

SIZES = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
# Layers Keras names automatically (numbered per process): their names in an h5 file vary.
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate ÉCOLE", "日本語のテキスト 中文字符", "emoji 😀👍 ok 🙂",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", " ", "   ", "12,345.67 and 3.14 and 2024",
    "<mask> is <s> and </s> <pad>", "a<mask>b <unk> x</s>y", " <mask> ", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "İstanbul straße ﬁne", "x" * 120, "don't I'M we'll (brackets) e-mail U.S.A.",
    "the model will train on data, then mask a token!", "trailing space ", "\u00a0nbsp\u3000ideographic\u2009thin",
]


def tiny_bpe(directory: Path, vocabulary_size: int = 700) -> tuple[Path, Path]:
    """A byte-level BPE (vocab.json, merges.txt) trained in seconds on varied text; RoBERTa's special tokens first."""
    from tokenizers import ByteLevelBPETokenizer

    corpus = SENTENCES * 4 + sample_sentences(300, seed=5) + [" ".join(WORDS)] * 5
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(corpus, vocab_size=vocabulary_size, min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False)
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary, merges = trainer.save_model(str(directory))
    return Path(vocabulary), Path(merges)


def read_bpe(directory: Path) -> tuple[dict[str, int], list[str]]:
    """(vocabulary, merge rules) of tiny_bpe's files, in the forms keras_hub's constructors take."""
    vocabulary = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    lines = (directory / "merges.txt").read_text(encoding="utf-8").splitlines()
    return vocabulary, [line for line in lines if line and not line.startswith("#version")]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> tuple[dict[str, int], list[str]]:
    directory = tmp_path_factory.mktemp("bpe")
    tiny_bpe(directory)
    return read_bpe(directory)


def fixed_batch(vocabulary_size: int, pad_id: int, seed: int = 0, length: int = 24, selections: int = 6) -> dict[str, np.ndarray]:
    """Random ids with padding (rows of 24, 17, 9 and 5 real tokens) and masked positions among the real tokens."""
    rng = np.random.default_rng(seed)
    lengths = np.array([length, 17, 9, 5])
    padding_mask = np.arange(length)[None, :] < lengths[:, None]
    token_ids = np.where(padding_mask, rng.integers(5, vocabulary_size, (4, length)), pad_id).astype("int32")
    positions = np.sort(rng.integers(1, 5, (4, selections)), axis=1).astype("int32")
    return {"token_ids": token_ids, "padding_mask": padding_mask, "mask_positions": positions}


def logits(model, batch) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(batch, training=False))


@pytest.fixture(scope="module")
def keras_hub_preset(bpe, tmp_path_factory):
    """A tiny random RobertaMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    set_seed(5)
    vocabulary, merges = bpe
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.RobertaMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    preprocessor(["the model will train"])  # builds the packer and masker, as any used preprocessor has them
    backbone = keras_hub.models.RobertaBackbone(vocabulary_size=len(vocabulary), **SIZES)
    model = keras_hub.models.RobertaMaskedLM(backbone, preprocessor=preprocessor)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(keras.ops.convert_to_numpy(variable) + rng.normal(0, 0.3, variable.shape).astype("float32"))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_roberta"
    model.save_to_preset(str(path))
    return path


@pytest.fixture(scope="module")
def trained_preset(keras_hub_preset, tmp_path_factory):
    """The keras_hub preset loaded in mlm, fitted for an epoch, saved by mlm; with the model and its pre-fit logits."""
    model = MaskedLM.from_preset(keras_hub_preset)
    batch = fixed_batch(model.backbone.vocabulary_size, model.preprocessor.tokenizer.pad_token_id, seed=1)
    before = logits(model, batch)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(sample_sentences(32), batch_size=8, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("mlm") / "trained"
    model.save_to_preset(path)
    return path, model, before


def test_keras_hub_preset_loads_in_mlm_with_equal_logits(keras_hub_preset):
    reference = keras_hub.models.RobertaMaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, RobertaMaskedLM) and isinstance(ours.backbone, RobertaBackbone)
    batch = fixed_batch(ours.backbone.vocabulary_size, ours.preprocessor.tokenizer.pad_token_id)
    out = logits(ours, batch)
    assert out.shape == (4, 6, ours.backbone.vocabulary_size) and out.dtype == np.float32
    assert np.abs(out - logits(reference, batch)).max() <= 1e-4
    # segment_ids are accepted and ignored: RoBERTa has no segment embeddings.
    with_segments = {**batch, "segment_ids": np.ones_like(batch["token_ids"])}
    assert np.array_equal(logits(ours, with_segments), out)
    assert ours.backbone.parameter_count() == reference.backbone.count_params()


def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(trained_preset):
    path, ours, before = trained_preset
    batch = fixed_batch(ours.backbone.vocabulary_size, ours.preprocessor.tokenizer.pad_token_id, seed=1)
    assert np.abs(logits(ours, batch) - before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(path))
    assert type(reference).__name__ == "RobertaMaskedLM"
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    ours_pre, reference_pre = ours.preprocessor, reference.preprocessor
    for key in ("sequence_length", "truncate", "mask_selection_rate", "mask_selection_length", "mask_token_rate", "random_token_rate"):
        assert getattr(reference_pre, key) == getattr(ours_pre, key), key
    assert list(reference_pre.tokenizer.get_vocabulary()) == ours_pre.tokenizer.get_vocabulary()
    assert reference_pre.tokenizer.merges == ours_pre.tokenizer.merges
    for text in SENTENCES:
        assert np.asarray(reference_pre.tokenizer(text)).tolist() == ours_pre.tokenizer(text).tolist(), repr(text)


def test_round_trip_through_mlm_keeps_every_weight(trained_preset, tmp_path):
    path, _, _ = trained_preset
    first = MaskedLM.from_preset(path)
    first.save_to_preset(tmp_path / "copy")
    second = MaskedLM.from_preset(tmp_path / "copy")
    assert len(first.weights) == len(second.weights) == 4 + SIZES["num_layers"] * 12 + 5
    for a, b in zip(first.weights, second.weights):
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)), a.path
    for name in ("vocabulary.json", "merges.txt"):
        assert (tmp_path / "copy" / "assets" / "tokenizer" / name).read_bytes() == (path / "assets" / "tokenizer" / name).read_bytes()


def test_files_have_keras_hub_layout_and_configs(keras_hub_preset, trained_preset):
    ours, _, _ = trained_preset
    for name in ("model.weights.h5", "task.weights.h5"):
        assert_same_h5_layout(ours / name, keras_hub_preset / name)
    for name in ("config.json", "tokenizer.json", "preprocessor.json"):
        assert json.loads((ours / name).read_text()) == json.loads((keras_hub_preset / name).read_text()), name
    task = json.loads((ours / "task.json").read_text())
    assert task["class_name"] == "RobertaMaskedLM" and task["module"] == "keras_hub.src.models.roberta.roberta_masked_lm"
    metadata = json.loads((ours / "metadata.json").read_text())
    assert "mlm_backbone_extensions" not in metadata and "mlm_tokenizer_extensions" not in metadata
    assert json.loads((ours / "assets/tokenizer/vocabulary.json").read_text()) == json.loads(
        (keras_hub_preset / "assets/tokenizer/vocabulary.json").read_text())
    assert (ours / "assets/tokenizer/merges.txt").read_text() == (keras_hub_preset / "assets/tokenizer/merges.txt").read_text()


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_tokenizer_ids_equal_keras_hub(bpe, add_prefix_space):
    vocabulary, merges = bpe
    reference = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges, add_prefix_space=add_prefix_space)
    ours = RobertaTokenizer(vocabulary=vocabulary, merges=merges, add_prefix_space=add_prefix_space)
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    assert all(ours(text).dtype == np.int32 for text in SENTENCES)
    flat, offsets = ours.encoder.encode_batch_flat(SENTENCES)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(SENTENCES) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == expected
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.start_token_id, reference.end_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert ours.get_vocabulary() == list(reference.get_vocabulary()) and ours.vocabulary_size() == reference.vocabulary_size()
    for token in ("<mask>", "Ġthe", "the", "<s>"):
        assert ours.token_to_id(token) == reference.token_to_id(token)
        assert ours.id_to_token(ours.token_to_id(token)) == reference.id_to_token(reference.token_to_id(token))
    for text in SENTENCES:
        assert ours.detokenize(ours(text)) == reference.detokenize(reference(text)), repr(text)


def test_tokenizer_sequence_length_pads_like_keras_hub(bpe):
    vocabulary, merges = bpe
    reference = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges, sequence_length=6)
    ours = RobertaTokenizer(vocabulary=vocabulary, merges=merges, sequence_length=6)
    assert ours(SENTENCES).tolist() == np.asarray(reference(SENTENCES)).tolist()
    assert ours("a").tolist() == np.asarray(reference("a")).tolist()


@pytest.mark.parametrize("truncate", ["round_robin", "waterfall"])
def test_preprocessor_packs_like_keras_hub(bpe, truncate):
    vocabulary, merges = bpe
    ours = RobertaMaskedLMPreprocessor(RobertaTokenizer(vocabulary=vocabulary, merges=merges), sequence_length=12,
                                       truncate=truncate, mask_selection_length=4, seed=0)
    reference = keras_hub.models.RobertaMaskedLMPreprocessor(
        keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges), sequence_length=12, truncate=truncate, mask_selection_length=4
    )
    reference(["warm up"])  # builds keras_hub's packer
    first, second = sample_sentences(7, seed=3) + [""], ["a word", ""] + sample_sentences(6, seed=4)
    for inputs in ((first,), (first, second)):
        packed, _ = ours.pack(inputs if len(inputs) > 1 else inputs[0])
        token_ids, segment_ids = reference.packer(tuple(reference.tokenizer(segment) for segment in inputs))
        assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
        assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
        assert packed["padding_mask"].tolist() == (keras.ops.convert_to_numpy(token_ids) != ours.tokenizer.pad_token_id).tolist()
    x, mask_ids, mask_weights = ours((first, second))
    assert x["mask_positions"].shape == mask_ids.shape == mask_weights.shape == (8, 4)
    chosen = np.take_along_axis(packed["token_ids"], x["mask_positions"], axis=1)[mask_weights > 0]
    assert not np.isin(chosen, ours.tokenizer.special_token_ids).any()
    own_keys = ("tokenizer", "dtype", "name")  # the name Keras gives a second instance ends in _1
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}


@pytest.mark.parametrize(
    "change",
    [{"vocabulary_size": 10**12}, {"hidden_dim": 10**9}, {"num_layers": 0}, {"num_heads": 3}, {"max_sequence_length": "512"}, {"dropout": 1.5}],
)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        RobertaBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_bad_tokenizer_inputs_raise_value_error(bpe):
    vocabulary, merges = bpe
    with pytest.raises(ValueError, match="special tokens"):
        RobertaTokenizer(vocabulary={k: v for k, v in vocabulary.items() if k != "<mask>"} | {"<mask>x": vocabulary["<mask>"]}, merges=merges)
    with pytest.raises(ValueError, match="ids"):
        RobertaTokenizer(vocabulary={**vocabulary, "<s>": 10**9}, merges=merges)
    with pytest.raises(ValueError, match="merge rule"):
        RobertaTokenizer(vocabulary=vocabulary, merges=[*merges, "Ġzz qq"])
    with pytest.raises(ValueError, match="unknown tokenizer options"):
        RobertaTokenizer(vocabulary=vocabulary, merges=merges, lowercase=True)


def test_hostile_presets_are_one_preset_error(keras_hub_preset, tmp_path):
    config_copy, vocabulary_copy = tmp_path / "config", tmp_path / "vocabulary"
    shutil.copytree(keras_hub_preset, config_copy)
    config = json.loads((config_copy / "config.json").read_text())
    config["config"]["vocabulary_size"] = 10**12
    (config_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="vocabulary_size"):
        MaskedLM.from_preset(config_copy)
    shutil.copytree(keras_hub_preset, vocabulary_copy)
    (vocabulary_copy / "assets/tokenizer/vocabulary.json").write_text(json.dumps({"<s>": 0, "<pad>": 7}))
    with pytest.raises(PresetError, match="assets/tokenizer"):
        MaskedLM.from_preset(vocabulary_copy)


def test_mixed_bfloat16_keeps_float32_variables_and_logits(bpe):
    """Training's precision policy: bf16 compute close to float32 on the same weights, float32 variables and logits."""
    vocabulary_size = len(bpe[0])
    full = RobertaMaskedLM(RobertaBackbone(vocabulary_size=vocabulary_size, **SIZES))
    mixed = RobertaMaskedLM(RobertaBackbone(vocabulary_size=vocabulary_size, dtype="mixed_bfloat16", **SIZES))
    assert {v.dtype for v in mixed.weights} == {"float32"}
    for source, target in zip(full.weights, mixed.weights):
        target.assign(source)
    batch = fixed_batch(vocabulary_size, pad_id=1)
    expected, out = logits(full, batch), logits(mixed, batch)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 0.05 * np.abs(expected).max()


def test_cli_trains_and_evaluates_a_roberta_preset(bpe, tmp_path, backend):
    from tests.cli.conftest import UNREACHABLE, run_mlm

    vocabulary, merges = bpe
    preprocessor = RobertaMaskedLMPreprocessor(RobertaTokenizer(vocabulary=vocabulary, merges=merges), sequence_length=32, mask_selection_length=8)
    backbone = RobertaBackbone(vocabulary_size=len(vocabulary), **{**SIZES, "max_sequence_length": 64})
    RobertaMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "preset")
    (tmp_path / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (tmp_path / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": backend, "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    run = tmp_path / "run"
    trained = run_mlm("train", "--preset", str(tmp_path / "preset"), "--data", str(tmp_path / "train.txt"), "--output", str(run),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision", "mixed_bfloat16", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == "RobertaMaskedLM"
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(tmp_path / "heldout.txt"), "--json", "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
    reloaded = MaskedLM.from_preset(run)
    reference = keras_hub.models.MaskedLM.from_preset(str(run))
    x, _, _ = reloaded.preprocessor(["the model will train on data", "a word"])
    x = {key: value for key, value in x.items() if key != "segment_ids"}
    assert np.abs(logits(reloaded, x) - logits(reference, x)).max() <= 1e-4
