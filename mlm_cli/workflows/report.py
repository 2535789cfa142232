"""Read a training run directory (metrics.jsonl, train_config.json, checkpoints) and summarise it."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlm_cli.errors import BadInputError
from mlm_cli.workflows.checkpoints import latest_checkpoint, read_state
from mlm_cli.workflows.run_directory import CONFIG_FILE, METRICS_FILE, PRESET_CONFIG_FILE

RUN_HINT = "pass the --output directory of an `mlm train` run"


@dataclass
class RunMetrics:
    """The records of metrics.jsonl by kind, ordered by step (the last record wins for a repeated step)."""

    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.train or self.eval)


def read_metrics(path: Path) -> RunMetrics:
    """Parse metrics.jsonl, skipping lines a crash cut short and records without a step."""
    by_kind: dict[str, dict[int, dict[str, Any]]] = {"train": {}, "eval": {}}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return RunMetrics()
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("type") not in by_kind:
            continue
        step = record.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            continue
        by_kind[record["type"]][step] = record
    return RunMetrics(*(sorted(by_kind[kind].values(), key=lambda r: r["step"]) for kind in ("train", "eval")))


def number(value: Any) -> float | None:
    """`value` as a finite float, or None (missing, null, NaN, infinite or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_run_dir(run_dir: Path) -> Path:
    """`run_dir` as a Path, or a BadInputError when it is not a training run directory."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise BadInputError(f"{run_dir}: no such directory", hint=RUN_HINT)
    if not run_dir.is_dir():
        raise BadInputError(f"{run_dir}: not a directory", hint=RUN_HINT)
    if not (run_dir / CONFIG_FILE).is_file() and not (run_dir / METRICS_FILE).is_file():
        raise BadInputError(f"{run_dir}: not an mlm training run (no {CONFIG_FILE} or {METRICS_FILE})", hint=RUN_HINT)
    return run_dir


def load_run_metrics(run_dir: Path) -> RunMetrics:
    """The metrics of a run directory; a BadInputError when there are none yet."""
    run_dir = check_run_dir(run_dir)
    metrics = read_metrics(run_dir / METRICS_FILE)
    if not metrics:
        raise BadInputError(
            f"{run_dir}: no metrics yet in {METRICS_FILE}",
            hint="training logs them every --log-every steps; try again after the first",
        )
    return metrics


def read_train_config(run_dir: Path) -> dict[str, Any]:
    """train_config.json of a run ({} when absent)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(f"{path}: unreadable ({error})",
                            hint="restore it or delete it to report from metrics.jsonl alone") from None
    if not isinstance(config, dict):
        raise BadInputError(f"{path}: not a JSON object",
                            hint="restore it or delete it to report from metrics.jsonl alone")
    return config


def _best(records: list[dict[str, Any]], key: str, lowest: bool = True) -> tuple[float | None, int | None]:
    """The best finite value of `key` and its step (the earliest on ties)."""
    found = [(number(r.get(key)), r["step"]) for r in records]
    found = [(value, step) for value, step in found if value is not None]
    if not found:
        return None, None
    value, step = min(found, key=lambda pair: (pair[0] if lowest else -pair[0], pair[1]))
    return value, step


def _mlflow_run(run_dir: Path) -> dict[str, Any] | None:
    """--mlflow: the tracking URI and run id the run logged to (RUN/mlflow_run.json), else None."""
    path = run_dir / "mlflow_run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _published_step(config: dict[str, Any], evals: list[dict[str, Any]], last: int) -> int | None:
    """The step whose weights the preset holds: the last, or with --keep-best the best evaluation's (chosen as the run
    chose it)."""
    if not config.get("keep_best"):
        return last
    from mlm_cli.workflows.training_loop import BestEvaluation

    best = BestEvaluation()
    for record in evals:
        value = number(record.get("val_loss"))
        if value is not None:
            best.update(value, record["step"], float(config.get("early_stopping_threshold") or 0.0))
    return best.step


def _last(records: list[dict[str, Any]], key: str) -> Any:
    return records[-1].get(key) if records else None


def _checkpoint_step(run_dir: Path) -> int | None:
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return None
    try:
        return int(read_state(checkpoint).get("step"))
    except (BadInputError, TypeError, ValueError):
        return int(checkpoint.name.split("-")[1])


def run_report(run_dir: Path) -> dict[str, Any]:
    """A flat summary of a training run: what was trained, how far, how fast and how well.

    Every key is always present (None when the run has no such data); non-finite numbers are None,
    so the result is valid JSON.
    """
    run_dir = check_run_dir(run_dir)
    config = read_train_config(run_dir)
    metrics = load_run_metrics(run_dir)
    train, evals = metrics.train, metrics.eval
    finished = (run_dir / PRESET_CONFIG_FILE).is_file()
    speeds = [s for s in (number(r.get("tokens_per_second")) for r in train) if s is not None]
    real_speeds = [s for s in (number(r.get("real_tokens_per_second")) for r in train) if s is not None]
    epochs = [int(r["epoch"]) for r in train if isinstance(r.get("epoch"), int)]
    best_loss, best_loss_step = _best(train, "loss")
    peak_lr, peak_lr_step = _best(train, "learning_rate", lowest=False)
    best_val_loss, best_val_loss_step = _best(evals, "val_loss")
    best_val_accuracy, best_val_accuracy_step = _best(evals, "val_accuracy", lowest=False)
    best_val_perplexity, best_val_perplexity_step = _best(evals, "val_perplexity")
    largest_norm, largest_norm_step = _best(train, "gradient_norm", lowest=False)
    tokens_seen = _last(train, "tokens_seen")
    return {
        "run_dir": str(run_dir),
        "preset": config.get("preset"),
        "backend": config.get("backend"),
        "precision": config.get("precision"),
        "parameters": config.get("parameters"),
        "freeze": config.get("freeze"),
        "trainable_parameters": config.get("trainable_parameters"),
        "lora": {key: config.get(f"lora_{key}") for key in ("rank", "alpha", "targets", "only")}
        if config.get("lora_rank") else None,
        "global_batch_size": config.get("global_batch_size"),
        "accumulation_steps": config.get("accumulation_steps", 1),
        "status": "finished" if finished else "stopped",
        "checkpoint_step": _checkpoint_step(run_dir),
        "steps": max(r["step"] for r in train + evals),
        "max_steps": config.get("max_steps"),
        "epochs": max(epochs) if epochs else None,
        "tokens_seen": tokens_seen if isinstance(tokens_seen, int) else None,
        "train_seconds": number(_last(train, "elapsed_seconds")),
        "median_tokens_per_second": statistics.median(speeds) if speeds else None,
        "median_real_tokens_per_second": statistics.median(real_speeds) if real_speeds else None,
        "first_loss": number(_last(train[:1], "loss")),
        "final_loss": number(_last(train, "loss")),
        "best_loss": best_loss,
        "best_loss_step": best_loss_step,
        "final_accuracy": number(_last(train, "accuracy")),
        "peak_learning_rate": peak_lr,
        "peak_learning_rate_step": peak_lr_step,
        "final_learning_rate": number(_last(train, "learning_rate")),
        "schedule": config.get("schedule", "linear"),
        "max_grad_norm": config.get("max_grad_norm"),
        "early_stopping_patience": config.get("early_stopping_patience"),
        "keep_best": bool(config.get("keep_best")),
        "whole_word_masking": bool(config.get("whole_word_masking")),
        "data_weights": config.get("data_weights"),
        "gradient_checkpointing": bool(config.get("gradient_checkpointing")),
        "mlflow_run": _mlflow_run(run_dir),
        "published_step": _published_step(config, evals, max(r["step"] for r in train + evals)) if finished else None,
        "final_gradient_norm": number(_last(train, "gradient_norm")),
        "largest_gradient_norm": largest_norm,
        "largest_gradient_norm_step": largest_norm_step,
        "final_val_step": _last(evals, "step"),
        "final_val_loss": number(_last(evals, "val_loss")),
        "final_val_accuracy": number(_last(evals, "val_accuracy")),
        "final_val_perplexity": number(_last(evals, "val_perplexity")),
        "best_val_loss": best_val_loss,
        "best_val_loss_step": best_val_loss_step,
        "best_val_accuracy": best_val_accuracy,
        "best_val_accuracy_step": best_val_accuracy_step,
        "best_val_perplexity": best_val_perplexity,
        "best_val_perplexity_step": best_val_perplexity_step,
        "train_records": len(train),
        "eval_records": len(evals),
    }
