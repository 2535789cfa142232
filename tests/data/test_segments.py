import numpy as np
import pytest

from mlm_cli.data.segments import pack_segments, trim_lengths

pytestmark = pytest.mark.run_once


def round_robin_reference(lengths, budget):
    kept = [0] * len(lengths)
    while budget > 0 and any(k < n for k, n in zip(kept, lengths)):
        for i, n in enumerate(lengths):
            if budget and kept[i] < n:
                kept[i] += 1
                budget -= 1
    return kept


@pytest.mark.parametrize("seed", range(5))
def test_round_robin_matches_token_by_token_reference(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 20, size=(200, 3))
    budget = int(rng.integers(0, 40))
    kept = trim_lengths(lengths, budget, "round_robin")
    for row, expect in zip(lengths, kept):
        assert list(expect) == round_robin_reference(list(row), budget)


def test_waterfall_fills_in_order():
    kept = trim_lengths(np.array([[5, 5], [2, 9]]), 6, "waterfall")
    assert kept.tolist() == [[5, 1], [2, 4]]


def test_pack_single_and_pair():
    a = [np.array([10, 11, 12]), np.array([13] * 10)]
    b = [np.array([20]), np.array([21, 22])]
    ids, seg, mask = pack_segments([a], 8, start_id=2, end_id=3, pad_id=0)
    assert ids.tolist() == [[2, 10, 11, 12, 3, 0, 0, 0], [2, 13, 13, 13, 13, 13, 13, 3]]
    assert mask.tolist()[0] == [True] * 5 + [False] * 3
    assert not seg.any()
    ids, seg, mask = pack_segments([a, b], 8, start_id=2, end_id=3, pad_id=0)
    assert ids.tolist() == [[2, 10, 11, 12, 3, 20, 3, 0], [2, 13, 13, 13, 3, 21, 22, 3]]
    assert seg.tolist() == [[0, 0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1, 1, 1]]
    assert ids.dtype == np.int32 and seg.dtype == np.int32 and mask.dtype == bool
