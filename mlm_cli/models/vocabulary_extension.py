"""Grow a masked LM's vocabulary by whole words: the tokenizer, the embedding table and the head's rows.

Each new token's rows start as the mean of the rows of the pieces it replaces, in every
variable with a vocabulary axis: the token embedding (which tied heads also project with),
an untied decoder's kernel and the head's output bias. With a tied head the new token's
logit is then the mean of its pieces' logits (h . mean(e) = mean(h . e), and the bias the
mean of theirs): the model starts by scoring the word as it scored its pieces on average,
neither favouring nor starving it before training sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

WORDPIECE_FAMILIES = ("bert", "distil_bert", "roformer_v2")  # families whose tokenizer can add whole words
SENTENCEPIECE_FAMILIES = ("albert", "deberta_v3", "f_net")  # ...and those that can with a unigram SentencePiece model
BYTE_PAIR_FAMILIES = ("roberta",)  # ...and with byte-level BPE (merge chains, intermediate tokens included)


def check_extendable(masked_lm) -> None:
    """ValueError, naming the family and what works, unless `masked_lm`'s tokenizer can add whole words."""
    from mlm_cli.models.preset.registry import family_of_class

    tokenizer = masked_lm.preprocessor.tokenizer if masked_lm.preprocessor is not None else None
    if tokenizer is not None and tokenizer.adds_whole_words:
        return
    family = family_of_class(type(masked_lm))
    name = family.name if family is not None else type(masked_lm).__name__
    raise ValueError(f"{name} models cannot add whole words to their vocabulary yet; this works for the WordPiece "
                     f"families: {', '.join(WORDPIECE_FAMILIES)}, and the SentencePiece families with a unigram "
                     f"model: {', '.join(SENTENCEPIECE_FAMILIES)}, and the byte-level BPE family: "
                     f"{', '.join(BYTE_PAIR_FAMILIES)}")


def extend_vocabulary(masked_lm, words: Sequence[str]):
    """A copy of `masked_lm` whose vocabulary ends with `words` (normalised whole words, as the tokenizer's
    `text_words` gives them), each new row the mean of the rows of the pieces it replaces. Byte-level BPE also
    appends the intermediate tokens its merge chains pass through, initialised the same way (`new_token_pieces`).

    The tokenizer, the preprocessor (same settings, masking over the larger vocabulary), the backbone and the head are
    new objects; `masked_lm` is left as it was. Text without the new words keeps its token ids and logits (byte-level
    BPE: text whose pieces hold none of the appended merge pairs side by side).
    """
    check_extendable(masked_lm)
    if not words:
        return masked_lm
    preprocessor = masked_lm.preprocessor
    tokenizer = preprocessor.tokenizer
    pieces = tokenizer.new_token_pieces(list(words))
    extended_tokenizer = tokenizer.with_added_words(words)
    first_new_id = tokenizer.vocabulary_size()
    if extended_tokenizer.vocabulary_size() != first_new_id + len(pieces):
        raise ValueError("the tokenizer appended other tokens than it reported")
    old_rows = masked_lm.backbone.vocabulary_size
    new_rows = max(old_rows, extended_tokenizer.vocabulary_size())

    extended_preprocessor = type(preprocessor)(**{**preprocessor.get_config(), "tokenizer": extended_tokenizer,
                                                  "seed": preprocessor.seed})
    backbone = masked_lm.backbone
    backbone_config = {**backbone.get_config(), **backbone.extension_config(), "vocabulary_size": new_rows}
    extended_backbone = type(backbone).from_config(backbone_config)
    extended_backbone.enable_gradient_checkpointing(backbone.gradient_checkpointing)
    extended = type(masked_lm)(extended_backbone, preprocessor=extended_preprocessor, name=masked_lm.name)
    for old, new in zip(_all_variables(masked_lm), _all_variables(extended), strict=True):
        new.assign(_grown(_as_float_array(old), tuple(new.shape), old_rows, new_rows, first_new_id, pieces)
                   if tuple(old.shape) != tuple(new.shape) else old.value)
    return extended


def _all_variables(masked_lm) -> list:
    """Every variable of the task, backbone first, in creation order (the order two same-shaped tasks share)."""
    return list(masked_lm.backbone.variables) + list(masked_lm.masked_lm_head.variables)


def _as_float_array(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.ops.cast(variable.value, "float32"))


def _grown(values: np.ndarray, shape: tuple[int, ...], old_rows: int, new_rows: int, first_new_id: int,
           pieces: Sequence[Sequence[int]]) -> np.ndarray:
    """`values` with its vocabulary axis grown from `old_rows` to `new_rows`; row `first_new_id + i` is the mean of
    the rows `pieces[i]` (rows past the old ones that no new word takes are zero)."""
    axes = [axis for axis, (old, new) in enumerate(zip(values.shape, shape)) if old != new]
    if len(values.shape) != len(shape) or len(axes) != 1 or values.shape[axes[0]] != old_rows or \
            shape[axes[0]] != new_rows:
        raise ValueError(f"a variable of shape {values.shape} cannot grow to {shape} with the vocabulary")
    rows = np.moveaxis(values, axes[0], 0)
    grown = np.zeros((new_rows, *rows.shape[1:]), dtype=rows.dtype)
    grown[:old_rows] = rows
    for offset, ids in enumerate(pieces):
        grown[first_new_id + offset] = rows[list(ids)].mean(axis=0)
    return np.moveaxis(grown, 0, axes[0])
