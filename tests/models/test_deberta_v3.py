"""DeBERTaV3: presets move both ways between keras-hub 0.32 and mlm; tokens, packing and relative positions equal keras_hub's."""

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
    DebertaV3Backbone,
    DebertaV3MaskedLM,
    DebertaV3MaskedLMPreprocessor,
    DebertaV3Tokenizer,
    MaskedLM,
)
from mlm_cli.models.deberta_v3.relative_positions import relative_position_index  # noqa: E402
from mlm_cli.seeding import set_seed  # noqa: E402

# bucket_size 8 of max_sequence_length 32: distances beyond 4 fall in log buckets within a 24-token batch.
SIZES = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32, bucket_size=8)
# Layers Keras names automatically (numbered per process): their names in an h5 file vary.
TRAINING_TEXT = [
    "Café naïve résumé coöperate façade Zürich", "日本語のテキスト 中文字符 東京", "emoji 😀👍 ok 🙂", "12,345.67 and 3.14 (brackets) e-mail",
    "don't stop — “quotes” « guillemets »", "MiXeD CaSe WoRdS İstanbul straße",
]
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", "   ", "12,345.67 and 3.14",
    "[MASK] is [CLS] and [SEP] [PAD]", "a[MASK]b [UNK]", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "İstanbul straße ﬁne", "ＡＢＣ１２３ full width\u00a0nbsp", "x" * 120,
    "the model will train on data, then mask a token!",
]


def train_sentencepiece(mask_piece: bool = False, vocab_size: int = 180) -> bytes:
    """A tiny Unigram SentencePiece model with DeBERTa's special pieces, as keras_hub's tokenizer docstring trains one.

    With `mask_piece`, [MASK] is a piece of the model (user-defined); otherwise it is missing, as in DeBERTaV3's model.
    """
    import random

    import sentencepiece

    rng = random.Random(0)
    words = list(WORDS) + " ".join(TRAINING_TEXT).split()
    corpus = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(3000)]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="UNIGRAM",
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        user_defined_symbols=["[MASK]"] if mask_piece else [],
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def proto() -> bytes:
    return train_sentencepiece()


def fixed_batch(vocabulary_size: int, seed: int = 0, length: int = 24, selections: int = 6) -> dict[str, np.ndarray]:
    """Random ids with padding (rows of 24, 17, 9 and 5 real tokens) and masked positions among the real tokens."""
    rng = np.random.default_rng(seed)
    lengths = np.array([length, 17, 9, 5])
    padding_mask = np.arange(length)[None, :] < lengths[:, None]
    token_ids = np.where(padding_mask, rng.integers(4, vocabulary_size, (4, length)), 0).astype("int32")
    positions = np.sort(rng.integers(1, 5, (4, selections)), axis=1).astype("int32")
    positions[0, -2:] = [20, 23]  # far from [CLS]: these rows read log-bucketed positions
    return {"token_ids": token_ids, "padding_mask": padding_mask, "mask_positions": positions}


def logits(model, batch) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(batch, training=False))


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random DebertaV3MaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    set_seed(5)
    tokenizer = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    preprocessor = keras_hub.models.DebertaV3MaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    preprocessor(["the model will train"])  # builds the packer and masker, as any used preprocessor has them
    backbone = keras_hub.models.DebertaV3Backbone(vocabulary_size=tokenizer.vocabulary_size(), **SIZES)
    model = keras_hub.models.DebertaV3MaskedLM(backbone, preprocessor=preprocessor)
    for index, variable in enumerate(model.weights):
        variable.assign(variable + keras.random.normal(variable.shape, stddev=0.3, seed=index))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_deberta_v3"
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
    reference = keras_hub.models.DebertaV3MaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, DebertaV3MaskedLM) and isinstance(ours.backbone, DebertaV3Backbone)
    batch = fixed_batch(ours.backbone.vocabulary_size)
    out = logits(ours, batch)
    assert out.shape == (4, 6, reference.backbone.vocabulary_size) and out.dtype == np.float32
    assert np.abs(out - logits(reference, batch)).max() <= 1e-4
    assert ours.backbone.parameter_count() == reference.backbone.count_params()


def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(trained_preset):
    path, ours, before = trained_preset
    batch = fixed_batch(ours.backbone.vocabulary_size, seed=1)
    assert np.abs(logits(ours, batch) - before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(path))
    assert type(reference).__name__ == "DebertaV3MaskedLM"
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    ours_pre, reference_pre = ours.preprocessor, reference.preprocessor
    for key in ("sequence_length", "truncate", "mask_selection_rate", "mask_selection_length", "mask_token_rate", "random_token_rate"):
        assert getattr(reference_pre, key) == getattr(ours_pre, key), key
    assert reference_pre.tokenizer.get_vocabulary() == ours_pre.tokenizer.get_vocabulary()
    assert reference_pre.tokenizer.mask_token_id == ours_pre.tokenizer.mask_token_id
    for text in SENTENCES:
        assert np.asarray(reference_pre.tokenizer(text)).tolist() == ours_pre.tokenizer(text).tolist(), repr(text)


def test_round_trip_through_mlm_keeps_every_weight(trained_preset, tmp_path):
    path, _, _ = trained_preset
    first = MaskedLM.from_preset(path)
    first.save_to_preset(tmp_path / "copy")
    second = MaskedLM.from_preset(tmp_path / "copy")
    assert len(first.weights) == len(second.weights) == 6 + SIZES["num_layers"] * 12 + 5
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
    assert task["class_name"] == "DebertaV3MaskedLM" and task["module"] == "keras_hub.src.models.deberta_v3.deberta_v3_masked_lm"
    metadata = json.loads((ours / "metadata.json").read_text())
    assert "mlm_backbone_extensions" not in metadata and "mlm_tokenizer_extensions" not in metadata
    assert (ours / "assets/tokenizer/vocabulary.spm").read_bytes() == (keras_hub_preset / "assets/tokenizer/vocabulary.spm").read_bytes()


@pytest.mark.parametrize("mask_piece", [False, True], ids=["mask-appended", "mask-in-model"])
def test_tokenizer_ids_equal_keras_hub(mask_piece):
    proto = train_sentencepiece(mask_piece=mask_piece)
    reference = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    ours = DebertaV3Tokenizer(proto=proto)
    assert ours.vocabulary_size() == reference.vocabulary_size()
    assert ours.get_vocabulary() == reference.get_vocabulary()
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(set(reference.special_token_ids))
    assert ours.id_to_token(ours.mask_token_id) == "[MASK]" == reference.id_to_token(reference.mask_token_id)
    assert ours.token_to_id("[MASK]") == reference.token_to_id("[MASK]")
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    flat, offsets = ours.encoder.encode_batch_flat(SENTENCES)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(SENTENCES) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == expected


def test_detokenize_equals_keras_hub(proto):
    reference = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    ours = DebertaV3Tokenizer(proto=proto)
    for text in ("the models trained quickly", "Café naïve 東京"):
        ids = np.concatenate([[ours.cls_token_id], ours(text), [ours.mask_token_id, ours.sep_token_id, ours.pad_token_id]])
        assert ours.detokenize(ids) == reference.detokenize(ids) == text
    with pytest.raises(ValueError):
        ours.id_to_token(ours.vocabulary_size())


def test_tokenizer_refuses_unknown_options_and_models_without_special_pieces(proto):
    with pytest.raises(ValueError, match="unknown"):
        DebertaV3Tokenizer(proto=proto, lowercase=True)
    with pytest.raises(ValueError, match="normalization"):
        DebertaV3Tokenizer(proto=proto, normalization="nfkc")
    import sentencepiece

    plain = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(sample_sentences(200)), model_writer=plain, vocab_size=60,
                                             hard_vocab_limit=False, num_threads=1, minloglevel=2)
    with pytest.raises(ValueError, match="special tokens"):
        DebertaV3Tokenizer(proto=plain.getvalue())


def test_preprocessor_packs_like_keras_hub(proto):
    ours = DebertaV3MaskedLMPreprocessor(DebertaV3Tokenizer(proto=proto), sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.DebertaV3MaskedLMPreprocessor(
        keras_hub.models.DebertaV3Tokenizer(proto=proto), sequence_length=12, mask_selection_length=4
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
    selected = np.take_along_axis(packed["token_ids"], x["mask_positions"], axis=1)[mask_weights > 0]
    assert not np.isin(selected, ours.tokenizer.special_token_ids).any()
    # keras_hub numbers the name per process (…_1 when another was made first); every other key is equal.
    assert ours.get_config() == {k: v for k, v in reference.get_config().items() if k not in ("tokenizer", "dtype", "name")} | {
        "dtype": "float32", "name": "deberta_v3_masked_lm_preprocessor"}


@pytest.mark.parametrize(("bucket_size", "max_sequence_length", "length"), [(8, 32, 32), (16, 64, 50), (256, 512, 512), (7, 40, 40)])
def test_relative_position_buckets_equal_keras_hub(bucket_size, max_sequence_length, length):
    from keras_hub.src.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention

    attention = DisentangledSelfAttention(num_heads=1, hidden_dim=4, max_position_embeddings=max_sequence_length, bucket_size=bucket_size)
    relative = keras.ops.convert_to_numpy(attention._get_rel_pos(length))[0, 0]
    expected = np.clip(relative + bucket_size, 0, 2 * bucket_size - 1)
    ours = keras.ops.convert_to_numpy(relative_position_index(length, bucket_size, max_sequence_length))
    assert ours.dtype == np.int32 and np.array_equal(ours, expected)
    assert len(np.unique(ours)) > min(length, bucket_size // 2)  # near distances keep their own rows


@pytest.mark.parametrize(
    "change",
    [
        {"vocabulary_size": 10**12},
        {"hidden_dim": 10**9},
        {"num_layers": 0},
        {"num_heads": 3},
        {"max_sequence_length": "512"},
        {"bucket_size": 10**9},
        {"bucket_size": 1},
        {"bucket_size": 8.0},
        {"dropout": 1.5},
        {"head_layer_norm_epsilon": 0.0},
    ],
)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        DebertaV3Backbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_hostile_preset_config_is_one_preset_error(keras_hub_preset, tmp_path):
    copy = tmp_path / "hostile"
    shutil.copytree(keras_hub_preset, copy)
    config = json.loads((copy / "config.json").read_text())
    config["config"]["bucket_size"] = 10**9
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="bucket_size"):
        MaskedLM.from_preset(copy)


def test_mixed_bfloat16_keeps_float32_variables_and_logits():
    """Training's precision policy: bf16 compute close to float32 on the same weights, float32 variables and logits.

    (Training under mixed_bfloat16 runs in test_cli_trains_and_evaluates_a_deberta_v3_preset.)
    """
    vocabulary_size = 180
    full = DebertaV3MaskedLM(DebertaV3Backbone(vocabulary_size=vocabulary_size, **SIZES))
    mixed = DebertaV3MaskedLM(DebertaV3Backbone(vocabulary_size=vocabulary_size, dtype="mixed_bfloat16", **SIZES))
    assert {v.dtype for v in mixed.weights} == {"float32"}
    for source, target in zip(full.weights, mixed.weights):
        target.assign(source)
    batch = fixed_batch(vocabulary_size)
    expected, out = logits(full, batch), logits(mixed, batch)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 0.05 * np.abs(expected).max()


def test_cli_trains_and_evaluates_a_deberta_v3_preset(proto, tmp_path, backend):
    from tests.cli.conftest import UNREACHABLE, run_mlm

    tokenizer = DebertaV3Tokenizer(proto=proto)
    preprocessor = DebertaV3MaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    backbone = DebertaV3Backbone(vocabulary_size=tokenizer.vocabulary_size(), **{**SIZES, "max_sequence_length": 64})
    DebertaV3MaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "preset")
    (tmp_path / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (tmp_path / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": backend, "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    run = tmp_path / "run"
    trained = run_mlm("train", "--preset", str(tmp_path / "preset"), "--data", str(tmp_path / "train.txt"), "--output", str(run),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision", "mixed_bfloat16", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == "DebertaV3MaskedLM"
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(tmp_path / "heldout.txt"), "--json", "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
    reloaded = MaskedLM.from_preset(run)
    reference = keras_hub.models.MaskedLM.from_preset(str(run))
    x, _, _ = reloaded.preprocessor(["the model will train on data", "a word"])
    assert np.abs(logits(reloaded, x) - logits(reference, x)).max() <= 1e-4
