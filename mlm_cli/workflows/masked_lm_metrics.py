"""Masked-token metrics over a stream of batches: loss, accuracy, perplexity, tokens."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class MaskedLMMetrics:
    loss: float  # mean cross-entropy over every masked token
    accuracy: float
    perplexity: float  # exp(loss)
    masked_tokens: int
    tokens: int  # non-padding tokens read
    batches: int
    masked_words: int | None = None  # whole-word masking: words masked (each with all its pieces)
    word_loss: float | None = None  # mean over words of the summed losses of their pieces
    word_accuracy: float | None = None  # share of words with every piece predicted right

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_sums(cls, loss_sum: float, correct: float, weight: float, tokens: int, batches: int,
                  words: WordCounts | None = None) -> "MaskedLMMetrics":
        """Metrics from summed per-token losses and hits over `weight` masked tokens (NaN when there were none)."""
        if weight == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0, tokens, batches)
        loss = loss_sum / weight
        word_metrics = {} if words is None or not words.words else {
            "masked_words": words.words, "word_loss": loss_sum / words.words,
            "word_accuracy": words.right / words.words}
        return cls(loss=loss, accuracy=correct / weight, perplexity=math.exp(min(loss, 700.0)),
                   masked_tokens=int(weight), tokens=tokens, batches=batches, **word_metrics)


@dataclass
class WordCounts:
    """Masked words seen, and how many had every piece predicted right."""

    words: int = 0
    right: int = 0

    def add(self, batch, hits: np.ndarray, word_starts: np.ndarray) -> None:
        """Count the words of one whole-word-masked batch; a word is its run of consecutive masked pieces."""
        valid = batch.mask_weights > 0
        positions = batch.mask_positions.astype(np.int64)
        after_previous = np.zeros_like(valid)
        after_previous[:, 1:] = valid[:, :-1] & (positions[:, 1:] == positions[:, :-1] + 1)
        begins = valid & (word_starts[batch.mask_ids] | ~after_previous)
        word = np.cumsum(begins[valid]) - 1  # row by row, in position order
        misses = np.bincount(word, weights=~hits[valid], minlength=int(begins.sum()))
        self.words += int(begins.sum())
        self.right += int((misses == 0).sum())


def batch_token_losses(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-position cross-entropy and correctness from logits [B, P, V] and labels [B, P]."""
    logits = logits.astype(np.float32, copy=False)
    peak = logits.max(axis=-1, keepdims=True)
    log_normaliser = np.log(np.exp(logits - peak).sum(axis=-1)) + peak[..., 0]
    target = np.take_along_axis(logits, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return log_normaliser - target, logits.argmax(axis=-1) == labels


def masked_lm_metrics(model, batches: Iterable, max_batches: int | None = None,
                      word_starts: np.ndarray | None = None) -> MaskedLMMetrics:
    """Exact masked-token metrics: sums over tokens, not averages of batch averages.

    With `word_starts` (the tokenizer's, for batches masked whole-word), words are scored too.
    """
    loss_sum = correct = weight = 0.0
    tokens = count = 0
    words = WordCounts() if word_starts is not None else None
    for batch in batches:
        if max_batches is not None and count >= max_batches:
            break
        logits = np.asarray(model.predict_on_batch(batch.features()))
        losses, hits = batch_token_losses(logits, batch.mask_ids)
        weights = batch.mask_weights.astype(np.float64)
        loss_sum += float((losses * weights).sum())
        correct += float((hits * weights).sum())
        weight += float(weights.sum())
        tokens += int(batch.real_tokens)
        count += 1
        if words is not None:
            words.add(batch, hits, word_starts)
    return MaskedLMMetrics.from_sums(loss_sum, correct, weight, tokens, count, words)


def lockstep_masked_lm_metrics(model, stream, max_batches: int | None, gather) -> MaskedLMMetrics:
    """Masked-token metrics on a distributed model, every process stepping together.

    The compiled test step (which takes the global batch from every process) returns the
    weighted mean loss and accuracy of the batch; multiplied by the batch's masked-token
    count they sum like the exact per-token sums of `masked_lm_metrics`. `gather` shares
    [has batch, masked tokens, real tokens] between processes.
    """
    loss_sum = correct = weight = 0.0
    tokens = count = 0
    # Under --accumulation-steps the compiled loss is a sum over the masks (workflows/accumulation.py), not a mean.
    summed = getattr(getattr(model, "loss", None), "reduction", None) == "sum"
    while max_batches is None or count < max_batches:
        batch = stream.next_batch()
        rows = gather([batch is not None, int(batch.mask_weights.sum()) if batch is not None else 0,
                       int(batch.real_tokens) if batch is not None else 0])
        if not rows[:, 0].any():
            break
        batch = batch if batch is not None else stream.filler()
        logs = model.test_on_batch(batch.features(), batch.mask_ids, sample_weight=batch.mask_weights, return_dict=True)
        masked = float(rows[:, 1].sum())
        if masked:
            loss_sum += float(logs["loss"]) * (1.0 if summed else masked)
            correct += float(logs["sparse_categorical_accuracy"]) * masked
            weight += masked
        tokens += int(rows[:, 2].sum())
        count += 1
    return MaskedLMMetrics.from_sums(loss_sum, correct, weight, tokens, count)
