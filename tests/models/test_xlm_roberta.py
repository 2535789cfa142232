"""XLM-RoBERTa: presets move both ways between keras-hub 0.32 and mlm with equal logits, token ids (fairseq's
remapping of SentencePiece ids) equal keras_hub's, weights round-trip bit-exactly, and `mlm` trains and evaluates it."""

from __future__ import annotations

import shutil

import pytest

from tests.family_sizes import TINY_SIZES
from tests.models.family_checks import (
    assert_cli_trains_and_evaluates,
    assert_encode_batch_flat,
    assert_keras_hub_logits_equal,
    assert_same_config,
    assert_token_ids_equal_keras_hub,
    save_keras_hub_preset,
)
from tests.models.keras_hub_preset_tests import KerasHubPresetTests
from tests.models.sentencepiece_fixtures import xlm_roberta_proto
from tests.models.test_roberta import SENTENCES, roberta_batch
from tests.support.corpus import sample_sentences

SIZES = TINY_SIZES["xlm_roberta"]

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


@pytest.fixture(scope="module")
def proto() -> bytes:
    return xlm_roberta_proto(SENTENCES)


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random XLMRobertaMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    tokenizer = keras_hub.models.XLMRobertaTokenizer(proto=proto)
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_xlm_roberta"
    return save_keras_hub_preset(path, keras_hub.models.XLMRobertaMaskedLM, tokenizer, SIZES, seed=6)


class TestKerasHubPresets(KerasHubPresetTests):
    masked_lm = XLMRobertaMaskedLM
    make_batch = staticmethod(roberta_batch)
    sentences = SENTENCES
    weight_count = 4 + SIZES["num_layers"] * 12 + 5
    round_trip_assets = ("vocabulary.spm",)


def test_tokenizer_ids_equal_keras_hub(proto):
    reference = keras_hub.models.XLMRobertaTokenizer(proto=proto)
    ours = XLMRobertaTokenizer(proto=proto)
    expected = assert_token_ids_equal_keras_hub(ours, reference, SENTENCES)
    assert any(3 in ids for ids in expected)  # an unknown character takes fairseq's <unk> id
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.start_token_id, reference.end_token_id, reference.pad_token_id, reference.mask_token_id) == (0, 2, 1,
            ours.vocabulary_size() - 1)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert ours.get_vocabulary() == list(
        reference.get_vocabulary()) and ours.vocabulary_size() == reference.vocabulary_size()
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
        *keras_hub_way("a").tolist(), mask, *keras_hub_way("b").tolist(), 3, *keras_hub_way(" x").tolist(), 2,
        *keras_hub_way("y").tolist()]
    plain = [text for text in SENTENCES if "<" not in text]
    assert [transformers_way(t).tolist() for t in plain] == [keras_hub_way(t).tolist() for t in plain]
    assert_encode_batch_flat(transformers_way, SENTENCES, [transformers_way(t).tolist() for t in SENTENCES])
    assert transformers_way.extension_config() == {
        "normalization": "transformers"} and keras_hub_way.extension_config() == {}


def test_preprocessor_packs_like_keras_hub(proto):
    ours = XLMRobertaMaskedLMPreprocessor(XLMRobertaTokenizer(proto=proto), sequence_length=12,
                                          mask_selection_length=4, seed=0)
    reference = keras_hub.models.XLMRobertaMaskedLMPreprocessor(keras_hub.models.XLMRobertaTokenizer(proto=proto),
                                                                sequence_length=12, mask_selection_length=4)
    reference(["warm up"])  # builds keras_hub's packer
    first, second = sample_sentences(7, seed=3) + [""], ["a word", ""] + sample_sentences(6, seed=4)
    for inputs in ((first,), (first, second)):
        packed, _ = ours.pack(inputs if len(inputs) > 1 else inputs[0])
        token_ids, segment_ids = reference.packer(tuple(reference.tokenizer(segment) for segment in inputs))
        assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
        assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
    assert_same_config(ours, reference, ignoring=("tokenizer", "dtype", "name"))


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


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_an_xlm_roberta_preset(proto, tmp_path):
    tokenizer = XLMRobertaTokenizer(proto=proto)
    run = assert_cli_trains_and_evaluates(XLMRobertaMaskedLM, tokenizer, {**SIZES, "max_sequence_length": 64},
                                          tmp_path, "torch",
                                          precision="float32")
    assert_keras_hub_logits_equal(run)
