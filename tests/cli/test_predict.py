"""`mlm predict`: fill-mask predictions through the real entry point, and `fill_mask` against a direct softmax."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.corpus import WORDS, sample_sentences, tiny_vocabulary

VOCABULARY = tiny_vocabulary()


def check_masks(result: dict, top_k: int, vocabulary: list[str] = VOCABULARY) -> None:
    """Every mask has `top_k` valid predictions, probabilities in [0, 1], best first, summing to at most 1."""
    assert result["masks"]
    for mask in result["masks"]:
        predictions = mask["predictions"]
        assert len(predictions) == top_k
        probabilities = [p["probability"] for p in predictions]
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1.0 + 1e-6
        for prediction in predictions:
            assert 0 <= prediction["token_id"] < len(vocabulary)
            assert prediction["token"] == vocabulary[prediction["token_id"]]


def test_json_predictions_for_each_mask(mlm, tiny_preset):
    sentences = ["the [MASK] of water", "[MASK] is a [MASK] , they said"]
    result = mlm("predict", "--preset", str(tiny_preset), *sentences, "--top-k", "4", "--json")
    assert result.code == 0, result.stderr
    results = json.loads(result.stdout)
    assert [r["sentence"] for r in results] == sentences
    for entry in results:
        check_masks(entry, top_k=4)
        assert "[MASK]" not in entry["filled"]
    # Positions index the model's input: [CLS] is 0, then one token per word of these sentences.
    assert [m["position"] for m in results[0]["masks"]] == [2]
    assert [m["position"] for m in results[1]["masks"]] == [1, 4]
    best = results[0]["masks"][0]["predictions"][0]["token"]
    if not best.startswith("##"):
        assert results[0]["filled"] == f"the {best} of water"


@pytest.mark.run_once  # CLI behaviour, the same on every backend
def test_file_sentences_follow_arguments_and_table_output(mlm, tiny_preset, tmp_path):
    listing = tmp_path / "sentences.txt"
    listing.write_text("the [MASK] was long\n\n   \nwe can [MASK] it\n", encoding="utf-8")
    result = mlm("predict", "--preset", str(tiny_preset), "a [MASK] day", "--file", str(listing), "--json", "-k", "2")
    assert result.code == 0, result.stderr
    results = json.loads(result.stdout)
    assert [r["sentence"] for r in results] == ["a [MASK] day", "the [MASK] was long", "we can [MASK] it"]
    for entry in results:
        check_masks(entry, top_k=2)

    table = mlm("predict", "--preset", str(tiny_preset), "--file", str(listing), "--top-k", "3")
    assert table.code == 0, table.stderr
    assert "the [MASK] was long" in table.stdout and "we can [MASK] it" in table.stdout
    assert "probability" in table.stdout and table.stdout.count("filled:") == 2
    best = results[1]["masks"][0]["predictions"][0]
    assert f"{best['probability']:.4f}" in table.stdout


@pytest.mark.run_once  # CLI behaviour, the same on every backend
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["the model will train"], "sentence 2 has no mask"),
        (["the model is " + "long " * 40 + "[MASK]"], "beyond the model's 32-token sequence"),
        (["--top-k", "0"], "--top-k must be at least 1"),
        (["--file", "missing.txt"], "missing.txt not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(mlm_in_process, tiny_preset, tmp_path, arguments, expected):
    result = mlm_in_process("predict", "--preset", str(tiny_preset), "a [MASK] b", *arguments, cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.run_once  # CLI behaviour, the same on every backend
def test_long_sentence_is_cut_to_the_sequence(mlm, tiny_preset):
    sentence = "the [MASK] " + "water " * 60
    result = mlm("predict", "--preset", str(tiny_preset), sentence, "--json")
    assert result.code == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    check_masks(entry, top_k=5)
    assert entry["filled"].split().count(
        "water") == 28  # the sequence's 32 tokens less [CLS], [SEP], "the" and the mask
    assert "only the first 30 are read" in result.stderr


def tiny_roberta_preset(path):
    """A tiny random RoBERTa preset with a byte-level BPE trained in a second, and its tokenizer."""
    from tokenizers import ByteLevelBPETokenizer

    from mlm_cli.models import RobertaBackbone, RobertaMaskedLM, RobertaMaskedLMPreprocessor, RobertaTokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(sample_sentences(300, seed=5) + [" ".join(WORDS)] * 5, vocab_size=400, min_frequency=2,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    vocabulary_file, merges_file = trainer.save_model(str(path.parent))
    tokenizer = RobertaTokenizer(vocabulary=vocabulary_file, merges=merges_file)
    preprocessor = RobertaMaskedLMPreprocessor(tokenizer, sequence_length=24, mask_selection_length=6)
    backbone = RobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=16,
                               intermediate_dim=32, max_sequence_length=32)
    RobertaMaskedLM(backbone, preprocessor=preprocessor).save_to_preset(path)
    return path, tokenizer


def test_roberta_own_mask_token_and_generic_mask_agree(mlm, tmp_path):
    preset, tokenizer = tiny_roberta_preset(tmp_path / "roberta" / "preset")
    result = mlm("predict", "--preset", str(preset), "the model <mask> on data.", "the model [MASK] on data.", "--json")
    assert result.code == 0, result.stderr
    own, generic = json.loads(result.stdout)
    assert own["masks"] == generic["masks"]
    assert own["filled"] == generic["filled"]
    vocabulary = json.loads((preset / "assets" / "tokenizer" / "vocabulary.json").read_text(encoding="utf-8"))
    check_masks(own, top_k=5, vocabulary=sorted(vocabulary, key=vocabulary.get))
    # <s> "the model" <mask>: the mask takes the space before it, as transformers' <mask> does.
    assert [m["position"] for m in own["masks"]] == [1 + len(tokenizer.tokenize("the model"))]
    best = own["masks"][0]["predictions"][0]["token_id"]
    pieces = [tokenizer.tokenize("the model"), [best], tokenizer.tokenize(" on data.")]
    assert own["filled"] == tokenizer.detokenize(np.concatenate(pieces).astype(np.int32))


def test_fill_mask_equals_softmax_of_the_model_logits(tiny_model, monkeypatch):
    """fill_mask's probabilities are the softmax of the logits at each mask, whichever forward pass a sentence is in."""
    from mlm_cli.workflows import predict

    monkeypatch.setattr(predict, "ROWS_PER_CALL", 2)  # three sentences: two forward passes, the second padded
    sentences = ["the [MASK] of water", "[MASK] is a [MASK] , they said", "we can [MASK]"]
    vocabulary_size = len(VOCABULARY)
    results = predict.fill_mask(tiny_model, sentences, top_k=vocabulary_size + 10)

    tokenizer = tiny_model.preprocessor.tokenizer
    mask_id = tokenizer.mask_token_id
    special = sorted(set(tokenizer.special_token_ids))
    for sentence, result in zip(sentences, results):
        parts = sentence.split("[MASK]")
        ids = [tokenizer.cls_token_id]
        for index, part in enumerate(parts):
            ids.extend(tokenizer.tokenize(part).tolist())
            if index < len(parts) - 1:
                ids.append(mask_id)
        ids.append(tokenizer.sep_token_id)
        token_ids = np.zeros((1, 24), dtype=np.int32)
        token_ids[0, : len(ids)] = ids
        positions = np.flatnonzero(token_ids[0] == mask_id)
        features = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": token_ids != 0,
                    "mask_positions": positions[None, :].astype(np.int32)}
        logits = np.asarray(tiny_model.predict_on_batch(features), dtype=np.float64)[0]
        expected = np.exp(logits - logits.max(axis=-1, keepdims=True))
        expected /= expected.sum(axis=-1, keepdims=True)

        assert [m["position"] for m in result["masks"]] == positions.tolist()
        for mask, probabilities in zip(result["masks"], expected):
            predictions = mask["predictions"]
            # top-k is capped at the vocabulary less its special tokens, which are never proposed
            assert len(predictions) == vocabulary_size - len(special)
            got = np.zeros(vocabulary_size)
            got[[p["token_id"] for p in predictions]] = [p["probability"] for p in predictions]
            probabilities[special] = 0.0
            np.testing.assert_allclose(got, probabilities, rtol=1e-5, atol=1e-7)
            assert sum(p["probability"] for p in predictions) == pytest.approx(probabilities.sum(), abs=1e-6)
            assert predictions[0]["token_id"] == int(probabilities.argmax())
        filled = np.asarray(ids[1:-1])
        filled[filled == mask_id] = [m["predictions"][0]["token_id"] for m in result["masks"]]
        assert result["filled"] == tokenizer.detokenize(filled)


def test_fill_mask_refuses_a_sentence_without_mask(tiny_model):
    from mlm_cli.errors import BadInputError
    from mlm_cli.workflows.predict import fill_mask

    with pytest.raises(BadInputError, match="sentence 2 has no mask"):
        fill_mask(tiny_model, ["a [MASK]", "no mask here"])


def test_special_tokens_are_never_proposed(tiny_model):
    """A model that puts nearly all its mass on [MASK] and [PAD] still fills masks with words."""
    from mlm_cli.workflows.predict import fill_mask

    tokenizer = tiny_model.preprocessor.tokenizer
    special = set(tokenizer.special_token_ids)
    assert {tokenizer.mask_token_id, tokenizer.pad_token_id} <= special
    bias = tiny_model.masked_lm_head.output_bias
    saved = np.array(bias)
    boosted = saved.copy()
    boosted[[tokenizer.mask_token_id, tokenizer.pad_token_id]] += 50.0
    bias.assign(boosted)
    try:
        (result,) = fill_mask(tiny_model, ["the [MASK] of [MASK]"], top_k=3)
    finally:
        bias.assign(saved)
    assert "[MASK]" not in result["filled"] and "[PAD]" not in result["filled"]
    for mask in result["masks"]:
        assert not {p["token_id"] for p in mask["predictions"]} & special
        assert sum(p["probability"] for p in mask["predictions"]) < 1e-6  # the mass the model gave the excluded tokens
