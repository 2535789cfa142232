"""Turn tokenized documents into fixed-length rows, vectorised in numpy.

Packing (the default) concatenates documents, each followed by [SEP], and cuts the stream
into rows of `[CLS]` + `sequence_length - 1` tokens: no padding except in the very last
row, and long documents continue in the next row instead of being truncated.
Without packing each document gets its own row, `[CLS] doc [SEP]`, truncated and padded,
as keras_hub's preprocessor does.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SequencePacker:
    """Accumulates documents and hands out complete rows; its pending state is small and serialisable."""

    def __init__(self, sequence_length: int, cls_id: int, sep_id: int, pad_id: int, packing: bool = True):
        if sequence_length < 3:
            raise ValueError("sequence_length must be at least 3")
        self.sequence_length = int(sequence_length)
        self.cls_id, self.sep_id, self.pad_id = int(cls_id), int(sep_id), int(pad_id)
        self.packing = packing
        self._rows = np.empty((0, self.sequence_length), dtype=np.int32)
        self._tail = np.empty(0, dtype=np.int32)  # packed tokens not yet forming a full row

    @property
    def ready_rows(self) -> int:
        return len(self._rows)

    def add(self, flat_ids: np.ndarray, offsets: np.ndarray) -> None:
        """Add documents given as concatenated ids and offsets (len = documents + 1); empty documents are skipped."""
        flat_ids = np.asarray(flat_ids, dtype=np.int32)
        offsets = np.asarray(offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        if not (lengths > 0).any():
            return
        if self.packing:
            self._add_packed(flat_ids, offsets, lengths)
        else:
            self._add_unpacked(flat_ids, offsets[:-1][lengths > 0], lengths[lengths > 0])

    def _add_packed(self, flat_ids: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> None:
        ends = offsets[1:][lengths > 0]  # where each non-empty document ends in flat_ids
        stream = np.empty(flat_ids.size + ends.size, dtype=np.int32)
        separators = ends + np.arange(ends.size)  # each earlier separator shifts a document end by one
        is_token = np.ones(stream.size, dtype=bool)
        is_token[separators] = False
        stream[is_token] = flat_ids
        stream[separators] = self.sep_id
        tokens = np.concatenate([self._tail, stream])
        body = self.sequence_length - 1
        count = tokens.size // body
        rows = np.empty((count, self.sequence_length), dtype=np.int32)
        rows[:, 0] = self.cls_id
        rows[:, 1:] = tokens[: count * body].reshape(count, body)
        self._tail = tokens[count * body:].copy()
        self._rows = np.concatenate([self._rows, rows])

    def _add_unpacked(self, flat_ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        seq = self.sequence_length
        kept = np.minimum(lengths, seq - 2)
        columns = np.arange(seq)
        source = starts[:, None] + columns[None, :] - 1
        inside = (columns[None, :] >= 1) & (columns[None, :] <= kept[:, None])
        rows = np.where(inside, flat_ids[np.clip(source, 0, max(flat_ids.size - 1, 0))], self.pad_id).astype(np.int32)
        rows[:, 0] = self.cls_id
        rows[np.arange(len(rows)), kept + 1] = self.sep_id
        self._rows = np.concatenate([self._rows, rows])

    def flush(self) -> None:
        """End of data: the packed remainder becomes a final, padded row."""
        if self._tail.size and (self._tail != self.sep_id).any():
            row = np.full((1, self.sequence_length), self.pad_id, dtype=np.int32)
            row[0, 0] = self.cls_id
            row[0, 1 : 1 + self._tail.size] = self._tail
            self._rows = np.concatenate([self._rows, row])
        self._tail = np.empty(0, dtype=np.int32)

    def take(self, count: int) -> np.ndarray:
        """The next `count` complete rows (fewer if fewer are ready)."""
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    def padding_mask(self, rows: np.ndarray) -> np.ndarray:
        """True for real tokens: everything up to the last non-pad position of each row."""
        not_pad = rows != self.pad_id
        last = np.where(not_pad.any(axis=1), self.sequence_length - np.argmax(not_pad[:, ::-1], axis=1), 0)
        return np.arange(self.sequence_length)[None, :] < last[:, None]

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self._rows.tolist(), "tail": self._tail.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rows = np.asarray(state["rows"], dtype=np.int32)
        self._rows = rows.reshape(-1, self.sequence_length)
        self._tail = np.asarray(state["tail"], dtype=np.int32)
