"""DistilBERT: presets move both ways between keras-hub 0.32 and mlm, tokens and packing equal keras_hub's."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.family_sizes import BAD_ATTENTION_SIZES, BAD_HEAD_EPSILONS, BAD_SIZES, TINY_SIZES
from tests.models.family_checks import (
    assert_cli_trains_and_evaluates,
    assert_mixed_bfloat16_close,
    assert_same_config,
    assert_same_weights,
    assert_token_ids_equal_keras_hub,
    fixed_batch,
    float32_and_mixed_bfloat16,
    save_keras_hub_preset,
)
from tests.models.keras_hub_preset_tests import KerasHubPresetTests
from tests.support.corpus import sample_sentences, tiny_vocabulary

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.models import (  # noqa: E402
    DistilBertBackbone,
    DistilBertMaskedLM,
    DistilBertMaskedLMPreprocessor,
    DistilBertTokenizer,
)

SIZES = TINY_SIZES["distil_bert"]
# Layers Keras names automatically (numbered per process): their names in an h5 file vary.
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", "   ", "12,345.67 and 3.14",
    "[MASK] is [CLS] and [SEP] [PAD]", "a[MASK]b [UNK]", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "İstanbul straße ﬁne", "x" * 120,
    "the model will train on data, then mask a token!",
]


@pytest.fixture(scope="module")
def keras_hub_preset(tmp_path_factory):
    """A tiny random DistilBertMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    tokenizer = keras_hub.models.DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_distil_bert"
    return save_keras_hub_preset(path, keras_hub.models.DistilBertMaskedLM, tokenizer, SIZES, seed=5)


class TestKerasHubPresets(KerasHubPresetTests):
    masked_lm = DistilBertMaskedLM
    make_batch = staticmethod(fixed_batch)
    sentences = SENTENCES
    weight_count = 4 + SIZES["num_layers"] * 12 + 5
    tokenizer_settings = ("lowercase",)

    def check_round_trip(self, trained, first, copy):
        assert_same_weights(trained.model, first)


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("special_tokens_in_strings", [True, False])
def test_tokenizer_ids_equal_keras_hub(lowercase, special_tokens_in_strings):
    vocabulary = tiny_vocabulary() + ["café", "é", "##é", "日", "本", "語", "😀", "straße"]
    settings = dict(lowercase=lowercase, special_tokens_in_strings=special_tokens_in_strings)
    reference = keras_hub.models.DistilBertTokenizer(vocabulary=vocabulary, **settings)
    ours = DistilBertTokenizer(vocabulary=vocabulary, **settings)
    assert_token_ids_equal_keras_hub(ours, reference, SENTENCES)
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert ours.detokenize(ours("the models trained quickly")) == "the models trained quickly"


def test_preprocessor_packs_like_keras_hub():
    tokenizer = DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    ours = DistilBertMaskedLMPreprocessor(tokenizer, sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.DistilBertMaskedLMPreprocessor(
        keras_hub.models.DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True), sequence_length=12,
        mask_selection_length=4
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
    assert_same_config(ours, reference, ignoring=("tokenizer", "dtype", "name"))


@pytest.mark.parametrize("change", BAD_SIZES + BAD_ATTENTION_SIZES + BAD_HEAD_EPSILONS)
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        DistilBertBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_mixed_bfloat16_keeps_float32_variables_and_logits():
    """Training's precision policy: bf16 compute close to float32 on the same weights, float32 variables and logits.

    (Training under mixed_bfloat16 runs in test_cli_trains_and_evaluates_a_distil_bert_preset.)
    """
    full, mixed = float32_and_mixed_bfloat16(DistilBertMaskedLM, len(tiny_vocabulary()), SIZES)
    assert_mixed_bfloat16_close(full, mixed, fixed_batch(len(tiny_vocabulary())), tolerance=0.05)


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_a_distil_bert_preset(tmp_path):
    tokenizer = DistilBertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    run = assert_cli_trains_and_evaluates(DistilBertMaskedLM, tokenizer, {**SIZES, "max_sequence_length": 64},
                                          tmp_path, "torch")
    kernel = "layers/transformer_encoder/_feedforward_output_dense/vars/0"
    with h5py.File(tmp_path / "preset" / "model.weights.h5") as initial, h5py.File(
        run / "model.weights.h5") as trained_weights:
        assert not np.array_equal(initial[kernel][()], trained_weights[kernel][
            ()])  # the three steps trained the encoder
    assert (run / "checkpoints").is_dir()
