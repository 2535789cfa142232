"""RoFormerV2: presets move both ways between keras-hub 0.32 and mlm with equal logits, token ids
equal keras_hub's, weights round-trip bit-exactly, and the real `mlm` entry point trains and evaluates it.

keras_hub 0.32 on JAX lets real tokens attend to padding (its key mask is reshaped into a
query mask there); on torch it masks padded keys, as mlm does on every backend. mlm's logits
on a padded batch are therefore compared with keras_hub's on the rows cut to their length
(no padding) on both backends, and with keras_hub's on the padded batch too on torch.
"""

import json

import h5py
import numpy as np
import pytest

from tests.family_sizes import TINY_SIZES
from tests.models.family_checks import (
    Batch,
    assert_backbone_config_refused,
    assert_cli_trains_and_evaluates,
    assert_round_trip_keeps_every_weight,
    assert_same_config,
    assert_same_preprocessor_settings,
    fixed_batch,
)
from tests.support.corpus import sample_sentences, tiny_vocabulary

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.models import (  # noqa: E402
    MaskedLM,
    RoformerV2Backbone,
    RoformerV2MaskedLM,
    RoformerV2MaskedLMPreprocessor,
    RoformerV2Tokenizer,
)

TINY = TINY_SIZES["roformer_v2"]
# keras_hub's defaults (no biases, ReLU), and the other branches: biases, GELU, another wavelength.
CONFIGS = {"keras_hub_defaults": {}, "biases_gelu": dict(use_bias=True, activation="gelu", max_wavelength=500)}
MODEL_INPUTS = ("token_ids", "segment_ids", "mask_positions")  # what keras_hub's RoFormerV2 takes


def sharpen(variables) -> None:
    """Random weights far larger than the initialiser's (stddev 0.02), so attention is sharp and a
    mistake in rotary positions, masking or the query/key/value mapping shows in the logits."""
    rng = np.random.default_rng(5)
    for variable in variables:
        if variable.path.endswith("scale"):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        else:
            variable.assign(rng.normal(0.0, 0.3, variable.shape).astype("float32"))


@pytest.fixture(scope="module", params=list(CONFIGS))
def keras_hub_preset(request, tmp_path_factory):
    """A tiny random RoformerV2MaskedLM saved by keras-hub."""
    keras.utils.set_random_seed(11)
    vocabulary = tiny_vocabulary()
    tokenizer = keras_hub.models.RoformerV2Tokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.RoformerV2MaskedLMPreprocessor(tokenizer, sequence_length=24,
                                                                   mask_selection_length=6)
    backbone = keras_hub.models.RoformerV2Backbone(vocabulary_size=len(vocabulary), **TINY, **CONFIGS[request.param])
    model = keras_hub.models.RoformerV2MaskedLM(backbone, preprocessor=preprocessor)
    sharpen(backbone.weights)
    path = tmp_path_factory.mktemp("keras_hub") / f"tiny_roformer_{request.param}"
    model.save_to_preset(str(path))
    return path


def roformer_batch(vocabulary_size: int, seed: int = 0) -> Batch:
    """Rows of lengths 24, 9, 24, 9 padded with id 0, two segments each, masked positions inside every row.

    Two distinct lengths keep the unpadded per-length reference runs (each a new shape to
    compile on JAX) few.
    """
    return fixed_batch(vocabulary_size, seed, lengths=(24, 9, 24, 9), segments=True)


def logits(model, batch) -> np.ndarray:
    """Inference logits, compiled (eager JAX would compile every op for every new shape and dtype)."""
    return np.asarray(model.predict_on_batch(batch))


def keras_hub_model(preset):
    """keras_hub's task for `preset` without its preprocessor, so `predict_on_batch` takes token ids."""
    return keras_hub.models.MaskedLM.from_preset(str(preset), preprocessor=None)


def keras_hub_logits(reference, batch) -> np.ndarray:
    """keras_hub's logits with the rows of each length run together, cut to that length: no padding involved."""
    lengths = batch["padding_mask"].sum(axis=1)
    result = np.zeros((*batch["mask_positions"].shape, reference.backbone.vocabulary_size), np.float32)
    for length in np.unique(lengths):
        rows = lengths == length
        group = {key: batch[key][rows, :length] for key in ("token_ids", "segment_ids")}
        result[rows] = logits(reference, {**group, "mask_positions": batch["mask_positions"][rows]})
    return result


def assert_same_logits(ours, reference, batch, backend):
    expected = keras_hub_logits(reference, batch)
    got = logits(ours, batch)
    assert got.shape == expected.shape == (4, 6, ours.backbone.vocabulary_size) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-4
    if backend == "torch":  # keras_hub masks padded keys correctly here: compare the padded batch directly
        direct = logits(reference, {key: batch[key] for key in MODEL_INPUTS})
        assert np.abs(got - direct).max() <= 1e-4


def test_keras_hub_preset_loads_in_mlm_with_equal_logits(keras_hub_preset, backend):
    """Also shows that padding never reaches real tokens: mlm's padded rows equal keras_hub's unpadded ones."""
    reference = keras_hub_model(keras_hub_preset)
    ours = MaskedLM.from_preset(keras_hub_preset)
    assert isinstance(ours, RoformerV2MaskedLM)
    assert ours.backbone.get_config() == {**reference.backbone.get_config(), "dtype": "float32"}
    assert ours.backbone.parameter_count() == reference.backbone.count_params()
    assert_same_logits(ours, reference, roformer_batch(ours.backbone.vocabulary_size), backend)


# One configuration (the one with biases) is enough here: the other direction and the h5 layout
# check cover both, and each run compiles a training step.
@pytest.mark.parametrize("keras_hub_preset", ["biases_gelu"], indirect=True)
def test_mlm_preset_loads_in_keras_hub_with_equal_logits(keras_hub_preset, tmp_path, backend):
    ours = MaskedLM.from_preset(keras_hub_preset)
    before = keras.ops.convert_to_numpy(ours.backbone.encoder_blocks[0].attention.qkv_dense.kernel).copy()
    ours.compile()
    ours.fit(sample_sentences(16), batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(before, keras.ops.convert_to_numpy(
        ours.backbone.encoder_blocks[0].attention.qkv_dense.kernel))
    ours.save_to_preset(tmp_path / "ours")

    reference = keras_hub_model(tmp_path / "ours")
    assert isinstance(reference, keras_hub.models.RoformerV2MaskedLM)
    assert_same_logits(ours, reference, roformer_batch(ours.backbone.vocabulary_size, seed=1), backend)
    ours_pre = ours.preprocessor
    reference_pre = keras_hub.models.RoformerV2MaskedLMPreprocessor.from_preset(str(tmp_path / "ours"))
    assert_same_preprocessor_settings(ours_pre, reference_pre)
    assert_same_config(ours_pre.tokenizer, reference_pre.tokenizer, ignoring=("dtype",))
    text = "the model will train on data, then mask a token!"
    assert np.asarray(reference_pre.tokenizer(text)).tolist() == ours_pre.tokenizer(text).tolist()


def _h5_layout(path) -> tuple[set[str], dict[str, str]]:
    """Dataset paths, and `vars` group names except keras's per-process rotary layer names."""
    datasets, groups = set(), {}
    with h5py.File(path, "r") as f:
        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                datasets.add(name)
            elif name.endswith("vars") and "rotary_embedding_layer" not in name:
                groups[name] = item.attrs["name"]
        f.visititems(visit)
    return datasets, groups


def test_round_trip_keeps_every_weight_and_keras_hub_layout(keras_hub_preset, tmp_path):
    assert_round_trip_keeps_every_weight(keras_hub_preset, tmp_path / "copy")
    assert _h5_layout(tmp_path / "copy" / "model.weights.h5") == _h5_layout(keras_hub_preset / "model.weights.h5")
    for name in ("config.json", "tokenizer.json", "preprocessor.json"):
        assert json.loads((tmp_path / "copy" / name).read_text()) == json.loads(
            (keras_hub_preset / name).read_text()), name


SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "中文字符 and 日本語", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "many    spaces   here", "", "   ", "12,345.67 and 3.14", "MiXeD CaSe the Models",
    "[MASK] is [CLS] and [SEP] [PAD]", "a[MASK]b [UNK]", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "e\u0301 combining",
    "unbelievable tokenization zzzq", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ！",
]


def tokenizer_vocabulary() -> list[str]:
    """tiny_vocabulary plus accented, CJK and emoji pieces, with some words missing so [UNK] occurs."""
    extra = ["café", "caf", "##é", "é", "na", "##ïve", "中", "文", "字", "日", "😀", "hello", "world", "it", "pm"]
    return tiny_vocabulary() + [t for t in extra if t not in tiny_vocabulary()]


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("special_tokens_in_strings", [True, False])
def test_token_ids_equal_keras_hub(lowercase, special_tokens_in_strings):
    settings = dict(lowercase=lowercase, special_tokens_in_strings=special_tokens_in_strings)
    reference = keras_hub.models.RoformerV2Tokenizer(vocabulary=tokenizer_vocabulary(), **settings)
    ours = RoformerV2Tokenizer(vocabulary=tokenizer_vocabulary(), **settings)
    expected = [np.asarray(reference(text)).tolist() for text in SENTENCES]
    assert [ours(text).tolist() for text in SENTENCES] == expected
    assert [ids.tolist() for ids in ours(SENTENCES)] == expected
    unknown = ours.token_to_id("[UNK]")
    assert any(unknown in ids for ids in expected) and any(len(ids) > 3 for ids in expected)
    assert [ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id] == [
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id
    ]
    # Names differ only by Keras's per-process counter; the round-trip test compares saved names.
    assert_same_config(ours, reference, ignoring=("name", "dtype"))


def test_encode_batch_flat_equals_tokenize():
    tokenizer = RoformerV2Tokenizer(vocabulary=tokenizer_vocabulary(), lowercase=True)
    texts = SENTENCES + sample_sentences(40)
    ids, offsets = tokenizer.encoder.encode_batch_flat(texts)
    assert ids.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    assert [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))] == [
        tokenizer(t).tolist() for t in texts]


def test_preprocessor_config_has_keras_hubs_keys():
    vocabulary = tiny_vocabulary()
    ours = RoformerV2MaskedLMPreprocessor(RoformerV2Tokenizer(vocabulary=vocabulary), sequence_length=16)
    reference_tokenizer = keras_hub.models.RoformerV2Tokenizer(vocabulary=vocabulary)
    reference = keras_hub.models.RoformerV2MaskedLMPreprocessor(reference_tokenizer, sequence_length=16)
    expected = {k: v for k, v in reference.get_config().items() if k not in ("tokenizer", "dtype", "name")}
    assert {k: v for k, v in ours.get_config().items() if k not in ("dtype", "name")} == expected


@pytest.mark.parametrize(
    "change",
    [
        dict(vocabulary_size=10**12),
        dict(num_layers=10**6),
        dict(hidden_dim=10**9, head_size=5 * 10**8),
        dict(head_size=4),  # num_heads * head_size != hidden_dim
        dict(num_heads=4, head_size=3, hidden_dim=12),  # odd head size: no rotary pairs
        dict(activation="keras_hub>Custom"),
        dict(activation={"class_name": "function"}),
        dict(use_bias="yes"),
        dict(max_wavelength=float("nan")),
        dict(dropout=1.5),
        dict(num_segments=0),
    ],
)
def test_bad_configs_raise_value_error(change):
    with pytest.raises(ValueError):
        RoformerV2Backbone(**{"vocabulary_size": 50, **TINY, **change})


@pytest.mark.parametrize(
    "change",
    [dict(hidden_dim=2**40), dict(activation="keras_hub>Custom"), dict(head_size=3), dict(use_bias="false")],
)
def test_hostile_preset_config_is_a_one_line_preset_error(keras_hub_preset, tmp_path, change):
    error = assert_backbone_config_refused(keras_hub_preset, tmp_path / "hostile", change)
    assert "RoformerV2Backbone" in str(error) and "\n" not in str(error)


def test_mixed_bfloat16_trains_with_float32_variables_and_logits(tmp_path):
    tokenizer = RoformerV2Tokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    preprocessor = RoformerV2MaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    backbone = RoformerV2Backbone(vocabulary_size=tokenizer.vocabulary_size(), **TINY, **CONFIGS["biases_gelu"])
    sharpen(backbone.weights)
    RoformerV2MaskedLM(backbone, preprocessor=preprocessor).save_to_preset(tmp_path / "tiny")
    full = MaskedLM.from_preset(tmp_path / "tiny")
    mixed = MaskedLM.from_preset(tmp_path / "tiny", dtype="mixed_bfloat16")
    assert {v.dtype for v in mixed.weights} == {"float32"}
    batch = roformer_batch(full.backbone.vocabulary_size, seed=3)
    got, expected = logits(mixed, batch), logits(full, batch)
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() <= 0.05 * np.abs(expected).max()
    mixed.compile()
    history = mixed.fit(sample_sentences(8), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.slow  # trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_a_roformer_preset(tmp_path):
    tokenizer = RoformerV2Tokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    assert_cli_trains_and_evaluates(RoformerV2MaskedLM, tokenizer, TINY, tmp_path, "jax", precision="float32")
