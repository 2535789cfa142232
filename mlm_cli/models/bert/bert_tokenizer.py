"""BERT's WordPiece tokenizer, configured like keras_hub's BertTokenizer (no keras needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlm_cli.models.tokenizers.base import Tokenizer, check_normalization
from mlm_cli.models.tokenizers.wordpiece_encoder import TransformersWordPieceEncoder, WordPieceEncoder, read_vocabulary

VOCABULARY_FILE = "vocabulary.txt"
# keras_hub: NFKC case folding, special tokens in text split like words (unless
# special_tokens_in_strings); transformers: its BertNormalizer, special tokens kept whole.
NORMALIZATIONS = {"keras_hub": WordPieceEncoder, "transformers": TransformersWordPieceEncoder}
BERT_SPECIAL_TOKENS = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "mask": "[MASK]"}


class BertTokenizer(Tokenizer):
    """WordPiece tokenizer with BERT's special tokens ([CLS], [SEP], [PAD], [MASK]).

    `vocabulary` is a list of tokens or the path of a one-token-a-line file; token ids
    equal keras_hub's. Other WordPiece families (ESM) subclass it with their own
    `special_token_names` (role -> token) and `_new_encoder`.

    Args:
        vocabulary: a list of tokens (a token's id is its index), the path of a
            one-token-a-line file, or None to set it later (`set_vocabulary`, or a preset).
            It must contain [CLS], [SEP], [PAD], [MASK] and `oov_token`, each once.
        lowercase: whether text is lowercased before lookup. Default False.
        strip_accents: whether accents are stripped. Default False.
        split: whether text is split into words at whitespace and punctuation before
            WordPiece. Default True.
        suffix_indicator: the prefix of word-continuation pieces. Default "##".
        oov_token: the token of words with no WordPiece match. Default "[UNK]".
        special_tokens: extra special tokens besides BERT's four, or None (the default);
            they must be in the vocabulary, and masking never selects them.
        special_tokens_in_strings: whether special tokens written in the text (with
            `split`) are kept whole as one id; by default (False) they are split like words.
        sequence_length: None (the default) or a positive integer to truncate and pad every
            result to (padding with id 0, as keras_hub does).
        name: default "bert_tokenizer".
        config_file: the preset file the config is written to. Default "tokenizer.json".
        normalization: "keras_hub" (the default: keras_hub's text handling and token ids) or
            "transformers" (transformers' BertNormalizer and pre-tokenizer, special tokens in
            text kept whole); checkpoints converted from transformers use the latter.
        **kwargs: only `trainable` and `dtype`, which are ignored.

    Examples:

    >>> from mlm_cli.models import BertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=True)
    >>> tokenizer("The quick brown fox jumps.").tolist()
    [5, 6, 7, 8, 9, 19]
    >>> tokenizer.detokenize([5, 12, 18])
    'the dogs'
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id
    (2, 3, 0, 4)
    >>> keep_special = BertTokenizer(vocabulary=vocabulary, lowercase=True, special_tokens_in_strings=True)
    >>> keep_special("the [MASK] fox").tolist()
    [5, 4, 8]

    A preset's vocabulary file loads by path:

        tokenizer = BertTokenizer(vocabulary="assets/tokenizer/vocabulary.txt", lowercase=True)
    """

    special_token_names = BERT_SPECIAL_TOKENS
    adds_whole_words = True  # `with_added_words` appends whole words that greedy longest match picks
    family_label = "BERT"  # names the family in errors about its special tokens
    asset_files = (VOCABULARY_FILE,)

    def __init__(self, vocabulary: Sequence[str] | str | os.PathLike | None = None, lowercase: bool = False,
                 strip_accents: bool = False, split: bool = True, suffix_indicator: str = "##",
                 oov_token: str = "[UNK]", special_tokens: Sequence[str] | None = None,
                 special_tokens_in_strings: bool = False, sequence_length: int | None = None,
                 name: str = "bert_tokenizer", config_file: str = "tokenizer.json", normalization: str = "keras_hub",
                 **kwargs):
        super().__init__(name=name, config_file=config_file, sequence_length=sequence_length, **kwargs)
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.split = bool(split)
        self.suffix_indicator = suffix_indicator
        self.oov_token = oov_token
        self.extra_special_tokens = list(special_tokens) if special_tokens else None
        self.special_tokens_in_strings = bool(special_tokens_in_strings)
        self.normalization = check_normalization(normalization, NORMALIZATIONS)
        self.encoder: WordPieceEncoder | None = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # --- vocabulary ---------------------------------------------------------

    def set_vocabulary(self, vocabulary: Sequence[str] | str | os.PathLike) -> None:
        """Use `vocabulary` (tokens, or a file path); the family's special tokens must be in it."""
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = read_vocabulary(vocabulary)
        vocabulary = list(vocabulary)
        if not all(isinstance(token, str) for token in vocabulary):
            raise TypeError("the vocabulary must be a list of strings")
        known = set(vocabulary)
        missing = [t for t in self.special_tokens if t not in known]
        if missing:
            raise ValueError(f"the vocabulary lacks {self.family_label}'s special tokens {missing}")
        self.encoder = self._new_encoder(vocabulary)
        ids = {role: self.encoder.token_to_id(token) for role, token in self.special_token_names.items()}
        self.cls_token_id, self.sep_token_id = ids["cls"], ids["sep"]
        self.pad_token_id, self.mask_token_id = ids["pad"], ids["mask"]

    def _new_encoder(self, vocabulary: list[str]) -> WordPieceEncoder:
        """The WordPiece encoder of this tokenizer's settings and normalization."""
        return NORMALIZATIONS[self.normalization](
            vocabulary,
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            split=self.split,
            suffix_indicator=self.suffix_indicator,
            oov_token=self.oov_token,
            special_tokens=self.special_tokens,
            special_tokens_in_strings=self.special_tokens_in_strings,
        )

    @property
    def special_tokens(self) -> list[str]:
        tokens = list(self.special_token_names.values())
        return tokens + [t for t in (self.extra_special_tokens or []) if t not in tokens]

    def starts_word(self, token: str) -> bool:
        """WordPiece: every piece but a continuation (`suffix_indicator`, "##") begins a word."""
        return not token.startswith(self.suffix_indicator)

    def get_vocabulary(self) -> list[str]:
        return list(self._encoder.vocabulary)

    # --- whole words (vocabulary extension) ---------------------------------------

    def text_words(self, text: str) -> list[str]:
        """The words of `text` as WordPiece looks them up: normalised (case, accents) and split at whitespace and
        punctuation, exactly as `tokenize` does."""
        return self._encoder.words(text)

    def word_piece_ids(self, words: Sequence[str]) -> list[list[int]]:
        """The token ids of each word (a normalised word, as `text_words` returns it)."""
        return self._encoder.word_piece_ids(words)

    def with_added_words(self, words: Sequence[str]) -> "BertTokenizer":
        """A copy of this tokenizer whose vocabulary ends with `words` as whole-word entries (ids from
        `vocabulary_size()` on), so WordPiece's greedy longest match reads each as one token.

        Each word must be one normalised word that is not in the vocabulary yet (ValueError otherwise). Text whose
        words do not begin with an added word keeps its ids; a longer word that does (an added "kubectl" in
        "kubectlx") now starts with the added token.
        """
        vocabulary = self.get_vocabulary()
        known = set(vocabulary)
        for word in words:
            if word in known:
                raise ValueError(f"{word!r} is already in the vocabulary (or given twice)")
            if self.text_words(word) != [word]:
                raise ValueError(f"{word!r} is not one normalised word of this tokenizer")
            known.add(word)
        config = {**self.get_config(), **self.extension_config(), "vocabulary": vocabulary + list(words)}
        return type(self)(**config)

    def _padding_id(self) -> int:
        """keras_hub's WordPiece tokenizer pads with id 0, whichever token that is."""
        return 0

    # --- config and assets ----------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary": None,
            "sequence_length": self.sequence_length,
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "split": self.split,
            "suffix_indicator": self.suffix_indicator,
            "oov_token": self.oov_token,
            "special_tokens": self.extra_special_tokens,
            "special_tokens_in_strings": self.special_tokens_in_strings,
        }

    def save_assets(self, directory: str | os.PathLike) -> None:
        """Write the vocabulary file into `directory` (a preset's assets/tokenizer/)."""
        with open(Path(directory) / VOCABULARY_FILE, "w", encoding="utf-8", newline="\n") as f:
            for token in self._encoder.vocabulary:
                f.write(token + "\n")

    def load_assets(self, directory: str | os.PathLike) -> None:
        """Read the vocabulary from `directory` (a preset's assets/tokenizer/)."""
        self.set_vocabulary(Path(directory) / VOCABULARY_FILE)
