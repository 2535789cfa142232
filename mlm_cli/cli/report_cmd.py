"""`mlm report`: a training run's summary and its training.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from mlm_cli.cli import console

EPILOG = (
    "Examples:\n\n  mlm report my-bert\n\n  mlm report my-bert --json | jq .best_val_loss\n\n"
    "  mlm report my-bert --no-plot"
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _value(value: float | None, digits: int = 4, step: int | None = None) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return f"{text} (step {step:,})" if step is not None else text


def _count(value: int | float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _status(summary: dict[str, Any]) -> str:
    checkpoint = summary["checkpoint_step"]
    if summary["status"] == "finished":
        return "finished (preset published)"
    if checkpoint is None:
        return "unfinished, no checkpoint yet (--resume would start over)"
    return f"unfinished, last checkpoint at step {checkpoint:,} (--resume continues from it)"


def _gradient_norms(summary: dict[str, Any]) -> str:
    if summary["final_gradient_norm"] is None:
        return ""
    limit = summary["max_grad_norm"]
    clipping = f"; clipped at {limit:g}" if limit else "; not clipped" if limit == 0 else ""
    largest = f"{summary['largest_gradient_norm']:.3g} (step {summary['largest_gradient_norm_step']:,})"
    return f"{summary['final_gradient_norm']:.3g} at the end, largest {largest}{clipping}"


def _rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    steps = _count(summary["steps"]) + (f" of {summary['max_steps']:,}" if isinstance(summary["max_steps"],
                                                                                      int) else "")
    lr = summary["peak_learning_rate"]
    return [
        ("run", summary["run_dir"]),
        ("preset", summary["preset"] or ""),
        ("backend", " ".join(str(summary[k]) for k in ("backend", "precision") if summary[k])),
        ("parameters", _count(summary["parameters"]) + (
            f" ({_count(summary['trainable_parameters'])} trained; frozen: {summary['freeze']})"
            if summary.get("freeze") else "") + (
            f" ({_count(summary['trainable_parameters'])} trained: LoRA rank {summary['lora']['rank']} on "
            f"{summary['lora']['targets'] or 'query,value'})" if summary.get("lora") else "")),
        ("global batch", _count(summary.get("global_batch_size")) + (
            f" ({summary['accumulation_steps']} accumulated passes per step)"
            if (summary.get("accumulation_steps") or 1) > 1 else "")),
        ("status", _status(summary)),
        ("steps", steps),
        ("epochs", _count(summary["epochs"])),
        ("tokens seen", _count(summary["tokens_seen"])),
        ("train time", _duration(summary["train_seconds"])),
        ("throughput", f"{_count(summary['median_tokens_per_second'])} tokens/s (median)" if summary[
            "median_tokens_per_second"] else ""),
        ("train loss", " -> ".join(_value(summary[k]) for k in ("first_loss", "final_loss") if summary[k] is not None)),
        ("best train loss", _value(summary["best_loss"], step=summary["best_loss_step"])),
        ("train accuracy", _value(summary["final_accuracy"])),
        ("peak learning rate", f"{lr:.3g} (step {summary['peak_learning_rate_step']:,}; {summary['schedule']} "
                               "schedule)" if lr is not None else ""),
        ("gradient norm", _gradient_norms(summary)),
        ("validation loss", _value(summary["final_val_loss"], step=summary["final_val_step"])),
        ("best validation loss", _value(summary["best_val_loss"], step=summary["best_val_loss_step"])),
        ("published weights", "" if summary.get("published_step") is None else f"step {summary['published_step']:,}" + (
            " (best validation loss; --keep-best)" if summary.get("keep_best") else "")),
        ("early stopping", f"patience {summary['early_stopping_patience']} evaluations" if summary.get(
            "early_stopping_patience") else ""),
        ("validation accuracy", _value(summary["final_val_accuracy"], step=summary["final_val_step"])),
        ("best validation accuracy", _value(summary["best_val_accuracy"], step=summary["best_val_accuracy_step"])),
        ("validation perplexity", _value(summary["final_val_perplexity"], 2, step=summary["final_val_step"])),
        ("best validation perplexity", _value(summary["best_val_perplexity"], 2,
                                              step=summary["best_val_perplexity_step"])),
        ("plot", summary.get("plot") or ""),
    ]


def report(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR",
                                   help="A training run directory (the --output of `mlm train`).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    plot: bool = typer.Option(True, "--plot/--no-plot",
                              help="Redraw RUN_DIR/training.png (loss, accuracy, learning rate)."),
) -> None:
    """Summarise a training run (loss, validation, speed, status) and redraw its training.png."""
    from rich.table import Table
    from rich.text import Text

    from mlm_cli.workflows.report import run_report

    summary = run_report(run_dir)
    summary["plot"] = None
    if plot:
        from mlm_cli.workflows.training_plot import draw_training_plot

        summary["plot"] = str(draw_training_plot(run_dir))
        console.info(f"plot: {summary['plot']}")
    if as_json:
        console.stdout.print(json.dumps(summary, indent=2), markup=False)
        return
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("field", style="bold" if console.stdout.is_terminal else None, no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in _rows(summary):
        if value:
            table.add_row(name, Text(value))  # Text: paths and names are never read as markup
    console.stdout.print(table)
