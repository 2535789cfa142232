"""The options of a training run, each declared once: default, help, flags, validation, and
whether --resume may change it.

`mlm train`'s command line is built from these declarations (mlm_cli.cli.train_cmd), so
are --config and --print-config (the long flag names), resume checks (`fixed_on_resume`)
and train_config.json / the model card (`TrainOptions.to_json`). A new option is one
field here; the training code then reads `options.<name>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mlm_cli.data import DEFAULT_SHUFFLE_BUFFER
from mlm_cli.data.mixing import parse_weights
from mlm_cli.errors import BadInputError
from mlm_cli.lora_targets import TARGETS_HELP, parse_targets
from mlm_cli.workflows.freezing import SPEC_HELP, parse_freeze

DATA_HELP = ("Text file (one document per line), .jsonl/.csv/.parquet, a folder, a glob, or "
             "hf://dataset[/config][:split]. Repeatable.")
SCHEDULES = ("linear", "cosine", "constant", "inverse_sqrt")  # learning-rate shapes after warm-up (schedule.py)
PRECISIONS_HELP = "float32, mixed_bfloat16, mixed_float16 or auto (fastest safe one for the device)."


@dataclass(frozen=True)
class OptionSpec:
    """How one TrainOptions field appears on the command line and how it is checked."""

    help: str
    flags: tuple[str, ...] = ()  # default: --long-name (and --long-name/--no-long-name for a True boolean)
    check: Callable[[Any], bool] | None = None  # False: the value is refused with `problem`
    problem: str = ""
    envvar: tuple[str, ...] = ()
    fixed_on_resume: bool = False  # --resume refuses a different value (it shapes the data or the model)
    required: bool = False  # on the command line (or in --config)
    cli: bool = True  # False: set by mlm itself, not a flag


def option(default: Any = None, help: str = "", *, factory: Callable[[], Any] | None = None, **spec: Any) -> Any:
    """A TrainOptions field with its OptionSpec."""
    metadata = {"option": OptionSpec(help=help, **spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def at_least(minimum: float) -> Callable[[Any], bool]:
    return lambda value: value is None or value >= minimum


def parses(parse: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """A check that accepts what `parse` accepts (it raises ValueError on the rest)."""

    def check(value: Any) -> bool:
        try:
            parse(value)
        except ValueError:
            return False
        return True

    return check


@dataclass
class TrainOptions:
    """Every option of a training run; `train_config.json` records the resolved values."""

    preset: str | None = option(
        None, "Preset to start from: built-in name, directory, kaggle://, hf://, or a *_scratch preset.",
        flags=("--preset", "-p"), required=True, fixed_on_resume=True)
    data: list[str] = option(help=DATA_HELP, factory=list, flags=("--data", "-d"), required=True)
    output: Path | None = option(
        None, "Run directory: receives the trained preset, metrics.jsonl, train_config.json, checkpoints/.",
        flags=("--output", "-o"), required=True)
    data_weights: str | None = option(
        None, "One weight per --data source, e.g. 0.8,0.2: documents are drawn from the sources in these proportions "
              "(seeded; with --max-steps a source that runs out starts over, else the first to run out ends the "
              "epoch).", check=parses(parse_weights),
        problem="--data-weights takes positive numbers separated by commas", fixed_on_resume=True)
    text_column: str = option("text", "Column holding the text in JSONL/CSV/Parquet/Hub data.", fixed_on_resume=True)
    validation_data: list[str] = option(help="Held-out data for evaluations (repeatable).", factory=list)
    validation_split: float = option(0.0, "Hold out this fraction of the training documents for evaluations.",
                                     check=lambda v: 0 <= v < 1, problem="--validation-split must be in [0, 1)")
    sequence_length: int = option(128, "Tokens per training sequence.", check=at_least(8),
                                  problem="--sequence-length must be at least 8", fixed_on_resume=True)
    batch_size: int = option(32, "Sequences per forward pass (per device).", check=at_least(1),
                             problem="--batch-size must be at least 1")
    accumulation_steps: int = option(
        1, "Add up the gradients of N batches before each optimizer step: a global batch N times larger in the "
           "memory of one.", check=at_least(1), problem="--accumulation-steps must be at least 1",
        fixed_on_resume=True)
    epochs: int = option(1, "Passes over the data (ignored with --max-steps, which repeats the data as needed).",
                         check=at_least(1), problem="--epochs must be at least 1")
    max_steps: int | None = option(
        None, "Train exactly this many steps, repeating the data if needed; sets the learning-rate decay length.",
        check=at_least(1), problem="--max-steps must be at least 1")
    learning_rate: float | None = option(None, "Peak learning rate [default: 5e-5, 5e-4 from scratch].",
                                         check=lambda v: v is None or v > 0, problem="--learning-rate must be positive")
    warmup: float = option(0.06, "Warm-up: steps (>= 1) or a fraction of --max-steps (of 10,000 steps without it).",
                           check=at_least(0), problem="--warmup must be >= 0 (steps, or a fraction below 1)")
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to biases and norms).",
                                 check=at_least(0), problem="--weight-decay must be >= 0")
    schedule: str = option(
        "linear", "Learning rate after warm-up: linear (to 0 at the last step, as run_mlm.py), cosine, constant or "
                  "inverse_sqrt.",
        check=lambda v: v in SCHEDULES, problem=f"--schedule must be one of {', '.join(SCHEDULES)}",
        fixed_on_resume=True)
    freeze: str | None = option(
        None, f"Keep these weights fixed while the rest trains: {SPEC_HELP}.", check=parses(parse_freeze),
        problem=f"--freeze takes {SPEC_HELP}", fixed_on_resume=True)
    lora_rank: int | None = option(
        None, "Train LoRA adapters of this rank instead of the model: every base weight (head and embeddings too) "
              "stays fixed; the published preset has the adapters merged in (see --lora-only).", check=at_least(1),
        problem="--lora-rank must be at least 1", fixed_on_resume=True)
    lora_alpha: float | None = option(
        None, "LoRA scale numerator: each adapter adds alpha / rank x A.B to its kernel [default: the rank, a scale "
              "of 1, as Keras].", check=lambda v: v is None or v > 0, problem="--lora-alpha must be positive",
        fixed_on_resume=True)
    lora_targets: str | None = option(
        None, f"Projections of each encoder block that get adapters: {TARGETS_HELP} [default: query,value, as "
              "keras_hub].", check=parses(parse_targets), problem=f"--lora-targets takes {TARGETS_HELP}",
        fixed_on_resume=True)
    lora_train_head: bool = option(
        False, "With --lora-rank: the masked-LM head's own weights (its dense layer, layer norm and output bias; not "
               "the tied embeddings) train beside the adapters, as keras_hub's LoRA leaves them. Use it when the "
               "checkpoint's head is fresh (a checkpoint without one) or far from your text's words.",
        flags=("--lora-train-head",), fixed_on_resume=True)
    lora_only: bool = option(
        False, "With --lora-rank: publish the adapter alone (adapter.lora.h5, keras_hub's save_lora_weights format, "
               "and lora.json naming the base preset) instead of the merged model.", flags=("--lora-only",),
        fixed_on_resume=True)
    max_grad_norm: float = option(1.0, "Clip the global gradient norm to this, as run_mlm.py does (0: no clipping).",
                                  check=at_least(0), problem="--max-grad-norm must be >= 0 (0 turns clipping off)")
    mask_rate: float = option(0.15, "Fraction of tokens selected for prediction.", check=lambda v: 0 < v <= 1,
                              problem="--mask-rate must be in (0, 1]", fixed_on_resume=True)
    whole_word_masking: bool = option(
        False, "Mask whole words: every piece of a chosen word (WordPiece ##, SentencePiece \u2581, byte-level BPE "
               "\u0120 word starts; ESM residues), --mask-rate of the tokens on average.",
        flags=("--whole-word-masking",), fixed_on_resume=True)
    mask_token_rate: float = option(0.8, "Of the selected tokens, fraction replaced by [MASK].")
    random_token_rate: float = option(0.1, "Of the selected tokens, fraction replaced by a random token.")
    packing: bool = option(True, "Concatenate documents into full sequences (no padding waste).", fixed_on_resume=True)
    shuffle: bool = option(True, "Shuffle documents (seeded by --seed, a new order each epoch); --no-shuffle reads "
                                 "them in file order.", fixed_on_resume=True)
    shuffle_buffer: int = option(
        DEFAULT_SHUFFLE_BUFFER,
        "Documents held for shuffling (at most 64 M characters); more mixes further, costs memory.",
        check=at_least(1), problem="--shuffle-buffer must be at least 1", fixed_on_resume=True)
    seed: int = option(0, "Random seed for masking, shuffling and initialisation.", fixed_on_resume=True)
    precision: str = option("auto", PRECISIONS_HELP)
    gradient_checkpointing: bool = option(
        False, "Recompute each encoder layer's activations in the backward pass: much less memory for long sequences, "
               "about one more forward pass of time; same results.", flags=("--gradient-checkpointing",))
    eval_every: int | None = option(None, "Evaluate every N steps [default: with each checkpoint].",
                                    check=at_least(1), problem="--eval-every must be at least 1")
    eval_batches: int = option(20, "Batches per evaluation.", check=at_least(1),
                               problem="--eval-batches must be at least 1")
    early_stopping_patience: int | None = option(
        None, "Stop when the validation loss has not improved for N evaluations in a row (needs validation data).",
        check=at_least(1), problem="--early-stopping-patience must be at least 1")
    early_stopping_threshold: float = option(
        0.0, "An evaluation improves on the best only by more than this much validation loss.", check=at_least(0),
        problem="--early-stopping-threshold must be >= 0")
    keep_best: bool = option(
        False, "Publish the weights of the evaluation with the lowest validation loss (kept in checkpoints/) instead "
               "of the last step's (needs validation data).", fixed_on_resume=True)
    save_every: int = option(1000, "Checkpoint every N steps.", check=at_least(1),
                             problem="--save-every must be at least 1")
    log_every: int = option(10, "Log metrics every N steps.", check=at_least(1),
                            problem="--log-every must be at least 1")
    keep_checkpoints: int = option(2, "How many recent checkpoints to keep.", check=at_least(1),
                                   problem="--keep-checkpoints must be at least 1")
    resume: bool = option(False, "Continue the run in --output from its last checkpoint.", flags=("--resume",))
    overwrite: bool = option(False, "Replace an existing --output directory.", flags=("--overwrite",))
    no_lock: bool = option(False, "Do not lock --output (for filesystems without file locks): nothing then stops a "
                                  "second writer.", flags=("--no-lock",))
    vocabulary_size: int | None = option(None, "WordPiece vocabulary size for from-scratch presets [default: 30522].",
                                         check=at_least(100), problem="--vocabulary-size must be at least 100")
    extend_vocabulary: int | None = option(
        None, "Before training, add up to N whole words that are frequent in the corpus (counted on its first 200,000 "
              "documents) and that the tokenizer splits into several pieces; each new embedding row starts as the "
              "mean of its pieces'. WordPiece families (bert, distil_bert, roformer_v2), unigram SentencePiece "
              "(albert, deberta_v3, f_net) and byte-level BPE (roberta: the merge chains' intermediate tokens are "
              "added too).",
        check=at_least(1), problem="--extend-vocabulary must be at least 1", fixed_on_resume=True)
    dropout: float | None = option(None, "Override the model's dropout rate.",
                                   check=lambda v: v is None or 0 <= v < 1, problem="--dropout must be in [0, 1)")
    encoding_errors: str = option("strict", "strict: stop at invalid UTF-8; replace: substitute U+FFFD and go on.",
                                  check=lambda v: v in ("strict", "replace"),
                                  problem="--encoding-errors must be strict or replace")
    skip_bad_lines: bool = option(False, "JSONL: skip lines that are not valid records (and report how many).",
                                  flags=("--skip-bad-lines",))
    distribute: str = option("auto", "jax: auto (data parallel when there are several devices), none, data, or model "
                                     "(weights sharded over devices).")
    model_shards: int | None = option(None, "--distribute model: devices that hold one model replica [default: all "
                                            "devices of a host].")
    data_shards: int | None = option(None, "Streams the corpus is dealt into [default: one per process]; fixed for a "
                                           "run.", check=at_least(1), problem="--data-shards must be at least 1")
    coordinator: str | None = option(None, "Multi-host: HOST:PORT of process 0.",
                                     envvar=("MLM_COORDINATOR", "JAX_COORDINATOR_ADDRESS"))
    num_processes: int | None = option(None, "Multi-host: how many processes (hosts) train together.",
                                       envvar=("MLM_NUM_PROCESSES", "JAX_NUM_PROCESSES"))
    process_id: int | None = option(None, "Multi-host: this process's number, 0 to --num-processes minus 1.",
                                    envvar=("MLM_PROCESS_ID", "JAX_PROCESS_ID"))
    tensorboard: bool = option(False, "Also write metrics as TensorBoard event files in RUN/tensorboard/ (no "
                                      "TensorFlow needed).", flags=("--tensorboard",))
    mlflow: bool = option(False, "Log parameters, metrics, the plot, the model card and the final preset to MLflow "
                                 "(MLFLOW_TRACKING_URI, else a file store in RUN/mlruns; needs mlm-cli[mlflow]).",
                          flags=("--mlflow",))
    mlflow_uri: str | None = option(None, "MLflow tracking URI to log to (implies --mlflow), e.g. http://host:5000 or "
                                          "sqlite:///mlflow.db.")
    command_line: str | None = option(None, "How the run was started, for the model card.", cli=False)

    def cluster_options(self):
        from mlm_cli.distributed.cluster import ClusterOptions

        return ClusterOptions(self.distribute, self.model_shards, self.coordinator, self.num_processes, self.process_id)

    def masking(self):
        from mlm_cli.workflows.model_setup import MaskingOptions

        return MaskingOptions(self.mask_rate, self.mask_token_rate, self.random_token_rate)

    @property
    def evaluation_interval(self) -> int:
        return self.eval_every or self.save_every

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = None if self.output is None else str(self.output)
        return data


def option_specs() -> dict[str, tuple[Any, OptionSpec]]:
    """{field name: (default, spec)} in declaration order; list defaults as None."""
    specs = {}
    for item in fields(TrainOptions):
        default = None if item.default is MISSING else item.default
        specs[item.name] = (default, item.metadata["option"])
    return specs


def validate_options(options: TrainOptions) -> None:
    """Refuse unusable option values before anything is loaded or written."""
    for name, (_, spec) in option_specs().items():
        value = getattr(options, name)
        if spec.required and not value:
            hint = " (a file, folder, glob or hf://dataset)" if name == "data" else ""
            raise BadInputError(f"--{name.replace('_', '-')} is required{hint}", hint="see mlm train --help")
        if spec.check is not None and not spec.check(value):
            raise BadInputError(spec.problem)
    combined = [
        (options.mask_token_rate >= 0 and options.random_token_rate >= 0
         and options.mask_token_rate + options.random_token_rate <= 1,
         "--mask-token-rate and --random-token-rate must be >= 0 and sum to at most 1"),
        (not (options.validation_split and options.validation_data),
         "use either --validation-data or --validation-split, not both"),
        (not (options.resume and options.overwrite), "use either --resume or --overwrite, not both"),
        (not options.early_stopping_patience or bool(options.validation_data or options.validation_split),
         "--early-stopping-patience needs --validation-data or --validation-split"),
        (not options.keep_best or bool(options.validation_data or options.validation_split),
         "--keep-best needs --validation-data or --validation-split"),
        (options.lora_rank is not None or not (options.lora_only or options.lora_alpha or options.lora_targets
                                               or options.lora_train_head),
         "--lora-only, --lora-alpha, --lora-targets and --lora-train-head need --lora-rank"),
        (options.lora_rank is None or not options.extend_vocabulary,
         "--extend-vocabulary with --lora-rank would leave the new words' embeddings frozen at their starting "
         "values: extend the vocabulary in a full fine-tuning run first"),
        (not (options.lora_only and options.lora_train_head),
         "--lora-only publishes the adapters alone, without the head --lora-train-head trains: drop one of them"),
        (options.lora_rank is None or not options.freeze,
         "use either --lora-rank or --freeze, not both (LoRA already keeps every base weight fixed)"),
        (options.data_weights is None or len(parse_weights(options.data_weights)) == len(options.data),
         f"--data-weights needs one weight per --data source ({len(options.data)})"),
    ]
    for ok, message in combined:
        if not ok:
            raise BadInputError(message)


def check_resume_compatible(saved: dict[str, Any], options: TrainOptions, global_batch: int) -> None:
    """--resume continues the same run: options that shape the data or model must not change."""
    current = options.to_json()
    saved = {"shuffle": False, **saved}  # runs recorded before shuffling existed read their data in file order
    for key, (_, spec) in option_specs().items():
        if spec.fixed_on_resume and key in saved and saved[key] != current[key]:
            raise BadInputError(
                f"--resume with a different {key.replace('_', '-')} ({current[key]!r}, the run used {saved[key]!r})",
                hint="resume with the original options, or start a new run in another --output",
            )
    saved_global = saved.get("global_batch_size", saved.get("batch_size"))
    if saved_global is not None and saved_global != global_batch:
        raise BadInputError(
            f"--resume with a global batch of {global_batch} sequences, the run used {saved_global}",
            hint="keep --batch-size x devices x --accumulation-steps as in the original run",
        )
    if list(saved.get("data", [])) != list(options.data):
        raise BadInputError("--resume with different --data than the original run",
                            hint="resume with the original --data")
