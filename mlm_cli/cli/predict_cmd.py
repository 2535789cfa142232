"""`mlm predict`."""

from __future__ import annotations

import json
from typing import Any

import typer

from mlm_cli.cli import console
from mlm_cli.cli.options import BACKEND_OPTION, use_backend

EPILOG = (
    'Examples:\n\n  mlm predict --preset my-bert "The capital of France is [MASK]."\n\n'
    '  mlm predict --preset roberta_base_en "Paris is the <mask> of France." --top-k 3\n\n'
    "  mlm predict --preset my-bert --file sentences.txt --json | jq '.[].filled'"
)


def predict(
    sentences: list[str] = typer.Argument(None,
        help="Sentences with [MASK] (or the model's own mask token, e.g. <mask>) where a token is to be predicted."),
    preset: str = typer.Option(..., "--preset", "-p", help="Model: a run directory, preset directory or handle."),
    file: str = typer.Option(None, "--file", "-f",
                             help="Also read sentences from this file, one a line (blank lines skipped; - for stdin)."),
    top_k: int = typer.Option(5, "--top-k", "-k", help="Predictions shown at each mask."),
    sequence_length: int = typer.Option(None,
                                        help="Tokens per sequence [default: the preset's]; longer sentences are cut."),
    precision: str = typer.Option("float32", help="float32, mixed_bfloat16, mixed_float16 or auto."),
    backend: str = BACKEND_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: a list with one object per sentence."),
) -> None:
    """Fill in masked tokens: the most likely tokens at each mask, with their probabilities."""
    use_backend(backend)
    from mlm_cli.workflows.predict import PredictOptions
    from mlm_cli.workflows.predict import predict as run_prediction

    results = run_prediction(
        PredictOptions(preset=preset, sentences=list(sentences or []), file=file, top_k=top_k,
                       sequence_length=sequence_length,
                       precision=precision)
    )
    if as_json:
        console.stdout.print(json.dumps(results, indent=2), markup=False)
        return
    for number, result in enumerate(results):
        if number:
            console.stdout.print()
        console.stdout.print(_table(result))


def _table(result: dict[str, Any]):
    """One sentence's predictions: a row per candidate, grouped by mask, and the sentence filled in below."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(result["sentence"]), title_justify="left", caption=Text(f"filled: {result['filled']}"),
                  caption_justify="left")
    for column, justify in (("position", "right"), ("token", "left"), ("id", "right"), ("probability", "right")):
        table.add_column(column, justify=justify)
    for mask in result["masks"]:
        for rank, prediction in enumerate(mask["predictions"]):
            table.add_row(
                str(mask["position"]) if rank == 0 else "",
                Text(prediction["token"]),
                str(prediction["token_id"]),
                f"{prediction['probability']:.4f}",
                end_section=rank == len(mask["predictions"]) - 1,
            )
    return table
