"""Whole words added to a byte-level BPE tokenizer as chains of merges appended after every existing merge.

keras_hub's RobertaTokenizer reads only vocabulary.json and merges.txt from a preset, so a new
token is reachable only through a merge. A word is a byte-level string as GPT-2's word split gives
it ("Ġhemoglobin", "Ġ" being the byte of a space); BPE splits it into pieces p1 ... pk. Appending,
after every existing merge, merges that fold those pieces into one token makes the word one token:

- BPE always applies the lowest-ranked merge available, so an appended merge fires only once no
  original merge applies, that is on the pieces the original merges leave (the old split).
  Every token that text gets is therefore a run of its old pieces joined.
- Words are planned one at a time, each against the merges appended so far; later merges rank
  below earlier ones, so an earlier word's encoding never reaches them and stays one token.
- A chain of k pieces takes k - 1 merges, and each join not yet in the vocabulary takes a new id
  (after every existing id): the vocabulary grows by the words and by intermediate tokens (the
  joins on the way, "Ġhemo" + "glob" before "Ġhemoglob" + "in"). Each join prefers a pair that is
  already a vocabulary entry, so fewer intermediate tokens are needed.
- Text whose old pieces hold no appended pair side by side keeps its ids; a word whose old split
  does hold one (a longer word sharing the added word's pieces) gets a shorter split too.

Planning replays BPE in Python (`apply_merges`) from each word's old split; the tokenizer checks the
result with the real (Rust) pipeline afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Pair = tuple[str, str]


@dataclass(frozen=True)
class MergeChains:
    """What adding words to a byte-level BPE takes: merges to append and the new tokens, in id order."""

    merges: list[Pair]  # appended after the existing merges, in this order
    tokens: list[str]  # new vocabulary entries, ids from the old vocabulary size on
    pieces: list[list[int]]  # for each new token, the old ids it joins (its row starts as their mean)


def apply_merges(symbols: Sequence[str], ranks: Mapping[Pair, int]) -> list[str]:
    """BPE on `symbols`: join the lowest-ranked adjacent pair that `ranks` holds (leftmost on ties) until none is."""
    symbols = list(symbols)
    while len(symbols) > 1:
        ranked = [(ranks[pair], index) for index, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks]
        if not ranked:
            break
        _, index = min(ranked)
        symbols[index:index + 2] = [symbols[index] + symbols[index + 1]]
    return symbols


def _chosen_pair(symbols: Sequence[str], vocabulary: Mapping[str, int]) -> int:
    """The index of the pair to join next: the leftmost one already in the vocabulary, else the leftmost."""
    return next((index for index, pair in enumerate(zip(symbols, symbols[1:])) if "".join(pair) in vocabulary), 0)


def _old_ids_of(symbols: Sequence[str], index: int, old_split: Sequence[str], old_ids: Sequence[int]) -> list[int]:
    """The old ids the pair at `index` of `symbols` (a coarsening of `old_split`) covers."""
    start = sum(len(symbol) for symbol in symbols[:index])
    end = start + len(symbols[index]) + len(symbols[index + 1])
    covered, position = [], 0
    for piece, piece_id in zip(old_split, old_ids):
        if start <= position and position + len(piece) <= end:
            covered.append(piece_id)
        position += len(piece)
    return covered


def plan_merge_chains(vocabulary: Mapping[str, int], merges: Sequence[Pair], words: Sequence[str],
                      old_split: Callable[[str], list[str]]) -> MergeChains:
    """The merges and new tokens that make each of `words` one token (see the module docstring).

    `old_split(word)` is the word's pieces under the original merges; every word must have at least one.
    """
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    next_rank = len(merges)
    known = dict(vocabulary)
    chains = MergeChains([], [], [])
    for word in words:
        old = old_split(word)
        old_ids = [vocabulary[piece] for piece in old]
        symbols = apply_merges(old, ranks)
        while len(symbols) > 1:
            index = _chosen_pair(symbols, known)
            pair = (symbols[index], symbols[index + 1])
            ranks[pair] = next_rank
            next_rank += 1
            chains.merges.append(pair)
            if "".join(pair) not in known:
                known["".join(pair)] = len(known)
                chains.tokens.append("".join(pair))
                chains.pieces.append(_old_ids_of(symbols, index, old, old_ids))
            symbols = apply_merges(old, ranks)
    return chains
