"""`mlm train --extend-vocabulary N`: learn frequent multi-piece words on the corpus and add them to the model."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlm_cli.data.vocabulary_words import WordCandidate, choose_words, count_words, tokens_per_word
from mlm_cli.errors import BadInputError

log = logging.getLogger("mlm")
ADDED_WORDS_FILE = "added_words.tsv"  # in the run directory: what --extend-vocabulary added, for people to read


@dataclass(frozen=True)
class VocabularyGrowth:
    """What `grow_vocabulary` did, for the start-up log and the run directory."""

    words: list[WordCandidate]
    size_before: int
    size_after: int
    tokens_per_word_before: float
    tokens_per_word_after: float
    documents: int
    intermediate_tokens: int = 0  # new tokens beyond one per word: the joins byte-level BPE's merge chains pass through

    def summary(self) -> str:
        intermediate = f" and {self.intermediate_tokens:,} intermediate tokens" if self.intermediate_tokens else ""
        return (f"extended the vocabulary by {len(self.words):,} words{intermediate} ({self.size_before:,} → "
                f"{self.size_after:,}): "
                f"tokens per word {self.tokens_per_word_before:.2f} → {self.tokens_per_word_after:.2f} on the "
                f"sample of {self.documents:,} documents")


def grow_vocabulary(masked_lm, documents: Iterable[str], limit: int):
    """`masked_lm` extended by up to `limit` words learned on `documents` (the training stream, read only as far as
    the sample goes); returns (model, VocabularyGrowth). A tokenizer that cannot add whole words is a BadInputError."""
    from mlm_cli.models.vocabulary_extension import check_extendable, extend_vocabulary

    try:
        check_extendable(masked_lm)
    except ValueError as error:
        raise BadInputError(f"--extend-vocabulary: {error}") from None
    tokenizer = masked_lm.preprocessor.tokenizer

    known_counts: dict[str, int] = {}  # each word split once, for choosing and for tokens per word

    def piece_counts(words: list[str]) -> list[int]:
        missing = [word for word in words if word not in known_counts]
        known_counts.update(zip(missing, (len(ids) for ids in tokenizer.word_piece_ids(missing))))
        return [known_counts[word] for word in words]

    def addable_piece_counts(words: list[str]) -> list[int]:
        """Piece counts, 0 for words the tokenizer cannot add (an unknown character, ...), so they are never chosen."""
        return [count if addable else 0 for count, addable in zip(piece_counts(words), tokenizer.addable_words(words))]

    sample = count_words(documents, tokenizer.text_words)
    words = choose_words(sample, addable_piece_counts, limit)
    extended = extend_vocabulary(masked_lm, [candidate.word for candidate in words])
    new_tokenizer = extended.preprocessor.tokenizer
    intermediate = max(0, new_tokenizer.vocabulary_size() - tokenizer.vocabulary_size() - len(words))
    growth = VocabularyGrowth(
        words, tokenizer.vocabulary_size(), new_tokenizer.vocabulary_size(), tokens_per_word(sample, piece_counts),
        tokens_per_word(sample, lambda ws: [len(ids) for ids in new_tokenizer.word_piece_ids(ws)]), sample.documents,
        intermediate)
    log.debug("%s", growth.summary())  # `mlm train` reports it when training starts
    return extended, growth


def write_added_words(output: Path, growth: VocabularyGrowth) -> None:
    """RUN/added_words.tsv: each added word with its count on the sample and the pieces it replaced."""
    from mlm_cli.atomic_files import write_text_atomic

    lines = ["word\tcount\tpieces"] + [f"{c.word}\t{c.count}\t{c.pieces}" for c in growth.words]
    write_text_atomic(Path(output) / ADDED_WORDS_FILE, "\n".join(lines) + "\n")


def documents_read_once(batches: Iterator[list[str]]) -> Iterator[str]:
    """The documents of a stream's batches, one by one (the stream is read only as far as they are consumed)."""
    for batch in batches:
        yield from batch
