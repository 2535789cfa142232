"""`mlm train`: stream a corpus through the masking pipeline into a MaskedLM, with checkpoints.

A run in four parts, each in its own module:
- options and their validation (mlm_cli.workflows.train_options);
- preparation: cluster, model, optimizer, data streams, resume state (training_run.prepare_run);
- the loop: steps, logs, evaluations, checkpoints, signals (training_loop.TrainingLoop);
- publishing: the trained preset, its model card and plot in the run directory (below).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from mlm_cli import __version__
from mlm_cli.backend import prepare_xla_flags
from mlm_cli.workflows.run_directory import publish_preset
from mlm_cli.workflows.train_options import TrainOptions, validate_options
from mlm_cli.workflows.training_loop import SilentReporter, TrainingInterrupted, TrainingLoop, TrainReporter

__all__ = ["TrainOptions", "TrainReporter", "SilentReporter", "TrainingInterrupted", "train"]


def train(options: TrainOptions, reporter: TrainReporter | None = None) -> dict[str, Any]:
    """Run (or resume) a training run; returns the summary also written to the run directory.

    The run directory is locked from the output check through publishing, so it has one
    writer (process 0 of a multi-host run holds the lock; see mlm_cli.workflows.run_lock).
    On several devices or hosts (jax) every process runs this: all of them train, process 0
    alone writes the run directory.
    """
    validate_options(options)
    prepare_xla_flags()  # before jax starts (the cluster set-up below starts it)
    options.output = Path(options.output).expanduser().absolute()
    from mlm_cli.workflows.run_lock import output_lock
    from mlm_cli.workflows.training_run import prepare_run

    writer = not options.cluster_options().multi_process or options.process_id == 0
    with output_lock(options.output, "mlm train", writer=writer, no_lock=options.no_lock):
        run = prepare_run(options)
        reporter = reporter if reporter is not None and run.cluster.is_main else SilentReporter()
        reporter.start(run.start_info())
        loop = TrainingLoop(run, reporter)
        with loop.guarded(), tracked(run, reporter):
            summary = loop.fit()
            if run.cluster.is_main:
                preset_names = publish_run(run, summary, reporter)
                if run.tracker is not None:
                    run.tracker.finish(preset_names)
    reporter.finish(summary)
    return summary


@contextlib.contextmanager
def tracked(run, reporter: TrainReporter):
    """--mlflow: the MLflow run ends KILLED when training is interrupted (it resumes), FAILED on an error."""
    tracker = run.tracker
    try:
        yield
    except TrainingInterrupted:
        if tracker is not None:
            tracker.end("KILLED")
        raise
    except BaseException:
        if tracker is not None:
            tracker.end("FAILED")
        raise
    finally:
        if tracker is not None and tracker.disabled_because:
            reporter.message(tracker.disabled_because)


def publish_run(run, summary: dict[str, Any], reporter: TrainReporter) -> list[str]:
    """The trained preset with its model card, then training.png, into the run directory."""
    from mlm_cli.workflows.lora_training import lora_publishing
    from mlm_cli.workflows.model_card import training_card

    weights_from = None
    if run.options.keep_best and summary.get("best_val_step") is not None:
        from mlm_cli.workflows.checkpoints import best_weights

        weights_from = best_weights(run.options.output, int(summary["best_val_step"]))
        summary["published_step"] = int(summary["best_val_step"])
        reporter.message(f"publishing the weights of step {summary['published_step']} (best validation loss "
                         f"{summary['best_val_loss']:.4f}; --keep-best)")
    if run.tracker is not None:
        summary["mlflow_run"] = {"tracking_uri": run.tracker.uri, "run_id": run.tracker.run_id}
    card = training_card(run.card_config, summary, family=family_name(run.model), version=__version__)
    with run.sync.readable(run.model):
        weights_from, write_files = lora_publishing(run, weights_from)
        names = publish_preset(run.model, run.options.output, card, weights_from, write_files)
    draw_plot(run.options.output, reporter)
    return names


def draw_plot(output: Path, reporter: TrainReporter) -> None:
    """training.png in the run directory; a plotting failure never fails a finished run."""
    from mlm_cli.workflows.training_plot import draw_training_plot

    try:
        draw_training_plot(output)
    except Exception as error:  # noqa: BLE001 - the model is saved; the plot can be redrawn with `mlm report`
        reporter.message(
            f"could not draw training.png ({type(error).__name__}: {error}); `mlm report {output}` retries")


def family_name(model) -> str:
    """The family of a task (bert, roberta, ...) as the registry names it."""
    from mlm_cli.models.preset.registry import lookup

    try:
        return lookup(type(model).__name__, "model")[0].name
    except Exception:  # noqa: BLE001 - a subclass the registry does not list
        return type(model).__name__
