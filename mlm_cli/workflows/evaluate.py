"""`mlm eval`: masked-token loss, accuracy and perplexity of a model on a corpus."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    extra: dict[str, Any] = field(default_factory=dict)


def evaluate(options: EvalOptions) -> dict[str, Any]:
    """Metrics over the corpus (or its first `max_batches` batches) with a fixed masking seed."""
    import keras

    from mlm_cli.data.sources import CorpusSpec, DocumentStream, check_corpus
    from mlm_cli.workflows.evaluation import masked_lm_metrics
    from mlm_cli.workflows.model_setup import is_scratch_preset, load_masked_lm
    from mlm_cli.workflows.precision import resolve_precision
    from mlm_cli.workflows.batch_streams import masked_batch_stream

    if options.batch_size < 1:
        raise BadInputError("--batch-size must be at least 1")
    if options.max_batches is not None and options.max_batches < 1:
        raise BadInputError("--max-batches must be at least 1")
    if is_scratch_preset(options.preset):
        raise BadInputError(f"{options.preset} is a from-scratch preset without weights", hint="evaluate a trained model (the --output of mlm train)")
    from mlm_cli.hub import resolve

    resolve(options.preset)  # a missing or unknown preset is reported before the corpus is read
    spec = CorpusSpec(tuple(options.data), text_column=options.text_column, encoding_errors=options.encoding_errors,
                      skip_bad_lines=options.skip_bad_lines)
    check_corpus(spec)
    overrides: dict[str, Any] = {"seed": EVAL_MASK_SEED}
    if options.mask_rate is not None:
        overrides["mask_selection_rate"] = options.mask_rate
    precision = resolve_precision(options.precision, keras.backend.backend())
    model = load_masked_lm(options.preset, sequence_length=options.sequence_length, precision=precision, **overrides)
    documents = DocumentStream(spec)
    batches = masked_batch_stream(model, documents, batch_size=options.batch_size, packing=options.packing, seed=EVAL_MASK_SEED)
    try:
        metrics = masked_lm_metrics(model, batches, options.max_batches)
    finally:
        batches.close()
    if metrics.masked_tokens == 0:
        raise BadInputError("the corpus produced no masked tokens to evaluate", hint="check --data and --text-column")
    return {"preset": options.preset, "sequence_length": model.preprocessor.sequence_length, **metrics.as_dict(),
            "skipped_lines": documents.skipped_lines}
