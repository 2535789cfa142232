"""`mlm train`: stream a corpus through the masking pipeline into a MaskedLM, with checkpoints."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlm_cli import __version__
from mlm_cli.atomic_files import staging_directory, write_text_atomic
from mlm_cli.data.shuffling import DEFAULT_SHUFFLE_BUFFER
from mlm_cli.distributed.cluster import ClusterOptions
from mlm_cli.errors import EXIT_INTERRUPTED, BadInputError, MlmError
from mlm_cli.workflows.batch_streams import documents_of, sharded_batch_stream
from mlm_cli.workflows.model_card import data_sources, training_card
from mlm_cli.workflows.model_setup import MaskingOptions
from mlm_cli.workflows.process_sync import ProcessSync

log = logging.getLogger("mlm")

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
UNKNOWN_TOTAL_WARMUP_BASE = 10_000  # a warm-up fraction applies to this many steps when --max-steps is not set
VOCABULARY_TRAINING_DOCUMENTS = 2_000_000
REPEAT_UNTIL_MAX_STEPS = 1_000_000  # passes over the data when --max-steps bounds the run
VALIDATION_MASK_SEED = 12345  # fixed: every evaluation of a run masks the held-out data alike


@dataclass
class TrainOptions:
    """Every option of a training run; `train_config.json` records the resolved values."""

    preset: str
    data: list[str]
    output: Path
    text_column: str = "text"
    validation_data: list[str] = field(default_factory=list)
    validation_split: float = 0.0
    sequence_length: int = 128
    batch_size: int = 32
    epochs: int = 1
    max_steps: int | None = None
    learning_rate: float | None = None
    warmup: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    mask_rate: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    packing: bool = True
    shuffle: bool = True  # seeded document order, new each epoch (mlm_cli.data.shuffling)
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER  # documents held in each shuffle window
    seed: int = 0
    precision: str | None = None
    eval_every: int | None = None
    eval_batches: int = 20
    save_every: int | None = None
    log_every: int = 10
    keep_checkpoints: int = 2
    resume: bool = False
    overwrite: bool = False
    vocabulary_size: int | None = None
    dropout: float | None = None
    encoding_errors: str = "strict"
    skip_bad_lines: bool = False
    distribute: str = "auto"  # auto | none | data | model (jax; see mlm_cli.distributed)
    model_shards: int | None = None
    data_shards: int | None = None  # corpus streams; default one per process
    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    command_line: str | None = None  # how the run was started, for the model card
    tensorboard: bool = False  # also write metrics as TensorBoard event files (RUN/tensorboard/)
    no_lock: bool = False  # run without the run directory's lock (filesystems without file locks), with a warning

    def cluster_options(self) -> ClusterOptions:
        return ClusterOptions(self.distribute, self.model_shards, self.coordinator, self.num_processes, self.process_id)

    def masking(self) -> MaskingOptions:
        return MaskingOptions(self.mask_rate, self.mask_token_rate, self.random_token_rate)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = str(self.output)
        return data


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


def validate_options(options: TrainOptions) -> None:
    """Refuse unusable option values before anything is loaded or written."""
    checks: list[tuple[bool, str]] = [
        (bool(options.data), "--data is required (a file, folder, glob or hf://dataset)"),
        (options.batch_size >= 1, "--batch-size must be at least 1"),
        (options.sequence_length >= 8, "--sequence-length must be at least 8"),
        (options.epochs >= 1, "--epochs must be at least 1"),
        (options.max_steps is None or options.max_steps >= 1, "--max-steps must be at least 1"),
        (options.learning_rate is None or options.learning_rate > 0, "--learning-rate must be positive"),
        (options.warmup >= 0, "--warmup must be >= 0 (steps, or a fraction below 1)"),
        (options.weight_decay >= 0, "--weight-decay must be >= 0"),
        (options.max_grad_norm >= 0, "--max-grad-norm must be >= 0 (0 turns clipping off)"),
        (0 < options.mask_rate <= 1, "--mask-rate must be in (0, 1]"),
        (options.mask_token_rate >= 0 and options.random_token_rate >= 0 and options.mask_token_rate + options.random_token_rate <= 1,
         "--mask-token-rate and --random-token-rate must be >= 0 and sum to at most 1"),
        (0 <= options.validation_split < 1, "--validation-split must be in [0, 1)"),
        (not (options.validation_split and options.validation_data), "use either --validation-data or --validation-split, not both"),
        (options.eval_every is None or options.eval_every >= 1, "--eval-every must be at least 1"),
        (options.save_every is None or options.save_every >= 1, "--save-every must be at least 1"),
        (options.log_every >= 1, "--log-every must be at least 1"),
        (options.keep_checkpoints >= 1, "--keep-checkpoints must be at least 1"),
        (options.eval_batches >= 1, "--eval-batches must be at least 1"),
        (options.encoding_errors in ("strict", "replace"), "--encoding-errors must be strict or replace"),
        (options.dropout is None or 0 <= options.dropout < 1, "--dropout must be in [0, 1)"),
        (options.vocabulary_size is None or options.vocabulary_size >= 100, "--vocabulary-size must be at least 100"),
        (not (options.resume and options.overwrite), "use either --resume or --overwrite, not both"),
        (options.data_shards is None or options.data_shards >= 1, "--data-shards must be at least 1"),
        (options.shuffle_buffer >= 1, "--shuffle-buffer must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise BadInputError(message)


def prepare_output(options: TrainOptions) -> None:
    """Check the output directory against --resume / --overwrite before any work starts."""
    from mlm_cli.workflows.checkpoints import latest_checkpoint

    output = options.output
    if output.exists() and not output.is_dir():
        raise BadInputError(f"output {output} exists and is not a directory", hint="choose another --output")
    if options.resume:
        if latest_checkpoint(output) is not None:
            return
        # Killed before its first checkpoint: the same command with --resume starts over.
        if output.is_dir() and any(output.iterdir()) and not (output / CONFIG_FILE).is_file() and not options.overwrite:
            raise BadInputError(f"nothing to resume in {output}: it holds no mlm run", hint="check --output, or start the run without --resume")
        options.resume = False
        options.overwrite = True
        return
    if output.is_dir() and any(output.iterdir()) and not options.overwrite:
        raise BadInputError(
            f"output directory {output} already exists and is not empty",
            hint="pass --resume to continue that run, --overwrite to replace it, or choose another --output",
        )


def _corpus_specs(options: TrainOptions):
    from mlm_cli.data.sources import CorpusSpec, check_corpus

    train = CorpusSpec(tuple(options.data), text_column=options.text_column, encoding_errors=options.encoding_errors,
                       skip_bad_lines=options.skip_bad_lines)
    check_corpus(train)
    validation = None
    if options.validation_data:
        validation = CorpusSpec(tuple(options.validation_data), text_column=options.text_column,
                                encoding_errors=options.encoding_errors, skip_bad_lines=options.skip_bad_lines)
        check_corpus(validation)
    return train, validation


def _build_model(options: TrainOptions, train_spec, precision: str, checkpoint: Path | None):
    from mlm_cli.workflows.model_setup import build_scratch_masked_lm, is_scratch_preset, load_masked_lm

    masking = options.masking()
    overrides = dict(
        mask_selection_rate=masking.rate,
        mask_selection_length=masking.selection_length(options.sequence_length),
        mask_token_rate=masking.mask_token_rate,
        random_token_rate=masking.random_token_rate,
        seed=options.seed,
    )
    if options.dropout is not None:
        overrides["dropout"] = options.dropout
    if checkpoint is not None:
        return load_masked_lm(str(checkpoint), sequence_length=options.sequence_length, precision=precision, **overrides)
    if is_scratch_preset(options.preset):
        documents = documents_of(train_spec, None)

        def texts():
            seen = 0
            for batch in documents.batches(1000):
                yield from batch
                seen += len(batch)
                if seen >= VOCABULARY_TRAINING_DOCUMENTS:
                    return

        return build_scratch_masked_lm(
            options.preset, texts(), sequence_length=options.sequence_length, precision=precision, masking=masking,
            seed=options.seed, vocabulary_size=options.vocabulary_size, dropout=options.dropout,
        )
    if options.vocabulary_size is not None:
        raise BadInputError("--vocabulary-size only applies to from-scratch presets", hint="run `mlm presets list` to see them")
    return load_masked_lm(options.preset, sequence_length=options.sequence_length, precision=precision, **overrides)


def _compile(model, options: TrainOptions, is_scratch: bool):
    from mlm_cli.workflows.schedule import WarmupLinearDecay

    peak = options.learning_rate or (5e-4 if is_scratch else 5e-5)
    total = options.max_steps
    if options.warmup >= 1:
        warmup = int(options.warmup)
    else:
        warmup = round(options.warmup * (total or UNKNOWN_TOTAL_WARMUP_BASE))
    schedule = WarmupLinearDecay(peak, warmup, total)
    from mlm_cli.models.optimizers import recipe_optimizer

    model.compile(optimizer=recipe_optimizer(schedule, options.weight_decay, options.max_grad_norm))
    return schedule


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2))


def publish_preset(model, output: Path, card: str | None = None) -> None:
    """Write the trained preset (and its model card) into the run directory; config.json lands last, so a loadable preset is always complete."""
    from mlm_cli.models.preset.saver import write_preset_files
    from mlm_cli.workflows.model_card import write_card

    staging = staging_directory(output, ".preset.partial-")
    try:
        write_preset_files(model, staging)
        if card is not None:
            write_card(staging, card)
        if (output / "config.json").exists():
            os.remove(output / "config.json")
        for item in sorted(staging.iterdir(), key=lambda p: p.name == "config.json"):
            destination = output / item.name
            if destination.is_dir():
                shutil.rmtree(destination)
            os.replace(item, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _trim_metrics(path: Path, step: int) -> None:
    """Drop metrics logged after the checkpoint a run resumes from (and a line cut short by a crash)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= step:
            kept.append(line)
    write_text_atomic(path, "".join(f"{line}\n" for line in kept))


class _SignalFlag:
    """Record SIGINT/SIGTERM instead of dying mid-step; the loop checks the flag after each step."""

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


def train(options: TrainOptions, reporter: TrainReporter | None = None) -> dict[str, Any]:
    """Run (or resume) a training run; returns the summary also written to the run directory.

    The run directory is locked from the output check through publishing, so it has one
    writer (process 0 of a multi-host run holds the lock; see mlm_cli.workflows.run_lock).
    """
    from mlm_cli.workflows.run_lock import output_lock

    options.output = Path(options.output).expanduser().absolute()
    validate_options(options)
    writer = not options.cluster_options().multi_process or options.process_id == 0
    with output_lock(options.output, "mlm train", writer=writer, no_lock=options.no_lock):
        return _train(options, reporter)


def _train(options: TrainOptions, reporter: TrainReporter | None = None) -> dict[str, Any]:
    """The training run itself, under the run directory's lock.

    On several devices or hosts (jax) every process runs this function: all of them train,
    process 0 alone writes the run directory.
    """
    from mlm_cli.backend import requested_backend
    from mlm_cli.distributed import cluster as clusters

    reporter = reporter or SilentReporter()
    options.output = Path(options.output).expanduser().absolute()
    validate_options(options)
    clusters.validate(options.cluster_options(), requested_backend())
    prepare_output(options)
    train_spec, validation_spec = _corpus_specs(options)

    import keras

    from mlm_cli.allocator import keep_freed_memory
    from mlm_cli.seeding import set_seed
    from mlm_cli.workflows import checkpoints
    from mlm_cli.workflows.model_setup import is_scratch_preset
    from mlm_cli.workflows.precision import resolve_precision

    backend = keras.backend.backend()
    cluster = clusters.start(options.cluster_options(), backend)
    sync = ProcessSync(cluster)
    if not cluster.is_main:
        reporter = SilentReporter()
    global_batch = cluster.global_batch_size(options.batch_size)

    checkpoint = None
    state: dict[str, Any] = {}
    saved_config: dict[str, Any] = {}
    if options.resume:
        saved_config = json.loads((options.output / CONFIG_FILE).read_text(encoding="utf-8"))
        _check_resume_compatible(saved_config, options, global_batch)
        if cluster.is_main:
            checkpoints.clean_partial_checkpoints(options.output)
        checkpoint = checkpoints.latest_checkpoint(options.output)
        state = checkpoints.read_state(checkpoint)
        if cluster.is_main:
            _trim_metrics(options.output / METRICS_FILE, int(state.get("step", 0)))
    data_shards = _data_shards(options, saved_config, cluster, global_batch)
    precision = resolve_precision(options.precision, backend)
    keep_freed_memory()
    set_seed(options.seed + int(state.get("step", 0)))
    model = _build_model(options, train_spec, precision, checkpoint)
    scratch = is_scratch_preset(options.preset)
    schedule = _compile(model, options, scratch)
    if checkpoint is not None:
        checkpoints.restore_optimizer(checkpoint, model)
        checkpoints.restore_rng_state(checkpoint, model)  # dropout draws continue exactly where they stopped

    if cluster.is_main and not options.resume:
        if options.output.exists() and options.overwrite:
            shutil.rmtree(options.output)
        options.output.mkdir(parents=True, exist_ok=True)
    resolved = {
        **options.to_json(),
        "backend": backend,
        "precision": precision,
        "learning_rate": schedule.peak,
        "warmup_steps": schedule.warmup_steps,
        "mask_selection_length": model.preprocessor.mask_selection_length,
        "vocabulary_size": model.preprocessor.tokenizer.vocabulary_size(),
        "parameters": model.backbone.parameter_count(),
        "distribution": cluster.kind,
        "processes": cluster.num_processes,
        "devices": cluster.devices,
        "model_shards": cluster.model_shards,
        "data_shards": data_shards,
        "global_batch_size": global_batch,
        "data_sources": data_sources(options.data) if cluster.is_main else [],
    }
    for launch_detail in ("coordinator", "process_id"):  # differ per process; not part of the run
        resolved.pop(launch_detail)
    if cluster.is_main and not options.resume:
        _write_json_atomic(options.output / CONFIG_FILE, resolved)
    card_config = {**resolved, **{key: saved_config[key] for key in ("data_sources", "command_line") if saved_config.get(key)}}

    split = max(2, round(1 / options.validation_split)) if options.validation_split else None
    shard_ids = cluster_shards(cluster, data_shards)
    rows_per_shard = global_batch // data_shards
    # As in Hugging Face's Trainer, --max-steps wins over --epochs: the data repeats until it is reached.
    passes = REPEAT_UNTIL_MAX_STEPS if options.max_steps else options.epochs
    stream = sharded_batch_stream(model, train_spec, shard_ids=shard_ids, data_shards=data_shards, rows_per_shard=rows_per_shard,
                                  packing=options.packing, seed=options.seed, epochs=passes, split=(split, False) if split else None,
                                  shuffle_buffer=options.shuffle_buffer if options.shuffle else None)
    if state:
        stream.load_state_dict(state["data"])

    def validation_batches():
        if validation_spec is None and not split:
            return None
        spec, held_out = (validation_spec, None) if validation_spec is not None else (train_spec, (split, True))
        return sharded_batch_stream(model, spec, shard_ids=shard_ids, data_shards=data_shards, rows_per_shard=rows_per_shard,
                                    packing=options.packing, seed=VALIDATION_MASK_SEED, split=held_out)

    step = int(state.get("step", 0))
    tokens_seen = int(state.get("tokens_seen", 0))
    elapsed = float(state.get("elapsed_seconds", 0.0))
    eval_every = options.eval_every or (options.save_every or 1000)
    save_every = options.save_every or 1000
    reporter.start({"parameters": resolved["parameters"], "backend": backend, "precision": precision, "resumed_from": step,
                    "max_steps": options.max_steps, "output": str(options.output), "distribution": cluster.kind,
                    "devices": cluster.devices, "processes": cluster.num_processes, "global_batch_size": global_batch})

    metrics_path = options.output / METRICS_FILE
    window_tokens = window_real = 0
    window_wait = 0.0
    window_start = time.perf_counter()
    last: dict[str, Any] = {}
    last_eval: dict[str, Any] | None = None

    board = None
    if options.tensorboard and cluster.is_main:
        from mlm_cli.workflows.tensorboard import TensorBoardWriter

        board = TensorBoardWriter(options.output / "tensorboard")

    def log_metrics(record: dict[str, Any]) -> None:
        if cluster.is_main:
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            if board is not None:
                board.write(record)

    def run_evaluation() -> dict[str, Any] | None:
        batches = validation_batches()
        if batches is None:
            return None
        try:
            result = sync.masked_lm_metrics(model, batches, options.eval_batches).as_dict()
        finally:
            batches.close()
        record = {"type": "eval", "step": step, **{f"val_{k}": v for k, v in result.items()}}
        log_metrics(record)
        reporter.evaluation(record)
        return record

    def save(reason: str, data_state: dict[str, Any] | None = None) -> Path:
        with sync.readable(model):
            if not all(bool(np.isfinite(v.numpy()).all()) for v in model.trainable_variables):
                check_finite(float("nan"))  # an update overflowed: never checkpoint diverged weights
            data = sync.all_shard_states(data_state or stream.state_dict())
            saved_state = {"step": step, "tokens_seen": tokens_seen, "elapsed_seconds": elapsed, "data": data, "reason": reason}
            if not cluster.is_main:
                return checkpoints.checkpoint_root(options.output) / f"step-{step:08d}"
            return checkpoints.save_checkpoint(options.output, model, saved_state, keep=options.keep_checkpoints)

    def check_finite(loss: float) -> float:
        if not math.isfinite(loss):
            latest = checkpoints.latest_checkpoint(options.output)
            kept = f"; the last good checkpoint ({latest.name}) is intact" if latest else ""
            raise MlmError(f"training diverged (loss or weights became {loss}) at step {step}{kept}",
                           hint="lower --learning-rate or use --precision float32, then --resume or start over")
        return loss

    already_done = bool(options.max_steps and step >= options.max_steps)
    run_start = time.perf_counter()
    with _SignalFlag() as interrupt, sync.guard(), contextlib.closing(board) if board else contextlib.nullcontext():
        try:
            while not already_done:
                before = stream.state_dict()
                batch = stream.next_batch()
                turn = sync.agree_on_step(batch, interrupt.received)
                if turn.signal:
                    where = save("interrupted", before)
                    code = EXIT_INTERRUPTED if turn.signal == signal.SIGINT else 128 + turn.signal
                    raise TrainingInterrupted(
                        f"interrupted at step {step}; checkpoint saved to {where}",
                        hint="run the same command with --resume to continue",
                        exit_code=code,
                    )
                if not turn.any_data:
                    break
                batch = batch or stream.filler()
                logs = model.train_on_batch(batch.features(), batch.mask_ids, sample_weight=batch.mask_weights, return_dict=True)
                step += 1
                window_tokens += turn.tokens
                window_real += turn.real_tokens
                tokens_seen += turn.real_tokens
                if step % options.log_every == 0 or (options.max_steps and step >= options.max_steps):
                    now = time.perf_counter()
                    seconds = max(now - window_start, 1e-9)
                    loss = check_finite(float(logs["loss"]))
                    elapsed += seconds
                    last = {
                        "type": "train",
                        "step": step,
                        "epoch": stream.epoch + 1,
                        "loss": loss,
                        "accuracy": float(logs.get("sparse_categorical_accuracy", float("nan"))),
                        "learning_rate": schedule.value_at(step - 1),
                        "gradient_norm": gradient_norm(model),
                        "tokens_per_second": window_tokens / seconds,
                        "real_tokens_per_second": window_real / seconds,
                        "data_wait_share": (stream.wait_seconds - window_wait) / seconds,
                        "window_seconds": seconds,
                        "window_tokens": window_tokens,
                        "window_real_tokens": window_real,
                        "window_data_wait_seconds": stream.wait_seconds - window_wait,
                        "tokens_seen": tokens_seen,
                        "elapsed_seconds": elapsed,
                        "eta_seconds": (options.max_steps - step) * elapsed / max(1, step - int(state.get("step", 0)))
                        if options.max_steps else None,
                    }
                    log_metrics(last)
                    reporter.step(last)
                    model.reset_metrics()
                    window_tokens = window_real = 0
                    window_wait = stream.wait_seconds
                    window_start = time.perf_counter()
                if step % eval_every == 0:
                    last_eval = run_evaluation() or last_eval
                    window_start = time.perf_counter()
                if step % save_every == 0:
                    check_finite(float(logs["loss"]))  # never checkpoint diverged weights
                    save("periodic")
                if options.max_steps and step >= options.max_steps:
                    break
        finally:
            stream.close()

        if step == int(state.get("step", 0)) and not already_done:
            skipped = stream.skipped_lines
            if skipped:
                raise BadInputError(f"every line of the corpus was bad: {skipped:,} skipped by --skip-bad-lines",
                                    hint="check the files and --text-column")
            raise BadInputError("the corpus is empty: it produced no training batches", hint="check --data and --text-column")
        if not already_done:  # a run resumed after its last step (killed while publishing) only publishes
            save("final")
            if step % eval_every != 0 or last_eval is None:
                last_eval = run_evaluation() or last_eval
        summary = {
            "output": str(options.output),
            "steps": step,
            "tokens_seen": tokens_seen,
            "train_seconds": round(time.perf_counter() - run_start, 2),
            "skipped_lines": stream.skipped_lines,
            "final_loss": last.get("loss"),
            "final_accuracy": last.get("accuracy"),
            **({k: v for k, v in last_eval.items() if k.startswith("val_")} if last_eval else {}),
        }
        if cluster.is_main:
            card = training_card(card_config, summary, family=family_name(model), version=__version__)
            with sync.readable(model):
                publish_preset(model, options.output, card)
            _draw_plot(options.output, reporter)
    reporter.finish(summary)
    return summary


def _draw_plot(output: Path, reporter: TrainReporter) -> None:
    """training.png in the run directory; a plotting failure never fails a finished run."""
    from mlm_cli.workflows.training_plot import draw_training_plot

    try:
        draw_training_plot(output)
    except Exception as error:  # noqa: BLE001 - the model is saved; the plot can be redrawn with `mlm report`
        reporter.message(f"could not draw training.png ({type(error).__name__}: {error}); `mlm report {output}` retries")


def gradient_norm(model) -> float | None:
    """Global norm of the last step's gradients, before clipping (FusedAdamW records it)."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # under a loss-scale wrapper
    variable = getattr(optimizer, "gradient_norm", None)
    return None if variable is None else float(variable.numpy())


def family_name(model) -> str:
    """The family of a task (bert, roberta, ...) as the registry names it."""
    from mlm_cli.models.preset.registry import lookup

    try:
        return lookup(type(model).__name__, "model")[0].name
    except Exception:  # noqa: BLE001 - a subclass the registry does not list
        return type(model).__name__


def _data_shards(options: TrainOptions, saved_config: dict[str, Any], cluster, global_batch: int) -> int:
    """How many streams the corpus is dealt into: fixed for a run (resumable on another process count)."""
    shards = options.data_shards or saved_config.get("data_shards") or cluster.num_processes
    if saved_config and shards != saved_config.get("data_shards", 1):
        raise BadInputError(f"--resume with --data-shards {shards}, the run used {saved_config.get('data_shards', 1)}",
                            hint="resume with the original --data-shards")
    if shards % cluster.num_processes:
        raise BadInputError(f"--data-shards {shards} is not a multiple of the {cluster.num_processes} processes",
                            hint="every process reads the same number of shards")
    if global_batch % shards:
        raise BadInputError(f"the global batch of {global_batch} sequences does not split into {shards} data shards",
                            hint="choose --batch-size so that batch size x devices is a multiple of --data-shards")
    return shards


def cluster_shards(cluster, data_shards: int) -> list[int]:
    """The data shards this process reads: a contiguous block, so process order is shard order in the global batch."""
    per_process = data_shards // cluster.num_processes
    return list(range(cluster.process_id * per_process, (cluster.process_id + 1) * per_process))


RESUME_KEYS = ("preset", "sequence_length", "packing", "shuffle", "shuffle_buffer", "seed", "text_column", "mask_rate")


def _check_resume_compatible(saved: dict[str, Any], options: TrainOptions, global_batch: int) -> None:
    """--resume continues the same run: options that shape the data or model must not change."""
    current = options.to_json()
    saved = {"shuffle": False, **saved}  # runs recorded before shuffling existed read their data in file order
    for key in RESUME_KEYS:
        if key in saved and saved[key] != current[key]:
            raise BadInputError(
                f"--resume with a different {key.replace('_', '-')} ({current[key]!r}, the run used {saved[key]!r})",
                hint="resume with the original options, or start a new run in another --output",
            )
    saved_global = saved.get("global_batch_size", saved.get("batch_size"))
    if saved_global is not None and saved_global != global_batch:
        raise BadInputError(
            f"--resume with a global batch of {global_batch} sequences, the run used {saved_global}",
            hint="keep --batch-size x devices as in the original run",
        )
    if list(saved.get("data", [])) != list(options.data):
        raise BadInputError("--resume with different --data than the original run", hint="resume with the original --data")
