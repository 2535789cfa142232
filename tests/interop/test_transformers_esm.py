"""ESM interop with Hugging Face transformers (EsmForMaskedLM, EsmTokenizer), checked against transformers itself; the
CLI on a converted checkpoint.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from mlm_cli.errors import PresetError
from mlm_cli.models import ESMBackbone, ESMMaskedPLM, ESMMaskedPLMPreprocessor, ESMTokenizer, MaskedLM
from mlm_cli.models.convert.safetensors_io import read_safetensors
from mlm_cli.models.convert.transformers_checkpoint import export_transformers
from tests.models.family_checks import logits, update_json

ESM_VOCABULARY = list(transformers.models.esm.configuration_esm.get_default_vocab_list())
RESIDUES = "LAGVSERTIDPKQNFYMHWC"
# (position_embedding_type, token_dropout, emb_layer_norm_before, tie_word_embeddings): ESM-2, ESM-1b, an untied ESM-2.
VARIANTS = {
    "esm2": ("rotary", True, False, True),
    "esm1b": ("absolute", True, True, True),
    "untied": ("rotary", False, False, False),
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))


def write_checkpoint(path: Path, position_embedding_type="rotary", token_dropout=True, emb_layer_norm_before=False,
                     tie=True) -> Path:
    """A tiny random EsmForMaskedLM and its EsmTokenizer, written with save_pretrained."""
    torch.manual_seed(3)
    config = transformers.EsmConfig(
        vocab_size=len(ESM_VOCABULARY), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=48, position_embedding_type=position_embedding_type, pad_token_id=1, mask_token_id=32,
        token_dropout=token_dropout, emb_layer_norm_before=emb_layer_norm_before, tie_word_embeddings=tie,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    model = transformers.EsmForMaskedLM(config)
    with torch.no_grad():  # non-trivial norms and biases, so that a mapping mistake shows
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(path)
    (path.parent / "vocab.txt").write_text("\n".join(ESM_VOCABULARY), encoding="utf-8")
    transformers.EsmTokenizer(str(path.parent / "vocab.txt")).save_pretrained(path)
    return path


@pytest.fixture(params=sorted(VARIANTS))
def checkpoint(request, tmp_path) -> Path:
    position, dropout, pre_norm, tie = VARIANTS[request.param]
    return write_checkpoint(tmp_path / request.param, position, dropout, pre_norm, tie)


def proteins(count: int = 6, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(RESIDUES) for _ in range(rng.randint(3, 30))) for _ in range(count)]


def varied_texts() -> list[str]:
    return [
        *proteins(20, seed=1), "M K T A Y", "MKT AYI\tAK\nLL", "mkta", "aBc", "MK<mask>TA", "<cls>MK<eos>",
        "A <pad> <unk> <null_1>",
        "<mas", "A.B-C#D", "Zürich 東京 🙂", "", "   ", "A\x1cB\x1fC", "A\u00a0K\u2003L\u200bM", "XBUZO", "1 2 3",
    ]


def transformers_logits(model, token_ids: np.ndarray) -> np.ndarray:
    ids = torch.tensor(np.asarray(token_ids), dtype=torch.long)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=(ids != 1).long()).logits.numpy()


def at_positions(full: np.ndarray, positions) -> np.ndarray:
    return np.take_along_axis(full, np.asarray(positions)[..., None].astype(np.int64), axis=1)


def masked_batch(preprocessor, texts: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    """Packed texts, four prediction positions per row on residues, most of them replaced by <mask>.

    Not the random masker: its random replacements may put <pad> inside a sequence, where
    transformers zeroes the input embedding and keras_hub (and mlm) do not.
    """
    packed, _ = preprocessor.pack(texts)
    token_ids = packed["token_ids"].copy()
    rng = np.random.default_rng(seed)
    lengths = (token_ids != preprocessor.tokenizer.pad_token_id).sum(axis=1)
    positions = np.stack([np.sort(rng.integers(1, length - 1, 4)) for length in lengths]).astype("int32")
    masked = rng.random(positions.shape) < 0.7
    rows = np.broadcast_to(np.arange(len(texts))[:, None], positions.shape)
    token_ids[rows[masked], positions[masked]] = preprocessor.tokenizer.mask_token_id
    padding_mask = token_ids != preprocessor.tokenizer.pad_token_id
    return {"token_ids": token_ids, "segment_ids": packed["segment_ids"], "padding_mask": padding_mask,
            "mask_positions": positions}


def test_masked_lm_logits_and_token_ids_equal_transformers(checkpoint):
    model = MaskedLM.from_preset(checkpoint)
    assert isinstance(model, ESMMaskedPLM)
    reference = transformers.EsmForMaskedLM.from_pretrained(checkpoint).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    texts = [*proteins(), "MKT<mask>AYL<mask>"]  # <mask> in the text exercises token dropout's rescaling
    packed, _ = model.preprocessor.pack(texts)
    for row, text in zip(packed["token_ids"], texts):
        expected = tokenizer(text)["input_ids"]
        assert row[: len(expected)].tolist() == expected and (row[len(expected):] == 1).all()
    x = masked_batch(model.preprocessor, texts)
    expected = at_positions(transformers_logits(reference, x["token_ids"]), x["mask_positions"])
    assert np.abs(logits(model, x) - expected).max() <= 1e-4


def test_tokenization_equals_transformers(checkpoint):
    tokenizer = MaskedLM.from_preset(checkpoint, load_weights=False).preprocessor.tokenizer
    reference = transformers.AutoTokenizer.from_pretrained(checkpoint)
    texts = varied_texts()
    mismatches = [t for t in texts if tokenizer(t).tolist() != reference(t, add_special_tokens=False)["input_ids"]]
    assert not mismatches, mismatches[:5]
    flat, offsets = tokenizer.encoder.encode_batch_flat(
        texts * 80)  # non-ASCII: the Rust route, in several joined parts
    assert [flat[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))] == [
        tokenizer(t).tolist() for t in texts]
    assert offsets[-1] == len(flat) and len(offsets) == 80 * len(texts) + 1
    plain = [t for t in texts if t.isascii() and "<" not in t] + ["a\x0bb\x7fC", "MK\x1f\x1fta-",
                                                                  "-"]  # the byte-table route
    flat, offsets = tokenizer.encoder.encode_batch_flat(plain)
    expected = [reference(t, add_special_tokens=False)["input_ids"] for t in plain]
    assert [flat[offsets[i]:offsets[i + 1]].tolist() for i in range(len(plain))] == expected


def test_round_trip_reproduces_every_weight(tmp_path):
    source = write_checkpoint(tmp_path / "esm2")
    export_transformers(MaskedLM.from_preset(source), tmp_path / "back")
    original = read_safetensors(source / "model.safetensors")
    returned = read_safetensors(tmp_path / "back" / "model.safetensors")
    dropped = {n for n in original if ".contact_head." in n or n.endswith(
        "inv_freq")}  # no masked-LM role, not in keras_hub's format
    renamed = {n.replace(".LayerNorm.gamma", ".LayerNorm.weight").replace(".LayerNorm.beta",
                                                                          ".LayerNorm.bias"): n for n in original}
    assert set(returned) == set(renamed) - dropped
    for name, array in returned.items():
        np.testing.assert_array_equal(array, original[renamed[name]], err_msg=name)
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert config["token_dropout"] is True and config["mask_token_id"] == 32 and config["tie_word_embeddings"] is True


@pytest.mark.parametrize("source", ["converted", "mlm"])
def test_export_loads_in_transformers_with_equal_logits_and_token_ids(source, tmp_path):
    if source == "converted":
        model = MaskedLM.from_preset(write_checkpoint(tmp_path / "esm2"))
        texts = [*proteins(seed=4), "MK<mask>TA"]
    else:  # an mlm model in keras_hub's numerics: absolute positions, no biases, spaced residues
        tokenizer = ESMTokenizer(ESM_VOCABULARY)
        backbone = ESMBackbone(len(ESM_VOCABULARY), 2, 4, 32, 64, max_sequence_length=48, pad_token_id=1,
                               position_embedding_type="absolute", use_bias=False, use_pre_layer_norm=True)
        model = ESMMaskedPLM(backbone, preprocessor=ESMMaskedPLMPreprocessor(tokenizer, sequence_length=32))
        texts = [" ".join(p) for p in proteins(seed=4)]
    kernel = model.masked_lm_head.output_kernel
    kernel.assign(kernel.numpy() + 0.05)  # as after training: the projection no longer equals the embeddings
    export_transformers(model, tmp_path / "hf")
    reference, info = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert {k for k in info["missing_keys"] if "contact_head" not in k and "inv_freq" not in k} == set()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    x = masked_batch(model.preprocessor, texts, seed=1)
    assert [tokenizer(t)["input_ids"] for t in texts] == [
        [model.preprocessor.tokenizer.cls_token_id, *model.preprocessor.tokenizer(t).tolist(),
         model.preprocessor.tokenizer.sep_token_id]
        for t in texts
    ]
    expected = at_positions(transformers_logits(reference.eval(), x["token_ids"]), x["mask_positions"])
    assert np.abs(logits(model, x) - expected).max() <= 1e-4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
        ({"is_decoder": True}, "is_decoder"),
        ({"num_attention_heads": 5}, "divisible"),
        ({"num_hidden_layers": 10**9}, "num_layers"),
        ({"intermediate_size": 48}, "does not fit the config"),
    ],
)
def test_unsupported_configs_are_refused_in_one_line(tmp_path, change, message):
    path = write_checkpoint(tmp_path / "esm2")
    update_json(path / "config.json", change)
    with pytest.raises(PresetError, match=message) as error:
        MaskedLM.from_preset(path)
    assert "\n" not in str(error.value)


def test_foreign_special_tokens_are_refused(tmp_path):
    path = write_checkpoint(tmp_path / "esm2")
    update_json(path / "tokenizer_config.json", {"mask_token": "[MASK]"})
    with pytest.raises(PresetError, match="mask_token"):
        MaskedLM.from_preset(path)


@pytest.mark.slow  # converts, trains and evaluates in subprocesses
@pytest.mark.run_once  # the CLI families are split between the backends, each trained once
def test_cli_trains_and_evaluates_a_transformers_esm_checkpoint(tmp_path):
    """The real `mlm` entry point: train a few steps from a transformers checkpoint on unspaced sequences, then
    evaluate.
    """
    from tests.support.cli import UNREACHABLE, run_mlm

    checkpoint = write_checkpoint(tmp_path / "esm", token_dropout=True)  # as every ESM-2 checkpoint
    (tmp_path / "proteins.txt").write_text("\n".join(proteins(150, seed=9)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": "jax", "KAGGLE_API_ENDPOINT": UNREACHABLE,
           "HF_ENDPOINT": UNREACHABLE}
    trained = run_mlm("train", "--preset", str(checkpoint), "--data", str(tmp_path / "proteins.txt"), "--output",
                      str(tmp_path / "run"),
                      "--max-steps", "3", "--batch-size", "8", "--sequence-length", "32", "--precision",
                      "mixed_bfloat16", "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    evaluated = run_mlm("eval", "--preset", str(tmp_path / "run"), "--data", str(tmp_path / "proteins.txt"), "--json",
                        "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["masked_tokens"] > 0 and np.isfinite(result["loss"]) and result["perplexity"] == pytest.approx(
        np.exp(result["loss"]))
    # One id per residue (transformers' splitting carried into the preset): about 0.15 of ~16.5 residues per line are
    # masked.
    assert result["masked_tokens"] >= 150 and result["tokens"] > 150 * 10
