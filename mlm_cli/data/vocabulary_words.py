"""Whole words worth adding to a vocabulary: frequent words of a corpus sample that the tokenizer splits into pieces.

The sample is the first documents of the training stream, bounded by a document count and a
character count, so learning costs the same on a 100 MB or a 100 GB corpus (the stream is
read lazily and only this far). Words are counted as the tokenizer sees them (its own
normalisation and pre-tokenisation, through a `text_words` callable), in a counter bounded to
MAX_DISTINCT_WORDS entries: when it overflows, the less frequent half is dropped. The
frequent words that can be chosen keep their counts; a dropped rare word that comes back
restarts from zero, which only undercounts words far below the ones chosen.

Candidates are ranked by the tokens they save on the sample, count x (pieces - 1): a word
split in five saves four tokens per occurrence, one split in two saves one. Words seen fewer
than MIN_WORD_COUNT times are never chosen: their new embedding would barely train, and
they save few tokens anyway. No keras here (numpy-free, even).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

SAMPLE_DOCUMENTS = 200_000  # the first documents of the training stream that words are counted on...
SAMPLE_CHARACTERS = 100_000_000  # ...or fewer, once they hold this many characters
MAX_DISTINCT_WORDS = 1_000_000  # the counter's bound (about 100 MB of Python strings and ints at most)
MIN_WORD_COUNT = 20  # a word must occur this often in the sample to be added


@dataclass(frozen=True)
class WordSample:
    """Word counts on a corpus sample."""

    counts: dict[str, int]  # normalised word -> occurrences (the bounded counter's survivors)
    documents: int  # documents read
    words: int  # words counted, pruned ones included


@dataclass(frozen=True)
class WordCandidate:
    """A word that could join the vocabulary: its count on the sample and how many tokens it is now."""

    word: str
    count: int
    pieces: int

    @property
    def tokens_saved(self) -> int:
        """Tokens fewer on the sample once the word is one token."""
        return self.count * (self.pieces - 1)


def count_words(documents: Iterable[str], text_words: Callable[[str], list[str]], *,
                max_documents: int = SAMPLE_DOCUMENTS, max_characters: int = SAMPLE_CHARACTERS,
                max_distinct: int = MAX_DISTINCT_WORDS) -> WordSample:
    """Count the words (`text_words(document)`) of the first documents, within the document and character bounds."""
    counts: Counter[str] = Counter()
    read = characters = total = 0
    for document in documents:
        if read >= max_documents or characters >= max_characters:
            break
        words = text_words(document)
        counts.update(words)
        read += 1
        characters += len(document)
        total += len(words)
        if len(counts) > max_distinct:
            counts = Counter(dict(counts.most_common(max_distinct // 2)))
    return WordSample(dict(counts), read, total)


def choose_words(sample: WordSample, piece_counts: Callable[[list[str]], Sequence[int]], limit: int,
                 min_count: int = MIN_WORD_COUNT) -> list[WordCandidate]:
    """Up to `limit` words of at least `min_count` occurrences and two or more pieces (`piece_counts(words)`), most
    tokens saved first (ties: more frequent, then alphabetical)."""
    frequent = [word for word, count in sample.counts.items() if count >= min_count]
    candidates = [WordCandidate(word, sample.counts[word], int(pieces))
                  for word, pieces in zip(frequent, piece_counts(frequent)) if pieces >= 2]
    candidates.sort(key=lambda c: (-c.tokens_saved, -c.count, c.word))
    return candidates[:limit]


def tokens_per_word(sample: WordSample, piece_counts: Callable[[list[str]], Sequence[int]]) -> float:
    """Tokens per word on the sample's counted words, under the tokenization `piece_counts` gives."""
    words = list(sample.counts)
    occurrences = sum(sample.counts.values())
    if not occurrences:
        return 0.0
    return sum(sample.counts[w] * int(p) for w, p in zip(words, piece_counts(words))) / occurrences
