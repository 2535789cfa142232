"""FNet: presets move both ways between keras-hub 0.32 and mlm; Fourier mixing, tokens and packing equal keras_hub's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.family_sizes import BAD_SIZES, TINY_SIZES
from tests.models.family_checks import (
    Batch,
    assert_cli_trains_and_evaluates,
    assert_mixed_bfloat16_close,
    assert_same_config,
    assert_token_ids_equal_keras_hub,
    fixed_batch,
    logits,
    save_keras_hub_preset,
)
from tests.models.keras_hub_preset_tests import KerasHubPresetTests
from tests.models.sentencepiece_fixtures import ALBERT_SENTENCES as SENTENCES
from tests.models.sentencepiece_fixtures import albert_proto
from tests.support.corpus import sample_sentences

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.models import FNetBackbone, FNetMaskedLM, FNetMaskedLMPreprocessor, FNetTokenizer, MaskedLM  # noqa: E402

SIZES = TINY_SIZES["f_net"]


@pytest.fixture(scope="module")
def proto() -> bytes:
    return albert_proto()


def f_net_batch(vocabulary_size: int, seed: int = 0) -> Batch:
    """fixed_batch in four segments (each a quarter of the length, zero on padding), without a padding mask: FNet takes
    none.
    """
    batch = fixed_batch(vocabulary_size, seed)
    real = batch["padding_mask"]
    length = real.shape[1]
    segment_ids = (np.arange(length)[None, :] * 4 // length * real).astype("int32")
    return {"token_ids": batch["token_ids"], "segment_ids": segment_ids, "mask_positions": batch["mask_positions"]}


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random FNetMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_f_net"
    # Saved before first use: mlm writes this family's preprocessor without the packer and masker keras_hub adds once
    # used.
    tokenizer = keras_hub.models.FNetTokenizer(proto=proto)
    return save_keras_hub_preset(path, keras_hub.models.FNetMaskedLM, tokenizer, SIZES, seed=5, used_preprocessor=False)


class TestKerasHubPresets(KerasHubPresetTests):
    masked_lm = FNetMaskedLM
    make_batch = staticmethod(f_net_batch)
    sentences = SENTENCES
    weight_count = 9 + SIZES["num_layers"] * 8 + 5
    hostile_change = {"hidden_dim": 10**9}

    def check_loaded(self, ours, out):
        batch = f_net_batch(ours.backbone.vocabulary_size)
        # No attention mask: a padding mask, if a caller passes one, changes nothing.
        masked = {**batch, "padding_mask": batch["token_ids"] != 0}
        assert np.array_equal(logits(ours, masked), out)


def test_sequence_output_equals_keras_hub(keras_hub_preset):
    reference = keras_hub.models.FNetBackbone.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset).backbone
    batch = f_net_batch(ours.vocabulary_size, seed=2)
    inputs = {key: batch[key] for key in ("token_ids", "segment_ids")}
    expected = keras.ops.convert_to_numpy(reference(inputs)["sequence_output"])
    assert np.abs(keras.ops.convert_to_numpy(ours(inputs)["sequence_output"]) - expected).max() <= 1e-4


def test_tokenizer_ids_equal_keras_hub(proto):
    reference = keras_hub.models.FNetTokenizer(proto=proto)
    ours = FNetTokenizer(proto=proto)
    expected = assert_token_ids_equal_keras_hub(ours, reference, SENTENCES)
    assert any(ours.token_to_id("<unk>") in ids for ids in expected)  # some text is out of vocabulary
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert_same_config(ours, reference, ignoring=("name", "dtype"))


def test_preprocessor_packs_like_keras_hub_without_padding_mask(proto):
    ours = FNetMaskedLMPreprocessor(FNetTokenizer(proto=proto), sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.FNetMaskedLMPreprocessor(keras_hub.models.FNetTokenizer(proto=proto),
                                                          sequence_length=12, mask_selection_length=4)
    texts = sample_sentences(6, seed=3) + [""]
    x, mask_ids, mask_weights = ours(texts)
    expected, _, _ = reference(texts)
    assert set(x) == set(expected) == {"token_ids", "segment_ids", "mask_positions"}
    token_ids, segment_ids = reference.packer(reference.tokenizer(texts))
    packed, _ = ours.pack(texts)
    assert packed["token_ids"].tolist() == keras.ops.convert_to_numpy(token_ids).tolist()
    assert packed["segment_ids"].tolist() == keras.ops.convert_to_numpy(segment_ids).tolist()
    assert x["mask_positions"].shape == mask_ids.shape == mask_weights.shape == (7, 4)
    assert_same_config(ours, reference, ignoring=("tokenizer", "dtype", "name"))


@pytest.mark.parametrize("change", BAD_SIZES + [{"num_segments": 0}])
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        FNetBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_mixed_bfloat16_keeps_float32_variables_and_mixes_in_float32(keras_hub_preset):
    """bf16 compute with float32 weights (training in bf16 runs in the CLI test below)."""
    full = MaskedLM.from_preset(keras_hub_preset)
    half = MaskedLM.from_preset(keras_hub_preset, dtype="mixed_bfloat16")
    # bf16 keeps about 3 digits through every block
    assert_mixed_bfloat16_close(full, half, f_net_batch(full.backbone.vocabulary_size), tolerance=0.1)


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_an_f_net_preset(proto, tmp_path):
    assert_cli_trains_and_evaluates(FNetMaskedLM, FNetTokenizer(proto=proto), {**SIZES, "max_sequence_length": 64},
                                    tmp_path, "jax")
