"""Raw text -> masked-LM batches: tokenize, pack [CLS] ... [SEP], mask. Numpy only."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlm_cli.data.masking import MaskGenerator, validate_masking_rates
from mlm_cli.data.segments import TRUNCATION_STRATEGIES, pack_segments
from mlm_cli.models.naming import snake_case
from mlm_cli.models.preset.catalog import PresetCatalog


class MaskedLMPreprocessor:
    """Turns strings (or tuples of string segments) into `(x, y, sample_weight)`.

    x: `token_ids`, `segment_ids`, `padding_mask`, `mask_positions`; y: `mask_ids`;
    sample_weight: `mask_weights` — keras_hub's keys and dtypes. Masking draws from
    a seeded generator, so a fixed `seed` gives reproducible batches.

    Each input is tokenized, packed as `[CLS] A [SEP] B [SEP] ...` (the family's start and
    end tokens), truncated or padded to `sequence_length`, then masked: every token except
    the tokenizer's `special_token_ids` (which include padding) is selected with
    probability `mask_selection_rate`, keeping at most `mask_selection_length` per row (a
    random subset). A selected token becomes the mask token with probability
    `mask_token_rate`, a random token with probability `random_token_rate`, and stays as
    it was otherwise. Shapes: `token_ids`, `segment_ids` int32 and
    `padding_mask` bool [B, sequence_length]; `mask_positions` and `mask_ids` int32 and
    `mask_weights` float32 [B, mask_selection_length] (1 for a real selection, 0 for
    padding). A single string gives unbatched arrays. Numpy only: no Keras import.

    Each family subclasses this class with its tokenizer (`tokenizer_cls`); some drop keys
    their backbone has no input for (see theirs).

    Args:
        tokenizer: the family's tokenizer, with its vocabulary loaded.
        sequence_length: the length of every packed row, special tokens included; an
            integer >= 3. Default 512.
        truncate: how segments that do not fit share the room: "round_robin" (the default:
            one token from each segment in turn) or "waterfall" (the first segment first).
        mask_selection_rate: the probability that a token is selected for prediction, in
            [0, 1]. Default 0.15.
        mask_selection_length: the most positions selected per row (>= 1), and the width of
            `mask_positions`, `mask_ids` and `mask_weights`. Default 96.
        mask_token_rate: the probability that a selected token is replaced by the mask
            token. Default 0.8.
        random_token_rate: the probability that a selected token is replaced by a uniformly
            random token. Default 0.1. Both rates must be >= 0 with a sum of at most 1.
        seed: the seed of the masking generator (an int), or None (the default) for fresh
            randomness.
        name: default the class name in snake case (`bert_masked_lm_preprocessor`, ...).
        config_file: the preset file the config is written to. Default "preprocessor.json".
        **kwargs: only `trainable` and `dtype` (keys of keras_hub's config), which are
            ignored; anything else is a ValueError.

    Examples:

    >>> from mlm_cli.models import BertMaskedLMPreprocessor, BertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=True)
    >>> preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=10, mask_selection_length=3, seed=0)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> sorted(x)
    ['mask_positions', 'padding_mask', 'segment_ids', 'token_ids']
    >>> x["token_ids"].shape, x["mask_positions"].shape, y.shape, sample_weight.shape
    ((2, 10), (2, 3), (2, 3), (2, 3))
    >>> x["padding_mask"][0].tolist()  # [CLS] the quick brown fox . [SEP], then padding
    [True, True, True, True, True, True, True, False, False, False]

    Sentence pairs: a tuple with one list of strings per segment.

    >>> x, y, sample_weight = preprocessor((["the quick fox"], ["a lazy dog"]))
    >>> x["segment_ids"].tolist()
    [[0, 0, 0, 0, 0, 1, 1, 1, 1, 0]]

    Everything selected and always replaced by [MASK] (id 4); padding is never selected:

    >>> everything = BertMaskedLMPreprocessor(tokenizer, sequence_length=6, mask_selection_rate=1.0,
    ...                                       mask_token_rate=1.0, random_token_rate=0.0, mask_selection_length=4)
    >>> x, y, sample_weight = everything("the lazy dog")
    >>> x["token_ids"].tolist(), x["mask_positions"].tolist(), y.tolist(), sample_weight.tolist()
    ([2, 4, 4, 4, 3, 0], [1, 2, 3, 0], [5, 11, 12, 0], [1.0, 1.0, 1.0, 0.0])

    Presets: `save_to_preset` writes preprocessor.json and the tokenizer's files, as keras_hub does;
    `from_preset` reads them back (on `MaskedLMPreprocessor`, any family's):

    >>> from mlm_cli.models import MaskedLMPreprocessor
    >>> preprocessor.save_to_preset("my_preprocessor")
    >>> restored = MaskedLMPreprocessor.from_preset("my_preprocessor", seed=0)
    >>> type(restored).__name__, restored.sequence_length, restored.mask_selection_length
    ('BertMaskedLMPreprocessor', 10, 3)
    """

    presets = PresetCatalog()

    tokenizer_cls: type | None = None
    config_file_default = "preprocessor.json"

    def __init__(
        self,
        tokenizer,
        sequence_length: int = 512,
        truncate: str = "round_robin",
        mask_selection_rate: float = 0.15,
        mask_selection_length: int = 96,
        mask_token_rate: float = 0.8,
        random_token_rate: float = 0.1,
        seed: int | None = None,
        name: str | None = None,
        config_file: str = "preprocessor.json",
        **kwargs,
    ):
        unknown = set(kwargs) - {"trainable", "dtype"}
        if unknown:
            raise ValueError(f"unknown preprocessor options: {', '.join(sorted(unknown))}")
        if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 3:
            raise ValueError(f"sequence_length must be an integer >= 3, got {sequence_length!r}")
        if truncate not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncate must be one of {TRUNCATION_STRATEGIES}, got {truncate!r}")
        validate_masking_rates(mask_selection_rate, mask_selection_length, mask_token_rate, random_token_rate)
        self.tokenizer = tokenizer
        self.name = name or self.default_name()
        self.config_file = config_file
        self.sequence_length = sequence_length
        self.truncate = truncate
        self.mask_selection_rate = float(mask_selection_rate)
        self.mask_selection_length = int(mask_selection_length)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.seed = seed
        self._masker: MaskGenerator | None = None

    @classmethod
    def default_name(cls) -> str:
        return snake_case(cls.__name__)

    @property
    def masker(self) -> MaskGenerator:
        """The mask generator, created on first use (the tokenizer may get its vocabulary late)."""
        if self._masker is None:
            self._masker = MaskGenerator(
                vocabulary_size=self.tokenizer.vocabulary_size(),
                mask_token_id=self.tokenizer.mask_token_id,
                unselectable_token_ids=self.tokenizer.special_token_ids,
                selection_rate=self.mask_selection_rate,
                selection_length=self.mask_selection_length,
                mask_token_rate=self.mask_token_rate,
                random_token_rate=self.random_token_rate,
                seed=self.seed,
            )
        return self._masker

    def pack(self, x) -> tuple[dict[str, np.ndarray], bool]:
        """Tokenize and pack without masking; returns (features, was_batched)."""
        segments, batched = _as_segments(x)
        tokenized = [self.tokenizer.tokenize(seg) for seg in segments]
        token_ids, segment_ids, padding_mask = pack_segments(
            tokenized,
            self.sequence_length,
            start_id=self.tokenizer.cls_token_id,
            end_id=self.tokenizer.sep_token_id,
            pad_id=self.tokenizer.pad_token_id,
            truncate=self.truncate,
        )
        return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}, batched

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Apply dynamic masking to packed features; returns (x, mask_ids, mask_weights)."""
        masked = self.masker(features["token_ids"])
        x = {
            "token_ids": masked.token_ids,
            "segment_ids": features["segment_ids"],
            "padding_mask": features["padding_mask"],
            "mask_positions": masked.mask_positions,
        }
        return x, masked.mask_ids, masked.mask_weights

    def __call__(self, x, y=None, sample_weight=None):
        """Strings -> (x, mask_ids, mask_weights); one string gives unbatched arrays."""
        features, batched = self.pack(x)
        x, mask_ids, mask_weights = self.mask(features)
        if not batched:
            x = {k: v[0] for k, v in x.items()}
            mask_ids, mask_weights = mask_ids[0], mask_weights[0]
        return x, mask_ids, mask_weights

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": True,
            "dtype": "float32",
            "config_file": self.config_file,
            "sequence_length": self.sequence_length,
            "truncate": self.truncate,
            "mask_selection_rate": self.mask_selection_rate,
            "mask_selection_length": self.mask_selection_length,
            "mask_token_rate": self.mask_token_rate,
            "random_token_rate": self.random_token_rate,
        }

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, config_file: str = "preprocessor.json",
                    **kwargs: Any) -> "MaskedLMPreprocessor":
        """The preprocessor of a preset (a directory, a built-in name, a kaggle:// or hf:// handle) with its tokenizer.

        Reads its config (`config_file`; keras_hub's defaults when the preset has none, or one of another task) and
        the tokenizer (tokenizer.json and assets/tokenizer/). On `MaskedLMPreprocessor` the preset picks the family;
        on a family's class a preset of another family is a PresetError. kwargs override `sequence_length`,
        `truncate`, the masking rates, `mask_selection_length` and `seed`.
        """
        from mlm_cli.models.preset.loader import load_preprocessor

        return load_preprocessor(preset, cls, config_file, **kwargs)

    def save_to_preset(self, preset_dir: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Write preprocessor.json (`config_file`) and the tokenizer's files into `preset_dir`, as keras_hub does,
        atomically.

        A directory holding a preset of the same family (its backbone, say) gains these files; files it already
        has, or a non-empty directory that is not a preset, are replaced or written into only with `overwrite=True`.
        """
        from mlm_cli.models.preset.saver import save_preprocessor

        save_preprocessor(self, preset_dir, overwrite=overwrite)


def _as_segments(x) -> tuple[list[list[str]], bool]:
    """Normalise inputs to a list of segments, each a list of strings, plus whether they were batched."""
    if isinstance(x, (str, bytes)):
        return [[x]], False
    if isinstance(x, tuple):
        parts = [_as_segments(part) for part in x]
        batched = parts[0][1]
        segments = [p[0][0] for p in parts]
        if len({len(s) for s in segments}) != 1:
            raise ValueError("all segments in a tuple must have the same number of examples")
        return segments, batched
    array = np.asarray(x, dtype=object)
    if array.ndim == 0:
        return [[array.item()]], False
    return [array.reshape(-1).tolist()], True
