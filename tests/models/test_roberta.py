"""RoBERTa: presets move both ways between keras-hub 0.32 and mlm with equal logits, token ids and packing
equal keras_hub's, weights round-trip bit-exactly, and the real `mlm` entry point trains and evaluates it."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests.family_sizes import BAD_ATTENTION_SIZES, BAD_SIZES, TINY_SIZES
from tests.models.family_checks import (
    assert_cli_trains_and_evaluates,
    assert_keras_hub_logits_equal,
    assert_mixed_bfloat16_close,
    assert_same_config,
    assert_token_ids_equal_keras_hub,
    fixed_batch,
    float32_and_mixed_bfloat16,
    logits,
    save_keras_hub_preset,
)
from tests.models.keras_hub_preset_tests import KerasHubPresetTests
from tests.support.corpus import WORDS, sample_sentences

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

SIZES = TINY_SIZES["roberta"]
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
PAD_ID = SPECIAL_TOKENS.index("<pad>")  # tiny_bpe numbers the special tokens first
# Layers Keras names automatically (numbered per process): their names in an h5 file vary.
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate ÉCOLE", "日本語のテキスト 中文字符", "emoji 😀👍 ok 🙂",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", " ", "   ", "12,345.67 and 3.14 and 2024",
    "<mask> is <s> and </s> <pad>", "a<mask>b <unk> x</s>y", " <mask> ", "the models trained quickly",
    "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "İstanbul straße ﬁne", "x" * 120, "don't I'M we'll (brackets) e-mail U.S.A.",
    "the model will train on data, then mask a token!", "trailing space ", "\u00a0nbsp\u3000ideographic\u2009thin",
]


def tiny_bpe(directory: Path, vocabulary_size: int = 700) -> tuple[Path, Path]:
    """A byte-level BPE (vocab.json, merges.txt) trained in seconds on varied text; RoBERTa's special tokens first."""
    from tokenizers import ByteLevelBPETokenizer

    corpus = SENTENCES * 4 + sample_sentences(300, seed=5) + [" ".join(WORDS)] * 5
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(corpus, vocab_size=vocabulary_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                show_progress=False)
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


roberta_batch = partial(fixed_batch, pad_id=PAD_ID)


@pytest.fixture(scope="module")
def keras_hub_preset(bpe, tmp_path_factory):
    """A tiny random RobertaMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    vocabulary, merges = bpe
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_roberta"
    return save_keras_hub_preset(path, keras_hub.models.RobertaMaskedLM, tokenizer, SIZES, seed=5)


class TestKerasHubPresets(KerasHubPresetTests):
    masked_lm = RobertaMaskedLM
    make_batch = staticmethod(roberta_batch)
    sentences = SENTENCES
    weight_count = 4 + SIZES["num_layers"] * 12 + 5
    tokenizer_settings = ("merges",)
    round_trip_assets = ("vocabulary.json", "merges.txt")

    def check_loaded(self, ours, out):
        batch = roberta_batch(ours.backbone.vocabulary_size)
        # segment_ids are accepted and ignored: RoBERTa has no segment embeddings.
        with_segments = {**batch, "segment_ids": np.ones_like(batch["token_ids"])}
        assert np.array_equal(logits(ours, with_segments), out)

    def check_files(self, ours, keras_hub_preset):
        assert json.loads((ours / "assets/tokenizer/vocabulary.json").read_text()) == json.loads(
            (keras_hub_preset / "assets/tokenizer/vocabulary.json").read_text())
        assert (ours / "assets/tokenizer/merges.txt").read_text() == (
            keras_hub_preset / "assets/tokenizer/merges.txt").read_text()


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_tokenizer_ids_equal_keras_hub(bpe, add_prefix_space):
    vocabulary, merges = bpe
    reference = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges,
                                                  add_prefix_space=add_prefix_space)
    ours = RobertaTokenizer(vocabulary=vocabulary, merges=merges, add_prefix_space=add_prefix_space)
    assert_token_ids_equal_keras_hub(ours, reference, SENTENCES)
    assert all(ours(text).dtype == np.int32 for text in SENTENCES)
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.start_token_id, reference.end_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert ours.get_vocabulary() == list(
        reference.get_vocabulary()) and ours.vocabulary_size() == reference.vocabulary_size()
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
        keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges), sequence_length=12, truncate=truncate,
        mask_selection_length=4
    )
    reference(["warm up"])  # builds keras_hub's packer
    first, second = sample_sentences(7, seed=3) + [""], ["a word", ""] + sample_sentences(6, seed=4)
    for inputs in ((first,), (first, second)):
        packed, _ = ours.pack(inputs if len(inputs) > 1 else inputs[0])
        token_ids, segment_ids = reference.packer(tuple(reference.tokenizer(segment) for segment in inputs))
        assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
        assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
        assert packed["padding_mask"].tolist() == (keras.ops.convert_to_numpy(
            token_ids) != ours.tokenizer.pad_token_id).tolist()
    x, mask_ids, mask_weights = ours((first, second))
    assert x["mask_positions"].shape == mask_ids.shape == mask_weights.shape == (8, 4)
    chosen = np.take_along_axis(packed["token_ids"], x["mask_positions"], axis=1)[mask_weights > 0]
    assert not np.isin(chosen, ours.tokenizer.special_token_ids).any()
    assert_same_config(ours, reference, ignoring=("tokenizer", "dtype", "name"))


@pytest.mark.parametrize("change", BAD_SIZES + BAD_ATTENTION_SIZES)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        RobertaBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_bad_tokenizer_inputs_raise_value_error(bpe):
    vocabulary, merges = bpe
    with pytest.raises(ValueError, match="special tokens"):
        RobertaTokenizer(vocabulary={k: v for k, v in vocabulary.items() if k != "<mask>"} | {
            "<mask>x": vocabulary["<mask>"]}, merges=merges)
    with pytest.raises(ValueError, match="ids"):
        RobertaTokenizer(vocabulary={**vocabulary, "<s>": 10**9}, merges=merges)
    with pytest.raises(ValueError, match="merge rule"):
        RobertaTokenizer(vocabulary=vocabulary, merges=[*merges, "Ġzz qq"])
    with pytest.raises(ValueError, match="unknown tokenizer options"):
        RobertaTokenizer(vocabulary=vocabulary, merges=merges, lowercase=True)


def test_hostile_vocabulary_is_one_preset_error(keras_hub_preset, tmp_path):
    vocabulary_copy = tmp_path / "vocabulary"
    shutil.copytree(keras_hub_preset, vocabulary_copy)
    (vocabulary_copy / "assets/tokenizer/vocabulary.json").write_text(json.dumps({"<s>": 0, "<pad>": 7}))
    with pytest.raises(PresetError, match="assets/tokenizer"):
        MaskedLM.from_preset(vocabulary_copy)


def test_mixed_bfloat16_keeps_float32_variables_and_logits(bpe):
    """Training's precision policy: bf16 compute close to float32 on the same weights, float32 variables and logits."""
    full, mixed = float32_and_mixed_bfloat16(RobertaMaskedLM, len(bpe[0]), SIZES)
    assert_mixed_bfloat16_close(full, mixed, roberta_batch(len(bpe[0])), tolerance=0.05)


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_a_roberta_preset(bpe, tmp_path):
    vocabulary, merges = bpe
    tokenizer = RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    run = assert_cli_trains_and_evaluates(RobertaMaskedLM, tokenizer, {**SIZES, "max_sequence_length": 64}, tmp_path,
                                          "torch")
    assert_keras_hub_logits_equal(run)
