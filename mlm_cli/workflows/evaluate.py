"""`mlm eval`: masked-token loss, accuracy and perplexity of a model on a corpus, or its pseudo-perplexity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlm_cli.errors import BadInputError

EVAL_MASK_SEED = 2024  # fixed: two evaluations of one model on the same data agree exactly


@dataclass
class EvalOptions:
    preset: str
    data: list[str]
    text_column: str = "text"
    sequence_length: int | None = None
    batch_size: int = 32
    max_batches: int | None = None
    packing: bool = True
    mask_rate: float | None = None
    encoding_errors: str = "strict"
    skip_bad_lines: bool = False
    precision: str | None = "float32"
    pseudo_perplexity: bool = False  # score every token in turn (one document per row) instead of random masks
    whole_word_masking: bool = False  # mask whole words, and score them as words too


def evaluate(options: EvalOptions) -> dict[str, Any]:
    """Metrics over the corpus (or its first `max_batches` batches) with a fixed masking seed.

    With `pseudo_perplexity`, the pseudo-perplexity of the corpus instead (see
    workflows/pseudo_perplexity.py); `max_batches` then bounds the forward passes of
    `batch_size` masked copies, and only whole documents are scored.
    """
    import keras

    from mlm_cli.data.sources import CorpusSpec, DocumentStream, check_corpus
    from mlm_cli.workflows.batch_stream_setup import masked_batch_stream
    from mlm_cli.workflows.masked_lm_metrics import masked_lm_metrics
    from mlm_cli.workflows.model_setup import is_scratch_preset, load_masked_lm
    from mlm_cli.workflows.precision import resolve_precision

    if options.batch_size < 1:
        raise BadInputError("--batch-size must be at least 1")
    if options.max_batches is not None and options.max_batches < 1:
        raise BadInputError("--max-batches must be at least 1")
    if options.pseudo_perplexity and options.whole_word_masking:
        raise BadInputError("--whole-word-masking does not apply to --pseudo-perplexity",
                            hint="pseudo-perplexity masks every token in turn; drop one of them")
    if options.pseudo_perplexity and options.mask_rate is not None:
        raise BadInputError("--mask-rate does not apply to --pseudo-perplexity",
                            hint="pseudo-perplexity masks every token in turn; drop --mask-rate")
    if is_scratch_preset(options.preset):
        raise BadInputError(f"{options.preset} is a from-scratch preset without weights",
                            hint="evaluate a trained model (the --output of mlm train)")
    from mlm_cli.hub import resolve

    resolve(options.preset)  # a missing or unknown preset is reported before the corpus is read
    spec = CorpusSpec(tuple(options.data), text_column=options.text_column, encoding_errors=options.encoding_errors,
                      skip_bad_lines=options.skip_bad_lines)
    check_corpus(spec)
    if options.pseudo_perplexity:
        return _pseudo_perplexity(options, spec)
    overrides: dict[str, Any] = {"seed": EVAL_MASK_SEED}
    if options.mask_rate is not None:
        overrides["mask_selection_rate"] = options.mask_rate
    precision = resolve_precision(options.precision, keras.backend.backend())
    model = load_masked_lm(options.preset, sequence_length=options.sequence_length, precision=precision, **overrides)
    documents = DocumentStream(spec)
    batches = masked_batch_stream(model, documents, batch_size=options.batch_size, packing=options.packing,
                                  seed=EVAL_MASK_SEED, whole_words=options.whole_word_masking)
    word_starts = model.preprocessor.tokenizer.word_starts() if options.whole_word_masking else None
    try:
        metrics = masked_lm_metrics(model, batches, options.max_batches, word_starts)
    finally:
        batches.close()
    if metrics.masked_tokens == 0:
        raise BadInputError("the corpus produced no masked tokens to evaluate", hint="check --data and --text-column")
    return {"preset": options.preset, "sequence_length": model.preprocessor.sequence_length, **metrics.as_dict(),
            "skipped_lines": documents.skipped_lines}


def _pseudo_perplexity(options: EvalOptions, spec) -> dict[str, Any]:
    """Pseudo-perplexity of the corpus: one document per row, cut to the sequence length."""
    import keras

    from mlm_cli.data.sources import DocumentStream
    from mlm_cli.workflows.model_setup import load_masked_lm
    from mlm_cli.workflows.precision import resolve_precision
    from mlm_cli.workflows.pseudo_perplexity import DOCUMENTS_PER_CHUNK, corpus_pseudo_perplexity

    precision = resolve_precision(options.precision, keras.backend.backend())
    model = load_masked_lm(options.preset, sequence_length=options.sequence_length, precision=precision)
    documents = DocumentStream(spec)
    scores = corpus_pseudo_perplexity(model, documents.batches(DOCUMENTS_PER_CHUNK), batch_size=options.batch_size,
                                      max_batches=options.max_batches)
    if scores.scored_tokens == 0:
        raise BadInputError("the corpus has no tokens to score", hint="check --data and --text-column")
    return {"preset": options.preset, "sequence_length": model.preprocessor.sequence_length, **scores.as_dict(),
            "skipped_lines": documents.skipped_lines}
