"""`mlm pull`."""

from __future__ import annotations

from pathlib import Path

import typer

from mlm_cli.cli import console

EPILOG = (
    "Examples:\n\n  mlm pull bert_tiny_en_uncased\n\n  PRESET=$(mlm pull kaggle://keras/bert/keras/bert_base_en/3)\n\n"
    "  mlm pull hf://my-org/my-keras-hub-bert --output ./my-bert"
)


def pull(
    preset: str = typer.Argument(...,
        help="Built-in name, kaggle://owner/model/framework/variation[/version], hf://owner/repo, or a directory."),
    output: Path = typer.Option(None, "--output", "-o", help="Also copy the preset to this directory."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output directory."),
) -> None:
    """Download a preset into the cache (MLM_CACHE_DIR), check it loads, print its local path."""
    from mlm_cli.workflows.pull import PullOptions
    from mlm_cli.workflows.pull import pull as run_pull

    path = run_pull(PullOptions(preset=preset, output=output, overwrite=overwrite, progress=not console.settings.quiet))
    console.stdout.print(str(path), markup=False)
