"""Pack one or more tokenized segments into fixed-length [CLS] a [SEP] b [SEP] rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TRUNCATION_STRATEGIES = ("round_robin", "waterfall")


def trim_lengths(lengths: np.ndarray, budget: int, strategy: str) -> np.ndarray:
    """How many tokens of each segment fit: lengths [B, K] -> kept [B, K], row sums <= budget.

    `round_robin` takes one token from each segment in turn (short segments keep all
    of theirs, long ones share the rest); `waterfall` fills segments in order.
    """
    if strategy not in TRUNCATION_STRATEGIES:
        raise ValueError(f"truncate must be one of {TRUNCATION_STRATEGIES}, got {strategy!r}")
    lengths = np.asarray(lengths, dtype=np.int64)
    if strategy == "waterfall":
        before = np.cumsum(lengths, axis=1) - lengths
        return np.clip(budget - before, 0, lengths)
    kept = np.zeros_like(lengths)
    remaining = np.full(lengths.shape[0], budget, dtype=np.int64)
    active = lengths > 0
    # Each round gives every unfinished segment an equal share; a round is O(K),
    # and there are at most K rounds because each one finishes a segment or the budget.
    for _ in range(lengths.shape[1] + 1):
        count = active.sum(axis=1)
        live = (count > 0) & (remaining > 0)
        if not live.any():
            break
        share = np.where(live, remaining // np.maximum(count, 1), 0)
        need = lengths - kept
        if (share == 0).any():
            # Fewer tokens left than segments: earlier segments get one each.
            order = np.cumsum(active, axis=1)
            extra = active & (order <= remaining[:, None]) & (share == 0)[:, None]
            kept += extra
            remaining -= extra.sum(axis=1)
        give = np.where(active, np.minimum(need, share[:, None]), 0)
        kept += give
        remaining -= give.sum(axis=1)
        active = active & (kept < lengths) & (remaining > 0)[:, None]
    return kept


def pack_segments(
    segments: Sequence[Sequence[np.ndarray]],
    sequence_length: int,
    *,
    start_id: int,
    end_id: int,
    pad_id: int,
    truncate: str = "round_robin",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """segments[k][b] holds segment k of example b; returns token_ids, segment_ids, padding_mask.

    Each row is [start] seg0 [end] seg1 [end] ... padded with `pad_id`;
    segment k (with its [end]) gets segment id k, the [start] token id 0.
    """
    num_segments = len(segments)
    batch = len(segments[0])
    budget = sequence_length - 1 - num_segments
    if budget < 0:
        raise ValueError(f"sequence_length {sequence_length} is too short for {num_segments} segment(s)")
    lengths = np.array([[len(seg[b]) for seg in segments] for b in range(batch)], dtype=np.int64).reshape(batch,
                                                                                                          num_segments)
    kept = trim_lengths(lengths, budget, truncate)

    token_ids = np.full((batch, sequence_length), pad_id, dtype=np.int32)
    segment_ids = np.zeros((batch, sequence_length), dtype=np.int32)
    token_ids[:, 0] = start_id
    cursor = np.ones(batch, dtype=np.int64)
    rows = np.arange(batch)
    for k, segment in enumerate(segments):
        n = kept[:, k]
        if n.sum():
            flat = np.concatenate([np.asarray(segment[b][: n[b]], dtype=np.int32) for b in range(batch)])
            row_index = np.repeat(rows, n)
            within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
            columns = np.repeat(cursor, n) + within
            token_ids[row_index, columns] = flat
            segment_ids[row_index, columns] = k
        cursor += n
        token_ids[rows, cursor] = end_id
        segment_ids[rows, cursor] = k
        cursor += 1
    padding_mask = np.arange(sequence_length)[None, :] < cursor[:, None]
    return token_ids, segment_ids, padding_mask
