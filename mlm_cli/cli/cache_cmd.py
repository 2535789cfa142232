"""`mlm cache list` and `mlm cache clean`."""

from __future__ import annotations

import json
import sys

import typer

from mlm_cli.cli import console
from mlm_cli.workflows.model_card import byte_size

cache_app = typer.Typer(help="mlm's download cache (MLM_CACHE_DIR): Kaggle and Hub downloads, converted checkpoints.",
                        no_args_is_help=True)


@cache_app.command("list", epilog="Examples:\n\n  mlm cache list\n\n  mlm cache list --json | jq '.entries[].handle'")
def list_cache(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What the cache holds: handle, built-in names, size, complete or not, path."""
    from mlm_cli.hub import cache_dir
    from mlm_cli.workflows.cache import list_cache as entries_in_cache

    entries = entries_in_cache()
    total = sum(e.bytes for e in entries)
    if as_json:
        document = {"cache": str(cache_dir()), "bytes": total, "entries": [e.as_dict() for e in entries]}
        console.stdout.print(json.dumps(document, indent=2), markup=False)
        return
    if not entries:
        console.stdout.print(f"the cache ({cache_dir()}) is empty", markup=False)
        return
    for e in entries:  # one line per entry (handles are long; a table would fold them): paths are in --json
        names = f"  ({', '.join(e.names)})" if e.names else ""
        state = "" if e.complete else "  incomplete"
        console.stdout.print(f"{byte_size(e.bytes):>10}  {e.handle}{names}{state}", markup=False, soft_wrap=True)
    console.stdout.print(f"{len(entries)} entries, {byte_size(total)} in {cache_dir()}", markup=False)


@cache_app.command(
    "clean",
    epilog="Examples:\n\n  mlm cache clean bert_base_en_uncased\n\n  mlm cache clean --incomplete --yes\n\n  mlm cache "
           "clean --all --dry-run",
)
def clean_cache(
    targets: list[str] = typer.Argument(None,
        help="Built-in preset names or handles (kaggle://..., hf://...; without a version: every version)."),
    everything: bool = typer.Option(False, "--all", help="Remove everything in the cache."),
    incomplete: bool = typer.Option(False, "--incomplete", help="Remove interrupted downloads."),
    converted: bool = typer.Option(False, "--converted",
                                   help="Remove checkpoints converted from transformers (they are rebuilt on use)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be removed."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="Do not ask for confirmation (needed when stdin is not a terminal)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove cached presets, interrupted downloads or converted checkpoints (never one a running mlm process uses)."""
    from mlm_cli.errors import BadInputError, MlmError
    from mlm_cli.workflows.cache import list_cache as entries_in_cache
    from mlm_cli.workflows.cache import matches, remove, select

    targets = list(targets or [])
    chosen = select(entries_in_cache(), targets, everything=everything, incomplete=incomplete, converted=converted)
    size = sum(e.bytes for e in chosen)
    if not dry_run and chosen and not yes:
        if not sys.stdin.isatty():
            raise BadInputError(f"removing {len(chosen)} cache entries ({byte_size(size)}) needs confirmation",
                                hint="pass --yes")
        if not typer.confirm(f"Remove {len(chosen)} entries ({byte_size(size)})?", default=False, err=True):
            raise typer.Exit(1)
    if dry_run:
        removed, in_use, freed = [], [], 0
    else:
        done = remove(chosen)
        removed, in_use, freed = done.removed, done.in_use, done.freed
    if as_json:
        result = {"removed": [e.handle for e in removed], "would_remove": [e.handle for e in chosen] if dry_run else [],
                  "in_use": [e.handle for e in in_use], "bytes": size if dry_run else freed}
        console.stdout.print(json.dumps(result, indent=2), markup=False)
    else:
        verb = "would remove" if dry_run else "removed"
        for e in chosen if dry_run else removed:
            console.stdout.print(f"{verb} {e.handle} ({byte_size(e.bytes)})", markup=False)
        console.stdout.print(
            f"{verb} {len(chosen) if dry_run else len(removed)} entries, {byte_size(size if dry_run else freed)}",
                             markup=False)
    named = [e for e in in_use if any(matches(e, target) for target in targets)]
    for e in in_use:
        if e not in named:
            console.warn(f"kept {e.handle}: a running process uses it")
    if named:
        others = f" (and {len(named) - 1} more)" if len(named) > 1 else ""
        raise MlmError(f"kept {named[0].handle}{others}: a running process uses it",
                       hint="mlm never removes what a running process uses; run `mlm cache clean` again when it has "
                            "finished")
