"""The tiny word list, WordPiece vocabulary and random sentences that test models and corpora are built from."""

from __future__ import annotations

import random

WORDS = (
    "the a of to and in is it that was for on are with as his they be at one have this from or had by "
    "word but what some we can out other were all there when up use your how said an each she which do "
    "their time if will way about many then them write would like so these her long make thing see him "
    "two has look more day could go come did number sound no most people my over know water than call "
    "first who may down side been now find model train mask token data"
).split()


def tiny_vocabulary() -> list[str]:
    """A small WordPiece vocabulary: BERT's special tokens, words, suffixes, characters, punctuation."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-()")
    suffixes = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##s", "##ing", "##ed", "##er"]
    seen: list[str] = []
    for token in specials + WORDS + chars + suffixes:
        if token not in seen:
            seen.append(token)
    return seen


def sample_sentences(count: int = 64, seed: int = 0) -> list[str]:
    """`count` sentences of 3 to 14 words from WORDS, each with an optional final punctuation mark; reproducible."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) + rng.choice([".", "!", "?", ""])
        for _ in range(count)
    ]
