"""`mlm eval --pseudo-perplexity`: through the entry point, and the vectorised scorer against a naive loop."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.support.corpus import tiny_vocabulary


def token_counts(path) -> list[int]:
    """Tokens of each non-empty document of a text corpus, as the tiny preset's tokenizer reads them."""
    from mlm_cli.models import BertTokenizer

    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [n for n in (len(tokenizer.tokenize(line)) for line in lines) if n]


def test_pseudo_perplexity_json_and_whole_documents(mlm, tiny_preset, corpus_files):
    heldout = corpus_files / "heldout.txt"
    flags = ("--preset", str(tiny_preset), "--data", str(heldout), "--pseudo-perplexity", "--batch-size", "16",
             "--max-batches", "3")
    result = mlm("eval", *flags, "--json")
    assert result.code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert {"preset", "sequence_length", "pseudo_perplexity", "pseudo_log_likelihood", "scored_tokens", "documents",
            "truncated_documents", "batches"} <= set(scores)
    assert scores["sequence_length"] == 32 and scores["truncated_documents"] == 0
    assert scores["pseudo_log_likelihood"] < 0
    assert scores["pseudo_perplexity"] == pytest.approx(math.exp(
        -scores["pseudo_log_likelihood"] / scores["scored_tokens"]))
    # --max-batches 3 of 16 copies: the first documents whose tokens fit in 48 rows, each scored whole.
    counts = token_counts(heldout)
    taken = scores["documents"]
    assert scores["scored_tokens"] == sum(counts[:taken]) <= 48 < sum(counts[: taken + 1])
    assert scores["batches"] == math.ceil(scores["scored_tokens"] / 16)

    human = mlm("eval", *flags)
    assert human.code == 0, human.stderr
    assert f"pseudo-perplexity {scores['pseudo_perplexity']:.3f}" in human.stdout
    assert f"scored tokens {scores['scored_tokens']:,}" in human.stdout


@pytest.mark.run_once  # CLI behaviour, the same on every backend
def test_mask_rate_is_refused_with_pseudo_perplexity(mlm_in_process, tiny_preset, corpus_files):
    result = mlm_in_process("eval", "--preset", str(tiny_preset), "--data", str(corpus_files / "heldout.txt"),
                            "--pseudo-perplexity", "--mask-rate", "0.2")
    assert result.code == 2
    assert "--mask-rate does not apply to --pseudo-perplexity" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def naive_pll(model, ids: np.ndarray) -> tuple[float, int]:
    """One forward pass per token: mask it alone in `[CLS] ids [SEP]` and add log p(token)."""
    tokenizer = model.preprocessor.tokenizer
    length = model.preprocessor.sequence_length
    ids = ids[: length - 2]
    row = np.zeros(length, dtype=np.int32)
    row[: len(ids) + 2] = [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
    special = set(tokenizer.special_token_ids)
    total, count = 0.0, 0
    for position in range(1, len(ids) + 1):
        if int(row[position]) in special:
            continue
        masked = row.copy()
        masked[position] = tokenizer.mask_token_id
        features = {"token_ids": masked[None], "segment_ids": np.zeros((1, length), np.int32),
                    "padding_mask": (np.arange(length) < len(ids) + 2)[None],
                    "mask_positions": np.array([[position]], np.int32)}
        logits = np.asarray(model.predict_on_batch(features), dtype=np.float64)[0, 0]
        log_probs = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
        total += log_probs[row[position]]
        count += 1
    return total, count


def documents(model) -> list[np.ndarray]:
    """Short documents, one with a special token inside (not scored) and one longer than the sequence (cut)."""
    tokenizer = model.preprocessor.tokenizer
    texts = ["the model will train", "we can find water, then call it a day!", "no"]
    ids = [tokenizer.tokenize(text) for text in texts]
    ids.append(np.concatenate([ids[0], [tokenizer.sep_token_id], ids[2]]).astype(np.int32))
    ids.append(np.tile(ids[1], 3))  # 33 tokens: the 24-token sequence keeps 22
    return ids


def test_vectorised_scores_equal_a_naive_loop(tiny_model):
    from mlm_cli.workflows.pseudo_perplexity import pseudo_log_likelihood

    docs = documents(tiny_model)
    pll, counts = pseudo_log_likelihood(tiny_model, docs, batch_size=5)  # documents span batches; the last is padded
    expected = [naive_pll(tiny_model, ids) for ids in docs]
    np.testing.assert_allclose(pll, [total for total, _ in expected], rtol=1e-5, atol=1e-5)
    assert counts.tolist() == [count for _, count in expected]
    assert counts[3] == counts[0] + counts[2] and counts[4] == 22


def test_document_score_does_not_depend_on_its_batch(tiny_model):
    from mlm_cli.workflows.pseudo_perplexity import pseudo_log_likelihood

    docs = documents(tiny_model)
    alone, _ = pseudo_log_likelihood(tiny_model, [docs[1]], batch_size=8)
    for neighbours in ([docs[0]], [docs[4], docs[2]], [docs[3]] * 3):
        shared, _ = pseudo_log_likelihood(tiny_model, [*neighbours, docs[1], docs[0]], batch_size=8)
        assert shared[len(neighbours)] == pytest.approx(alone[0], rel=1e-6, abs=1e-5)
