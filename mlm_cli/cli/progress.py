"""Training progress on stderr: a live rich display in a terminal, plain periodic lines in logs."""

from __future__ import annotations

import time
from typing import Any

from rich.live import Live
from rich.table import Table

from mlm_cli.cli import console


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_step(m: dict[str, Any], max_steps: int | None) -> str:
    total = f"/{max_steps}" if max_steps else ""
    return (
        f"step {m['step']}{total}  epoch {m['epoch']}  loss {m['loss']:.4f}  acc {m['accuracy']:.3f}  "
        f"grad norm {_norm(m.get('gradient_norm'))}  {m['tokens_per_second']:,.0f} tok/s  lr {m['learning_rate']:.2e}  "
        f"eta {_duration(m.get('eta_seconds'))}"
    )


def _norm(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"


class PlainReporter:
    """One line per logged step (at most every `min_interval` seconds) — for CI logs and pipes."""

    def __init__(self, min_interval: float = 0.0):
        self.min_interval = min_interval
        self._last = 0.0
        self.max_steps: int | None = None

    def start(self, info: dict[str, Any]) -> None:
        self.max_steps = info.get("max_steps")
        if info.get("vocabulary_growth"):
            console.info(info["vocabulary_growth"])
        resumed = f", resuming at step {info['resumed_from']}" if info.get("resumed_from") else ""
        frozen = (f" ({info['trainable_parameters']:,} trainable; frozen: {info['freeze']})" if info.get("freeze")
                  else "")
        accumulated = (f", {info['accumulation_steps']} passes per step (global batch {info['global_batch_size']})"
                       if info.get("accumulation_steps", 1) > 1 else "")
        if info.get("lora"):
            console.info(info["lora"])
        console.info(
            f"training {info['parameters']:,} parameters{frozen} on {info['backend']} "
            f"({info['precision']}){_spread(info)}{accumulated}{resumed}")

    def step(self, metrics: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last >= self.min_interval:
            self._last = now
            console.info(format_step(metrics, self.max_steps))

    def evaluation(self, metrics: dict[str, Any]) -> None:
        console.info(
            f"eval at step {metrics['step']}: loss {metrics['val_loss']:.4f}  acc {metrics['val_accuracy']:.3f}  "
            f"perplexity {metrics['val_perplexity']:.2f}"
        )

    def message(self, text: str) -> None:
        console.info(text)

    def finish(self, summary: dict[str, Any]) -> None:
        console.info(
            f"done: {summary['steps']} steps, {summary['tokens_seen']:,} tokens in "
            f"{_duration(summary['train_seconds'])}")
        if summary.get("skipped_lines"):
            console.warn(f"skipped {summary['skipped_lines']:,} bad lines (--skip-bad-lines)")


class LiveReporter(PlainReporter):
    """A live table in the terminal, with evaluation lines printed above it."""

    def __init__(self):
        super().__init__()
        self._live: Live | None = None

    def start(self, info: dict[str, Any]) -> None:
        super().start(info)
        self._live = Live(self._table(None), console=console.stderr, refresh_per_second=4, transient=True)
        self._live.start()

    def _table(self, m: dict[str, Any] | None) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("step", "epoch", "loss", "acc", "grad norm", "tok/s", "lr", "eta"):
            table.add_column(column, justify="right")
        if m is not None:
            total = f"/{self.max_steps}" if self.max_steps else ""
            table.add_row(
                f"{m['step']}{total}", str(m["epoch"]), f"{m['loss']:.4f}", f"{m['accuracy']:.3f}",
                _norm(m.get("gradient_norm")), f"{m['tokens_per_second']:,.0f}", f"{m['learning_rate']:.2e}",
                _duration(m.get("eta_seconds")),
            )
        return table

    def step(self, metrics: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.update(self._table(metrics))

    def evaluation(self, metrics: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.console.print(
                f"eval at step {metrics['step']}: loss {metrics['val_loss']:.4f}  acc {metrics['val_accuracy']:.3f}  "
                f"perplexity {metrics['val_perplexity']:.2f}", markup=False,
            )

    def finish(self, summary: dict[str, Any]) -> None:
        self.close()
        super().finish(summary)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def make_reporter():
    """Live display in an interactive terminal, plain lines otherwise (or nothing with --quiet)."""
    if console.settings.quiet:
        from mlm_cli.workflows.train import SilentReporter

        return SilentReporter()
    if console.stderr.is_terminal:
        return LiveReporter()
    return PlainReporter(min_interval=0.0)


def _spread(info: dict[str, Any]) -> str:
    """', 4 devices in 2 processes, data parallel, global batch 64' (nothing on one device)."""
    kind = info.get("distribution") or "none"
    if kind == "none":
        return ""
    processes = info.get("processes", 1)
    where = f"{info.get('devices')} devices" + (f" in {processes} processes" if processes > 1 else "")
    return f", {where}, {kind} parallel, global batch {info.get('global_batch_size')}"
