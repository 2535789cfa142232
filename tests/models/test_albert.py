"""ALBERT: presets move both ways between keras-hub 0.32 and mlm; shared layers, tokens, packing equal keras_hub's."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from tests.family_sizes import BAD_ATTENTION_SIZES, BAD_HEAD_EPSILONS, BAD_SIZES, tiny_sizes
from tests.models.family_checks import (
    assert_cli_trains_and_evaluates,
    assert_keras_hub_logits_equal,
    assert_mixed_bfloat16_close,
    assert_same_config,
    assert_token_ids_equal_keras_hub,
    fixed_batch,
    save_keras_hub_preset,
)
from tests.models.keras_hub_preset_tests import KerasHubPresetTests
from tests.models.sentencepiece_fixtures import ALBERT_SENTENCES as SENTENCES
from tests.models.sentencepiece_fixtures import albert_proto
from tests.support.corpus import sample_sentences

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.models import (  # noqa: E402
    AlbertBackbone,
    AlbertMaskedLM,
    AlbertMaskedLMPreprocessor,
    AlbertTokenizer,
    MaskedLM,
)

# Four layers run by two groups of two shared blocks; embeddings narrower than the encoder.
SIZES = tiny_sizes("albert", num_layers=4, num_groups=2, num_inner_repetitions=2)


@pytest.fixture(scope="module")
def proto() -> bytes:
    return albert_proto()


albert_batch = partial(fixed_batch, segments=True)  # ALBERT reads segment ids


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random AlbertMaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_albert"
    # Saved before first use: mlm writes this family's preprocessor without the packer and masker keras_hub adds once
    # used.
    tokenizer = keras_hub.models.AlbertTokenizer(proto=proto)
    return save_keras_hub_preset(path, keras_hub.models.AlbertMaskedLM, tokenizer, SIZES, seed=5,
                                 used_preprocessor=False)


class TestKerasHubPresets(KerasHubPresetTests):
    masked_lm = AlbertMaskedLM
    make_batch = staticmethod(albert_batch)
    sentences = SENTENCES
    weight_count = 9 + SIZES["num_groups"] * SIZES["num_inner_repetitions"] * 12 + 5
    hostile_change = {"num_inner_repetitions": 10**9}
    keras_hub_assets = ("vocabulary.spm",)

    def check_loaded(self, ours, logits):
        # Shared blocks are stored once: the parameter count checked on loading is keras_hub's.
        assert len(ours.backbone.encoder_blocks) == SIZES["num_groups"] * SIZES["num_inner_repetitions"]
        assert len(ours.backbone.layer_blocks()) == SIZES["num_layers"] * SIZES["num_inner_repetitions"]


def test_sequence_output_equals_keras_hub(keras_hub_preset):
    reference = keras_hub.models.AlbertBackbone.from_preset(str(keras_hub_preset))
    ours = MaskedLM.from_preset(keras_hub_preset).backbone
    batch = albert_batch(ours.vocabulary_size, seed=2)
    inputs = {key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}
    expected = keras.ops.convert_to_numpy(reference(inputs)["sequence_output"])
    got = keras.ops.convert_to_numpy(ours(inputs)["sequence_output"])
    assert np.abs(got - expected)[batch["padding_mask"]].max() <= 1e-4


def test_tokenizer_ids_equal_keras_hub(proto):
    reference = keras_hub.models.AlbertTokenizer(proto=proto)
    ours = AlbertTokenizer(proto=proto)
    expected = assert_token_ids_equal_keras_hub(ours, reference, SENTENCES)
    assert any(ours.token_to_id("<unk>") in ids for ids in expected)  # some text is out of vocabulary
    assert ours.mask_token_id in expected[SENTENCES.index("a[MASK]b")]
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(reference.special_token_ids)
    assert_same_config(ours, reference, ignoring=("name", "dtype"))
    assert ours.detokenize(ours("the model will train on data")) == "the model will train on data"


def test_sentencepiece_model_file_round_trips_and_rejects_corruption(proto):
    from mlm_cli.models.tokenizers.sentencepiece_model_file import (
        CONTROL,
        USER_DEFINED,
        read_sentencepiece_model,
        write_sentencepiece_model,
    )

    model = read_sentencepiece_model(proto)
    assert [p.text for p in model.pieces] == AlbertTokenizer(proto=proto).get_vocabulary() and model.unk_id == 1
    assert model.pieces[2].type == CONTROL and model.pieces[4].type == USER_DEFINED and model.precompiled_charsmap
    rewritten = write_sentencepiece_model(model)
    assert read_sentencepiece_model(rewritten) == model
    assert [AlbertTokenizer(proto=rewritten)(t).tolist() for t in SENTENCES] == [
        AlbertTokenizer(proto=proto)(t).tolist() for t in SENTENCES]
    for cut in (1, 7, len(proto) // 2, len(proto) - 3):
        with pytest.raises(ValueError):
            read_sentencepiece_model(proto[:cut] + b"\xff")


def test_preprocessor_packs_like_keras_hub(proto):
    ours = AlbertMaskedLMPreprocessor(AlbertTokenizer(proto=proto), sequence_length=12, mask_selection_length=4, seed=0)
    reference = keras_hub.models.AlbertMaskedLMPreprocessor(keras_hub.models.AlbertTokenizer(proto=proto),
                                                            sequence_length=12, mask_selection_length=4)
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
    assert_same_config(ours, reference, ignoring=("tokenizer", "dtype", "name"))


@pytest.mark.parametrize("change", BAD_SIZES + BAD_ATTENTION_SIZES + BAD_HEAD_EPSILONS + [
    {"embedding_dim": 0}, {"num_groups": 3}, {"num_groups": 4, "num_inner_repetitions": 10**6},
    {"num_inner_repetitions": 10**9}, {"feedforward_activation": "relu"},
])
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        AlbertBackbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_mixed_bfloat16_keeps_float32_variables_and_logits(keras_hub_preset):
    """bf16 compute with float32 weights (training in bf16 runs in the CLI test below)."""
    full = MaskedLM.from_preset(keras_hub_preset)
    half = MaskedLM.from_preset(keras_hub_preset, dtype="mixed_bfloat16")
    # bf16 keeps about 3 digits through every block
    assert_mixed_bfloat16_close(full, half, albert_batch(full.backbone.vocabulary_size), tolerance=0.1)


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_an_albert_preset(proto, tmp_path):
    # Fewer blocks than SIZES: this test is about the command-line path, and compiling each block costs time.
    sizes = {**SIZES, "num_layers": 2, "num_inner_repetitions": 1, "max_sequence_length": 64}
    run = assert_cli_trains_and_evaluates(AlbertMaskedLM, AlbertTokenizer(proto=proto), sizes, tmp_path, "jax")
    assert_keras_hub_logits_equal(run)
