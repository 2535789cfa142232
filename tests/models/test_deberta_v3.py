"""DeBERTaV3: presets move both ways between keras-hub 0.32 and mlm; tokens, packing and relative positions equal
keras_hub's.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.family_sizes import BAD_ATTENTION_SIZES, BAD_HEAD_EPSILONS, BAD_SIZES, TINY_SIZES
from tests.models.family_checks import (
    Batch,
    assert_cli_trains_and_evaluates,
    assert_keras_hub_logits_equal,
    assert_mixed_bfloat16_close,
    assert_token_ids_equal_keras_hub,
    fixed_batch,
    float32_and_mixed_bfloat16,
    save_keras_hub_preset,
)
from tests.models.keras_hub_preset_tests import KerasHubPresetTests
from tests.models.sentencepiece_fixtures import deberta_v3_proto, train_sentencepiece
from tests.support.corpus import sample_sentences

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.models import (  # noqa: E402
    DebertaV3Backbone,
    DebertaV3MaskedLM,
    DebertaV3MaskedLMPreprocessor,
    DebertaV3Tokenizer,
)
from mlm_cli.models.deberta_v3.relative_positions import relative_position_index  # noqa: E402

# bucket_size 8 of max_sequence_length 32: distances beyond 4 fall in log buckets within a 24-token batch.
SIZES = TINY_SIZES["deberta_v3"]
SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", "   ", "12,345.67 and 3.14",
    "[MASK] is [CLS] and [SEP] [PAD]", "a[MASK]b [UNK]", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "İstanbul straße ﬁne", "ＡＢＣ１２３ full width\u00a0nbsp", "x" * 120,
    "the model will train on data, then mask a token!",
]


@pytest.fixture(scope="module")
def proto() -> bytes:
    return deberta_v3_proto()


def deberta_batch(vocabulary_size: int, seed: int = 0) -> Batch:
    """fixed_batch with ids from 4 (after DeBERTa's four special pieces) and two masked positions far from [CLS]."""
    batch = fixed_batch(vocabulary_size, seed, lowest_id=4)
    batch["mask_positions"][0, -2:] = [20, 23]  # these rows read log-bucketed positions
    return batch


@pytest.fixture(scope="module")
def keras_hub_preset(proto, tmp_path_factory):
    """A tiny random DebertaV3MaskedLM saved by keras-hub, every weight perturbed so a mapping mistake shows."""
    path = tmp_path_factory.mktemp("keras_hub") / "tiny_deberta_v3"
    tokenizer = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    return save_keras_hub_preset(path, keras_hub.models.DebertaV3MaskedLM, tokenizer, SIZES, seed=5)


class TestKerasHubPresets(KerasHubPresetTests):
    masked_lm = DebertaV3MaskedLM
    make_batch = staticmethod(deberta_batch)
    sentences = SENTENCES
    weight_count = 6 + SIZES["num_layers"] * 12 + 5
    tokenizer_settings = ("mask_token_id",)
    hostile_change = {"bucket_size": 10**9}
    keras_hub_assets = ("vocabulary.spm",)


@pytest.mark.parametrize("mask_piece", [False, True], ids=["mask-appended", "mask-in-model"])
def test_tokenizer_ids_equal_keras_hub(mask_piece):
    proto = deberta_v3_proto(mask_piece=mask_piece)
    reference = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    ours = DebertaV3Tokenizer(proto=proto)
    assert ours.vocabulary_size() == reference.vocabulary_size()
    assert ours.get_vocabulary() == reference.get_vocabulary()
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert sorted(ours.special_token_ids) == sorted(set(reference.special_token_ids))
    assert ours.id_to_token(ours.mask_token_id) == "[MASK]" == reference.id_to_token(reference.mask_token_id)
    assert ours.token_to_id("[MASK]") == reference.token_to_id("[MASK]")
    assert_token_ids_equal_keras_hub(ours, reference, SENTENCES)


def test_detokenize_equals_keras_hub(proto):
    reference = keras_hub.models.DebertaV3Tokenizer(proto=proto)
    ours = DebertaV3Tokenizer(proto=proto)
    for text in ("the models trained quickly", "Café naïve 東京"):
        ids = np.concatenate([[ours.cls_token_id], ours(text),
                              [ours.mask_token_id, ours.sep_token_id, ours.pad_token_id]])
        assert ours.detokenize(ids) == reference.detokenize(ids) == text
    with pytest.raises(ValueError):
        ours.id_to_token(ours.vocabulary_size())


def test_tokenizer_refuses_unknown_options_and_models_without_special_pieces(proto):
    with pytest.raises(ValueError, match="unknown"):
        DebertaV3Tokenizer(proto=proto, lowercase=True)
    with pytest.raises(ValueError, match="normalization"):
        DebertaV3Tokenizer(proto=proto, normalization="nfkc")
    with pytest.raises(ValueError, match="special tokens"):
        DebertaV3Tokenizer(proto=train_sentencepiece(sample_sentences(200), 60))


def test_preprocessor_packs_like_keras_hub(proto):
    ours = DebertaV3MaskedLMPreprocessor(DebertaV3Tokenizer(proto=proto), sequence_length=12, mask_selection_length=4,
                                         seed=0)
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
    assert ours.get_config() == {k: v for k, v in reference.get_config().items() if k not in ("tokenizer", "dtype",
                                                                                              "name")} | {
        "dtype": "float32", "name": "deberta_v3_masked_lm_preprocessor"}


@pytest.mark.parametrize(("bucket_size", "max_sequence_length", "length"),
                         [(8, 32, 32), (16, 64, 50), (256, 512, 512), (7, 40, 40)])
def test_relative_position_buckets_equal_keras_hub(bucket_size, max_sequence_length, length):
    from keras_hub.src.models.deberta_v3.disentangled_self_attention import DisentangledSelfAttention

    attention = DisentangledSelfAttention(num_heads=1, hidden_dim=4, max_position_embeddings=max_sequence_length,
                                          bucket_size=bucket_size)
    relative = keras.ops.convert_to_numpy(attention._get_rel_pos(length))[0, 0]
    expected = np.clip(relative + bucket_size, 0, 2 * bucket_size - 1)
    ours = keras.ops.convert_to_numpy(relative_position_index(length, bucket_size, max_sequence_length))
    assert ours.dtype == np.int32 and np.array_equal(ours, expected)
    assert len(np.unique(ours)) > min(length, bucket_size // 2)  # near distances keep their own rows


@pytest.mark.parametrize("change", BAD_SIZES + BAD_ATTENTION_SIZES + BAD_HEAD_EPSILONS + [
    {"bucket_size": 10**9}, {"bucket_size": 1}, {"bucket_size": 8.0},
])
def test_bad_sizes_raise_before_allocating(change):
    with pytest.raises(ValueError):
        DebertaV3Backbone(**{"vocabulary_size": 100, **SIZES, **change})


def test_mixed_bfloat16_keeps_float32_variables_and_logits():
    """Training's precision policy: bf16 compute close to float32 on the same weights, float32 variables and logits.

    (Training under mixed_bfloat16 runs in test_cli_trains_and_evaluates_a_deberta_v3_preset.)
    """
    full, mixed = float32_and_mixed_bfloat16(DebertaV3MaskedLM, 180, SIZES)
    assert_mixed_bfloat16_close(full, mixed, deberta_batch(180), tolerance=0.05)


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_a_deberta_v3_preset(proto, tmp_path):
    tokenizer = DebertaV3Tokenizer(proto=proto)
    run = assert_cli_trains_and_evaluates(DebertaV3MaskedLM, tokenizer, {**SIZES, "max_sequence_length": 64}, tmp_path,
                                          "torch")
    assert_keras_hub_logits_equal(run)
