"""`mlm predict`: fill-mask predictions (top-k tokens and probabilities at each masked position)."""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.errors import BadInputError, one_line

log = logging.getLogger("mlm")

GENERIC_MASK = "[MASK]"  # accepted for every family, besides the model's own mask token
ROWS_PER_CALL = 32  # sentences per forward pass


@dataclass
class PredictOptions:
    preset: str
    sentences: list[str] = field(default_factory=list)
    file: str | None = None  # one sentence a line (blank lines skipped); "-" reads stdin
    top_k: int = 5
    sequence_length: int | None = None
    precision: str | None = "float32"


@dataclass
class MaskedSentence:
    """A sentence as token ids (no special tokens) and the indices of its masks among them."""

    text: str
    ids: np.ndarray
    masks: list[int]
    truncated: bool


def predict(options: PredictOptions) -> list[dict[str, Any]]:
    """Fill-mask predictions for the sentences of `options` (arguments first, then the file's lines)."""
    import keras

    from mlm_cli.hub import resolve
    from mlm_cli.workflows.model_setup import is_scratch_preset, load_masked_lm
    from mlm_cli.workflows.precision import resolve_precision

    check_top_k(options.top_k)
    sentences = list(options.sentences) + (read_sentences(options.file) if options.file is not None else [])
    if not sentences:
        raise BadInputError("no sentences given",
                            hint='pass sentences such as "The capital of France is [MASK]." or --file FILE')
    if is_scratch_preset(options.preset):
        raise BadInputError(f"{options.preset} is a from-scratch preset without weights",
                            hint="predict with a trained model (the --output of mlm train)")
    resolve(options.preset)
    precision = resolve_precision(options.precision, keras.backend.backend())
    model = load_masked_lm(options.preset, sequence_length=options.sequence_length, precision=precision)
    return fill_mask(model, sentences, options.top_k)


def check_top_k(top_k: int) -> None:
    if top_k < 1:
        raise BadInputError(f"--top-k must be at least 1, got {top_k}")


def read_sentences(path: str) -> list[str]:
    """Non-blank lines of a UTF-8 file (or of stdin for "-"), without their line ends."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(f"sentence file {path} not found", hint="check the --file path") from None
    except IsADirectoryError:
        raise BadInputError(f"{path} is a directory",
                            hint="--file takes a text file with one sentence a line") from None
    except UnicodeDecodeError as error:
        raise BadInputError(f"{path} is not UTF-8 text (byte {error.start})", hint="save the file as UTF-8") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def fill_mask(model, sentences: list[str], top_k: int = 5) -> list[dict[str, Any]]:
    """Top-k predictions at every mask of every sentence (all masks of a sentence in one forward pass).

    A mask is the model's own mask token or the generic "[MASK]". Special tokens (mask,
    padding, start, end, ...) are never proposed; probabilities stay those of the whole
    vocabulary. Returns one dict per sentence: {"sentence", "filled" (best tokens substituted, detokenized), "masks":
    [{"position" (token index in the model's input, [CLS] being 0), "predictions":
    [{"token", "token_id", "probability"}, ...] best first]}].
    """
    check_top_k(top_k)
    tokenizer = model.preprocessor.tokenizer
    sequence_length = model.preprocessor.sequence_length
    parsed = encode_masked_sentences(tokenizer, sentences, sequence_length)
    log_probs = masked_log_probabilities(model, parsed, sequence_length)
    excluded = np.unique(np.asarray(tokenizer.special_token_ids, dtype=np.int64))
    k = min(top_k, tokenizer.vocabulary_size() - len(excluded))
    results = []
    for sentence, scores in zip(parsed, log_probs):
        masks, filled = [], sentence.ids.copy()
        for slot, index in enumerate(sentence.masks):
            best = top_indices(scores[slot], k, excluded)
            filled[index] = best[0]
            masks.append({
                "position": index + 1,  # after the start token
                "predictions": [
                    {"token": tokenizer.id_to_token(int(i)), "token_id": int(i),
                     "probability": float(np.exp(scores[slot, i]))}
                    for i in best
                ],
            })
        results.append({"sentence": sentence.text, "filled": tokenizer.detokenize(filled), "masks": masks})
    return results


def mask_markers(tokenizer) -> list[str]:
    """Strings that stand for a mask in a sentence: the model's own mask token and the generic one."""
    own = tokenizer.id_to_token(tokenizer.mask_token_id)
    return sorted({own, GENERIC_MASK}, key=len, reverse=True)


def encode_masked_sentences(tokenizer, sentences: list[str], sequence_length: int) -> list[MaskedSentence]:
    """Token ids of each sentence with a mask id at every mask marker.

    The text between markers is tokenized on its own (so mask markers stay whole in every
    tokenizer), and a mask takes the spaces before it, like transformers' `<mask>`.
    Sentences longer than the sequence are cut; a mask that falls beyond is an error.
    """
    markers = mask_markers(tokenizer)
    pattern = re.compile("|".join(re.escape(marker) for marker in markers))
    pieces = [pattern.split(sentence) for sentence in sentences]
    for number, (sentence, parts) in enumerate(zip(sentences, pieces), start=1):
        if len(parts) == 1:
            raise BadInputError(
                f"sentence {number} has no mask: {_shorten(sentence)!r}",
                hint=f"write {' or '.join(markers)} where a token should be predicted",
            )
    texts = [part.rstrip() if index < len(parts) - 1 else part for parts in pieces for index, part in enumerate(parts)]
    flat, offsets = tokenizer.encoder.encode_batch_flat(texts)
    room = sequence_length - 2  # start and end tokens
    parsed, segment = [], 0
    for number, (sentence, parts) in enumerate(zip(sentences, pieces), start=1):
        ids: list[np.ndarray] = []
        masks: list[int] = []
        for index in range(len(parts)):
            ids.append(flat[offsets[segment] : offsets[segment + 1]])
            segment += 1
            if index < len(parts) - 1:
                masks.append(sum(map(len, ids)))
                ids.append(np.array([tokenizer.mask_token_id], dtype=np.int32))
        row = np.concatenate(ids).astype(np.int32)
        if masks[-1] >= room:
            raise BadInputError(
                f"sentence {number} has a mask at token {masks[-1] + 1}, beyond the model's {sequence_length}-token "
                "sequence: "
                f"{_shorten(sentence)!r}",
                hint="shorten the sentence or raise --sequence-length",
            )
        if len(row) > room:
            log.warning("sentence %d has %d tokens; only the first %d are read", number, len(row), room)
        parsed.append(MaskedSentence(sentence, row[:room], masks, truncated=len(row) > room))
    return parsed


def masked_log_probabilities(model, sentences: list[MaskedSentence], sequence_length: int) -> list[np.ndarray]:
    """Log-softmax over the vocabulary at each sentence's masks: one [masks, V] array per sentence.

    Every forward pass has the same shape (ROWS_PER_CALL rows, or fewer sentences; the
    most masks of any sentence), so a compiled model traces once.
    """
    tokenizer = model.preprocessor.tokenizer
    rows = min(ROWS_PER_CALL, len(sentences))
    slots = max(len(s.masks) for s in sentences)
    results: list[np.ndarray] = []
    for start in range(0, len(sentences), rows):
        chunk = sentences[start : start + rows]
        token_ids = np.full((rows, sequence_length), tokenizer.pad_token_id, dtype=np.int32)
        token_ids[:, 0] = tokenizer.cls_token_id
        lengths = np.full(rows, 2)
        mask_positions = np.zeros((rows, slots), dtype=np.int32)
        for row, sentence in enumerate(chunk):
            token_ids[row, 1 : 1 + len(sentence.ids)] = sentence.ids
            lengths[row] = len(sentence.ids) + 2
            mask_positions[row, : len(sentence.masks)] = np.asarray(sentence.masks) + 1
        token_ids[np.arange(rows), lengths - 1] = tokenizer.sep_token_id
        features = {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": np.arange(sequence_length)[None, :] < lengths[:, None],
            "mask_positions": mask_positions,
        }
        logits = np.asarray(model.predict_on_batch(features)).astype(np.float64)
        log_probs = logits - _log_sum_exp(logits)[..., None]
        results.extend(log_probs[row, : len(sentence.masks)] for row, sentence in enumerate(chunk))
    return results


def _log_sum_exp(values: np.ndarray) -> np.ndarray:
    peak = values.max(axis=-1)
    return peak + np.log(np.exp(values - peak[..., None]).sum(axis=-1))


def top_indices(scores: np.ndarray, k: int, excluded: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k largest scores, largest first, never one of `excluded`."""
    if excluded is not None and len(excluded):
        scores = scores.copy()
        scores[excluded] = -np.inf
    candidates = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return candidates[np.lexsort((candidates, -scores[candidates]))]


def _shorten(text: str, limit: int = 60) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
