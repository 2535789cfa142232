"""Train a WordPiece vocabulary on a corpus, for models pretrained from scratch.

The same texts give the same vocabulary in every process. Hugging Face's trainer (BPE
merges in Rust, used here for speed) numbers each continuation piece ("##x") when it first
meets it while walking a hash map of the corpus' words, whose order changes from process
to process; merges of equal count are then chosen by those numbers, so two runs could
learn different vocabularies. Here the words are counted first (in corpus order, one
pass), every continuation piece is registered up front in sorted order, and the trainer
learns from the counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice

import regex

BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONTINUATION_PREFIX = "##"
# BERT pretokenization of normalized text: each punctuation character is a word, and so
# is each run of other non-space characters.
ASCII_PUNCTUATION = r"!-/:-@\[-`{-~"
WORD_PATTERN = regex.compile(rf"[{ASCII_PUNCTUATION}]|\p{{P}}|[^\s{ASCII_PUNCTUATION}\p{{P}}]+")
ASCII_WORD_PATTERN = re.compile(rf"[{ASCII_PUNCTUATION}]|[^\s{ASCII_PUNCTUATION}]+")  # the same, faster, on ASCII
DOCUMENTS_PER_CHUNK = 1000
REPEATS_PER_TEXT = 4096  # a word counted more often reaches the trainer as several texts


def count_words(texts: Iterable[str], lowercase: bool = True) -> Counter[str]:
    """How often each word occurs in `texts` after BERT normalization and pretokenization."""
    from tokenizers import normalizers

    normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False, clean_text=True)
    counts: Counter[str] = Counter()
    iterator = iter(texts)
    while chunk := list(islice(iterator, DOCUMENTS_PER_CHUNK)):
        normalized = normalizer.normalize_str("\n".join(chunk))
        counts.update((ASCII_WORD_PATTERN if normalized.isascii() else WORD_PATTERN).findall(normalized))
    return counts


def continuation_pieces(words: Iterable[str]) -> list[str]:
    """Every "##x" the trainer starts from: one per character seen after the first of a word, sorted."""
    characters: set[str] = set()
    for word in words:
        characters.update(word[1:])
    return [CONTINUATION_PREFIX + c for c in sorted(characters)]


def _repeated_words(counts: Counter[str]) -> Iterator[str]:
    """The counted words as space-separated texts, each word as often as it was counted."""
    for word, count in counts.items():
        while count > 0:
            repeats = min(count, REPEATS_PER_TEXT)
            count -= repeats
            yield (word + " ") * repeats


def train_wordpiece_vocabulary(
    texts: Iterable[str],
    vocabulary_size: int,
    *,
    lowercase: bool = True,
    special_tokens: list[str] | None = None,
    min_frequency: int = 2,
) -> list[str]:
    """A WordPiece vocabulary learned from `texts`: special tokens, continuation characters, characters, merges.

    Deterministic: the same texts and options give the same list in any process.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    special_tokens = list(special_tokens or BERT_SPECIAL_TOKENS)
    if vocabulary_size <= len(special_tokens):
        raise ValueError(f"vocabulary_size must exceed the {len(special_tokens)} special tokens")
    counts = count_words(texts, lowercase=lowercase)
    pieces = [piece for piece in continuation_pieces(counts) if piece not in special_tokens]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # the words are normalized and split already
    trainer = trainers.WordPieceTrainer(  # registered first, the "##x" pieces get fixed ids (see the module doc)
        vocab_size=vocabulary_size, special_tokens=special_tokens + pieces, min_frequency=min_frequency,
        continuing_subword_prefix=CONTINUATION_PREFIX, show_progress=False,
    )
    tokenizer.train_from_iterator(_repeated_words(counts), trainer=trainer)
    vocabulary = tokenizer.get_vocab()
    return [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]
