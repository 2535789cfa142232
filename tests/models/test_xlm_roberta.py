"""XLM-RoBERTa: presets move both ways between keras-hub 0.32 and mlm with equal logits, token ids (fairseq's
remapping of SentencePiece ids) equal keras_hub's, weights round-trip bit-exactly, and `mlm` trains and evaluates it."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from tests.conftest import WORDS, sample_sentences
from tests.models.h5_layout import assert_same_h5_layout
from tests.models.test_roberta import SENTENCES, SIZES, fixed_batch, logits

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.errors import PresetError  # noqa: E402
from mlm_cli.models import (  # noqa: E402
    MaskedLM,
    XLMRobertaBackbone,
    XLMRobertaMaskedLM,
    XLMRobertaMaskedLMPreprocessor,
    XLMRobertaTokenizer,
)
from mlm_cli.seeding import set_seed  # noqa: E402


def tiny_spm(vocabulary_size: int = 400) -> bytes:
    """A unigram SentencePiece model trained in about a second, numbered like XLM-R's (<unk>=0, <s>=1, </s>=2)."""
    import sentencepiece

    corpus = SENTENCES * 4 + sample_sentences(400, seed=5) + [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 6)]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=model, vocab_size=vocabulary_size, model_type="unigram",
        character_coverage=0.995, hard_vocab_limit=False, minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def proto() -> bytes:
    return tiny_spm()


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random XLMRobertaMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    set_seed(6)
    tokenizer = keras_hub.models.XLMRobertaTokenizer(proto=proto)
    preprocessor = keras_hub.models.XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    preprocessor(["the model will train"])  # builds the packer and masker, as any used preprocessor has them
    backbone = keras_hub.models.XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), **SIZES)
    model = keras_hub.models.XLMRobertaMaskedLM(backbone, preprocessor=preprocessor)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(keras.ops.convert_to_numpy(variable) + rng.normal(0, 0.3, variable.shape).astype("float32"))
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_xlm_roberta"
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
    reference = keras_hub.models.XLMRobertaMaskedLM.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, XLMRobertaMaskedLM) and isinstance(ours.backbone, XLMRobertaBackbone)
    batch = fixed_batch(ours.backbone.vocabulary_size, ours.preprocessor.tokenizer.pad_token_id)
    out = logits(ours, batch)
    assert out.shape == (4, 6, ours.backbone.vocabulary_size) and out.dtype == np.float32
    assert np.abs(out - logits(reference, batch)).max() <= 1e-4
    assert ours.backbone.parameter_count() == reference.backbone.count_params()


def test_mlm_preset_loads_in_keras_hub_with_equal_logits_and_settings(trained_preset):
    path, ours, before = trained_preset
    batch = fixed_batch(ours.backbone.vocabulary_size, ours.preprocessor.tokenizer.pad_token_id, seed=1)
    assert np.abs(logits(ours, batch) - before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(path))
    assert type(reference).__name__ == "XLMRobertaMaskedLM"
    assert np.abs(logits(ours, batch) - logits(reference, batch)).max() <= 1e-4
    ours_pre, reference_pre = ours.preprocessor, reference.preprocessor
    for key in ("sequence_length", "truncate", "mask_selection_rate", "mask_selection_length", "mask_token_rate", "random_token_rate"):
        assert getattr(reference_pre, key) == getattr(ours_pre, key), key
    assert list(reference_pre.tokenizer.get_vocabulary()) == ours_pre.tokenizer.get_vocabulary()
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
    spm = "assets/tokenizer/vocabulary.spm"
    assert (tmp_path / "copy" / spm).read_bytes() == (path / spm).read_bytes()


def test_files_have_keras_hub_layout_and_configs(keras_hub_preset, trained_preset):
    ours, _, _ = trained_preset
    for name in ("model.weights.h5", "task.weights.h5"):
        assert_same_h5_layout(ours / name, keras_hub_preset / name)
    for name in ("config.json", "tokenizer.json", "preprocessor.json"):
        assert json.loads((ours / name).read_text()) == json.loads((keras_hub_preset / name).read_text()), name
    task = json.loads((ours / "task.json").read_text())
    assert task["class_name"] == "XLMRobertaMaskedLM" and task["module"] == "keras_hub.src.models.xlm_roberta.xlm_roberta_masked_lm"
    assert "mlm_tokenizer_extensions" not in json.loads((ours / "metadata.json").read_text())


def test_tokenizer_ids_equal_keras_hub(proto):
    reference = keras_hub.models.XLMRobertaTokenizer(proto=proto)
    ours = XLMRobertaTokenizer(proto=proto)
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    assert any(3 in ids for ids in expected)  # an unknown character takes fairseq's <unk> id
    flat, offsets = ours.encoder.encode_batch_flat(SENTENCES)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(SENTENCES) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == expected
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.start_token_id, reference.end_token_id, reference.pad_token_id, reference.mask_token_id) == (0, 2, 1, ours.vocabulary_size() - 1)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert ours.get_vocabulary() == list(reference.get_vocabulary()) and ours.vocabulary_size() == reference.vocabulary_size()
    for token in ("<s>", "<pad>", "</s>", "<unk>", "<mask>", "▁the", "not-a-piece"):
        assert ours.token_to_id(token) == reference.token_to_id(token), token
    for token_id in (0, 1, 2, 3, 4, 50, ours.vocabulary_size() - 1):
        assert ours.id_to_token(token_id) == reference.id_to_token(token_id), token_id
    for text in SENTENCES:
        assert ours.detokenize(ours(text)) == reference.detokenize(reference(text)), repr(text)


def test_transformers_normalization_turns_special_token_strings_into_ids(proto):
    keras_hub_way = XLMRobertaTokenizer(proto=proto)
    transformers_way = XLMRobertaTokenizer(proto=proto, normalization="transformers")
    mask = transformers_way.mask_token_id
    assert transformers_way("a<mask>b <unk> x</s>y").tolist() == [
        *keras_hub_way("a").tolist(), mask, *keras_hub_way("b").tolist(), 3, *keras_hub_way(" x").tolist(), 2, *keras_hub_way("y").tolist()]
    plain = [text for text in SENTENCES if "<" not in text]
    assert [transformers_way(t).tolist() for t in plain] == [keras_hub_way(t).tolist() for t in plain]
    flat, offsets = transformers_way.encoder.encode_batch_flat(SENTENCES)
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(SENTENCES))] == [transformers_way(t).tolist() for t in SENTENCES]
    assert transformers_way.extension_config() == {"normalization": "transformers"} and keras_hub_way.extension_config() == {}


def test_preprocessor_packs_like_keras_hub(proto):
    ours = XLMRobertaMaskedLMPreprocessor(XLMRobertaTokenizer(proto=proto), sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.XLMRobertaMaskedLMPreprocessor(keras_hub.models.XLMRobertaTokenizer(proto=proto), sequence_length=12, mask_selection_length=4)
    reference(["warm up"])  # builds keras_hub's packer
    first, second = sample_sentences(7, seed=3) + [""], ["a word", ""] + sample_sentences(6, seed=4)
    for inputs in ((first,), (first, second)):
        packed, _ = ours.pack(inputs if len(inputs) > 1 else inputs[0])
        token_ids, segment_ids = reference.packer(tuple(reference.tokenizer(segment) for segment in inputs))
        assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
        assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
    own_keys = ("tokenizer", "dtype", "name")
    assert {k: v for k, v in ours.get_config().items() if k not in own_keys} == {k: v for k, v in reference.get_config().items() if k not in own_keys}


def test_bad_inputs_raise(proto, keras_hub_preset, tmp_path):
    with pytest.raises(ValueError, match="SentencePiece"):
        XLMRobertaTokenizer(proto=b"not a model")
    with pytest.raises(ValueError, match="normalization"):
        XLMRobertaTokenizer(proto=proto, normalization="spm")
    with pytest.raises(ValueError):
        XLMRobertaBackbone(vocabulary_size=10**12, **SIZES)
    copy = tmp_path / "hostile"
    shutil.copytree(keras_hub_preset, copy)
    (copy / "assets/tokenizer/vocabulary.spm").write_bytes(b"\x00garbage")
    with pytest.raises(PresetError, match="assets/tokenizer"):
        MaskedLM.from_preset(copy)


def test_cli_trains_and_evaluates_an_xlm_roberta_preset(proto, tmp_path, backend):
    from tests.cli.conftest import UNREACHABLE, run_mlm

    tokenizer = XLMRobertaTokenizer(proto=proto)
    preprocessor = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=32, mask_selection_length=8)
    backbone = XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), **{**SIZES, "max_sequence_length": 64})
    XLMRobertaMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "preset")
    (tmp_path / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (tmp_path / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": backend, "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    run = tmp_path / "run"
    trained = run_mlm("train", "--preset", str(tmp_path / "preset"), "--data", str(tmp_path / "train.txt"), "--output", str(run),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision", "float32", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == "XLMRobertaMaskedLM"
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(tmp_path / "heldout.txt"), "--json", "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
    reloaded = MaskedLM.from_preset(run)
    reference = keras_hub.models.MaskedLM.from_preset(str(run))
    x, _, _ = reloaded.preprocessor(["the model will train on data", "a word"])
    x = {key: value for key, value in x.items() if key != "segment_ids"}
    assert np.abs(logits(reloaded, x) - logits(reference, x)).max() <= 1e-4
