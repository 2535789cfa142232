import numpy as np
import pytest

from mlm_cli.data.masking import MaskGenerator

pytestmark = pytest.mark.run_once

PAD, CLS, SEP, MASK = 0, 2, 3, 4
VOCAB = 1000


def make_ids(batch=200, length=128, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, VOCAB, size=(batch, length)).astype(np.int32)
    lengths = rng.integers(10, length + 1, size=batch)
    for row, n in enumerate(lengths):
        ids[row, 0] = CLS
        ids[row, n - 1] = SEP
        ids[row, n:] = PAD
    ids[:, 5] = 1  # [UNK] stays selectable
    return ids


def generator(**overrides):
    args = dict(
        vocabulary_size=VOCAB,
        mask_token_id=MASK,
        unselectable_token_ids=[PAD, CLS, SEP, MASK],
        selection_rate=0.15,
        selection_length=128,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        seed=42,
    )
    args.update(overrides)
    return MaskGenerator(**args)


def test_rates_match_configuration_over_100k_tokens():
    ids = make_ids(batch=1600, length=128)
    eligible = ~np.isin(ids, [PAD, CLS, SEP, MASK])
    assert eligible.sum() > 100_000
    out = generator(selection_rate=0.2, mask_token_rate=0.7, random_token_rate=0.2)(ids)
    weights = out.mask_weights.astype(bool)
    selected = weights.sum()
    assert abs(selected / eligible.sum() - 0.2) < 0.01
    original = out.mask_ids[weights]
    replaced = np.take_along_axis(out.token_ids, out.mask_positions, axis=1)[weights]
    masked = replaced == MASK
    unchanged = replaced == original
    assert abs(masked.mean() - 0.7) < 0.01
    # A random replacement can hit the original id by chance (1/VOCAB): tolerance covers it.
    assert abs((~masked & ~unchanged).mean() - 0.2) < 0.01
    assert abs((unchanged & ~masked).mean() - 0.1) < 0.01


def test_special_and_padding_tokens_are_never_selected():
    ids = make_ids()
    out = generator(selection_rate=0.9)(ids)
    weights = out.mask_weights.astype(bool)
    chosen_original = np.take_along_axis(ids, out.mask_positions, axis=1)[weights]
    assert not np.isin(chosen_original, [PAD, CLS, SEP, MASK]).any()
    assert (out.mask_ids[weights] == chosen_original).all()
    # Positions outside the selection are untouched.
    changed = out.token_ids != ids
    rows, cols = np.nonzero(changed)
    for r, c in zip(rows, cols):
        assert c in out.mask_positions[r][weights[r]]


def test_selection_length_caps_and_pads():
    ids = make_ids(batch=50, length=128)
    out = generator(selection_rate=1.0, selection_length=8)(ids)
    assert out.mask_positions.shape == (50, 8)
    assert out.mask_weights.sum(axis=1).max() == 8
    positions = out.mask_positions
    assert (np.diff(positions, axis=1) > 0).all()  # sorted, distinct when full

    sparse = generator(selection_rate=0.01, selection_length=20)(ids)
    pad = sparse.mask_weights == 0
    assert pad.any()
    assert (sparse.mask_positions[pad] == 0).all() and (sparse.mask_ids[pad] == 0).all()
    assert sparse.mask_positions.dtype == np.int32 and sparse.mask_ids.dtype == np.int32
    assert sparse.mask_weights.dtype == np.float32


def test_short_sequences_pad_selections_to_fixed_length():
    ids = make_ids(batch=4, length=16)
    out = generator(selection_length=32)(ids)
    assert out.mask_positions.shape == (4, 32)


def test_same_seed_same_batches_and_state_restores():
    ids = make_ids()
    a, b = generator(seed=5), generator(seed=5)
    first, second = a(ids), b(ids)
    assert np.array_equal(first.token_ids, second.token_ids)
    assert np.array_equal(first.mask_positions, second.mask_positions)
    state = a.get_state()
    next_a = a(ids)
    a.set_state(state)
    again = a(ids)
    assert np.array_equal(next_a.token_ids, again.token_ids)
    assert not np.array_equal(generator(seed=6)(ids).mask_positions, first.mask_positions)


@pytest.mark.parametrize("bad", [dict(selection_rate=1.5), dict(mask_token_rate=0.8, random_token_rate=0.3),
                                 dict(selection_length=0)])
def test_invalid_rates_are_refused(bad):
    with pytest.raises(ValueError):
        generator(**bad)
