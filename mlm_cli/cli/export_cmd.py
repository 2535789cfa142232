"""`mlm export`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from mlm_cli.cli import console
from mlm_cli.cli.options import BACKEND_OPTION, use_backend

EPILOG = (
    "Examples:\n\n  mlm export --preset my-bert --output my-bert-release\n\n  mlm export --preset my-bert --output "
    "my-bert-bf16 --dtype bfloat16\n\n"
    "  mlm export --preset my-bert --format hf --output my-bert-hf   # "
    "AutoModelForMaskedLM.from_pretrained('my-bert-hf')"
)


def export(
    preset: str = typer.Option(..., "--preset", "-p",
                               help="Model to export: a run directory, preset directory or handle."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for the exported preset."),
    dtype: str = typer.Option("float32", help="Weight dtype: float32, bfloat16 or float16."),
    format: str = typer.Option("keras_hub", "--format",
        help="keras_hub (a preset directory) or hf (config.json, model.safetensors and tokenizer files for "
             "transformers)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output directory."),
    backend: str = BACKEND_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Write a clean, shareable model (no optimizer state or training files) for keras_hub or transformers."""
    use_backend(backend)
    from mlm_cli.workflows.export import ExportOptions
    from mlm_cli.workflows.export import export as run_export

    result = run_export(ExportOptions(preset=preset, output=output, dtype=dtype, format=format, overwrite=overwrite,
                                      command_line=shlex.join(["mlm", *sys.argv[1:]])))
    console.stdout.print(json.dumps(result, indent=2) if as_json else result["output"], markup=False)
