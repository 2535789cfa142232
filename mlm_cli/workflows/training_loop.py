"""The training loop: one step per batch, a metrics record per logging window, evaluations,
checkpoints, and a clean stop on SIGINT/SIGTERM.

The loop owns the run's counters (step, tokens seen, training seconds); everything it
trains on and writes to comes prepared in a `Run` (mlm_cli.workflows.training_run).
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mlm_cli.errors import EXIT_INTERRUPTED, BadInputError, MlmError

if TYPE_CHECKING:
    from mlm_cli.workflows.training_run import Run


class TrainReporter(Protocol):
    """What the training loop tells its caller (the CLI renders it; tests may record it)."""

    def start(self, info: dict[str, Any]) -> None: ...
    def step(self, metrics: dict[str, Any]) -> None: ...
    def evaluation(self, metrics: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


class SilentReporter:
    def start(self, info): pass
    def step(self, metrics): pass
    def evaluation(self, metrics): pass
    def message(self, text): pass
    def finish(self, summary): pass


class TrainingInterrupted(MlmError):
    """SIGINT/SIGTERM: a checkpoint was saved; exit 130 (or 128 + signal)."""


class SignalFlag:
    """Record SIGINT/SIGTERM instead of dying mid-step; the loop checks the flag after each step.

    A second SIGINT raises KeyboardInterrupt at once.
    """

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


@dataclass
class Window:
    """Tokens and time since the last metrics record."""

    tokens: int = 0
    real_tokens: int = 0
    wait_mark: float = 0.0  # the stream's data-wait seconds when the window opened
    started: float = 0.0

    def restart(self, wait_seconds: float) -> None:
        self.tokens = self.real_tokens = 0
        self.wait_mark = wait_seconds
        self.started = time.perf_counter()


class TrainingLoop:
    """Trains `run.model` on `run.stream` until --max-steps or the end of the data."""

    def __init__(self, run: Run, reporter: TrainReporter):
        self.run = run
        self.options = run.options
        self.reporter = reporter
        self.first_step = int(run.state.get("step", 0))
        self.step = self.first_step
        self.tokens_seen = int(run.state.get("tokens_seen", 0))
        self.elapsed = float(run.state.get("elapsed_seconds", 0.0))
        self.last: dict[str, Any] = {}
        self.last_eval: dict[str, Any] | None = None
        self.window = Window()
        self.interrupt = SignalFlag()  # installed as the signal handler only inside guarded()
        self.best = BestEvaluation.from_state(run.state)
        self.stopped_early = False

    @property
    def reached_max_steps(self) -> bool:
        return bool(self.options.max_steps and self.step >= self.options.max_steps)

    @contextlib.contextmanager
    def guarded(self):
        """Signals recorded (see SignalFlag), peers told of failures, metrics files closed: around fit and publish."""
        with SignalFlag() as interrupt, self.run.sync.guard(), contextlib.closing(self.run.metrics):
            self.interrupt = interrupt
            yield self

    def fit(self) -> dict[str, Any]:
        """Train to the end, save the final checkpoint, evaluate; returns the run's summary. Call inside `guarded()`."""
        already_done = self.reached_max_steps  # resumed after its last step (killed while publishing): only publish
        started = time.perf_counter()
        try:
            if not already_done:
                self._train_steps()
        finally:
            self.run.stream.close()
        if not already_done:
            self._refuse_empty_corpus()
            self.save("final")
            if self.step % self.options.evaluation_interval != 0 or self.last_eval is None:
                self.last_eval = self.evaluate() or self.last_eval
        return self.summary(time.perf_counter() - started)

    def _train_steps(self) -> None:
        stream, sync = self.run.stream, self.run.sync
        self.window.restart(stream.wait_seconds)
        while True:
            before = stream.state_dict()
            batch = stream.next_batch()
            turn = sync.agree_on_step(batch, self.interrupt.received, self.options.accumulation_steps)
            if turn.signal:
                self._stop(turn.signal, before)
            if not turn.any_data:
                return
            logs = self.train_step(batch or stream.filler(), turn)
            if self.step % self.options.log_every == 0 or self.reached_max_steps:
                self.log(logs)
            if self.step % self.options.evaluation_interval == 0:
                began = time.perf_counter()
                self.last_eval = self.evaluate() or self.last_eval
                self.window.started += time.perf_counter() - began  # evaluating is not training time
                if self._patience_exhausted():
                    if self.step % self.options.log_every != 0:
                        self.log(logs)  # the last steps' record, as at --max-steps
                    return
            if self.step % self.options.save_every == 0:
                self.check_finite(float(logs["loss"]))  # never checkpoint diverged weights
                self.save("periodic")
            if self.reached_max_steps:
                return

    def train_step(self, batch, turn) -> dict[str, Any]:
        from mlm_cli.workflows.accumulation import StepLogs, accumulation_parts

        logs = StepLogs(turn.part_masks)
        for part in accumulation_parts(batch, turn.part_masks):
            features, mask_ids, mask_weights = self.run.step_inputs(part)
            logs.add(self.run.model.train_on_batch(features, mask_ids, sample_weight=mask_weights, return_dict=True))
        self.step += 1
        self.window.tokens += turn.tokens
        self.window.real_tokens += turn.real_tokens
        self.tokens_seen += turn.real_tokens
        return logs.result()

    def log(self, logs: dict[str, Any]) -> None:
        """Close the logging window: one `train` record to metrics.jsonl and the reporter."""
        stream, options = self.run.stream, self.options
        seconds = max(time.perf_counter() - self.window.started, 1e-9)
        loss = self.check_finite(float(logs["loss"]))
        self.elapsed += seconds
        wait = stream.wait_seconds - self.window.wait_mark
        steps_done = max(1, self.step - self.first_step)
        self.last = {
            "type": "train",
            "step": self.step,
            "epoch": stream.epoch + 1,
            "loss": loss,
            "accuracy": float(logs.get("sparse_categorical_accuracy", float("nan"))),
            "learning_rate": self.run.schedule.value_at(self.step - 1),
            "gradient_norm": gradient_norm(self.run.model),
            "tokens_per_second": self.window.tokens / seconds,
            "real_tokens_per_second": self.window.real_tokens / seconds,
            "data_wait_share": wait / seconds,
            "window_seconds": seconds,
            "window_tokens": self.window.tokens,
            "window_real_tokens": self.window.real_tokens,
            "window_data_wait_seconds": wait,
            "tokens_seen": self.tokens_seen,
            "elapsed_seconds": self.elapsed,
            "eta_seconds": (options.max_steps - self.step) * self.elapsed / steps_done if options.max_steps else None,
        }
        self.run.metrics.write(self.last)
        self.reporter.step(self.last)
        self.run.model.reset_metrics()
        self.window.restart(stream.wait_seconds)

    def evaluate(self) -> dict[str, Any] | None:
        """Masked-LM loss and accuracy on the held-out batches (None when the run has none)."""
        batches = self.run.validation_batches()
        if batches is None:
            return None
        try:
            result = self.run.sync.masked_lm_metrics(self.run.model, batches, self.options.eval_batches).as_dict()
        finally:
            batches.close()
        record = {"type": "eval", "step": self.step, **{f"val_{k}": v for k, v in result.items()}}
        self.best.update(record["val_loss"], self.step, self.options.early_stopping_threshold)
        if self.options.keep_best and self.best.step == self.step:
            self.save_best()
        self.run.metrics.write(record)
        self.reporter.evaluation(record)
        return record

    def save(self, reason: str, data_state: dict[str, Any] | None = None) -> Path:
        """A checkpoint of weights, optimizer, random generators and the data position (process 0 writes it)."""
        from mlm_cli.workflows import checkpoints

        run = self.run
        with run.sync.readable(run.model):
            if not all(bool(np.isfinite(v.numpy()).all()) for v in run.model.trainable_variables):
                self.check_finite(float("nan"))  # an update overflowed: never checkpoint diverged weights
            data = run.sync.all_shard_states(data_state or run.stream.state_dict())
            state = {"step": self.step, "tokens_seen": self.tokens_seen, "elapsed_seconds": self.elapsed,
                     "data": data, "reason": reason, **self.best.state()}
            if not run.cluster.is_main:
                return checkpoints.checkpoint_root(self.options.output) / f"step-{self.step:08d}"
            return checkpoints.save_checkpoint(self.options.output, run.model, state,
                                               keep=self.options.keep_checkpoints)

    def save_best(self) -> None:
        """--keep-best: this step's weights, the best evaluation so far, beside the checkpoints."""
        from mlm_cli.workflows import checkpoints

        run = self.run
        with run.sync.readable(run.model):
            if run.cluster.is_main:
                checkpoints.save_best(self.options.output, run.model, self.step, float(self.best.loss))

    def check_finite(self, loss: float) -> float:
        if not math.isfinite(loss):
            from mlm_cli.workflows.checkpoints import latest_checkpoint

            latest = latest_checkpoint(self.options.output)
            kept = f"; the last good checkpoint ({latest.name}) is intact" if latest else ""
            raise MlmError(f"training diverged (loss or weights became {loss}) at step {self.step}{kept}",
                           hint="lower --learning-rate or use --precision float32, then --resume or start over")
        return loss

    def _stop(self, signum: int, data_state: dict[str, Any]) -> None:
        """A signal arrived: checkpoint the position before the batch just drawn, then leave with 130 (or 128 + N)."""
        where = self.save("interrupted", data_state)
        raise TrainingInterrupted(
            f"interrupted at step {self.step}; checkpoint saved to {where}",
            hint="run the same command with --resume to continue",
            exit_code=EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum,
        )

    def _patience_exhausted(self) -> bool:
        """--early-stopping-patience: N evaluations in a row without improving on the best validation loss."""
        patience = self.options.early_stopping_patience
        if not patience or self.best.stale < patience:
            return False
        self.stopped_early = True
        self.reporter.message(
            f"stopping early at step {self.step}: the validation loss has not improved for {patience} evaluations "
            f"(best {self.best.loss:.4f} at step {self.best.step})")
        return True

    def _refuse_empty_corpus(self) -> None:
        if self.step != self.first_step:
            return
        skipped = self.run.stream.skipped_lines
        if skipped:
            raise BadInputError(f"every line of the corpus was bad: {skipped:,} skipped by --skip-bad-lines",
                                hint="check the files and --text-column")
        raise BadInputError("the corpus is empty: it produced no training batches",
                            hint="check --data and --text-column")

    def summary(self, seconds: float) -> dict[str, Any]:
        evaluation = self.last_eval or {}
        return {
            "output": str(self.options.output),
            "steps": self.step,
            "tokens_seen": self.tokens_seen,
            "train_seconds": round(seconds, 2),
            "skipped_lines": self.run.stream.skipped_lines,
            "final_loss": self.last.get("loss"),
            "final_accuracy": self.last.get("accuracy"),
            **{k: v for k, v in evaluation.items() if k.startswith("val_")},
            "stopped_early": self.stopped_early,
            "best_val_loss": self.best.loss,
            "best_val_step": self.best.step,
            "published_step": self.step,  # --keep-best: the best evaluation's step instead (set when publishing)
        }


@dataclass
class BestEvaluation:
    """The best validation loss so far, its step, and the evaluations since (kept in checkpoints for --resume)."""

    loss: float | None = None
    step: int | None = None
    stale: int = 0

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BestEvaluation:
        return cls(state.get("best_val_loss"), state.get("best_val_step"), int(state.get("evaluations_since_best", 0)))

    def update(self, loss: float, step: int, threshold: float) -> None:
        if self.loss is None or loss < self.loss - threshold:
            self.loss, self.step, self.stale = float(loss), step, 0
        else:
            self.stale += 1

    def state(self) -> dict[str, Any]:
        return {"best_val_loss": self.loss, "best_val_step": self.step, "evaluations_since_best": self.stale}


def gradient_norm(model) -> float | None:
    """Global norm of the last step's gradients, before clipping (FusedAdamW records it)."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # under a loss-scale wrapper
    variable = getattr(optimizer, "gradient_norm", None)
    return None if variable is None else float(variable.numpy())
