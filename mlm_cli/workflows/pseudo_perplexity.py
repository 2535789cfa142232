"""Pseudo-log-likelihood scoring of documents by a masked LM (Salazar et al., 2020).

Each real token of a document is masked in turn and scored by log p(token | the rest);
a document's PLL is the sum, and a corpus's pseudo-perplexity is
exp(-(sum of PLLs) / (tokens scored)). The masked copies of many documents go through
the model together, `batch_size` copies (one mask each) per forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

DOCUMENTS_PER_CHUNK = 256  # documents read and tokenized at a time


@dataclass
class PseudoPerplexity:
    pseudo_perplexity: float
    pseudo_log_likelihood: float  # summed over every scored token of every document
    scored_tokens: int
    documents: int  # documents with at least one token scored
    truncated_documents: int  # documents longer than the sequence, scored on their first part
    batches: int  # forward passes of `batch_size` masked copies

    def as_dict(self) -> dict:
        return asdict(self)


class MaskedCopyScorer:
    """Scores documents by masking each real token in turn, in fixed-shape batches of one-mask rows.

    `add` queues documents (token ids without special tokens; longer than the sequence
    allows, they are cut) and runs every full batch; `finish` runs the rest. Copies of
    one document may share a batch with copies of others: each row is scored on its own,
    so a document's PLL does not depend on its neighbours.
    """

    def __init__(self, model, batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.batch_size = int(batch_size)
        tokenizer = model.preprocessor.tokenizer
        self.sequence_length = int(model.preprocessor.sequence_length)
        self.cls_id, self.sep_id, self.pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        self.special_ids = np.asarray(sorted(set(tokenizer.special_token_ids)), dtype=np.int32)
        self.pll: list[float] = []  # per document, in the order added
        self.counts: list[int] = []  # tokens scored per document
        self.truncated = 0
        self.batches = 0
        self._rows = np.zeros((0, self.sequence_length), dtype=np.int32)  # packed documents that have queued copies
        self._lengths = np.zeros(0, dtype=np.int64)  # their lengths, start and end tokens included
        self._documents = np.zeros(0, dtype=np.int64)  # their document numbers
        self._queue_rows = np.zeros(0, dtype=np.int64)  # per queued copy: its row in _rows
        self._queue_positions = np.zeros(0, dtype=np.int64)  # per queued copy: the position it masks

    @property
    def room(self) -> int:
        """Tokens of a document that fit between the start and end tokens."""
        return self.sequence_length - 2

    def copies_needed(self, ids: np.ndarray) -> int:
        """How many masked copies (rows) scoring this document takes."""
        return int(np.count_nonzero(~np.isin(np.asarray(ids)[: self.room], self.special_ids)))

    @property
    def queued(self) -> int:
        return len(self._queue_rows)

    def add(self, documents: Iterable[np.ndarray]) -> None:
        """Queue the documents' masked copies and run every full batch."""
        documents = [np.asarray(ids, dtype=np.int32) for ids in documents]
        self.truncated += sum(len(ids) > self.room for ids in documents)
        documents = [ids[: self.room] for ids in documents]
        if not documents:
            return
        first = len(self.pll)
        rows, lengths = self._pack(documents)
        columns = np.arange(self.sequence_length)[None, :]
        scorable = (columns >= 1) & (columns < lengths[:, None] - 1) & ~np.isin(rows, self.special_ids)
        row_index, positions = np.nonzero(scorable)  # row-major: each document's copies together, in order
        self.pll.extend([0.0] * len(documents))
        self.counts.extend(np.bincount(row_index, minlength=len(documents)).tolist())
        base = len(self._rows)
        self._rows = np.concatenate([self._rows, rows])
        self._lengths = np.concatenate([self._lengths, lengths])
        self._documents = np.concatenate([self._documents, np.arange(first, first + len(documents))])
        self._queue_rows = np.concatenate([self._queue_rows, row_index + base])
        self._queue_positions = np.concatenate([self._queue_positions, positions])
        while self.queued >= self.batch_size:
            self._run(self.batch_size)
        self._forget_scored_rows()

    def finish(self) -> None:
        """Run the queued copies that do not fill a batch (padded to the full batch shape)."""
        while self.queued:
            self._run(min(self.batch_size, self.queued))
        self._forget_scored_rows()

    def _pack(self, documents: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """`[start] ids [end] [pad]...` rows of the sequence length, and each row's length."""
        rows = np.full((len(documents), self.sequence_length), self.pad_id, dtype=np.int32)
        rows[:, 0] = self.cls_id
        lengths = np.fromiter((len(ids) + 2 for ids in documents), dtype=np.int64, count=len(documents))
        for row, ids in enumerate(documents):
            rows[row, 1 : 1 + len(ids)] = ids
        rows[np.arange(len(documents)), lengths - 1] = self.sep_id
        return rows, lengths

    def _run(self, count: int) -> None:
        """Score the next `count` queued copies in one forward pass of `batch_size` rows."""
        padding = self.batch_size - count  # rows that repeat the first copy; their scores are dropped
        rows = np.concatenate([self._queue_rows[:count], np.repeat(self._queue_rows[:1], padding)])
        positions = np.concatenate([self._queue_positions[:count], np.repeat(self._queue_positions[:1], padding)])
        every = np.arange(self.batch_size)
        token_ids = self._rows[rows]
        labels = token_ids[every, positions].astype(np.int64)
        token_ids[every, positions] = self.mask_id
        features = {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": np.arange(self.sequence_length)[None, :] < self._lengths[rows][:, None],
            "mask_positions": positions[:, None].astype(np.int32),
        }
        logits = np.asarray(self.model.predict_on_batch(features))[:, 0, :].astype(np.float64)
        peak = logits.max(axis=-1)
        log_normaliser = peak + np.log(np.exp(logits - peak[:, None]).sum(axis=-1))
        scores = (logits[every, labels] - log_normaliser)[:count]
        documents = self._documents[rows[:count]]
        for document in np.unique(documents).tolist():
            self.pll[document] += float(scores[documents == document].sum())
        self._queue_rows = self._queue_rows[count:]
        self._queue_positions = self._queue_positions[count:]
        self.batches += 1

    def _forget_scored_rows(self) -> None:
        """Drop packed documents that have no queued copies left."""
        keep = np.unique(self._queue_rows)
        renumber = np.zeros(len(self._rows), dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        self._rows, self._lengths, self._documents = self._rows[keep], self._lengths[keep], self._documents[keep]
        self._queue_rows = renumber[self._queue_rows]


def pseudo_log_likelihood(model, documents: Iterable[np.ndarray], batch_size: int = 32) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """Per-document PLL (float64) and tokens scored (int64) of token-id documents (no special tokens)."""
    scorer = MaskedCopyScorer(model, batch_size)
    scorer.add(documents)
    scorer.finish()
    return np.asarray(scorer.pll, dtype=np.float64), np.asarray(scorer.counts, dtype=np.int64)


def corpus_pseudo_perplexity(model, texts: Iterable[list[str]], batch_size: int = 32,
                             max_batches: int | None = None) -> PseudoPerplexity:
    """Pseudo-perplexity of a corpus given as chunks of documents (one document per row, cut to the sequence).

    With `max_batches`, only whole documents are scored: documents are taken in order
    while their masked copies fit in `max_batches` batches (the first is always taken).
    Documents without tokens are skipped.
    """
    from mlm_cli.data.masked_batch_stream import MAX_DOCUMENT_CHARACTERS, bounded_documents

    scorer = MaskedCopyScorer(model, batch_size)
    encoder = model.preprocessor.tokenizer.encoder
    budget = None if max_batches is None else max_batches * scorer.batch_size
    planned = 0
    for chunk in texts:
        flat, offsets = encoder.encode_batch_flat(bounded_documents(list(chunk), MAX_DOCUMENT_CHARACTERS,
                                                                    packing=False))
        documents = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        taken, full = [], False
        for ids in documents:
            copies = scorer.copies_needed(ids)
            if copies == 0:
                continue
            if budget is not None and planned + copies > budget and planned:
                full = True
                break
            taken.append(ids)
            planned += copies
        scorer.add(taken)
        if full:
            break
    scorer.finish()
    tokens = int(sum(scorer.counts))
    total = float(math.fsum(scorer.pll))
    return PseudoPerplexity(
        pseudo_perplexity=math.exp(min(-total / tokens, 700.0)) if tokens else float("nan"),
        pseudo_log_likelihood=total,
        scored_tokens=tokens,
        documents=len(scorer.pll),
        truncated_documents=scorer.truncated,
        batches=scorer.batches,
    )

