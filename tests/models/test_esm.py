"""ESM presets move both ways between keras-hub 0.32 and mlm with equal masked-PLM logits; weights layout, configs,
tokens.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")
import keras  # noqa: E402

from mlm_cli.errors import PresetError  # noqa: E402
from mlm_cli.models import ESMBackbone, ESMMaskedPLM, ESMMaskedPLMPreprocessor, ESMTokenizer, MaskedLM  # noqa: E402
from mlm_cli.models.esm import esm_weights  # noqa: E402
from mlm_cli.models.preset.h5_weights import read_shapes  # noqa: E402
from mlm_cli.seeding import set_seed  # noqa: E402
from tests.family_sizes import tiny_sizes  # noqa: E402
from tests.models.family_checks import assert_round_trip_keeps_every_weight, logits, perturb_weights  # noqa: E402
from tests.models.h5_layout import assert_same_h5_layout  # noqa: E402

# ESM-2's vocabulary (transformers' default EsmConfig vocab_list).
ESM_VOCABULARY = [
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N", "F", "Y",
    "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>",
]
RESIDUES = "LAGVSERTIDPKQNFYMHWC"
PAD = 1
# rotary: ESM-2; absolute: ESM-1b style (embedding layer norm), here also without biases and with ReLU.
VARIANTS = {
    "rotary": {"position_embedding_type": "rotary"},
    "absolute": {"position_embedding_type": "absolute", "use_pre_layer_norm": True, "use_bias": False,
                 "activation": "relu"},
}
TINY = {"vocabulary_size": len(ESM_VOCABULARY), **tiny_sizes("esm", max_sequence_length=40, pad_token_id=PAD)}


def protein_texts(count: int, seed: int = 0, spaced: bool = True) -> list[str]:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list(RESIDUES), rng.integers(4, 30))) for _ in range(count)]
    return [" ".join(s) if spaced else s for s in sequences]


class _KerasOnTheTorchMaskPath:
    """keras, as seen by keras_hub's ESM attention module, reporting the torch backend.

    keras_hub's ESM attention builds a key mask only on torch; on JAX it masks padded
    *queries*, so real tokens attend to padding (a keras_hub bug mlm does not copy). With
    this stand-in keras_hub takes its torch branch, which is valid on every backend.
    """

    def __getattr__(self, name):
        return getattr(keras, name)

    class config:
        backend = staticmethod(lambda: "torch")
        is_flash_attention_enabled = staticmethod(keras.config.is_flash_attention_enabled)


@pytest.fixture()
def keras_hub_key_masking(monkeypatch):
    from keras_hub.src.models.esm import esm_attention

    monkeypatch.setattr(esm_attention, "keras", _KerasOnTheTorchMaskPath())


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def keras_hub_esm_preset(request, tmp_path_factory):
    """A tiny random ESMMaskedPLM saved by keras-hub, every weight (norms and biases too) randomised."""
    set_seed(5)
    tokenizer = keras_hub.models.ESMTokenizer(vocabulary=ESM_VOCABULARY)
    preprocessor = keras_hub.models.ESMMaskedPLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    backbone = keras_hub.models.ESMBackbone(**TINY, **VARIANTS[request.param])
    model = keras_hub.models.ESMMaskedPLM(backbone, preprocessor=preprocessor)
    perturb_weights(model.weights, seed=3)
    path = tmp_path_factory.mktemp("keras_hub_esm") / request.param
    model.save_to_preset(str(path))
    return path


def fixed_batch(selections: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """<cls> residues <eos> <pad>..., rows of different lengths, masked positions inside each row."""
    rng = np.random.default_rng(seed)
    lengths = np.array([24, 16, 9, 5])
    positions = np.arange(24)[None, :]
    token_ids = np.where(positions < lengths[:, None], rng.integers(4, 29, (4, 24)), PAD)
    token_ids[:, 0] = 0
    token_ids[np.arange(4), lengths - 1] = 2
    mask_positions = np.sort(rng.integers(1, lengths[:, None] - 1, (4, selections)), axis=1)
    return {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": np.zeros((4, 24), "int32"),
        "padding_mask": token_ids != PAD,
        "mask_positions": mask_positions.astype("int32"),
    }


def keras_hub_logits(model, batch) -> np.ndarray:
    return keras.ops.convert_to_numpy(model({"token_ids": batch["token_ids"],
                                             "mask_positions": batch["mask_positions"]}))


# --- presets, both ways -------------------------------------------------------


def test_keras_hub_preset_loads_with_equal_logits(keras_hub_esm_preset, keras_hub_key_masking):
    reference = keras_hub.models.ESMMaskedPLM.from_preset(str(keras_hub_esm_preset))
    ours = MaskedLM.from_preset(keras_hub_esm_preset)
    assert isinstance(ours, ESMMaskedPLM)
    batch = fixed_batch()
    ours_logits = logits(ours, batch)
    assert ours_logits.shape == (4, 6, len(ESM_VOCABULARY)) and ours_logits.dtype == np.float32
    assert np.abs(ours_logits - keras_hub_logits(reference, batch)).max() <= 1e-4
    assert ours.backbone.parameter_count() == reference.backbone.count_params()


def test_rows_without_padding_equal_keras_hub_unpatched(keras_hub_esm_preset):
    reference = keras_hub.models.ESMMaskedPLM.from_preset(str(keras_hub_esm_preset))
    ours = MaskedLM.from_preset(keras_hub_esm_preset)
    batch = fixed_batch(seed=2)
    assert np.abs(logits(ours, batch)[0] - keras_hub_logits(reference, batch)[0]).max() <= 1e-4


def test_padding_does_not_leak_into_real_tokens(keras_hub_esm_preset):
    ours = MaskedLM.from_preset(keras_hub_esm_preset)
    batch = fixed_batch()
    longer = {k: np.concatenate([v, np.full_like(v[:, :8], PAD if k == "token_ids" else 0)],
                                axis=1) if k != "mask_positions" else v
              for k, v in batch.items()}
    longer["padding_mask"] = longer["token_ids"] != PAD
    assert np.abs(logits(ours, batch) - logits(ours, longer)).max() <= 1e-5


def test_mlm_preset_loads_in_keras_hub_with_equal_logits(keras_hub_esm_preset, keras_hub_key_masking, tmp_path):
    ours = MaskedLM.from_preset(keras_hub_esm_preset)
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in ours.weights]
    ours.compile(optimizer=keras.optimizers.Adam(1e-2))
    ours.fit(protein_texts(16), batch_size=8, epochs=1, verbose=0)
    assert any(not np.array_equal(a, keras.ops.convert_to_numpy(w)) for a,
               w in zip(before, ours.masked_lm_head.weights))
    ours.save_to_preset(tmp_path / "ours")
    reference = keras_hub.models.ESMMaskedPLM.from_preset(str(tmp_path / "ours"))
    batch = fixed_batch(seed=1)
    assert np.abs(logits(ours, batch) - keras_hub_logits(reference, batch)).max() <= 1e-4
    assert reference.preprocessor.sequence_length == ours.preprocessor.sequence_length == 24
    assert reference.preprocessor.mask_selection_length == ours.preprocessor.mask_selection_length == 6
    text = "M K T A Y I A K Q R <mask> q"
    assert np.array_equal(np.asarray(reference.preprocessor.tokenizer(text)), ours.preprocessor.tokenizer(text))
    config = json.loads((tmp_path / "ours" / "config.json").read_text())["config"]
    assert {k: v for k, v in config.items() if k != "dtype"} == {
        k: v for k, v in reference.backbone.get_config().items() if k != "dtype"
    }


def test_round_trip_through_mlm_keeps_every_weight(keras_hub_esm_preset, tmp_path):
    assert_round_trip_keeps_every_weight(keras_hub_esm_preset, tmp_path / "copy")


def test_weights_layout_matches_keras_hub(keras_hub_esm_preset, tmp_path):
    """Every dataset and `vars` group keras_hub writes, with the same shapes and layer names."""
    ours = MaskedLM.from_preset(keras_hub_esm_preset)
    ours.save_to_preset(tmp_path / "ours")
    config = ours.backbone.get_config()
    for name, expected in (("model.weights.h5", esm_weights.backbone_shapes(config)),
                           ("task.weights.h5", esm_weights.head_shapes(config))):
        theirs = {k: s for k, (s, _) in read_shapes(keras_hub_esm_preset / name).items() if not k.startswith(
            "optimizer/")}
        assert theirs == {k: tuple(v) for k, v in expected.items()}
        assert_same_h5_layout(tmp_path / "ours" / name, keras_hub_esm_preset / name)


# --- configs ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_configs_have_keras_hub_keys_and_values(variant):
    # keras names unnamed layers from a process-wide counter: name both explicitly.
    theirs = keras_hub.models.ESMBackbone(**TINY, **VARIANTS[variant], name="esm_backbone")
    ours = ESMBackbone(**TINY, **VARIANTS[variant])
    assert list(ours.get_config()) == list(theirs.get_config())
    assert {k: v for k, v in ours.get_config().items() if k != "dtype"} == {k: v for k,
        v in theirs.get_config().items() if k != "dtype"}
    assert ours.parameter_count() == theirs.count_params()

    tokenizer = ESMTokenizer(ESM_VOCABULARY)
    reference = keras_hub.models.ESMTokenizer(vocabulary=ESM_VOCABULARY, name="esm_tokenizer")
    assert {k: v for k, v in tokenizer.get_config().items() if k != "dtype"} == {k: v for k,
        v in reference.get_config().items() if k != "dtype"}
    preprocessor = ESMMaskedPLMPreprocessor(tokenizer, sequence_length=24)
    reference_preprocessor = keras_hub.models.ESMMaskedPLMPreprocessor(reference, sequence_length=24,
                                                                       name="esm_masked_plm_preprocessor")
    theirs_config = {k: v for k, v in reference_preprocessor.get_config().items() if k not in ("dtype", "tokenizer")}
    assert {k: v for k, v in preprocessor.get_config().items() if k != "dtype"} == theirs_config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocabulary_size": 10**12}, "vocabulary_size"),
        ({"hidden_dim": 4_000_000_000}, "hidden_dim"),
        ({"num_layers": -1}, "num_layers"),
        ({"hidden_dim": 12, "num_heads": 4}, "even head size"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"pad_token_id": 99}, "pad_token_id"),
        ({"activation": "no_such_activation"}, "activation"),
        ({"activation": {"class_name": "Lambda"}}, "activation"),
        ({"use_bias": "yes"}, "use_bias"),
        ({"layer_norm_eps": float("nan")}, "layer_norm_eps"),
        ({"max_wavelength": 0}, "max_wavelength"),
    ],
)
def test_hostile_backbone_configs_fail_with_one_line(tmp_path, change, message):
    tokenizer = ESMTokenizer(ESM_VOCABULARY)
    ESMMaskedPLM(ESMBackbone(**TINY), preprocessor=ESMMaskedPLMPreprocessor(tokenizer,
        sequence_length=16)).save_to_preset(tmp_path / "p")
    for name in ("config.json",):
        path = tmp_path / "p" / name
        data = json.loads(path.read_text())
        data["config"].update(change)
        path.write_text(json.dumps(data))
    with pytest.raises(PresetError, match=message) as error:
        MaskedLM.from_preset(tmp_path / "p")
    assert "\n" not in str(error.value)


def test_absolute_positions_refuse_sequences_past_the_table():
    model = ESMMaskedPLM(ESMBackbone(**{**TINY, "max_sequence_length": 12}, position_embedding_type="absolute"))
    ids = np.full((1, 12), 5, "int32")  # positions 1 .. 12 with pad_token_id 1: one past the 12-row table
    with pytest.raises(ValueError, match="positions"):
        model({"token_ids": ids, "padding_mask": ids != PAD, "segment_ids": ids * 0,
               "mask_positions": np.zeros((1, 2), "int32")})


def test_mismatched_pad_ids_are_reported(caplog):
    """keras_hub's ESMBackbone defaults to pad_token_id 0, which is <cls> in ESM's vocabulary."""
    preprocessor = ESMMaskedPLMPreprocessor(ESMTokenizer(ESM_VOCABULARY), sequence_length=16)
    with caplog.at_level("WARNING", logger="mlm"):
        ESMMaskedPLM(ESMBackbone(**{**TINY, "pad_token_id": 0}), preprocessor=preprocessor)
        ESMMaskedPLM(ESMBackbone(**TINY), preprocessor=preprocessor)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "the backbone masks token 0 as padding but the tokenizer pads with 1"]


def test_mixed_precision_keeps_float32_variables_and_logits():
    set_seed(1)
    full = ESMMaskedPLM(ESMBackbone(**TINY))
    mixed = ESMMaskedPLM(ESMBackbone(**TINY, dtype="mixed_bfloat16"))
    mixed.set_weights(full.get_weights())
    batch = fixed_batch()
    assert all(w.dtype == "float32" for w in mixed.weights)
    out = logits(mixed, batch)
    assert out.dtype == np.float32
    assert np.abs(out - logits(full, batch)).max() < 0.1


# --- tokenizer -------------------------------------------------------------------


def varied_texts() -> list[str]:
    return [
        *protein_texts(20, seed=4), *protein_texts(5, seed=5, spaced=False),
        "M K T A Y", "mktay", "m k t a", "MKT AYI AK", "A  B\t\tC\r\nD", "  L  ", "", " ", "\t\n",
        "A.B-C", "A, B; C!", "L 123 K 4.5", "Zürich café ÉCOLE naïve", "東京 日本語 北京", "🙂 A 🧬 K",
        "A\u00a0K\u200bL",
        "<mask>", "A <mask> K", "A<mask>K", "<cls> M K <eos>", "<pad> <unk> <null_1>", "<mas k>", "##A ##K",
        "X B U Z O",
        "A\x1cB", "A\x00K\x7fL",
    ]


@pytest.mark.parametrize("special_tokens_in_strings", [False, True])
def test_tokenization_equals_keras_hub(special_tokens_in_strings):
    ours = ESMTokenizer(ESM_VOCABULARY, special_tokens_in_strings=special_tokens_in_strings)
    reference = keras_hub.models.ESMTokenizer(vocabulary=ESM_VOCABULARY,
                                              special_tokens_in_strings=special_tokens_in_strings)
    texts = varied_texts()
    mismatches = [t for t in texts if ours(t).tolist() != np.asarray(reference(t)).tolist()]
    assert not mismatches, mismatches[:5]
    flat, offsets = ours.encoder.encode_batch_flat(texts)
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    assert [flat[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))] == [ours(t).tolist() for t in texts]
    assert ours.special_token_ids == [0, 2, 1, 32] and sorted(ours.special_token_ids) == sorted(
        reference.special_token_ids)
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.mask_token_id) == (
        reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.mask_token_id)
    assert ours.detokenize(ours("M K <mask>")) == reference.detokenize(reference("M K <mask>"))


def test_preprocessor_packs_like_keras_hub():
    tokenizer = ESMTokenizer(ESM_VOCABULARY)
    ours = ESMMaskedPLMPreprocessor(tokenizer, sequence_length=12, mask_selection_rate=0.0)
    reference = keras_hub.models.ESMMaskedPLMPreprocessor(
        keras_hub.models.ESMTokenizer(vocabulary=ESM_VOCABULARY), sequence_length=12, mask_selection_rate=0.0)
    texts = ["M K T A", "L L V A G S E R T I D P", "", "q"]
    x, _, weights = ours(texts)
    expected, _, _ = reference(texts)
    assert np.array_equal(x["token_ids"], np.asarray(expected["token_ids"]))
    assert np.array_equal(x["padding_mask"], x["token_ids"] != PAD) and not weights.any()


def test_tokenizer_rejects_bad_settings():
    with pytest.raises(ValueError, match="special tokens"):
        ESMTokenizer(["<cls>", "<unk>", "A"])
    with pytest.raises(ValueError, match="unknown tokenizer options"):
        ESMTokenizer(ESM_VOCABULARY, vocabulary_file="x")
    with pytest.raises(ValueError, match="lowercase"):
        ESMTokenizer(ESM_VOCABULARY, lowercase=True, special_tokens_in_strings=True, normalization="transformers")
