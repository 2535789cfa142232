"""DistilBERT: presets move both ways between keras-hub 0.32 and mlm, tokens and packing equal keras_hub's."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.conftest import sample_sentences, tiny_vocabulary
from tests.models.h5_layout import assert_same_h5_layout

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.errors import PresetError  # noqa: E402
from mlm_cli.models import (  # noqa: E402
    DistilBertBackbone,
    DistilBertMaskedLM,
    DistilBertMaskedLMPreprocessor,
    DistilBertTokenizer,
    MaskedLM,
)
from mlm_cli.seeding import set_seed  # noqa: E402

SIZES = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
# Layers Keras names automatically (numbered per process): their names in an h5 file vary.
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", "   ", "12,345.67 and 3.14",
    "[MASK] is [CLS] and [SEP] [PAD]", "a[MASK]b [UNK]", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "İstanbul straße ﬁne", "x" * 120, "the model will train on data, then mask a token!",
]


def fixed_batch(vocabulary_size: int, seed: int = 0, length: int = 24, selections: int = 6) -> dict[str, np.ndarray]:
    """Random ids with padding (rows of 24, 17, 9 and 5 real tokens) and masked positions among the real tokens."""
    rng = np.random.default_rng(seed)
    lengths = np.array([length, 17, 9, 5])
    padding_mask = np.arange(length)[None, :] < lengths[:, None]
    token_ids = np.where(padding_mask, rng.integers(5, vocabulary_size, (4, length)), 0).astype("int32")
    positions = np.sort(rng.integers(1, 5, (4, selections)), axis=1).astype("int32")
    return {"token_ids": token_ids, "padding_mask": padding_mask, "mask_positions": positions}


def logits(model, batch) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(batch, training=False))


@pytest.fixture(scope="module")
def keras_hub_preset(tmp_path_factory):
    """A tiny random DistilBertMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    set_seed(5)
    tokenizer = keras_hub.models.DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = keras_hub.models.DistilBertMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    preprocessor(["the model will train"])  # builds the packer and masker, as any used preprocessor has them
    backbone = keras_hub.models.DistilBertBackbone(vocabulary_size=len(tiny_vocabulary()), **SIZES)
    model = keras_hub.models.DistilBertMaskedLM(backbone, preprocessor=preprocessor)
    for index, variable in enumerate(model.weights):
        variable.assign(variable + keras.random.normal(variable.shape, stddev=0.3, seed=index))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_distil_bert"
    model.save_to_preset(str(path))
    return path


@pytest.fixture(scope="module")
def trained_preset(keras_hub_preset, tmp_path_factory):
    """The keras_hub preset loaded in mlm, fitted for an epoch, saved by mlm; with the model and its pre-fit logits."""
    model = MaskedLM.from_preset(keras_hub_preset)
    batch = fixed_batch(model.backbone.vocabulary_size, seed=1)
    before = logits(model, batch)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(sample_sentences(32), batch_size=8, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("mlm") / "trained"
    model.save_to_preset(path)
    return path, model, before


def test_keras_hub_preset_loads_in_mlm_with_equal_logits(keras_hub_preset):
    reference = keras_hub.models.DistilBertMaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, DistilBertMaskedLM) and isinstance(ours.backbone, DistilBertBackbone)
    batch = fixed_batch(ours.backbone.vocabulary_size)
    assert logits(ours, batch).shape == (4, 6, len(tiny_vocabulary()))
    assert logits(ours, batch).dtype == np.float32
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    assert ours.backbone.parameter_count() == reference.backbone.count_params()


def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(trained_preset):
    path, ours, before = trained_preset
    batch = fixed_batch(ours.backbone.vocabulary_size, seed=1)
    assert np.abs(logits(ours, batch) - before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(path))
    assert type(reference).__name__ == "DistilBertMaskedLM"
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    ours_pre, reference_pre = ours.preprocessor, reference.preprocessor
    for key in ("sequence_length", "truncate", "mask_selection_rate", "mask_selection_length", "mask_token_rate", "random_token_rate"):
        assert getattr(reference_pre, key) == getattr(ours_pre, key), key
    assert reference_pre.tokenizer.get_vocabulary() == ours_pre.tokenizer.get_vocabulary()
    assert reference_pre.tokenizer.lowercase == ours_pre.tokenizer.lowercase
    for text in SENTENCES:
        assert np.asarray(reference_pre.tokenizer(text)).tolist() == ours_pre.tokenizer(text).tolist(), repr(text)


def test_round_trip_through_mlm_keeps_every_weight(trained_preset, tmp_path):
    path, trained, _ = trained_preset
    first = MaskedLM.from_preset(path)
    first.save_to_preset(tmp_path / "copy")
    second = MaskedLM.from_preset(tmp_path / "copy")
    assert len(trained.weights) == len(first.weights) == len(second.weights) == 4 + SIZES["num_layers"] * 12 + 5
    for original, a, b in zip(trained.weights, first.weights, second.weights):
        assert np.array_equal(keras.ops.convert_to_numpy(original), keras.ops.convert_to_numpy(a)), a.path
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)), a.path


def test_weight_files_have_keras_hub_layout(keras_hub_preset, trained_preset):
    ours, _, _ = trained_preset
    for name in ("model.weights.h5", "task.weights.h5"):
        assert_same_h5_layout(ours / name, keras_hub_preset / name)


def test_configs_equal_keras_hub(keras_hub_preset, trained_preset):
    ours, _, _ = trained_preset
    for name in ("config.json", "tokenizer.json", "preprocessor.json"):
        written, expected = json.loads((ours / name).read_text()), json.loads((keras_hub_preset / name).read_text())
        assert written == expected, name
    task = json.loads((ours / "task.json").read_text())
    assert task["class_name"] == "DistilBertMaskedLM" and task["module"] == "keras_hub.src.models.distil_bert.distil_bert_masked_lm"
    assert "mlm_backbone_extensions" not in json.loads((ours / "metadata.json").read_text())


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("special_tokens_in_strings", [True, False])
def test_tokenizer_ids_equal_keras_hub(lowercase, special_tokens_in_strings):
    vocabulary = tiny_vocabulary() + ["café", "é", "##é", "日", "本", "語", "😀", "straße"]
    settings = dict(lowercase=lowercase, special_tokens_in_strings=special_tokens_in_strings)
    reference = keras_hub.models.DistilBertTokenizer(vocabulary=vocabulary, **settings)
    ours = DistilBertTokenizer(vocabulary=vocabulary, **settings)
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    flat, offsets = ours.encoder.encode_batch_flat(SENTENCES)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(SENTENCES) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == expected
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert ours.detokenize(ours("the models trained quickly")) == "the models trained quickly"


def test_preprocessor_packs_like_keras_hub():
    tokenizer = DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    ours = DistilBertMaskedLMPreprocessor(tokenizer, sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.DistilBertMaskedLMPreprocessor(
        keras_hub.models.DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True), sequence_length=12, mask_selection_length=4
    )
    texts = sample_sentences(6, seed=3) + [""]
    x, mask_ids, mask_weights = ours(texts)
    expected_x, _, _ = reference(texts)
    assert set(x) == set(expected_x) == {"token_ids", "padding_mask", "mask_positions"}
    packed, _ = ours.pack(texts)
    token_ids, _ = reference.packer(reference.tokenizer(texts))
    assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
    assert x["padding_mask"].tolist() == keras.ops.convert_to_numpy(expected_x["padding_mask"]).tolist()
    assert x["mask_positions"].shape == mask_ids.shape == mask_weights.shape == (7, 4)
    own_keys = ("tokenizer", "dtype", "name")  # the name Keras gives a second instance ends in _1
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}


@pytest.mark.parametrize(
    "change",
    [
        {"vocabulary_size": 10**12},
        {"hidden_dim": 10**9},
        {"num_layers": 0},
        {"num_heads": 3},
        {"max_sequence_length": "512"},
        {"dropout": 1.5},
        {"head_layer_norm_epsilon": 0.0},
    ],
)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        DistilBertBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_hostile_preset_config_is_one_preset_error(keras_hub_preset, tmp_path):
    import shutil

    copy = tmp_path / "hostile"
    shutil.copytree(keras_hub_preset, copy)
    config = json.loads((copy / "config.json").read_text())
    config["config"]["vocabulary_size"] = 10**12
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="vocabulary_size"):
        MaskedLM.from_preset(copy)


def test_mixed_bfloat16_keeps_float32_variables_and_logits():
    """Training's precision policy: bf16 compute close to float32 on the same weights, float32 variables and logits.

    (Training under mixed_bfloat16 runs in test_cli_trains_and_evaluates_a_distil_bert_preset.)
    """
    tokenizer = DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    full = DistilBertMaskedLM(DistilBertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **SIZES))
    mixed = DistilBertMaskedLM(DistilBertBackbone(vocabulary_size=tokenizer.vocabulary_size(), dtype="mixed_bfloat16", **SIZES))
    assert {v.dtype for v in mixed.weights} == {"float32"}
    for source, target in zip(full.weights, mixed.weights):
        target.assign(source)
    batch = fixed_batch(tokenizer.vocabulary_size())
    expected, out = logits(full, batch), logits(mixed, batch)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 0.05 * np.abs(expected).max()


def test_cli_trains_and_evaluates_a_distil_bert_preset(tmp_path, backend):
    from tests.cli.conftest import UNREACHABLE, run_mlm

    tokenizer = DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = DistilBertMaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    backbone = DistilBertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **{**SIZES, "max_sequence_length": 64})
    DistilBertMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "preset")
    (tmp_path / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (tmp_path / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": backend, "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    run = tmp_path / "run"
    trained = run_mlm("train", "--preset", str(tmp_path / "preset"), "--data", str(tmp_path / "train.txt"), "--output", str(run),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision", "mixed_bfloat16", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == "DistilBertMaskedLM"
    kernel = "layers/transformer_encoder/_feedforward_output_dense/vars/0"
    with h5py.File(tmp_path / "preset" / "model.weights.h5") as initial, h5py.File(run / "model.weights.h5") as trained_weights:
        assert not np.array_equal(initial[kernel][()], trained_weights[kernel][()])  # the three steps trained the encoder
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(tmp_path / "heldout.txt"), "--json", "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
    assert (run / "checkpoints").is_dir()
