"""FNet: presets move both ways between keras-hub 0.32 and mlm; Fourier mixing, tokens and packing equal keras_hub's."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import sample_sentences
from tests.models.h5_layout import assert_same_h5_layout
from tests.models.test_albert import SENTENCES, train_sentencepiece, training_texts

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.errors import PresetError  # noqa: E402
from mlm_cli.models import FNetBackbone, FNetMaskedLM, FNetMaskedLMPreprocessor, FNetTokenizer, MaskedLM  # noqa: E402
from mlm_cli.seeding import set_seed  # noqa: E402

SIZES = dict(num_layers=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32)


@pytest.fixture(scope="module")
def proto() -> bytes:
    return train_sentencepiece(training_texts(), 160)


def fixed_batch(vocabulary_size: int, seed: int = 0, length: int = 24, selections: int = 6) -> dict[str, np.ndarray]:
    """Random ids padded with <pad> (rows of 24, 17, 9 and 5 real tokens), four segments, masked positions among real tokens."""
    rng = np.random.default_rng(seed)
    lengths = np.array([length, 17, 9, 5])
    real = np.arange(length)[None, :] < lengths[:, None]
    token_ids = np.where(real, rng.integers(5, vocabulary_size, (4, length)), 0).astype("int32")
    segment_ids = (np.arange(length)[None, :] * 4 // length * real).astype("int32")
    positions = np.sort(rng.integers(1, 5, (4, selections)), axis=1).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids, "mask_positions": positions}


def logits(model, batch) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(batch, training=False))


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random FNetMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    set_seed(5)
    tokenizer = keras_hub.models.FNetTokenizer(proto=proto)
    preprocessor = keras_hub.models.FNetMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    backbone = keras_hub.models.FNetBackbone(vocabulary_size=tokenizer.vocabulary_size(), **SIZES)
    model = keras_hub.models.FNetMaskedLM(backbone, preprocessor=preprocessor)
    rng = np.random.default_rng(5)
    for variable in model.weights:
        variable.assign(keras.ops.convert_to_numpy(variable) + rng.normal(0.0, 0.3, variable.shape).astype("float32"))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_f_net"
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
    reference = keras_hub.models.FNetMaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, FNetMaskedLM) and isinstance(ours.backbone, FNetBackbone)
    batch = fixed_batch(ours.backbone.vocabulary_size)
    out = logits(ours, batch)
    assert out.shape == (4, 6, ours.backbone.vocabulary_size) and out.dtype == np.float32
    assert np.abs(out - logits(reference, batch)).max() <= 1e-4
    assert ours.backbone.parameter_count() == reference.backbone.count_params()
    # No attention mask: a padding mask, if a caller passes one, changes nothing.
    masked = {**batch, "padding_mask": batch["token_ids"] != 0}
    assert np.array_equal(logits(ours, masked), out)


def test_sequence_output_equals_keras_hub(keras_hub_preset):
    reference = keras_hub.models.FNetBackbone.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset).backbone
    batch = fixed_batch(ours.vocabulary_size, seed=2)
    inputs = {key: batch[key] for key in ("token_ids", "segment_ids")}
    expected = keras.ops.convert_to_numpy(reference(inputs)["sequence_output"])
    assert np.abs(keras.ops.convert_to_numpy(ours(inputs)["sequence_output"]) - expected).max() <= 1e-4


def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(trained_preset):
    path, ours, before = trained_preset
    batch = fixed_batch(ours.backbone.vocabulary_size, seed=1)
    assert np.abs(logits(ours, batch) - before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(path))
    assert type(reference).__name__ == "FNetMaskedLM"
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    ours_pre, reference_pre = ours.preprocessor, reference.preprocessor
    for key in ("sequence_length", "truncate", "mask_selection_rate", "mask_selection_length", "mask_token_rate", "random_token_rate"):
        assert getattr(reference_pre, key) == getattr(ours_pre, key), key
    assert reference_pre.tokenizer.get_vocabulary() == ours_pre.tokenizer.get_vocabulary()
    for text in SENTENCES:
        assert np.asarray(reference_pre.tokenizer(text)).tolist() == ours_pre.tokenizer(text).tolist(), repr(text)


def test_round_trip_through_mlm_keeps_every_weight(trained_preset, tmp_path):
    path, _, _ = trained_preset
    first = MaskedLM.from_preset(path)
    first.save_to_preset(tmp_path / "copy")
    second = MaskedLM.from_preset(tmp_path / "copy")
    assert len(first.weights) == len(second.weights) == 9 + SIZES["num_layers"] * 8 + 5
    for a, b in zip(first.weights, second.weights):
        assert np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)), a.path


def test_weight_files_and_configs_have_keras_hub_layout(keras_hub_preset, trained_preset):
    ours, _, _ = trained_preset
    for name in ("model.weights.h5", "task.weights.h5"):
        assert_same_h5_layout(ours / name, keras_hub_preset / name)
    for name in ("config.json", "tokenizer.json", "preprocessor.json"):
        assert json.loads((ours / name).read_text()) == json.loads((keras_hub_preset / name).read_text()), name
    task = json.loads((ours / "task.json").read_text())
    assert task["class_name"] == "FNetMaskedLM" and task["module"] == "keras_hub.src.models.f_net.f_net_masked_lm"


def test_tokenizer_ids_equal_keras_hub(proto):
    reference = keras_hub.models.FNetTokenizer(proto=proto)
    ours = FNetTokenizer(proto=proto)
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    assert any(ours.token_to_id("<unk>") in ids for ids in expected)  # some text is out of vocabulary
    flat, offsets = ours.encoder.encode_batch_flat(SENTENCES)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(SENTENCES) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == expected
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    own_keys = ("name", "dtype")  # Keras numbers a second instance's name and serializes its dtype policy
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}


def test_preprocessor_packs_like_keras_hub_without_padding_mask(proto):
    ours = FNetMaskedLMPreprocessor(FNetTokenizer(proto=proto), sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.FNetMaskedLMPreprocessor(keras_hub.models.FNetTokenizer(proto=proto), sequence_length=12, mask_selection_length=4)
    texts = sample_sentences(6, seed=3) + [""]
    x, mask_ids, mask_weights = ours(texts)
    expected, _, _ = reference(texts)
    assert set(x) == set(expected) == {"token_ids", "segment_ids", "mask_positions"}
    token_ids, segment_ids = reference.packer(reference.tokenizer(texts))
    packed, _ = ours.pack(texts)
    assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
    assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
    assert x["mask_positions"].shape == mask_ids.shape == mask_weights.shape == (7, 4)
    own_keys = ("tokenizer", "dtype", "name")
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}


@pytest.mark.parametrize(
    "change",
    [{"vocabulary_size": 10**12}, {"hidden_dim": 10**9}, {"num_layers": 0}, {"num_segments": 0}, {"max_sequence_length": "512"}, {"dropout": 1.5}],
)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        FNetBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_hostile_preset_config_is_one_preset_error(keras_hub_preset, tmp_path):
    copy = tmp_path / "hostile"
    shutil.copytree(keras_hub_preset, copy)
    config = json.loads((copy / "config.json").read_text())
    config["config"]["hidden_dim"] = 10**9
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="hidden_dim"):
        MaskedLM.from_preset(copy)


def test_mixed_bfloat16_keeps_float32_variables_and_mixes_in_float32(keras_hub_preset):
    """bf16 compute with float32 weights (training in bf16 runs in the CLI test below)."""
    full = MaskedLM.from_preset(keras_hub_preset)
    half = MaskedLM.from_preset(keras_hub_preset, dtype="mixed_bfloat16")
    assert {v.dtype for v in half.weights} == {"float32"}
    batch = fixed_batch(full.backbone.vocabulary_size)
    out, expected = logits(half, batch), logits(full, batch)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 0.1 * np.abs(expected).max()  # bf16 keeps about 3 digits through every block


def test_cli_trains_and_evaluates_an_f_net_preset(proto, tmp_path, backend):
    from tests.cli.conftest import UNREACHABLE, run_mlm

    tokenizer = FNetTokenizer(proto=proto)
    preprocessor = FNetMaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    backbone = FNetBackbone(vocabulary_size=tokenizer.vocabulary_size(), **{**SIZES, "max_sequence_length": 64})
    FNetMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "preset")
    (tmp_path / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (tmp_path / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": backend, "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    run = tmp_path / "run"
    trained = run_mlm("train", "--preset", str(tmp_path / "preset"), "--data", str(tmp_path / "train.txt"), "--output", str(run),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision", "mixed_bfloat16", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == "FNetMaskedLM"
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(tmp_path / "heldout.txt"), "--json", "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
