"""Dynamic masking for masked-language-model training, vectorised in numpy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MaskedTokens:
    """One masked batch: the corrupted input and what the model must predict."""

    token_ids: np.ndarray  # int32 [B, S], with selected positions replaced
    mask_positions: np.ndarray  # int32 [B, P], sorted; padded with 0
    mask_ids: np.ndarray  # int32 [B, P], original ids at mask_positions; padded with 0
    mask_weights: np.ndarray  # float32 [B, P], 1 for real selections, 0 for padding


def validate_masking_rates(
    selection_rate: float, selection_length: int, mask_token_rate: float, random_token_rate: float
) -> None:
    """Raise ValueError unless the masking configuration is usable."""
    if not 0.0 <= selection_rate <= 1.0:
        raise ValueError(f"mask_selection_rate must be in [0, 1], got {selection_rate}")
    if int(selection_length) < 1:
        raise ValueError(f"mask_selection_length must be at least 1, got {selection_length}")
    if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1.0:
        raise ValueError(
            "mask_token_rate and random_token_rate must be >= 0 and sum to at most 1, "
            f"got {mask_token_rate} and {random_token_rate}"
        )


class MaskGenerator:
    """Selects positions to predict and corrupts them, BERT style.

    Each position whose id is not unselectable (special tokens, padding) is chosen
    independently with probability `selection_rate`; when more than
    `selection_length` are chosen in a row, a random subset of that size is kept.
    A chosen token becomes `mask_token_id` with probability `mask_token_rate`, a
    uniformly random id with probability `random_token_rate`, and stays otherwise.
    Every random draw comes from one seeded numpy generator, so the same seed and
    the same inputs give the same batches.

    With `word_starts` (bool per vocabulary id: does this token begin a word, from
    `Tokenizer.word_starts()`), masking is whole-word: each word is chosen with probability
    `selection_rate` and then every one of its tokens is, so the share of selected tokens
    stays `selection_rate` on average; a row with more than `selection_length` chosen
    tokens keeps a random subset of whole words that fits. A word also begins at a row's
    first position and after an unselectable (special) token, so words never span documents.
    The [MASK] / random / kept decision is then drawn per token, as BERT's own whole-word
    masking does.
    """

    def __init__(
        self,
        *,
        vocabulary_size: int,
        mask_token_id: int,
        unselectable_token_ids: Iterable[int],
        selection_rate: float = 0.15,
        selection_length: int = 96,
        mask_token_rate: float = 0.8,
        random_token_rate: float = 0.1,
        seed: int | None = None,
        word_starts: np.ndarray | None = None,
    ) -> None:
        validate_masking_rates(selection_rate, selection_length, mask_token_rate, random_token_rate)
        self.vocabulary_size = int(vocabulary_size)
        self.mask_token_id = int(mask_token_id)
        self.selection_rate = float(selection_rate)
        self.selection_length = int(selection_length)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self._selectable = np.ones(self.vocabulary_size, dtype=bool)
        unselectable = np.asarray(sorted(set(int(i) for i in unselectable_token_ids)), dtype=np.int64)
        if unselectable.size and (unselectable.min() < 0 or unselectable.max() >= self.vocabulary_size):
            raise ValueError("unselectable token ids must lie inside the vocabulary")
        self._selectable[unselectable] = False
        self._word_starts = None
        if word_starts is not None:
            self._word_starts = np.asarray(word_starts, dtype=bool)
            if self._word_starts.shape != (self.vocabulary_size,):
                raise ValueError(f"word_starts must have one entry per vocabulary id ({self.vocabulary_size}), got "
                                 f"shape {self._word_starts.shape}")
        self.rng = np.random.default_rng(seed)

    def get_state(self) -> dict[str, Any]:
        """The random generator's state, for checkpoints."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `get_state`."""
        self.rng.bit_generator.state = state

    def nothing_selected(self, token_ids: np.ndarray) -> MaskedTokens:
        """`token_ids` unchanged with no position selected (filler rows); draws no random numbers."""
        token_ids = np.asarray(token_ids, dtype=np.int32)
        empty = np.zeros((token_ids.shape[0], self.selection_length), dtype=np.int32)
        return MaskedTokens(token_ids=token_ids.copy(), mask_positions=empty, mask_ids=empty.copy(),
                            mask_weights=np.zeros(empty.shape, dtype=np.float32))

    def __call__(self, token_ids: np.ndarray) -> MaskedTokens:
        """Mask a batch of token ids (int [B, S]); the input is not modified."""
        token_ids = np.asarray(token_ids, dtype=np.int32)
        if token_ids.ndim != 2:
            raise ValueError(f"token_ids must be 2-D [batch, sequence], got shape {token_ids.shape}")
        batch, seq_len = token_ids.shape
        length = self.selection_length
        rng = self.rng

        in_vocab = (token_ids >= 0) & (token_ids < self.vocabulary_size)
        selectable = np.zeros_like(in_vocab)
        selectable[in_vocab] = self._selectable[token_ids[in_vocab]]
        if self._word_starts is None:
            kept = self._choose_tokens(selectable)
        else:
            kept = self._choose_words(token_ids, in_vocab, selectable)
        # Selected positions in order, padding (sentinel seq_len) last, `length` slots per row.
        positions = np.sort(np.where(kept, np.arange(seq_len), seq_len), axis=1)[:, :length]
        valid = positions < seq_len
        positions = np.where(valid, positions, 0).astype(np.int32)
        if positions.shape[1] < length:
            pad = length - positions.shape[1]
            positions = np.pad(positions, ((0, 0), (0, pad)))
            valid = np.pad(valid, ((0, 0), (0, pad)))

        mask_ids = np.where(valid, np.take_along_axis(token_ids, positions, axis=1), 0).astype(np.int32)

        decision = rng.random((batch, length))
        random_ids = rng.integers(0, self.vocabulary_size, size=(batch, length), dtype=np.int32)
        replacement = np.where(
            decision < self.mask_token_rate,
            np.int32(self.mask_token_id),
            np.where(decision < self.mask_token_rate + self.random_token_rate, random_ids, mask_ids),
        ).astype(np.int32)

        corrupted = token_ids.copy()
        rows = np.broadcast_to(np.arange(batch)[:, None], positions.shape)
        corrupted[rows[valid], positions[valid]] = replacement[valid]
        return MaskedTokens(
            token_ids=corrupted,
            mask_positions=positions,
            mask_ids=mask_ids,
            mask_weights=valid.astype(np.float32),
        )

    def _choose_tokens(self, selectable: np.ndarray) -> np.ndarray:
        """bool [B, S]: each selectable token with probability `selection_rate`, at most `selection_length` a row."""
        batch, seq_len = selectable.shape
        chosen = selectable & (self.rng.random((batch, seq_len)) < self.selection_rate)
        # Give each chosen position a random priority and keep the `length` lowest:
        # a uniform random subset when a row has too many, all of them otherwise.
        priority = np.where(chosen, self.rng.random((batch, seq_len)), np.inf)
        if seq_len <= self.selection_length:
            return chosen
        keep = np.argpartition(priority, self.selection_length - 1, axis=1)[:, :self.selection_length]
        kept = np.zeros_like(chosen)
        np.put_along_axis(kept, keep, np.isfinite(np.take_along_axis(priority, keep, axis=1)), axis=1)
        return kept

    def _choose_words(self, token_ids: np.ndarray, in_vocab: np.ndarray, selectable: np.ndarray) -> np.ndarray:
        """bool [B, S]: every token of each chosen word; whole words only, at most `selection_length` tokens a row."""
        batch, seq_len = token_ids.shape
        index = np.arange(seq_len)
        starts = ~selectable  # a special token is a word of its own, and ends the word before it
        starts[in_vocab] |= self._word_starts[token_ids[in_vocab]]
        starts[:, 0] = True
        starts[:, 1:] |= ~selectable[:, :-1]
        first = np.maximum.accumulate(np.where(starts, index, 0), axis=1)  # each token's word start
        ends = np.ones_like(starts)
        ends[:, :-1] = starts[:, 1:]
        # Each token's word end: the nearest end at or after it, found as a start in the reversed row.
        last = (seq_len - 1 - np.maximum.accumulate(np.where(ends[:, ::-1], index, 0), axis=1))[:, ::-1]
        word_draw = np.take_along_axis(self.rng.random((batch, seq_len)), first, axis=1)
        chosen = selectable & (word_draw < self.selection_rate)
        # One random priority per word; words are taken in priority order while their tokens fit.
        priority = np.where(chosen, np.take_along_axis(self.rng.random((batch, seq_len)), first, axis=1), np.inf)
        order = np.argsort(priority, axis=1, kind="stable")  # a word's tokens stay together, in order
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(index, order.shape), axis=1)
        return chosen & (np.take_along_axis(rank, last, axis=1) < self.selection_length)
