"""Byte-level BPE with keras_hub's BytePairTokenizer semantics, on the Rust `tokenizers` library.

Two pre-tokenizations, chosen by `normalization`:

- "keras_hub" (default): token ids equal keras-hub 0.32's eager/grain tokenizer. Its
  pipeline splits the text only around the unsplittable (special) tokens and then runs
  byte-level BPE over each remaining stretch as a whole, without GPT-2's word regex
  (keras_hub hands its split pattern to `tokenizers` as a plain string, which never
  matches), so merges may join across spaces.
- "transformers": token ids equal transformers' RobertaTokenizer: GPT-2's word regex
  before BPE, and the mask token absorbs the spaces in front of it, as in the
  checkpoints on the Hugging Face Hub. Models converted from transformers use it; the
  setting travels in the preset's metadata.json, where keras_hub ignores it.

Presets store `assets/tokenizer/vocabulary.json` (token -> id) and `merges.txt` (one
"left right" merge a line), as keras_hub does. No keras import: data workers use this.

`with_added_words` makes whole words one token by merges appended after the existing ones
(`--extend-vocabulary`; see byte_pair_words).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.models.naming import snake_case
from mlm_cli.models.tokenizers.base import Tokenizer, check_normalization
from mlm_cli.models.tokenizers.byte_pair_words import MergeChains, plan_merge_chains

VOCABULARY_FILE = "vocabulary.json"
MERGES_FILE = "merges.txt"
MAX_ASSET_BYTES = 256 * 1024 * 1024  # far above any real vocabulary; refuse before reading more


def read_vocabulary(path: str | os.PathLike) -> dict[str, int]:
    """A vocabulary.json / vocab.json file: a JSON object of token -> id."""
    return validate_vocabulary(read_json_asset(path))


def read_json_asset(path: str | os.PathLike) -> Any:
    """A tokenizer JSON file (vocabulary, or transformers' tokenizer.json), size-checked before reading."""
    try:
        return json.loads(_read_text(Path(path)))
    except json.JSONDecodeError as error:
        raise ValueError(f"{Path(path).name} is not valid JSON ({error})") from None


def read_merges(path: str | os.PathLike) -> list[str]:
    """A merges.txt file: one "left right" rule a line; "#version" header lines are skipped."""
    lines = _read_text(Path(path)).split("\n")
    return [line.rstrip() for line in lines if line.rstrip() and not line.lstrip().startswith("#version")]


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_ASSET_BYTES:
        raise ValueError(f"{path.name} is {size} bytes, too large for a tokenizer file")
    return path.read_text(encoding="utf-8")


def validate_vocabulary(vocabulary: Any) -> dict[str, int]:
    """token -> id with every id in [0, size) exactly once (ids index the embedding matrix)."""
    if not isinstance(vocabulary, Mapping) or not vocabulary:
        raise ValueError("a BPE vocabulary must be a non-empty mapping of token -> id")
    size = len(vocabulary)
    seen = np.zeros(size, dtype=bool)
    for token, token_id in vocabulary.items():
        if not isinstance(token, str) or isinstance(token_id, bool) or not isinstance(token_id, int):
            raise ValueError(f"vocabulary entries must map strings to integer ids, got {token!r}: {token_id!r}")
        if not 0 <= token_id < size or seen[token_id]:
            raise ValueError(f"vocabulary ids must be 0 to {size - 1}, each once; {token!r} has id {token_id}")
        seen[token_id] = True
    return dict(vocabulary)


def parse_merges(merges: Sequence[str], vocabulary: Mapping[str, int]) -> list[tuple[str, str]]:
    """("left", "right") pairs; both parts and their join must be vocabulary tokens."""
    pairs = []
    for rule in merges:
        if not isinstance(rule, str):
            raise ValueError(f"merge rules must be strings, got {rule!r}")
        parts = rule.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"merge rule {rule!r} is not two tokens separated by one space")
        left, right = parts
        if left not in vocabulary or right not in vocabulary or left + right not in vocabulary:
            raise ValueError(f"merge rule {rule!r} uses a token that is not in the vocabulary")
        pairs.append((left, right))
    return pairs


@cache
def _byte_level_decoder():
    """Byte-level strings back to text (invalid UTF-8 becomes U+FFFD)."""
    from tokenizers import decoders

    return decoders.ByteLevel()


class BytePairEncoder:
    """The Rust pipeline: special tokens isolated, byte-level BPE, ids as int32 numpy arrays."""

    def __init__(
        self,
        vocabulary: dict[str, int],
        merges: list[tuple[str, str]],
        *,
        add_prefix_space: bool,
        special_tokens: Sequence[str],
        pre_tokenization: str,
        left_stripping_token: str | None = None,
    ):
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        self.vocabulary = vocabulary
        tokenizer = Tokenizer(models.BPE(vocab=vocabulary, merges=merges))
        tokenizer.add_special_tokens(
            [
                AddedToken(token, special=True, normalized=False, lstrip=token == left_stripping_token)
                for token in special_tokens
            ]
        )
        # keras_hub's pipeline never splits words (see the module docstring); transformers' uses GPT-2's regex.
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(
            add_prefix_space=add_prefix_space, use_regex=pre_tokenization == "transformers"
        )
        tokenizer.decoder = decoders.ByteLevel()
        self.tokenizer = tokenizer

    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        token_id = self.vocabulary.get(token)
        if token_id is None:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return token_id

    def id_to_token(self, token_id: int) -> str:
        token = self.tokenizer.id_to_token(int(token_id)) if 0 <= int(token_id) < self.vocabulary_size() else None
        if token is None:
            raise ValueError(f"token id must be in [0, {self.vocabulary_size() - 1}], got {token_id}")
        return token

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        flat, offsets = self.encode_batch_flat(texts)
        return np.split(flat, offsets[1:-1]) if len(texts) else []

    def encode_batch_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int32) and the document offsets (int64, len(texts) + 1); encoded in Rust."""
        id_lists = [encoding.ids for encoding in self.tokenizer.encode_batch_fast(list(texts),
                                                                                  add_special_tokens=False)]
        offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists)), out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int32, count=int(offsets[-1]))
        return flat, offsets

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Ids -> text, special tokens included (as keras_hub decodes)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocabulary_size()):
            raise ValueError(f"token ids must be in [0, {self.vocabulary_size() - 1}]")
        return self.tokenizer.decode(ids.tolist(), skip_special_tokens=False)


class BytePairTokenizer(Tokenizer):
    """keras_hub's BytePairTokenizer: config keys, assets and token ids (see the module docstring).

    `vocabulary` is a token -> id mapping or the path of a JSON file; `merges` a list of
    "left right" rules or the path of a merges.txt. Subclasses name their special tokens
    (`start_token`, `end_token`, `pad_token`, `mask_token`).

    The base of `RobertaTokenizer`; build that (or another family's subclass), since this
    class has no special tokens of its own.

    Args:
        vocabulary: token -> id (ids 0 to size - 1, each once), the path of a
            vocabulary.json, or None to load it later (`set_vocabulary`, or a preset).
            It must hold the special tokens.
        merges: "left right" merge rules, in priority order, or the path of a merges.txt;
            both parts and their join must be vocabulary tokens. Required with a vocabulary.
        sequence_length: None (the default) or a positive integer to truncate and pad every
            result to (see `Tokenizer`).
        add_prefix_space: whether a space is put before the text, so that its first word is
            encoded like any other (`Ġword`). Default False.
        unsplittable_tokens: strings never split nor merged, each kept as its own token; they
            must be in the vocabulary. Default (None): the special tokens.
        name: default the class name in snake case (`roberta_tokenizer`).
        config_file: the preset file the config is written to. Default "tokenizer.json".
        normalization: "keras_hub" (the default: keras_hub's token ids) or "transformers"
            (transformers' ids: GPT-2's word split before BPE, and the mask token absorbs the
            spaces before it); see the module docstring.
        **kwargs: only `trainable` and `dtype`, which are ignored.

    Examples:

    A toy byte-level vocabulary ("Ġ" marks a space), on RoBERTa's tokenizer:

    >>> from mlm_cli.models import RobertaTokenizer
    >>> vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, "a": 4, "c": 5, "e": 6, "h": 7, "t": 8,
    ...               "Ġ": 9, "th": 10, "the": 11, "at": 12, "Ġc": 13, "Ġcat": 14, "d": 15, "g": 16, "o": 17,
    ...               "s": 18, "n": 19}
    >>> merges = ["t h", "th e", "a t", "Ġ c", "Ġc at"]
    >>> tokenizer = RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    >>> tokenizer("the cat").tolist()
    [11, 14]
    >>> tokenizer.detokenize([11, 14])
    'the cat'
    >>> tokenizer("the <mask> cat").tolist()  # keras_hub: the space before <mask> stays a token
    [11, 9, 3, 14]
    >>> transformers_like = RobertaTokenizer(vocabulary=vocabulary, merges=merges, normalization="transformers")
    >>> transformers_like("the <mask> cat").tolist()
    [11, 3, 14]

    Whole words become one token through merges appended after the existing ones; the
    joins on the way take new ids too (`--extend-vocabulary`):

    >>> extended = tokenizer.with_added_words(["Ġdog"])
    >>> extended(" dog cat").tolist(), extended.get_vocabulary()[20:], extended.merges[5:]
    ([22, 14], ['Ġd', 'Ġdo', 'Ġdog'], ['Ġ d', 'Ġd o', 'Ġdo g'])
    """

    start_token: str | None = None
    end_token: str | None = None
    pad_token: str | None = None
    mask_token: str | None = None
    asset_files = (VOCABULARY_FILE, MERGES_FILE)
    vocabulary_arguments = "`vocabulary=` and `merges=`"
    adds_whole_words = True  # `with_added_words` appends merge chains that join a word's pieces (byte_pair_words)

    def __init__(
        self,
        vocabulary: Mapping[str, int] | str | os.PathLike | None = None,
        merges: Sequence[str] | str | os.PathLike | None = None,
        sequence_length: int | None = None,
        add_prefix_space: bool = False,
        unsplittable_tokens: Sequence[str] | None = None,
        name: str | None = None,
        config_file: str = "tokenizer.json",
        normalization: str = "keras_hub",
        **kwargs: Any,
    ):
        super().__init__(name=name or snake_case(type(self).__name__), config_file=config_file,
                         sequence_length=sequence_length, **kwargs)
        if not isinstance(add_prefix_space, bool):
            raise ValueError(f"add_prefix_space must be true or false, got {add_prefix_space!r}")
        if unsplittable_tokens is not None and (
            isinstance(unsplittable_tokens, str) or not all(isinstance(t, str) and t for t in unsplittable_tokens)
        ):
            raise ValueError("unsplittable_tokens must be a list of non-empty strings")
        self.normalization = check_normalization(normalization)
        self.add_prefix_space = add_prefix_space
        self.unsplittable_tokens = list(unsplittable_tokens) if unsplittable_tokens is not None else self.special_tokens
        self.encoder: BytePairEncoder | None = None
        self.start_token_id = self.end_token_id = self.pad_token_id = self.mask_token_id = None
        self._merges: list[str] | None = None
        if merges is not None:
            self._merges = read_merges(merges) if isinstance(merges, (str, os.PathLike)) else list(merges)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # --- vocabulary ---------------------------------------------------------

    def set_vocabulary(self, vocabulary: Mapping[str, int] | str | os.PathLike,
                       merges: Sequence[str] | str | os.PathLike | None = None) -> None:
        """Use `vocabulary` with `merges` (or the merges given to the constructor)."""
        if merges is not None:
            self._merges = read_merges(merges) if isinstance(merges, (str, os.PathLike)) else list(merges)
        if self._merges is None:
            raise ValueError("a byte-pair tokenizer needs merge rules as well as a vocabulary")
        vocabulary = read_vocabulary(vocabulary) if isinstance(vocabulary,
                                                               (str, os.PathLike)) else validate_vocabulary(vocabulary)
        missing = [token for token in dict.fromkeys([*self.special_tokens,
                                                     *self.unsplittable_tokens]) if token not in vocabulary]
        if missing:
            raise ValueError(f"the vocabulary lacks the special tokens {missing}")
        self.encoder = BytePairEncoder(
            vocabulary,
            parse_merges(self._merges, vocabulary),
            add_prefix_space=self.add_prefix_space,
            special_tokens=self.unsplittable_tokens,
            pre_tokenization=self.normalization,
            left_stripping_token=self.mask_token if self.normalization == "transformers" else None,
        )
        for role in ("start", "end", "pad", "mask"):
            token = getattr(self, f"{role}_token")
            setattr(self, f"{role}_token_id", vocabulary[token] if token is not None else None)

    @property
    def merges(self) -> list[str]:
        return list(self._merges or [])

    @property
    def special_tokens(self) -> list[str]:
        tokens = (self.start_token, self.end_token, self.pad_token, self.mask_token)
        return list(dict.fromkeys(t for t in tokens if t is not None))

    def starts_word(self, token: str) -> bool:
        """Byte-level BPE: a token that begins with "Ġ" (the byte of a space, U+0120) begins a word."""
        return token.startswith("\u0120")

    def get_vocabulary(self) -> list[str]:
        vocabulary = self._encoder.vocabulary
        tokens = [""] * len(vocabulary)
        for token, token_id in vocabulary.items():
            tokens[token_id] = token
        return tokens

    # --- whole words (vocabulary extension; see byte_pair_words) --------------------

    def text_words(self, text: str) -> list[str]:
        """The words of `text` as byte-level strings ("Ġword"): the unsplittable tokens cut out, the rest split by
        GPT-2's word pattern, as transformers' pipeline splits it (keras_hub's runs BPE over whole stretches, whose
        merges were learned on these words)."""
        words = []
        for segment in self._text_segments(text):
            words.extend(word for word, _ in self._word_splitter(self.add_prefix_space).pre_tokenize_str(segment))
        return words

    def _text_segments(self, text: str) -> list[str]:
        """`text` cut at the unsplittable tokens (longest first, as the pipeline matches them), empty parts left out;
        with transformers' normalisation the mask token takes the spaces before it."""
        pattern = "|".join(re.escape(token) for token in sorted(self.unsplittable_tokens, key=len, reverse=True))
        parts = re.split(f"({pattern})", text) if pattern else [text]
        segments = []
        for index in range(0, len(parts), 2):
            segment = parts[index]
            if self.normalization == "transformers" and index + 1 < len(parts) and parts[index + 1] == self.mask_token:
                segment = segment.rstrip()
            if segment:
                segments.append(segment)
        return segments

    @staticmethod
    @cache
    def _word_splitter(add_prefix_space: bool):
        """GPT-2's word split into byte-level words, from `tokenizers`."""
        from tokenizers import pre_tokenizers

        return pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=True)

    def _is_one_word(self, word: str) -> bool:
        """Whether `word` is one byte-level word of `text_words`, free of unsplittable tokens."""
        text = _byte_level_decoder().decode([word])
        return not any(token in text for token in self.unsplittable_tokens) and [
            piece for piece, _ in self._word_splitter(False).pre_tokenize_str(text)] == [word]

    def _old_split(self, word: str) -> list[str]:
        """The tokens BPE makes of one byte-level word (bytes missing from the vocabulary dropped, as BPE does)."""
        return [token.value for token in self._encoder.tokenizer.model.tokenize(word)]

    def word_piece_ids(self, words: Sequence[str]) -> list[list[int]]:
        """The token ids of each word (a byte-level word, as `text_words` returns it)."""
        model = self._encoder.tokenizer.model
        return [[token.id for token in model.tokenize(word)] for word in words]

    def addable_words(self, words: list[str]) -> list[bool]:
        """Whether each word can become one token: one byte-level word, every byte in the vocabulary, two or more
        tokens now."""
        return [len(pieces) >= 2 and "".join(pieces) == word and self._is_one_word(word)
                for word, pieces in zip(words, map(self._old_split, words))]

    def _merge_chains(self, words: Sequence[str]) -> MergeChains:
        """The merges and tokens `with_added_words(words)` appends; ValueError for a word it cannot add."""
        if len(set(words)) != len(words):
            raise ValueError("a word is given twice")
        for word, addable in zip(words, self.addable_words(list(words))):
            if not addable:
                raise ValueError(f"{word!r} cannot be added: it is one token already, not one byte-level word of "
                                 "this tokenizer, or has bytes the vocabulary lacks")
        pairs = [tuple(rule.split(" ")) for rule in self.merges]
        return plan_merge_chains(self._encoder.vocabulary, pairs, words, self._old_split)

    def new_token_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """For each token `with_added_words(words)` appends (words and intermediate joins, in id order), the ids of
        the pieces it joins."""
        return self._merge_chains(words).pieces

    def with_added_words(self, words: Sequence[str]) -> "BytePairTokenizer":
        """A copy of this tokenizer that reads each of `words` (byte-level words of `text_words`) as one token, by
        merges appended after the existing ones; new tokens (the words and intermediate joins) take the ids from
        `vocabulary_size()` on. See byte_pair_words for why text without the new pairs keeps its ids.

        Each word must be one byte-level word, two or more tokens now, with every byte in the vocabulary (ValueError
        otherwise, and if a word would not come out as one token).
        """
        chains = self._merge_chains(words)
        vocabulary = dict(self._encoder.vocabulary)
        vocabulary.update({token: self.vocabulary_size() + offset for offset, token in enumerate(chains.tokens)})
        merges = self.merges + [" ".join(pair) for pair in chains.merges]
        extended = type(self)(**{**self.get_config(), **self.extension_config(), "vocabulary": vocabulary,
                                 "merges": merges})
        wrong = [word for word, ids in zip(words, extended.word_piece_ids(words)) if ids != [vocabulary[word]]]
        if wrong:
            raise ValueError(f"{wrong[:5]} would not be read as one token")
        return extended

    # --- config and assets ----------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """keras_hub's BytePairTokenizer config; vocabulary and merges are assets."""
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "add_prefix_space": self.add_prefix_space,
            "unsplittable_tokens": list(self.unsplittable_tokens),
        }

    def save_assets(self, directory: str | os.PathLike) -> None:
        """Write vocabulary.json and merges.txt into `directory` (a preset's assets/tokenizer/), as keras_hub does."""
        directory = Path(directory)
        (directory / VOCABULARY_FILE).write_text(json.dumps(self._encoder.vocabulary), encoding="utf-8")
        with open(directory / MERGES_FILE, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{rule}\n" for rule in self.merges)

    def load_assets(self, directory: str | os.PathLike) -> None:
        """Read vocabulary.json and merges.txt from `directory` (a preset's assets/tokenizer/)."""
        directory = Path(directory)
        self.set_vocabulary(directory / VOCABULARY_FILE, directory / MERGES_FILE)

