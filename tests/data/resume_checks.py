"""Shared checks for batch streams that must resume exactly from a saved state."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np


def collect(stream) -> list:
    """Every batch of a stream as (token ids, mask positions, mask weights), then close it."""
    try:
        return [(b.token_ids.copy(), b.mask_positions.copy(), b.mask_weights.copy()) for b in stream]
    finally:
        stream.close()


def assert_resumes_exactly(make_stream: Callable[[], object], full: list, stop: int) -> None:
    """Stop a fresh stream after `stop` batches, save its state through JSON (as a checkpoint does),
    resume a second fresh stream from it, and require exactly the rest of `full`."""
    interrupted = make_stream()
    iterator = iter(interrupted)
    for _ in range(stop):
        next(iterator)
    state = json.loads(json.dumps(interrupted.state_dict()))
    interrupted.close()
    resumed = make_stream()
    resumed.load_state_dict(state)
    rest = collect(resumed)
    assert len(rest) == len(full) - stop
    for got, want in zip(rest, full[stop:]):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
