"""`mlm train`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from mlm_cli.cli import console
from mlm_cli.cli.options import BACKEND_OPTION, DATA_HELP, merge_config, use_backend

EPILOG = (
    "Examples:\n\n"
    "  mlm train --preset bert_tiny_en_uncased --data corpus.txt --output my-bert --max-steps 1000\n\n"
    "  mlm train --preset bert_small_scratch --vocabulary-size 8000 --data docs/ --output from-scratch\n\n"
    "  mlm train --preset my-bert --data notes.jsonl --text-column body --output my-bert-2 --validation-split 0.01\n\n"
    "  mlm train --config run.toml --resume\n\n"
    "  mlm train --backend jax --distribute data --preset bert_base_en --data corpus.txt --output run --batch-size 16   (every local GPU)\n\n"
    "  mlm train --backend jax --coordinator 10.0.0.1:4321 --num-processes 2 --process-id 0 ...   (one command per host)"
)


def train(
    ctx: typer.Context,
    preset: str = typer.Option(None, "--preset", "-p", help="Preset to start from: built-in name, directory, kaggle://, hf://, or a *_scratch preset."),
    data: list[str] = typer.Option(None, "--data", "-d", help=DATA_HELP),
    output: Path = typer.Option(None, "--output", "-o", help="Run directory: receives the trained preset, metrics.jsonl, train_config.json, checkpoints/."),
    text_column: str = typer.Option("text", help="Column holding the text in JSONL/CSV/Parquet/Hub data."),
    validation_data: list[str] = typer.Option(None, help="Held-out data for evaluations (repeatable)."),
    validation_split: float = typer.Option(0.0, help="Hold out this fraction of the training documents for evaluations."),
    sequence_length: int = typer.Option(128, help="Tokens per training sequence."),
    batch_size: int = typer.Option(32, help="Sequences per step."),
    epochs: int = typer.Option(1, help="Passes over the data (ignored with --max-steps, which repeats the data as needed)."),
    max_steps: int = typer.Option(None, help="Train exactly this many steps, repeating the data if needed; sets the learning-rate decay length."),
    learning_rate: float = typer.Option(None, help="Peak learning rate [default: 5e-5, 5e-4 from scratch]."),
    warmup: float = typer.Option(0.06, help="Warm-up: steps (>= 1) or a fraction of --max-steps (of 10,000 steps without it)."),
    weight_decay: float = typer.Option(0.01, help="AdamW weight decay (not applied to biases and norms)."),
    max_grad_norm: float = typer.Option(1.0, help="Clip the global gradient norm to this, as run_mlm.py does (0: no clipping)."),
    mask_rate: float = typer.Option(0.15, help="Fraction of tokens selected for prediction."),
    mask_token_rate: float = typer.Option(0.8, help="Of the selected tokens, fraction replaced by [MASK]."),
    random_token_rate: float = typer.Option(0.1, help="Of the selected tokens, fraction replaced by a random token."),
    packing: bool = typer.Option(True, "--packing/--no-packing", help="Concatenate documents into full sequences (no padding waste)."),
    shuffle: bool = typer.Option(True, "--shuffle/--no-shuffle", help="Shuffle documents (seeded by --seed, a new order each epoch); --no-shuffle reads them in file order."),
    shuffle_buffer: int = typer.Option(100_000, help="Documents held for shuffling (at most 64 M characters); more mixes further, costs memory."),
    seed: int = typer.Option(0, help="Random seed for masking, shuffling and initialisation."),
    precision: str = typer.Option("auto", help="float32, mixed_bfloat16, mixed_float16 or auto (fastest safe one for the device)."),
    backend: str = BACKEND_OPTION,
    eval_every: int = typer.Option(None, help="Evaluate every N steps [default: with each checkpoint]."),
    eval_batches: int = typer.Option(20, help="Batches per evaluation."),
    save_every: int = typer.Option(1000, help="Checkpoint every N steps."),
    log_every: int = typer.Option(10, help="Log metrics every N steps."),
    keep_checkpoints: int = typer.Option(2, help="How many recent checkpoints to keep."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output directory."),
    no_lock: bool = typer.Option(False, "--no-lock", help="Do not lock --output (for filesystems without file locks): nothing then stops a second writer."),
    vocabulary_size: int = typer.Option(None, help="WordPiece vocabulary size for from-scratch presets [default: 30522]."),
    dropout: float = typer.Option(None, help="Override the model's dropout rate."),
    encoding_errors: str = typer.Option("strict", help="strict: stop at invalid UTF-8; replace: substitute U+FFFD and go on."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help="JSONL: skip lines that are not valid records (and report how many)."),
    distribute: str = typer.Option("auto", help="jax: auto (data parallel when there are several devices), none, data, or model (weights sharded over devices)."),
    model_shards: int = typer.Option(None, help="--distribute model: devices that hold one model replica [default: all devices of a host]."),
    data_shards: int = typer.Option(None, help="Streams the corpus is dealt into [default: one per process]; fixed for a run."),
    coordinator: str = typer.Option(None, envvar=["MLM_COORDINATOR", "JAX_COORDINATOR_ADDRESS"], help="Multi-host: HOST:PORT of process 0."),
    num_processes: int = typer.Option(None, envvar=["MLM_NUM_PROCESSES", "JAX_NUM_PROCESSES"], help="Multi-host: how many processes (hosts) train together."),
    process_id: int = typer.Option(None, envvar=["MLM_PROCESS_ID", "JAX_PROCESS_ID"], help="Multi-host: this process's number, 0 to --num-processes minus 1."),
    config: Path = typer.Option(None, "--config", help="TOML file with any of these options (long names); flags win."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write metrics as TensorBoard event files in RUN/tensorboard/ (no TensorFlow needed)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved options as TOML (usable with --config) and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Train (fine-tune, continue pretraining, or pretrain from scratch) a masked language model."""
    values = merge_config(ctx, dict(ctx.params), config)
    from mlm_cli.errors import BadInputError

    if values.pop("print_config"):
        from mlm_cli.cli.toml_text import options_as_toml

        console.stdout.print(options_as_toml({k: v for k, v in values.items() if k not in ("config", "as_json")}), markup=False, end="")
        return
    for required in ("preset", "data", "output"):
        if not values.get(required):
            raise BadInputError(f"--{required} is required", hint="see mlm train --help")
    use_backend(values.pop("backend"))
    values.pop("config")
    as_json = values.pop("as_json")
    if values["precision"] == "auto":
        values["precision"] = None
    values["data"] = list(values["data"])
    values["validation_data"] = list(values["validation_data"] or [])
    values["output"] = Path(values["output"])
    values["command_line"] = shlex.join(["mlm", *sys.argv[1:]])

    from mlm_cli.cli.progress import make_reporter
    from mlm_cli.workflows.train import TrainOptions
    from mlm_cli.workflows.train import train as run_training

    reporter = make_reporter()
    try:
        summary = run_training(TrainOptions(**values), reporter)
    finally:
        close = getattr(reporter, "close", None)
        if close:
            close()
    if as_json:
        console.stdout.print(json.dumps(summary, indent=2), markup=False)
    else:
        console.stdout.print(summary["output"], markup=False)
