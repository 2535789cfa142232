"""`mlm eval`."""

from __future__ import annotations

import json

import typer

from mlm_cli.cli import console
from mlm_cli.cli.options import BACKEND_OPTION, use_backend
from mlm_cli.workflows.train_options import DATA_HELP

EPILOG = (
    "Examples:\n\n  mlm eval --preset my-bert --data heldout.txt\n\n  mlm eval --preset my-bert --data heldout.jsonl "
    "--json | jq .perplexity\n\n"
    "  mlm eval --preset my-bert --data heldout.txt --pseudo-perplexity --max-batches 200"
)


def evaluate(
    preset: str = typer.Option(..., "--preset", "-p",
                               help="Model to evaluate: a run directory, preset directory or handle."),
    data: list[str] = typer.Option(..., "--data", "-d", help=DATA_HELP),
    text_column: str = typer.Option("text", help="Column holding the text in JSONL/CSV/Parquet/Hub data."),
    sequence_length: int = typer.Option(None, help="Tokens per sequence [default: the preset's]."),
    batch_size: int = typer.Option(32,
        help="Sequences per batch (with --pseudo-perplexity: masked copies per forward pass)."),
    max_batches: int = typer.Option(None,
        help="Stop after this many batches (with --pseudo-perplexity: forward passes of --batch-size masked copies; "
             "only whole documents are scored)."),
    packing: bool = typer.Option(True, "--packing/--no-packing", help="Concatenate documents into full sequences."),
    mask_rate: float = typer.Option(None, help="Fraction of tokens to mask [default: the preset's]."),
    encoding_errors: str = typer.Option("strict", help="strict or replace (invalid UTF-8)."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines",
                                        help="JSONL: skip lines that are not valid records (and report how many)."),
    precision: str = typer.Option("float32", help="float32, mixed_bfloat16, mixed_float16 or auto."),
    whole_word_masking: bool = typer.Option(False, "--whole-word-masking",
        help="Mask whole words (as mlm train --whole-word-masking) and also score them: loss per word (its pieces' "
             "losses added) and the share of words with every piece right."),
    pseudo_perplexity: bool = typer.Option(False, "--pseudo-perplexity",
        help="Score every token of each document in turn (one document per row, cut to the sequence length): "
             "pseudo-log-likelihood and pseudo-perplexity."),
    backend: str = BACKEND_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Masked-token loss, accuracy and perplexity on a corpus (fixed mask seed: repeatable), or pseudo-perplexity."""
    use_backend(backend)
    from mlm_cli.workflows.evaluate import EvalOptions
    from mlm_cli.workflows.evaluate import evaluate as run_evaluation

    result = run_evaluation(
        EvalOptions(
            preset=preset, data=list(data), text_column=text_column, sequence_length=sequence_length,
            batch_size=batch_size,
            max_batches=max_batches, packing=packing, mask_rate=mask_rate, encoding_errors=encoding_errors,
            skip_bad_lines=skip_bad_lines,
            precision=precision, pseudo_perplexity=pseudo_perplexity, whole_word_masking=whole_word_masking,
        )
    )
    if result.get("skipped_lines"):
        console.warn(f"skipped {result['skipped_lines']:,} bad lines (--skip-bad-lines)")
    if as_json:
        console.stdout.print(json.dumps(result, indent=2), markup=False)
        return
    if pseudo_perplexity:
        console.stdout.print(
            f"pseudo-perplexity {result['pseudo_perplexity']:.3f}  pseudo-log-likelihood "
            f"{result['pseudo_log_likelihood']:.2f}  "
            f"scored tokens {result['scored_tokens']:,}  documents {result['documents']:,}",
            markup=False,
        )
        if result["truncated_documents"]:
            console.info(
                f"{result['truncated_documents']:,} documents were longer than the sequence and scored on their first "
                         f"{result['sequence_length'] - 2} tokens")
        return
    console.stdout.print(
        f"loss {result['loss']:.4f}  accuracy {result['accuracy']:.4f}  perplexity {result['perplexity']:.3f}  "
        f"masked tokens {result['masked_tokens']:,}  tokens {result['tokens']:,}",
        markup=False,
    )
    if whole_word_masking:
        console.stdout.print(f"word loss {result['word_loss']:.4f}  word accuracy {result['word_accuracy']:.4f}  "
                             f"masked words {result['masked_words']:,}", markup=False)
