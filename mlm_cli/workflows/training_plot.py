"""training.png: loss, masked accuracy and learning rate over the steps of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlm_cli.atomic_files import write_atomic
from mlm_cli.workflows.report import load_run_metrics, read_train_config

PLOT_FILE = "training.png"
TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#d62728"
LEARNING_RATE_COLOR = "#2ca02c"
MARKERS_UP_TO = 40  # fewer points than this get a marker each, so a single point is still visible


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of `key`; missing or non-numeric values become NaN (a gap in the line)."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        steps.append(record["step"])
        values.append(float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan"))
    return steps, values


def _draw(axes, records: list[dict[str, Any]], key: str, label: str, color: str, dashed: bool = False) -> bool:
    """Plot one series; False when it has no finite value to show."""
    steps, values = _series(records, key)
    if not any(v == v and abs(v) != float("inf") for v in values):
        return False
    marker = "o" if dashed or len(steps) < MARKERS_UP_TO else None
    axes.plot(steps, values, label=label, color=color, marker=marker, markersize=4, linestyle="--" if dashed else "-",
              linewidth=1.5)
    return True


def _finish(axes, ylabel: str, drew: bool) -> None:
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if drew:
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center", color="gray")


def draw_training_plot(run_dir: Path) -> Path:
    """Draw RUN_DIR/training.png from metrics.jsonl (replacing any older one atomically) and return its path."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg: no pyplot, no GUI, no global state

    run_dir = Path(run_dir)
    metrics = load_run_metrics(run_dir)
    preset = read_train_config(run_dir).get("preset")
    figure = Figure(figsize=(8, 9), dpi=100, layout="constrained")
    loss_axes, accuracy_axes, lr_axes = figure.subplots(3, 1, sharex=True)
    drew = _draw(loss_axes, metrics.train, "loss", "train", TRAIN_COLOR)
    drew |= _draw(loss_axes, metrics.eval, "val_loss", "validation", VALIDATION_COLOR, dashed=True)
    _finish(loss_axes, "loss", drew)
    drew = _draw(accuracy_axes, metrics.train, "accuracy", "train", TRAIN_COLOR)
    drew |= _draw(accuracy_axes, metrics.eval, "val_accuracy", "validation", VALIDATION_COLOR, dashed=True)
    _finish(accuracy_axes, "masked-token accuracy", drew)
    drew = _draw(lr_axes, metrics.train, "learning_rate", "learning rate", LEARNING_RATE_COLOR)
    _finish(lr_axes, "learning rate", drew)
    lr_axes.set_xlabel("step")
    lr_axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    title = run_dir.resolve().name + (f" ({preset})" if preset else "")
    figure.suptitle(f"training: {title}")
    return write_atomic(run_dir / PLOT_FILE, lambda f: figure.savefig(f, format="png"))
