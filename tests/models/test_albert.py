"""ALBERT: presets move both ways between keras-hub 0.32 and mlm; shared layers, tokens and packing equal keras_hub's."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from tests.conftest import WORDS, sample_sentences
from tests.models.h5_layout import assert_same_h5_layout

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.errors import PresetError  # noqa: E402
from mlm_cli.models import (  # noqa: E402
    AlbertBackbone,
    AlbertMaskedLM,
    AlbertMaskedLMPreprocessor,
    AlbertTokenizer,
    MaskedLM,
)
from mlm_cli.seeding import set_seed  # noqa: E402

# Four layers run by two groups of two shared blocks; embeddings narrower than the encoder.
SIZES = dict(num_layers=4, num_groups=2, num_inner_repetitions=2, num_heads=2, embedding_dim=8, hidden_dim=16,
             intermediate_dim=32, max_sequence_length=32)
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", "   ", "12,345.67 and 3.14",
    "[MASK] is [CLS] and [SEP] <pad> <unk>", "a[MASK]b", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "``quoted'' text", "İstanbul straße ﬁne", "x" * 120,
    "the model will train on data, then mask a token!",
]


def train_sentencepiece(texts: list[str], vocabulary_size: int) -> bytes:
    """A unigram SentencePiece model with the special pieces keras_hub's ALBERT/FNet tokenizers expect."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocabulary_size, hard_vocab_limit=False,
        model_type="unigram", pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>",
        bos_piece="[CLS]", eos_piece="[SEP]", user_defined_symbols="[MASK]", minloglevel=2, num_threads=1,
    )
    return model.getvalue()


def training_texts() -> list[str]:
    return sample_sentences(300, seed=4) + [" ".join(WORDS[i : i + 9]).title() for i in range(0, len(WORDS), 3)] + SENTENCES[:6]


@pytest.fixture(scope="module")
def proto() -> bytes:
    return train_sentencepiece(training_texts(), 160)


def fixed_batch(vocabulary_size: int, seed: int = 0, length: int = 24, selections: int = 6) -> dict[str, np.ndarray]:
    """Random ids with padding (rows of 24, 17, 9 and 5 real tokens), two segments, masked positions among real tokens."""
    rng = np.random.default_rng(seed)
    lengths = np.array([length, 17, 9, 5])
    padding_mask = np.arange(length)[None, :] < lengths[:, None]
    token_ids = np.where(padding_mask, rng.integers(5, vocabulary_size, (4, length)), 0).astype("int32")
    segment_ids = ((np.arange(length)[None, :] >= lengths[:, None] // 2) & padding_mask).astype("int32")
    positions = np.sort(rng.integers(1, 5, (4, selections)), axis=1).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask, "mask_positions": positions}


def logits(model, batch) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(batch, training=False))


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random AlbertMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    set_seed(5)
    tokenizer = keras_hub.models.AlbertTokenizer(proto=proto)
    preprocessor = keras_hub.models.AlbertMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    backbone = keras_hub.models.AlbertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **SIZES)
    model = keras_hub.models.AlbertMaskedLM(backbone, preprocessor=preprocessor)
    rng = np.random.default_rng(5)
    for variable in model.weights:
        variable.assign(keras.ops.convert_to_numpy(variable) + rng.normal(0.0, 0.3, variable.shape).astype("float32"))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_albert"
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
    reference = keras_hub.models.AlbertMaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, AlbertMaskedLM) and isinstance(ours.backbone, AlbertBackbone)
    batch = fixed_batch(ours.backbone.vocabulary_size)
    out = logits(ours, batch)
    assert out.shape == (4, 6, ours.backbone.vocabulary_size) and out.dtype == np.float32
    assert np.abs(out - logits(reference, batch)).max() <= 1e-4
    # Shared blocks are stored once: the same parameter count as keras_hub's.
    assert ours.backbone.parameter_count() == reference.backbone.count_params()
    assert len(ours.backbone.encoder_blocks) == SIZES["num_groups"] * SIZES["num_inner_repetitions"]
    assert len(ours.backbone.layer_blocks()) == SIZES["num_layers"] * SIZES["num_inner_repetitions"]


def test_sequence_output_equals_keras_hub(keras_hub_preset):
    reference = keras_hub.models.AlbertBackbone.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset).backbone
    batch = fixed_batch(ours.vocabulary_size, seed=2)
    inputs = {key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}
    expected = keras.ops.convert_to_numpy(reference(inputs)["sequence_output"])
    got = keras.ops.convert_to_numpy(ours(inputs)["sequence_output"])
    assert np.abs(got - expected)[batch["padding_mask"]].max() <= 1e-4


def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(trained_preset):
    path, ours, before = trained_preset
    batch = fixed_batch(ours.backbone.vocabulary_size, seed=1)
    assert np.abs(logits(ours, batch) - before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(path))
    assert type(reference).__name__ == "AlbertMaskedLM"
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
    blocks = SIZES["num_groups"] * SIZES["num_inner_repetitions"]
    assert len(first.weights) == len(second.weights) == 9 + blocks * 12 + 5
    for a, b in zip(first.weights, second.weights):
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
    assert task["class_name"] == "AlbertMaskedLM" and task["module"] == "keras_hub.src.models.albert.albert_masked_lm"
    metadata = json.loads((ours / "metadata.json").read_text())
    assert "mlm_backbone_extensions" not in metadata and "mlm_tokenizer_extensions" not in metadata
    assert (ours / "assets/tokenizer/vocabulary.spm").read_bytes() == (keras_hub_preset / "assets/tokenizer/vocabulary.spm").read_bytes()


def test_tokenizer_ids_equal_keras_hub(proto):
    reference = keras_hub.models.AlbertTokenizer(proto=proto)
    ours = AlbertTokenizer(proto=proto)
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    assert any(ours.token_to_id("<unk>") in ids for ids in expected)  # some text is out of vocabulary
    assert ours.mask_token_id in expected[SENTENCES.index("a[MASK]b")]
    flat, offsets = ours.encoder.encode_batch_flat(SENTENCES)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(SENTENCES) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == expected
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    own_keys = ("name", "dtype")  # Keras numbers a second instance's name and serializes its dtype policy
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}
    assert ours.detokenize(ours("the model will train on data")) == "the model will train on data"


def test_sentencepiece_model_file_round_trips_and_rejects_corruption(proto):
    from mlm_cli.models.tokenizers.sentencepiece_model_file import CONTROL, USER_DEFINED, read_sentencepiece_model, write_sentencepiece_model

    model = read_sentencepiece_model(proto)
    assert [p.text for p in model.pieces] == AlbertTokenizer(proto=proto).get_vocabulary() and model.unk_id == 1
    assert model.pieces[2].type == CONTROL and model.pieces[4].type == USER_DEFINED and model.precompiled_charsmap
    rewritten = write_sentencepiece_model(model)
    assert read_sentencepiece_model(rewritten) == model
    assert [AlbertTokenizer(proto=rewritten)(t).tolist() for t in SENTENCES] == [AlbertTokenizer(proto=proto)(t).tolist() for t in SENTENCES]
    for cut in (1, 7, len(proto) // 2, len(proto) - 3):
        with pytest.raises(ValueError):
            read_sentencepiece_model(proto[:cut] + b"\xff")


def test_preprocessor_packs_like_keras_hub(proto):
    ours = AlbertMaskedLMPreprocessor(AlbertTokenizer(proto=proto), sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.AlbertMaskedLMPreprocessor(keras_hub.models.AlbertTokenizer(proto=proto), sequence_length=12, mask_selection_length=4)
    texts = sample_sentences(6, seed=3) + [""]
    pairs = (texts, sample_sentences(7, seed=5))
    for x in (texts, pairs):
        expected, _, _ = reference(x=x)  # builds keras_hub's packer; x= keeps a pair from reading as (x, y)
        parts = x if isinstance(x, tuple) else (x,)
        token_ids, segment_ids = reference.packer(tuple(reference.tokenizer(part) for part in parts))
        packed, _ = ours.pack(x)
        assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
        assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
        assert packed["padding_mask"].tolist() == keras.ops.convert_to_numpy(expected["padding_mask"]).tolist()
    x, mask_ids, mask_weights = ours(texts)
    assert x["mask_positions"].shape == mask_ids.shape == mask_weights.shape == (7, 4)
    own_keys = ("tokenizer", "dtype", "name")  # the name Keras gives a second instance ends in _1
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}


@pytest.mark.parametrize(
    "change",
    [
        {"vocabulary_size": 10**12},
        {"hidden_dim": 10**9},
        {"embedding_dim": 0},
        {"num_layers": 0},
        {"num_heads": 3},
        {"num_groups": 3},
        {"num_groups": 4, "num_inner_repetitions": 10**6},
        {"num_inner_repetitions": 10**9},
        {"max_sequence_length": "512"},
        {"dropout": 1.5},
        {"head_layer_norm_epsilon": 0.0},
        {"feedforward_activation": "relu"},
    ],
)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        AlbertBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_hostile_preset_config_is_one_preset_error(keras_hub_preset, tmp_path):
    copy = tmp_path / "hostile"
    shutil.copytree(keras_hub_preset, copy)
    config = json.loads((copy / "config.json").read_text())
    config["config"]["num_inner_repetitions"] = 10**9
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="num_inner_repetitions"):
        MaskedLM.from_preset(copy)


def test_mixed_bfloat16_keeps_float32_variables_and_logits(keras_hub_preset):
    """bf16 compute with float32 weights (training in bf16 runs in the CLI test below)."""
    full = MaskedLM.from_preset(keras_hub_preset)
    half = MaskedLM.from_preset(keras_hub_preset, dtype="mixed_bfloat16")
    assert {v.dtype for v in half.weights} == {"float32"}
    batch = fixed_batch(full.backbone.vocabulary_size)
    out, expected = logits(half, batch), logits(full, batch)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 0.1 * np.abs(expected).max()  # bf16 keeps about 3 digits through every block


def test_cli_trains_and_evaluates_an_albert_preset(proto, tmp_path, backend):
    from tests.cli.conftest import UNREACHABLE, run_mlm

    tokenizer = AlbertTokenizer(proto=proto)
    preprocessor = AlbertMaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    # Fewer blocks than SIZES: this test is about the command-line path, and compiling each block costs time.
    sizes = {**SIZES, "num_layers": 2, "num_inner_repetitions": 1, "max_sequence_length": 64}
    backbone = AlbertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **sizes)
    AlbertMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "preset")
    (tmp_path / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (tmp_path / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": backend, "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    run = tmp_path / "run"
    trained = run_mlm("train", "--preset", str(tmp_path / "preset"), "--data", str(tmp_path / "train.txt"), "--output", str(run),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision", "mixed_bfloat16", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == "AlbertMaskedLM"
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(tmp_path / "heldout.txt"), "--json", "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
    reloaded = MaskedLM.from_preset(run)
    reference = keras_hub.models.MaskedLM.from_preset(str(run))
    x, _, _ = reloaded.preprocessor(["the model will train on data", "a word"])
    assert np.abs(logits(reloaded, x) - logits(reference, x)).max() <= 1e-4
