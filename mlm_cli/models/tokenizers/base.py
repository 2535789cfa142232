"""What every mlm tokenizer shares: keras_hub's tokenize / detokenize / config protocol, without keras.

A subclass provides `encoder` (with `encode_batch(texts)`: a list of int32 id arrays, and
`encode_batch_flat(texts)` for the training pipeline), `special_tokens`, `pad_token_id`,
and, unless its encoder has `decode(ids)`, a `_decode(ids)` that turns one row of ids
into text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from numbers import Integral
from typing import Any, Self

import numpy as np

from mlm_cli.models.preset.catalog import PresetCatalog

KERAS_HUB_NORMALIZATION = "keras_hub"
NORMALIZATIONS = (KERAS_HUB_NORMALIZATION, "transformers")


def as_text(value: Any) -> str:
    """A tokenizer input as `str`: bytes are decoded as UTF-8, anything else but text is refused."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if not isinstance(value, str):
        raise TypeError(f"tokenizer inputs must be strings, got {type(value).__name__}")
    return value


def check_normalization(normalization: str, allowed: Iterable[str] = NORMALIZATIONS) -> str:
    """`normalization` itself when it is one of `allowed`; ValueError otherwise."""
    allowed = tuple(allowed)
    if normalization not in allowed:
        raise ValueError(f"normalization must be one of {', '.join(allowed)}, got {normalization!r}")
    return normalization


class Tokenizer:
    """Text -> int32 token ids and back, with keras_hub's config keys (see the module docstring).

    `tokenize` / `__call__` map a string to an int32 array and a list of strings to a
    list of arrays (or one [B, sequence_length] array when `sequence_length` is set).

    `detokenize` maps ids back to text (one row to a string, a 2-D array to a list);
    `vocabulary_size()`, `token_to_id` and `id_to_token` look up the vocabulary, and
    `special_token_ids` are the ids masking never selects. Every family's tokenizer
    (`BertTokenizer`, `RobertaTokenizer`, ...) subclasses this class: build those, with
    their vocabulary arguments. Tokenizers never import Keras.

    Args:
        name: the layer name keras_hub's config records (families default to theirs,
            e.g. "bert_tokenizer").
        config_file: the preset file the config is written to. Default in families:
            "tokenizer.json".
        sequence_length: None (families' default) for one variable-length array per
            string; a positive integer to truncate every result to that length and pad it
            (with the pad token's id; 0 for WordPiece tokenizers, as in keras_hub).
        **kwargs: only `trainable` and `dtype` (keys of keras_hub's config), which are
            ignored; anything else is a ValueError.

    Examples:

    The protocol, on BERT's WordPiece tokenizer:

    >>> from mlm_cli.models import BertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=True)
    >>> tokenizer("The quick fox jumps.").tolist()
    [5, 6, 8, 9, 19]
    >>> [ids.tolist() for ids in tokenizer(["the dogs", "a cat"])]
    [[5, 12, 18], [13, 14]]
    >>> tokenizer.detokenize([5, 6, 8])
    'the quick fox'
    >>> tokenizer.vocabulary_size(), tokenizer.token_to_id("fox"), tokenizer.id_to_token(8)
    (20, 8, 'fox')

    With `sequence_length`, a batch becomes one padded array:

    >>> padded = BertTokenizer(vocabulary=vocabulary, lowercase=True, sequence_length=4)
    >>> padded(["the dogs", "the quick brown fox jumps"]).tolist()
    [[5, 12, 18, 0], [5, 6, 7, 8]]

    Presets: `save_to_preset` writes tokenizer.json and the vocabulary files (assets/tokenizer/), as
    keras_hub does; `from_preset` reads them back (on `Tokenizer`, any family's):

    >>> from mlm_cli.models import Tokenizer
    >>> tokenizer.save_to_preset("my_tokenizer")
    >>> restored = Tokenizer.from_preset("my_tokenizer", sequence_length=4)
    >>> type(restored).__name__, restored("the dogs").tolist()
    ('BertTokenizer', [5, 12, 18, 0])
    """

    presets = PresetCatalog()
    config_file_default = "tokenizer.json"
    asset_files: tuple[str, ...] = ()
    # How text becomes tokens: "keras_hub", or a family's way that reproduces transformers' ids.
    normalization = KERAS_HUB_NORMALIZATION
    # What the "no vocabulary yet" error asks the user to pass.
    vocabulary_arguments = "`vocabulary=`"
    encoder: Any = None
    pad_token_id: int | None = None
    # Whether whole words can be appended to the vocabulary (`text_words`, `word_piece_ids`, `addable_words`,
    # `new_token_pieces`, `with_added_words`).
    adds_whole_words = False

    def __init__(self, name: str, config_file: str, sequence_length: int | None, **kwargs: Any) -> None:
        unknown = set(kwargs) - {"trainable", "dtype"}
        if unknown:
            raise ValueError(f"unknown tokenizer options: {', '.join(sorted(unknown))}")
        if sequence_length is not None and (isinstance(sequence_length, bool) or not isinstance(sequence_length,
            Integral) or sequence_length < 1):
            raise ValueError(f"sequence_length must be a positive integer or None, got {sequence_length!r}")
        self.name = name
        self.config_file = config_file
        self.sequence_length = None if sequence_length is None else int(sequence_length)

    @property
    def _encoder(self) -> Any:
        if self.encoder is None:
            raise ValueError(
                f"this tokenizer has no vocabulary yet: pass {self.vocabulary_arguments} or load it from a preset")
        return self.encoder

    # --- vocabulary (delegated to the encoder unless a subclass knows better) -----

    @property
    def special_token_ids(self) -> list[int]:
        """Ids that masking never selects: the family's special tokens."""
        return [self.token_to_id(token) for token in self.special_tokens]

    def vocabulary_size(self) -> int:
        return self._encoder.vocabulary_size()

    def token_to_id(self, token: str) -> int:
        return self._encoder.token_to_id(token)

    def id_to_token(self, token_id: int) -> str:
        return self._encoder.id_to_token(token_id)

    def starts_word(self, token: str) -> bool:
        """Whether `token` begins a word (whole-word masking keeps a word's tokens together)."""
        raise NotImplementedError(f"{type(self).__name__} does not say where words start")

    def word_starts(self) -> np.ndarray:
        """bool [vocabulary size], read-only: which ids begin a word (see `starts_word`).

        Worked out once per vocabulary (a Python pass over 30k-250k tokens), then shared by
        every stream and evaluation that masks or scores whole words.
        """
        cached = getattr(self, "_word_starts_table", None)
        if cached is None or len(cached) != self.vocabulary_size():
            cached = np.fromiter((self.starts_word(token) for token in self.get_vocabulary()), dtype=bool,
                                 count=self.vocabulary_size())
            cached.setflags(write=False)
            self._word_starts_table = cached
        return cached

    # --- tokenizing -------------------------------------------------------------

    def tokenize(self, inputs: Any) -> Any:
        """A string -> int32 ids; a list of strings -> list of id arrays (or a padded 2-D array)."""
        if isinstance(inputs, (str, bytes)):
            ids = self._encoder.encode_batch([as_text(inputs)])[0]
            return self._fit_length(ids) if self.sequence_length else ids
        texts = [as_text(text) for text in np.asarray(inputs, dtype=object).reshape(-1).tolist()]
        encoded = self._encoder.encode_batch(texts)
        if self.sequence_length:
            if not encoded:
                return np.zeros((0, self.sequence_length), np.int32)
            return np.stack([self._fit_length(ids) for ids in encoded])
        return encoded

    __call__ = tokenize

    def _padding_id(self) -> int:
        """The id that fills a row up to `sequence_length`: the pad token's (0 without one)."""
        return self.pad_token_id or 0

    def _fit_length(self, ids: np.ndarray) -> np.ndarray:
        out = np.full(self.sequence_length, self._padding_id(), dtype=np.int32)
        ids = ids[: self.sequence_length]
        out[: len(ids)] = ids
        return out

    def detokenize(self, ids: Any) -> str | list[str]:
        """Ids -> text: one row gives a string, a 2-D array a list of strings."""
        array = np.asarray(ids)
        if array.ndim <= 1:
            return self._decode(array.reshape(-1))
        return [self._decode(row) for row in array]

    def _decode(self, ids: np.ndarray) -> str:
        return self._encoder.decode(ids)

    def addable_words(self, words: list[str]) -> list[bool]:
        """Whether `with_added_words` can take each of `words` (normalised words of `text_words`); True for all where
        the tokenizer sets no further condition."""
        return [True] * len(words)

    def new_token_pieces(self, words: list[str]) -> list[list[int]]:
        """For each token `with_added_words(words)` appends, in id order, the ids of the pieces it replaces: each
        word's own pieces where the words are the new tokens (byte-level BPE adds intermediate tokens as well)."""
        return self.word_piece_ids(words)

    # --- config -----------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The keys every keras_hub tokenizer config has; subclasses add their own."""
        return {"name": self.name, "trainable": True, "dtype": "int32", "config_file": self.config_file}

    def extension_config(self) -> dict[str, Any]:
        """Settings keras_hub's tokenizer config cannot hold (stored in the preset's metadata.json)."""
        return {} if self.normalization == KERAS_HUB_NORMALIZATION else {"normalization": self.normalization}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        return cls(**config)

    # --- presets ----------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, config_file: str = "tokenizer.json", **kwargs: Any) -> Self:
        """The tokenizer of a preset (a directory, a built-in name, a kaggle:// or hf:// handle): its config
        (`config_file`) and vocabulary files (assets/tokenizer/). On `Tokenizer` the preset picks the family; on a
        family's class a preset of another family is a PresetError. kwargs override config values
        (`sequence_length`, ...), never the vocabulary.
        """
        from mlm_cli.models.preset.loader import load_tokenizer_preset

        return load_tokenizer_preset(preset, cls, config_file, **kwargs)

    def save_to_preset(self, preset_dir: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Write the config (`config_file`, tokenizer.json) and the vocabulary files (assets/tokenizer/) into
        `preset_dir`, as keras_hub does, atomically.

        A directory holding a preset of the same family (its backbone, say) gains these files; files it already
        has, or a non-empty directory that is not a preset, are replaced or written into only with `overwrite=True`.
        """
        from mlm_cli.models.preset.saver import save_tokenizer

        save_tokenizer(self, preset_dir, overwrite=overwrite)
