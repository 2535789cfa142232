"""Seeded document shuffling: a new order every epoch, the same order for the same seed, exact resume.

Two levels keep memory bounded whatever the size of the corpus:

1. Unit order. The corpus is cut into units that can be read on their own (see
   corpus_units: 16 KB blocks of text and JSON Lines files, Parquet row groups, whole
   compressed or CSV files, Hub dataset shards). Each epoch puts all units in a new random
   order, the same on every data shard; data shard s of S reads every S-th unit of it (or,
   for a kind of unit too few to deal out evenly, reads them all and keeps every S-th
   document, as `datasets.distributed.split_dataset_by_node` does).
2. Windows. Documents are read from `interleave` units at a time into a window of
   `buffer_documents` documents (and at most `buffer_characters` characters), which is
   permuted at random and handed out before the next window is read.

Where units are small blocks, a window draws from hundreds of places in the corpus: close
to a true permutation. Where a unit is a long stream (a compressed file, a Hub shard),
documents mix only within a window, drawn from `interleave` such files at once.

Between windows the state is a few integers (epoch, window number, next unit, how far
each open unit was read): checkpoints stay small, and resuming re-reads only the window
it stopped in.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import numpy as np

from mlm_cli.data import DEFAULT_SHUFFLE_BUFFER
from mlm_cli.data.corpus_units import UNIT_KINDS, CorpusUnits
from mlm_cli.data.sources import CorpusSpec

SHUFFLE_BUFFER_CHARACTERS = 1 << 26  # ... and at most this many characters (64 Mi), for corpora of huge documents
INTERLEAVED_UNITS = 8  # units read at once into each window
MIN_UNITS_PER_SHARD = 8  # a kind of unit is dealt to data shards when each gets at least this many (or all get as many)
UNIT_ORDER, WINDOW_ORDER = 1, 2  # keep the two random streams apart


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng([seed % (1 << 64), *words])


class _UnitReader:
    """The documents of one unit (only every count-th one from index on, when `keep` is given), a few at a time."""

    def __init__(self, position: int, batches: Iterator[list[str]], keep: tuple[int, int] | None):
        self.position = position  # where the unit stands in the shard's unit order
        self.taken = 0  # documents handed out (or skipped) so far
        self._batches = batches
        self._keep = keep
        self._read = 0
        self._pending: list[str] = []
        self._offset = 0

    def _refill(self) -> bool:
        while self._offset >= len(self._pending):
            batch = next(self._batches, None)
            if batch is None:
                return False
            if self._keep is not None:
                index, count = self._keep
                batch, self._read = batch[(index - self._read) % count :: count], self._read + len(batch)
            self._pending, self._offset = batch, 0
        return True

    @property
    def exhausted(self) -> bool:
        return not self._refill()

    def take(self, documents: int, characters: int) -> tuple[list[str], int]:
        """Up to `documents` documents, ending with the one reaching `characters` characters; and their characters."""
        taken: list[str] = []
        total = 0
        while len(taken) < documents and total < characters and self._refill():
            piece = self._pending[self._offset : self._offset + documents - len(taken)]
            sizes = list(accumulate(map(len, piece)))
            if total + sizes[-1] >= characters:
                piece = piece[: bisect_left(sizes, characters - total) + 1]
            total += sizes[len(piece) - 1]
            taken += piece
            self._offset += len(piece)
        self.taken += len(taken)
        return taken, total

    def skip(self, documents: int) -> None:
        """Pass over documents already handed out before a resume."""
        while documents and self._refill():
            step = min(documents, len(self._pending) - self._offset)
            self._offset += step
            self.taken += step
            documents -= step


class ShuffledDocuments:
    """The documents of a corpus (one data shard of it) in a seeded random order, a new one each epoch.

    Implements the resumable-documents protocol of `MaskedBatchStream`: `batches()` reads on
    from the current state, `state_dict()` / `load_state_dict()` save and restore it
    (JSON-serialisable), `start_epoch(n)` rewinds to the start of pass n.
    """

    def __init__(
        self,
        corpus: CorpusSpec | CorpusUnits,
        *,
        seed: int,
        shard: tuple[int, int] = (0, 1),
        buffer_documents: int = DEFAULT_SHUFFLE_BUFFER,
        buffer_characters: int = SHUFFLE_BUFFER_CHARACTERS,
        interleave: int = INTERLEAVED_UNITS,
    ):
        self.units = corpus if isinstance(corpus, CorpusUnits) else CorpusUnits(corpus)
        self.seed = int(seed)
        self.shard = (int(shard[0]), int(shard[1]))
        if not 0 <= self.shard[0] < self.shard[1]:
            raise ValueError(f"shard index {shard[0]} outside 0..{shard[1] - 1}")
        if min(buffer_documents, buffer_characters, interleave) < 1:
            raise ValueError("buffer_documents, buffer_characters and interleave must be at least 1")
        self.buffer_documents = int(buffer_documents)
        self.buffer_characters = int(buffer_characters)
        self.interleave = int(interleave)
        per_kind = np.bincount(self.units.kinds, minlength=len(UNIT_KINDS))
        count = self.shard[1]
        self._dealt_kinds = (per_kind % count == 0) | (per_kind >= MIN_UNITS_PER_SHARD * count)
        self._order_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._skipped = 0
        self._state = self._epoch_start(0)

    # --- state ---------------------------------------------------------------

    @staticmethod
    def _epoch_start(epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "window": 0, "next_unit": 0, "slots": [], "emitted": 0}

    @property
    def epoch(self) -> int:
        return int(self._state["epoch"])

    @property
    def skipped_lines(self) -> int:
        """Bad JSONL lines skipped (--skip-bad-lines) in the latest epoch read (since the resume, in a resumed one)."""
        return self._skipped

    def state_dict(self) -> dict[str, Any]:
        """Where the next document comes from: the start of the current window, and how much of it was handed out."""
        return {**self._state, "slots": [list(slot) if slot else None for slot in self._state["slots"]]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"epoch", "window", "next_unit", "slots", "emitted"} - set(state)
        if missing:
            raise ValueError(f"not the state of a shuffled document stream (no {', '.join(sorted(missing))})")
        if len(state["slots"]) > self.interleave:
            raise ValueError(f"the state interleaves {len(state['slots'])} units, this stream {self.interleave}")
        self._state = {key: state[key] for key in ("epoch", "window", "next_unit", "emitted")}
        self._state["slots"] = [list(slot) if slot else None for slot in state["slots"]]

    def start_epoch(self, epoch: int) -> None:
        """Rewind to the start of pass `epoch` (its own unit order)."""
        self._state = self._epoch_start(epoch)

    # --- order ---------------------------------------------------------------

    def unit_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The units this shard reads in `epoch`, in order, and whether each is shared by every shard."""
        if self._order_cache is not None and self._order_cache[0] == epoch:
            return self._order_cache[1], self._order_cache[2]
        order = _rng(self.seed, UNIT_ORDER, epoch).permutation(len(self.units))
        index, count = self.shard
        shared = np.zeros(len(order), dtype=bool)
        if count > 1:
            shared = ~self._dealt_kinds[self.units.kinds[order]]
            dealt_rank = np.cumsum(~shared) - 1
            mine = shared | (dealt_rank % count == index)
            order, shared = order[mine], shared[mine]
        self._order_cache = (epoch, order, shared)
        return order, shared

    def _open(self, order: np.ndarray, shared: np.ndarray, position: int, skip: int = 0) -> _UnitReader:
        keep = self.shard if shared[position] else None
        reader = _UnitReader(position, self.units.read(int(order[position]), self._count_skipped), keep)
        reader.skip(skip)
        return reader

    def _count_skipped(self, lines: int) -> None:
        self._skipped += lines

    # --- windows -------------------------------------------------------------

    def _fill(self, order: np.ndarray, shared: np.ndarray, readers: list[_UnitReader | None], next_unit: int) -> tuple[
        list[str], int]:
        """Read the next window: an equal share of documents (and characters) from each of the interleaved units."""
        window: list[str] = []
        share_documents = -(-self.buffer_documents // self.interleave)
        share_characters = -(-self.buffer_characters // self.interleave)
        for slot in range(self.interleave):
            documents = characters = 0
            while documents < share_documents and characters < share_characters:
                reader = readers[slot]
                if reader is None:
                    if next_unit >= len(order):
                        break
                    reader = readers[slot] = self._open(order, shared, next_unit)
                    next_unit += 1
                taken, size = reader.take(share_documents - documents, share_characters - characters)
                window += taken
                documents += len(taken)
                characters += size
                if reader.exhausted:
                    readers[slot] = None
        return window, next_unit

    def _permuted(self, window: list[str], epoch: int, number: int) -> list[str]:
        order = _rng(self.seed, WINDOW_ORDER, epoch, self.shard[0], number).permutation(len(window))
        return [window[i] for i in order.tolist()]

    def batches(self, batch_size: int = 1000) -> Iterator[list[str]]:
        """Batches of documents from the current state to the end of the epoch, advancing the state."""
        state = self.state_dict()
        epoch, number, emitted, next_unit = state["epoch"], state["window"], state["emitted"], state["next_unit"]
        if state == self._epoch_start(epoch):
            self._skipped = 0  # a new pass counts again
        order, shared = self.unit_order(epoch)
        slots = state["slots"] + [None] * (self.interleave - len(state["slots"]))
        readers = [self._open(order, shared, slot[0], skip=slot[1]) if slot else None for slot in slots]
        while True:
            start = {"next_unit": next_unit, "slots": [[r.position, r.taken] if r else None for r in readers]}
            window, next_unit = self._fill(order, shared, readers, next_unit)
            if not window:
                return
            window = self._permuted(window, epoch, number)
            while emitted < len(window):
                end = min(emitted + batch_size, len(window))
                self._state = {"epoch": epoch, "window": number, **start, "emitted": end}
                yield window[emitted:end]
                emitted = end
            window, number, emitted = [], number + 1, 0
