"""Build the model a command works on: a preset (any handle) or a from-scratch preset."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from mlm_cli.errors import BadInputError

log = logging.getLogger("mlm")


@dataclass(frozen=True)
class MaskingOptions:
    rate: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1

    def selection_length(self, sequence_length: int) -> int:
        """Room for the masked positions: the expected count plus a safety margin, at most the sequence."""
        expected = self.rate * sequence_length
        return max(1, min(sequence_length, int(expected + 4 * expected**0.5 + 2)))


def is_scratch_preset(preset: str) -> bool:
    from mlm_cli.hub import builtin_presets

    info = builtin_presets().get(str(preset))
    return bool(info and info.scratch)


def load_masked_lm(preset: str, *, sequence_length: int | None = None, precision: str | None = None, **overrides):
    """A MaskedLM from a preset handle (built-in name, kaggle://, hf://, directory)."""
    from mlm_cli.hub import resolve
    from mlm_cli.models import MaskedLM

    path = resolve(preset)
    kwargs = dict(overrides)
    if sequence_length is not None:
        kwargs["sequence_length"] = sequence_length
    if precision is not None:
        kwargs["dtype"] = precision
    try:
        return MaskedLM.from_preset(path, **kwargs)
    except ValueError as error:
        if isinstance(error, BadInputError):
            raise
        raise BadInputError(f"invalid option for preset {preset}: {error}") from None


def build_scratch_masked_lm(
    preset: str,
    texts: Iterable[str],
    *,
    sequence_length: int,
    precision: str,
    masking: MaskingOptions,
    seed: int,
    vocabulary_size: int | None = None,
    dropout: float | None = None,
):
    """A freshly initialised model of a from-scratch preset, its WordPiece vocabulary trained on `texts`."""
    from mlm_cli.hub import builtin_presets
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer
    from mlm_cli.models.tokenizers.wordpiece_vocabulary_trainer import train_wordpiece_vocabulary

    config = dict(builtin_presets()[preset].config)
    size = int(vocabulary_size or config.pop("vocabulary_size", 30522))
    config.pop("vocabulary_size", None)
    lowercase = bool(config.pop("lowercase", True))
    if dropout is not None:
        config["dropout"] = dropout
    if sequence_length > config["max_sequence_length"]:
        raise BadInputError(
            f"sequence length {sequence_length} exceeds {preset}'s maximum of {config['max_sequence_length']}",
            hint=f"use --sequence-length {config['max_sequence_length']} or less",
        )
    log.info("training a %d-token WordPiece vocabulary on the corpus", size)
    vocabulary = train_wordpiece_vocabulary(texts, size, lowercase=lowercase)
    tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=lowercase)
    preprocessor = BertMaskedLMPreprocessor(
        tokenizer,
        sequence_length=sequence_length,
        mask_selection_rate=masking.rate,
        mask_selection_length=masking.selection_length(sequence_length),
        mask_token_rate=masking.mask_token_rate,
        random_token_rate=masking.random_token_rate,
        seed=seed,
    )
    backbone = BertBackbone(vocabulary_size=len(vocabulary), dtype=precision, **config)
    return BertMaskedLM(backbone, preprocessor=preprocessor)
