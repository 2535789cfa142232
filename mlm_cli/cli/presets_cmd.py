"""`mlm presets list` and `mlm presets show`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from mlm_cli.cli import console

PLAIN_WIDTH = 120  # the longest line of the piped listing
COLUMNS = ("name", "family", "params", "cached", "description")

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
    """Family names compare without case, '_' or '-': distil_bert = DistilBERT; xlm-roberta = xlm_roberta."""
    return name.lower().replace("_", "").replace("-", "")


def _cells(row: dict, cached_blank: str) -> list[str]:
    cached = "scratch" if row["scratch"] else ("yes" if row["cached"] else cached_blank)
    return [row["name"], row["family"], _human(row["parameters"]), cached, row["description"]]


def _shorten(text: str, width: int) -> str:
    """`text`, cut at a word boundary to at most `width` characters ("..." marks the cut)."""
    if len(text) <= width:
        return text
    cut = text[: max(width - 3, 0)].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "..."


def _print_table(rows: list[dict]) -> None:
    """A rich table for a terminal; descriptions wrap within their column."""
    table = Table(box=None, pad_edge=False)
    for column in COLUMNS:
        wraps = column == "description"
        table.add_column(column, overflow="fold" if wraps else "ellipsis", no_wrap=not wraps)
    for row in rows:
        table.add_row(*_cells(row, cached_blank=""))
    console.stdout.print(table)


def _print_plain(rows: list[dict]) -> None:
    """One line per preset, columns aligned with two spaces, descriptions shortened to fit PLAIN_WIDTH (for pipes)."""
    lines = [list(COLUMNS)] + [_cells(row, cached_blank="no") for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    for line in lines:
        start = "  ".join(cell.ljust(width) for cell, width in zip(line, widths))
        console.stdout.print(f"{start}  {_shorten(line[-1], PLAIN_WIDTH - len(start) - 2)}", markup=False, crop=False)


@presets_app.command("list",
    epilog="Examples:\n\n  mlm presets list\n\n  mlm presets list --family bert --json | jq '.[].name'")
def list_presets(
    family: str | None = typer.Option(None, "--family",
                                      help="Only presets of this family (e.g. bert, roberta, xlm_roberta, esm)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List built-in presets: name, family, parameters, whether cached, description (one line each when piped)."""
    from mlm_cli.errors import BadInputError
    from mlm_cli.hub import builtin_presets, is_cached

    presets = builtin_presets()
    families = sorted({p.family for p in presets.values()})
    chosen = None if family is None else _family_key(family)
    if chosen is not None and chosen not in {_family_key(name) for name in families}:
        raise BadInputError(f"unknown family {family!r}", hint=f"choose from: {', '.join(families)}")
    rows = [_row(p, not p.scratch and is_cached(p.name)) for p in presets.values() if chosen is None or _family_key(
        p.family) == chosen]
    if as_json:
        console.stdout.print(json.dumps(rows, indent=2), markup=False)
        return
    (_print_table if console.stdout.is_terminal else _print_plain)(rows)


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
