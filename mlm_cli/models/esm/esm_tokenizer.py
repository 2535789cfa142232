"""ESM's tokenizer, configured like keras_hub's ESMTokenizer (no keras needed).

keras_hub's ESMTokenizer is a WordPiece tokenizer over ESM's per-residue vocabulary
(<cls>, <pad>, <eos>, <unk>, the amino-acid letters, <mask>, ...). Like keras_hub it
splits text into words at whitespace and punctuation, so residues must be separated by
spaces ("M K T A"); an unspaced sequence ("MKTA") is one word with no WordPiece match and
becomes a single <unk>. Checkpoints converted from transformers use transformers'
EsmTokenizer splitting instead (`normalization="transformers"`), which reads one id per
residue from unspaced sequences.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlm_cli.data.wordpiece import WordPieceEncoder, read_vocabulary
from mlm_cli.models.esm.esm_residue_encoder import ResidueEncoder
from mlm_cli.models.preset.catalog import PresetCatalog

VOCABULARY_FILE = "vocabulary.txt"
ESM_SPECIAL_TOKENS = {"cls": "<cls>", "sep": "<eos>", "pad": "<pad>", "mask": "<mask>"}
NORMALIZATIONS = ("keras_hub", "transformers")
# transformers' EsmTokenizer has none of WordPiece's options: its mode needs these values.
TRANSFORMERS_SETTINGS = {"lowercase": False, "strip_accents": False, "split": True, "special_tokens_in_strings": True}


class ESMTokenizer:
    """ESM's per-residue vocabulary with its special tokens (<cls>, <eos>, <pad>, <mask>).

    `vocabulary` is a list of tokens or the path of a one-token-a-line file; `tokenize` /
    `__call__` map a string to an int32 array and a list of strings to a list of arrays
    (or one [B, sequence_length] array when `sequence_length` is set); token ids equal
    keras_hub's (or transformers' with `normalization="transformers"`).
    """

    presets = PresetCatalog()

    config_file_default = "tokenizer.json"
    asset_files = (VOCABULARY_FILE,)

    def __init__(
        self,
        vocabulary: Sequence[str] | str | os.PathLike | None = None,
        lowercase: bool = False,
        strip_accents: bool = False,
        split: bool = True,
        suffix_indicator: str = "##",
        oov_token: str = "<unk>",
        special_tokens: Sequence[str] | None = None,
        special_tokens_in_strings: bool = False,
        sequence_length: int | None = None,
        name: str = "esm_tokenizer",
        config_file: str = "tokenizer.json",
        normalization: str = "keras_hub",
        **kwargs,
    ):
        unknown = set(kwargs) - {"trainable", "dtype"}
        if unknown:
            raise ValueError(f"unknown tokenizer options: {', '.join(sorted(unknown))}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
        if sequence_length is not None and (isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1):
            raise ValueError(f"sequence_length must be a positive integer or null, got {sequence_length!r}")
        self.name = name
        self.config_file = config_file
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.split = bool(split)
        self.suffix_indicator = suffix_indicator
        self.oov_token = oov_token
        self.extra_special_tokens = list(special_tokens) if special_tokens else None
        self.special_tokens_in_strings = bool(special_tokens_in_strings)
        self.sequence_length = sequence_length
        self.normalization = normalization
        if normalization == "transformers":
            different = [key for key, value in TRANSFORMERS_SETTINGS.items() if getattr(self, key) != value]
            if different:
                raise ValueError(f"transformers' ESM tokenization needs {', '.join(f'{k}={TRANSFORMERS_SETTINGS[k]}' for k in different)}")
        self.encoder: WordPieceEncoder | ResidueEncoder | None = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # --- vocabulary ---------------------------------------------------------

    def set_vocabulary(self, vocabulary: Sequence[str] | str | os.PathLike) -> None:
        """Use `vocabulary` (tokens, or a file path); ESM's special tokens must be in it."""
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = read_vocabulary(vocabulary)
        vocabulary = list(vocabulary)
        if not all(isinstance(token, str) for token in vocabulary):
            raise TypeError("the vocabulary must be a list of strings")
        missing = [t for t in self.special_tokens if t not in set(vocabulary)]
        if missing:
            raise ValueError(f"the vocabulary lacks ESM's special tokens {missing}")
        if self.normalization == "transformers":
            self.encoder = ResidueEncoder(vocabulary, oov_token=self.oov_token)
        else:
            self.encoder = WordPieceEncoder(
                vocabulary,
                lowercase=self.lowercase,
                strip_accents=self.strip_accents,
                split=self.split,
                suffix_indicator=self.suffix_indicator,
                oov_token=self.oov_token,
                special_tokens=self.special_tokens,
                special_tokens_in_strings=self.special_tokens_in_strings,
            )
        ids = {key: self.encoder.token_to_id(token) for key, token in ESM_SPECIAL_TOKENS.items()}
        self.cls_token_id, self.sep_token_id = ids["cls"], ids["sep"]
        self.pad_token_id, self.mask_token_id = ids["pad"], ids["mask"]

    @property
    def special_tokens(self) -> list[str]:
        tokens = list(ESM_SPECIAL_TOKENS.values())
        return tokens + [t for t in (self.extra_special_tokens or []) if t not in tokens]

    @property
    def special_token_ids(self) -> list[int]:
        """Ids that masking never selects: <cls>, <eos>, <pad>, <mask> and any extra special tokens."""
        return [self._encoder.token_to_id(t) for t in self.special_tokens]

    @property
    def _encoder(self) -> WordPieceEncoder | ResidueEncoder:
        if self.encoder is None:
            raise ValueError("this tokenizer has no vocabulary yet: pass `vocabulary=` or load it from a preset")
        return self.encoder

    def vocabulary_size(self) -> int:
        return self._encoder.vocabulary_size()

    def get_vocabulary(self) -> list[str]:
        return list(self._encoder.vocabulary)

    def token_to_id(self, token: str) -> int:
        return self._encoder.token_to_id(token)

    def id_to_token(self, token_id: int) -> str:
        return self._encoder.id_to_token(token_id)

    # --- tokenizing ---------------------------------------------------------

    def tokenize(self, inputs):
        """A string -> int32 ids; a list of strings -> list of id arrays (or a padded 2-D array)."""
        if isinstance(inputs, (str, bytes)):
            ids = self._encoder.encode(_as_text(inputs))
            return self._fit_length(ids) if self.sequence_length else ids
        texts = [_as_text(t) for t in np.asarray(inputs, dtype=object).reshape(-1).tolist()]
        encoded = self._encoder.encode_batch(texts)
        if self.sequence_length:
            return np.stack([self._fit_length(ids) for ids in encoded]) if encoded else np.zeros((0, self.sequence_length), np.int32)
        return encoded

    __call__ = tokenize

    def _fit_length(self, ids: np.ndarray) -> np.ndarray:
        out = np.zeros(self.sequence_length, dtype=np.int32)
        ids = ids[: self.sequence_length]
        out[: len(ids)] = ids
        return out

    def detokenize(self, ids):
        """Ids -> text: tokens joined by spaces."""
        array = np.asarray(ids)
        if array.ndim <= 1:
            return self._encoder.decode(array.reshape(-1))
        return [self._encoder.decode(row) for row in array]

    # --- config and assets ----------------------------------------------------

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": True,
            "dtype": "int32",
            "config_file": self.config_file,
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

    def extension_config(self) -> dict:
        """Settings keras_hub's tokenizer config cannot hold (stored in the preset's metadata.json)."""
        return {} if self.normalization == "keras_hub" else {"normalization": self.normalization}

    @classmethod
    def from_config(cls, config: dict) -> "ESMTokenizer":
        return cls(**config)

    def save_assets(self, directory: str | os.PathLike) -> None:
        """Write the vocabulary file into `directory` (a preset's assets/tokenizer/)."""
        with open(Path(directory) / VOCABULARY_FILE, "w", encoding="utf-8", newline="\n") as f:
            for token in self._encoder.vocabulary:
                f.write(token + "\n")

    def load_assets(self, directory: str | os.PathLike) -> None:
        """Read the vocabulary from `directory` (a preset's assets/tokenizer/)."""
        self.set_vocabulary(Path(directory) / VOCABULARY_FILE)


def _as_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if not isinstance(value, str):
        raise TypeError(f"tokenizer inputs must be strings, got {type(value).__name__}")
    return value
