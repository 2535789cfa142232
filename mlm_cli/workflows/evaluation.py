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

    def as_dict(self) -> dict:
        return asdict(self)


def batch_token_losses(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-position cross-entropy and correctness from logits [B, P, V] and labels [B, P]."""
    logits = logits.astype(np.float32, copy=False)
    peak = logits.max(axis=-1, keepdims=True)
    log_normaliser = np.log(np.exp(logits - peak).sum(axis=-1)) + peak[..., 0]
    target = np.take_along_axis(logits, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return log_normaliser - target, logits.argmax(axis=-1) == labels


def masked_lm_metrics(model, batches: Iterable, max_batches: int | None = None) -> MaskedLMMetrics:
    """Exact masked-token metrics: sums over tokens, not averages of batch averages."""
    loss_sum = correct = weight = 0.0
    tokens = count = 0
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
    if weight == 0:
        return MaskedLMMetrics(float("nan"), float("nan"), float("nan"), 0, tokens, count)
    loss = loss_sum / weight
    return MaskedLMMetrics(
        loss=loss,
        accuracy=correct / weight,
        perplexity=math.exp(min(loss, 700.0)),
        masked_tokens=int(weight),
        tokens=tokens,
        batches=count,
    )
