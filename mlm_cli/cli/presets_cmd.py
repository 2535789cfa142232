"""`mlm presets list` and `mlm presets show`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from mlm_cli.cli import console

presets_app = typer.Typer(help="Built-in presets mlm can load or train from scratch.", no_args_is_help=True)


def _row(info, cached: bool) -> dict:
    return {
        "name": info.name,
        "family": info.family,
        "parameters": info.parameters,
        "handle": info.handle,
        "scratch": info.scratch,
        "cached": cached,
        "description": info.description,
    }


def _human(count: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def _family_key(name: str) -> str:
    """Family names compare without case, '_' or '-': distil_bert = distilbert = DistilBERT, xlm-roberta = xlm_roberta."""
    return name.lower().replace("_", "").replace("-", "")


@presets_app.command("list", epilog="Examples:\n\n  mlm presets list\n\n  mlm presets list --family bert --json | jq '.[].name'")
def list_presets(
    family: str | None = typer.Option(None, "--family", help="Only presets of this family (e.g. bert, roberta, xlm_roberta, esm)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List built-in presets: name, family, parameters, whether cached, description."""
    from mlm_cli.errors import BadInputError
    from mlm_cli.hub import builtin_presets, is_cached

    presets = builtin_presets()
    families = sorted({p.family for p in presets.values()})
    chosen = None if family is None else _family_key(family)
    if chosen is not None and chosen not in {_family_key(name) for name in families}:
        raise BadInputError(f"unknown family {family!r}", hint=f"choose from: {', '.join(families)}")
    rows = [_row(p, not p.scratch and is_cached(p.name)) for p in presets.values() if chosen is None or _family_key(p.family) == chosen]
    if as_json:
        console.stdout.print(json.dumps(rows, indent=2), markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "family", "params", "cached", "description"):
        table.add_column(column, overflow="fold" if column == "description" else "ellipsis", no_wrap=column != "description")
    for row in rows:
        cached = "scratch" if row["scratch"] else ("yes" if row["cached"] else "")
        table.add_row(row["name"], row["family"], _human(row["parameters"]), cached, row["description"])
    console.stdout.print(table)


@presets_app.command("show", epilog="Example:\n\n  mlm presets show bert_base_en_uncased")
def show_preset(
    name: str = typer.Argument(..., help="A built-in preset name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one built-in preset in full."""
    from mlm_cli.hub import builtin_presets, is_cached, unknown_preset_error

    presets = builtin_presets()
    if name not in presets:
        raise unknown_preset_error(name)
    info = presets[name]
    row = _row(info, not info.scratch and is_cached(name))
    if info.config:
        row["config"] = info.config
    if as_json:
        console.stdout.print(json.dumps(row, indent=2), markup=False)
        return
    for key, value in row.items():
        console.stdout.print(f"{key}: {value}", markup=False)
