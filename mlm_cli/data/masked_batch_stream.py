"""Masked training batches from a document stream: tokenize -> pack -> mask, in a background thread.

The producer runs a few batches ahead of the model. Every batch carries the exact stream
state after it, so `state_dict()` (taken between batches) resumes at the very next batch:
same documents, same rows, same masks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlm_cli.data.masking import MaskGenerator
from mlm_cli.data.packing import SequencePacker

DOCUMENTS_PER_CHUNK = 1000
# Longer documents (a 100 MB line) are encoded in pieces of at most this many characters,
# cut at whitespace, so tokenizing one document never holds more than a piece's words.
MAX_DOCUMENT_CHARACTERS = 1 << 20


def bounded_documents(texts: list[str], limit: int, packing: bool) -> list[str]:
    """Split documents longer than `limit` characters at whitespace (packing), or keep their first piece."""
    if not texts or max(map(len, texts)) <= limit:
        return texts
    bounded: list[str] = []
    for text in texts:
        if len(text) <= limit:
            bounded.append(text)
            continue
        start = 0
        while start < len(text):
            end = min(start + limit, len(text))
            if end < len(text):
                cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end), text.rfind("\t", start, end))
                end = cut + 1 if cut > start else end  # no whitespace at all: cut mid-word
            bounded.append(text[start:end])
            if not packing:
                break  # one row per document: its first piece holds far more than a row
            start = end
    return bounded


class Documents(Protocol):
    """Documents that resume exactly: `batches` reads on from the current state and advances it."""

    def batches(self, batch_size: int = ...) -> Iterator[list[str]]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
    def start_epoch(self, epoch: int) -> None: ...


class Encoder(Protocol):
    def encode_batch_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class Batch:
    """One batch in keras_hub's layout (see DESIGN.md, Contracts)."""

    token_ids: np.ndarray  # int32 [B, S], masked
    segment_ids: np.ndarray  # int32 [B, S]
    padding_mask: np.ndarray  # bool [B, S]
    mask_positions: np.ndarray  # int32 [B, P]
    mask_ids: np.ndarray  # int32 [B, P]
    mask_weights: np.ndarray  # float32 [B, P]
    real_tokens: int  # non-padding tokens of real (not filler) rows

    def features(self) -> dict[str, np.ndarray]:
        return {
            "token_ids": self.token_ids,
            "segment_ids": self.segment_ids,
            "padding_mask": self.padding_mask,
            "mask_positions": self.mask_positions,
        }


class _Stop:
    """Queue item marking the end of the stream (with the producer's exception, if any)."""

    def __init__(self, error: BaseException | None = None):
        self.error = error


class MaskedBatchStream:
    """Iterate masked batches over `epochs` passes of the documents; `state_dict()` resumes exactly.

    Batches have a fixed shape: the last, short batch is filled with `[CLS] [SEP]` rows
    that carry no masked positions, so compiled steps never see a new shape.
    """

    def __init__(
        self,
        documents: Documents,
        encoder: Encoder,
        *,
        sequence_length: int,
        batch_size: int,
        cls_id: int,
        sep_id: int,
        pad_id: int,
        mask_generator: MaskGenerator,
        packing: bool = True,
        epochs: int = 1,
        prefetch: int = 8,
        documents_per_chunk: int = DOCUMENTS_PER_CHUNK,
        max_document_characters: int = MAX_DOCUMENT_CHARACTERS,
    ):
        self.documents = documents
        self.encoder = encoder
        self.batch_size = int(batch_size)
        self.mask_generator = mask_generator
        self.packer = SequencePacker(sequence_length, cls_id, sep_id, pad_id, packing=packing)
        self.epochs = int(epochs)
        self.prefetch = int(prefetch)
        self.documents_per_chunk = int(documents_per_chunk)
        self.max_document_characters = int(max_document_characters)
        self._resume: dict[str, Any] | None = None
        self._state: dict[str, Any] = self._snapshot(epoch=0, documents=documents.state_dict(), rows_emitted=0)
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, self.prefetch))
        self._stop = threading.Event()
        self.wait_seconds = 0.0  # time the consumer spent waiting for the producer

    # --- state ---------------------------------------------------------------

    def _snapshot(self, epoch: int, documents: dict[str, Any], rows_emitted: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "documents": documents,  # the document stream's state where the current chunk starts
            "packer": self.packer.state_dict(),
            "rows_emitted": rows_emitted,
            "finished": False,
            "mask_rng": self.mask_generator.get_state(),
        }

    @property
    def epoch(self) -> int:
        """Zero-based epoch of the last batch handed out."""
        return int(self._state["epoch"])

    def state_dict(self) -> dict[str, Any]:
        """Where the next batch starts (JSON-serialisable)."""
        return dict(self._state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._thread is not None:
            raise RuntimeError("load_state_dict must be called before iterating")
        state = dict(state)
        if "documents" not in state:  # a checkpoint from before shuffling: a plain stream position
            state["documents"] = {"position": state.pop("chunk_start")}
        self._resume = state
        self._state = dict(state)

    # --- producer ------------------------------------------------------------

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _emit(self, rows: np.ndarray, state: dict[str, Any]) -> bool:
        batch = self._make_batch(rows)
        state["mask_rng"] = self.mask_generator.get_state()
        return self._put((batch, state))

    def filler_batch(self) -> Batch:
        """A batch of filler rows only: nothing to predict (for a shard that has run out)."""
        return self._make_batch(np.zeros((0, self.packer.sequence_length), dtype=np.int32), draw_masks=False)

    def _make_batch(self, rows: np.ndarray, draw_masks: bool = True) -> Batch:
        real = len(rows)
        padding_mask = self.packer.padding_mask(rows)
        real_tokens = int(padding_mask.sum())
        if real < self.batch_size:
            filler = np.full((self.batch_size - real, rows.shape[1]), self.packer.pad_id, dtype=np.int32)
            filler[:, 0] = self.packer.cls_id
            filler[:, 1] = self.packer.sep_id
            rows = np.concatenate([rows, filler])
            padding_mask = np.concatenate([padding_mask, self.packer.padding_mask(filler)])
        masked = self.mask_generator(rows) if draw_masks else self.mask_generator.nothing_selected(rows)
        return Batch(
            token_ids=masked.token_ids,
            segment_ids=np.zeros_like(rows),
            padding_mask=padding_mask,
            mask_positions=masked.mask_positions,
            mask_ids=masked.mask_ids,
            mask_weights=masked.mask_weights,
            real_tokens=real_tokens,
        )

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Encode in groups of at most `max_document_characters` characters (one group for ordinary chunks)."""
        groups, start, size = [], 0, 0
        for index, text in enumerate(texts):
            if size and size + len(text) > self.max_document_characters:
                groups.append((start, index))
                start, size = index, 0
            size += len(text)
        groups.append((start, len(texts)))
        if len(groups) == 1:
            return self.encoder.encode_batch_flat(texts)
        flats, offsets, base = [], [np.zeros(1, dtype=np.int64)], 0
        for begin, end in groups:
            flat, group_offsets = self.encoder.encode_batch_flat(texts[begin:end])
            flats.append(flat)
            offsets.append(group_offsets[1:] + base)
            base += flat.size
        return np.concatenate(flats), np.concatenate(offsets)

    def _produce(self) -> None:
        try:
            self._run_producer()
        except BaseException as error:  # noqa: BLE001 - handed to the consumer thread
            self._put(_Stop(error))
        else:
            self._put(_Stop())

    def _run_producer(self) -> None:
        start = self._resume or self._state
        if start.get("finished"):
            return
        epoch = int(start["epoch"])
        self.packer.load_state_dict(start["packer"])
        self.mask_generator.set_state(start["mask_rng"])
        skip_rows = int(start["rows_emitted"])
        self.documents.load_state_dict(start["documents"])
        while epoch < self.epochs:
            chunks = self.documents.batches(self.documents_per_chunk)
            while True:
                chunk_state = self._snapshot(epoch, self.documents.state_dict(), 0)
                texts = next(chunks, None)
                if texts is None:
                    break
                flat, offsets = self._encode(bounded_documents(texts, self.max_document_characters,
                                                               self.packer.packing))
                self.packer.add(flat, offsets)
                if skip_rows:
                    self.packer.take(skip_rows)
                    chunk_state["rows_emitted"] = skip_rows
                    skip_rows = 0
                while self.packer.ready_rows >= self.batch_size:
                    rows = self.packer.take(self.batch_size)
                    chunk_state = {**chunk_state, "rows_emitted": chunk_state["rows_emitted"] + len(rows)}
                    if not self._emit(rows, chunk_state):
                        return
            epoch += 1
            self.documents.start_epoch(epoch)
        self.packer.flush()
        while self.packer.ready_rows:
            rows = self.packer.take(self.batch_size)
            if not self._emit(rows, {**self._snapshot(self.epochs - 1, self.documents.state_dict(), 0),
                                     "finished": True}):
                return

    # --- consumer ------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        if self._thread is not None:
            raise RuntimeError("a MaskedBatchStream can be iterated once")
        self._thread = threading.Thread(target=self._produce, name="mlm-batches", daemon=True)
        self._thread.start()
        import time

        while True:
            began = time.perf_counter()
            item = self._queue.get()
            self.wait_seconds += time.perf_counter() - began
            if isinstance(item, _Stop):
                if item.error is not None:
                    raise item.error
                return
            batch, state = item
            self._state = state
            yield batch

    def close(self) -> None:
        """Stop the producer thread (safe to call more than once)."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.05)
                except queue.Empty:
                    pass
            self._thread.join()
