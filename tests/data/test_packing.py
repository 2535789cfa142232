"""Packing documents into rows: nothing lost, nothing reordered, fixed shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_cli.data.packing import SequencePacker

pytestmark = pytest.mark.run_once

CLS, SEP, PAD = 2, 3, 0


def flatten(documents: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(d) for d in documents])
    flat = np.array([t for d in documents for t in d], dtype=np.int32)
    return flat, offsets


documents_strategy = st.lists(st.lists(st.integers(5, 99), max_size=40), max_size=30)


@settings(max_examples=60, deadline=None)
@given(documents=documents_strategy, sequence_length=st.integers(3, 20), chunks=st.integers(1, 4))
def test_packed_rows_hold_every_token_in_order(documents, sequence_length, chunks):
    packer = SequencePacker(sequence_length, CLS, SEP, PAD, packing=True)
    for part in np.array_split(np.arange(len(documents)), chunks):
        packer.add(*flatten([documents[i] for i in part]))
    packer.flush()
    rows = packer.take(10**6)
    assert rows.shape[1:] == (sequence_length,)
    assert (rows[:, 0] == CLS).all()
    expected = [t for d in documents if d for t in d + [SEP]]
    body = rows[:, 1:].reshape(-1)
    packed = body[body != PAD].tolist()
    # a final [SEP] left alone in the last row is dropped instead of making a row of its own
    assert packed == expected or (packed + [SEP] == expected and len(expected) % (sequence_length - 1) == 1)
    if len(rows) > 1:  # only the last row may hold padding
        assert (rows[:-1] != PAD).all()
    mask = packer.padding_mask(rows)
    assert mask.sum() == len(packed) + len(rows)


@settings(max_examples=60, deadline=None)
@given(documents=documents_strategy, sequence_length=st.integers(3, 20))
def test_unpacked_rows_are_truncated_documents(documents, sequence_length):
    packer = SequencePacker(sequence_length, CLS, SEP, PAD, packing=False)
    packer.add(*flatten(documents))
    rows = packer.take(10**6)
    kept = [d for d in documents if d]
    assert len(rows) == len(kept)
    for row, document in zip(rows, kept):
        body = document[: sequence_length - 2]
        assert row.tolist() == [CLS, *body, SEP] + [PAD] * (sequence_length - 2 - len(body))


def test_state_round_trip():
    packer = SequencePacker(8, CLS, SEP, PAD)
    packer.add(*flatten([[10, 11, 12], [13] * 9]))
    clone = SequencePacker(8, CLS, SEP, PAD)
    clone.load_state_dict(packer.state_dict())
    for p in (packer, clone):
        p.add(*flatten([[20, 21]]))
        p.flush()
    assert np.array_equal(packer.take(100), clone.take(100))
