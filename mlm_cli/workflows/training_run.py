"""Preparing a training run: the cluster, the model and its optimizer, the data streams, and
the state a resumed run continues from, gathered once into a `Run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlm_cli.data.mixing import parse_weights
from mlm_cli.workflows import run_directory
from mlm_cli.workflows.batch_stream_setup import documents_of, sharded_batch_stream
from mlm_cli.workflows.freezing import parameter_counts
from mlm_cli.workflows.model_card import data_sources
from mlm_cli.workflows.process_sync import ProcessSync
from mlm_cli.workflows.train_options import TrainOptions, check_resume_compatible

UNKNOWN_TOTAL_WARMUP_BASE = 10_000  # a warm-up fraction applies to this many steps when --max-steps is not set
VOCABULARY_TRAINING_DOCUMENTS = 2_000_000
REPEAT_UNTIL_MAX_STEPS = 1_000_000  # passes over the data when --max-steps bounds the run
VALIDATION_MASK_SEED = 12345  # fixed: every evaluation of a run masks the held-out data alike
SCRATCH_LEARNING_RATE, FINE_TUNE_LEARNING_RATE = 5e-4, 5e-5


@dataclass
class DataPlan:
    """Which corpus streams this process reads, and how the held-out data is chosen."""

    train_spec: Any
    validation_spec: Any | None
    data_shards: int
    shard_ids: list[int]
    rows_per_shard: int  # of one forward pass; a training step reads --accumulation-steps times as many
    split: int | None  # --validation-split: every split-th document is held out


@dataclass
class Run:
    """Everything a training loop needs, prepared once by `prepare_run`."""

    options: TrainOptions
    cluster: Any
    sync: ProcessSync
    model: Any
    schedule: Any
    data: DataPlan
    stream: Any
    metrics: run_directory.MetricsLog
    config: dict[str, Any]  # the resolved options, as train_config.json records them
    card_config: dict[str, Any]  # what the model card reports (keeps a resumed run's original sources)
    state: dict[str, Any] = field(default_factory=dict)  # loop state of the checkpoint resumed from
    flat_mask_capacity: int | None = None  # single-device steps: one flat list of masks per batch (data/flat_masks.py)
    tracker: Any = None  # --mlflow: an MlflowTracker (process 0 only)
    lora: Any = None  # --lora-rank: the LoraSettings
    vocabulary_growth: Any = None  # --extend-vocabulary (not resumed): a VocabularyGrowth

    def step_inputs(self, batch) -> tuple[dict[str, Any], Any, Any]:
        """A training batch as (features, mask ids, mask weights) for `train_on_batch`."""
        features, ids, weights = batch.features(), batch.mask_ids, batch.mask_weights
        if self.flat_mask_capacity:
            from mlm_cli.data.flat_masks import flatten_masks

            features["mask_positions"], ids, weights = flatten_masks(
                features["mask_positions"], ids, weights, features["token_ids"].shape[1], self.flat_mask_capacity
            )
        return features, ids, weights

    def validation_batches(self):
        """A fresh stream of held-out batches (fixed masks), or None when the run has no held-out data."""
        data, options = self.data, self.options
        if data.validation_spec is None and not data.split:
            return None
        spec, held_out = (data.validation_spec, None) if data.validation_spec is not None else (data.train_spec,
                                                                                                (data.split, True))
        # Batches of a whole step's rows (with accumulation too: a forward pass keeps no activations), so a run
        # scores the same held-out rows and masks however its steps are split into passes.
        return sharded_batch_stream(self.model, spec, shard_ids=data.shard_ids, data_shards=data.data_shards,
                                    rows_per_shard=data.rows_per_shard * options.accumulation_steps,
                                    packing=options.packing, seed=VALIDATION_MASK_SEED, split=held_out,
                                    whole_words=options.whole_word_masking)

    def start_info(self) -> dict[str, Any]:
        """What the reporter shows when training starts."""
        config, cluster = self.config, self.cluster
        return {"parameters": config["parameters"], "backend": config["backend"], "precision": config["precision"],
                "freeze": self.options.freeze, "trainable_parameters": config["trainable_parameters"],
                "resumed_from": int(self.state.get("step", 0)), "max_steps": self.options.max_steps,
                "output": str(self.options.output), "distribution": cluster.kind, "devices": cluster.devices,
                "processes": cluster.num_processes, "global_batch_size": config["global_batch_size"],
                "accumulation_steps": self.options.accumulation_steps, "lora": self.lora_description(),
                "vocabulary_growth": self.vocabulary_growth.summary() if self.vocabulary_growth else None}

    def lora_description(self) -> str | None:
        """--lora-rank: e.g. "LoRA rank 8 on query,value: 147,456 trainable parameters of 22.7 M (0.65%)"."""
        if self.lora is None:
            return None
        from mlm_cli.workflows.lora_training import describe

        return describe(self.lora, *parameter_counts(self.model), self.options.lora_train_head)


def prepare_run(options: TrainOptions) -> Run:
    """Check the output, start the cluster, build or restore the model and the data stream; write train_config.json."""
    import keras

    from mlm_cli.allocator import keep_freed_memory
    from mlm_cli.backend import requested_backend
    from mlm_cli.distributed import cluster as clusters
    from mlm_cli.seeding import set_seed
    from mlm_cli.workflows.freezing import freeze, parse_freeze
    from mlm_cli.workflows.lora_training import enable_for_run
    from mlm_cli.workflows.precision import resolve_precision

    clusters.validate(options.cluster_options(), requested_backend())
    if options.mlflow or options.mlflow_uri:
        from mlm_cli.workflows.mlflow_tracking import check_tracking_server, require_mlflow, tracking_uri

        require_mlflow()
        if not options.process_id:  # process 0 (or the only one) logs to MLflow
            check_tracking_server(tracking_uri(options.mlflow_uri, options.output))  # before the run writes a file
    options.resume, options.overwrite = run_directory.check_output(options.output, options.resume, options.overwrite)
    train_spec, validation_spec = corpus_specs(options)
    backend = keras.backend.backend()
    cluster = clusters.start(options.cluster_options(), backend)
    global_batch = cluster.global_batch_size(options.batch_size)  # one forward pass over every device
    saved_config, checkpoint, state = resume_point(options, cluster, global_batch * options.accumulation_steps)
    data = plan_data(options, saved_config, cluster, global_batch, train_spec, validation_spec)
    precision = resolve_precision(options.precision, backend)
    keep_freed_memory()
    set_seed(options.seed + int(state.get("step", 0)))
    model = build_model(options, train_spec, precision, checkpoint)
    growth = None
    if options.extend_vocabulary and checkpoint is None:  # a checkpoint holds the extended vocabulary already
        model, growth = extended_model(model, options, data)
    freeze(model.backbone, parse_freeze(options.freeze))  # before compiling: the optimizer sees what trains
    lora = enable_for_run(model, options.lora_rank, options.lora_alpha, options.lora_targets, checkpoint,
                          options.lora_train_head)
    model.backbone.enable_gradient_checkpointing(options.gradient_checkpointing)
    schedule = compile_model(model, options)
    if checkpoint is not None:
        from mlm_cli.workflows import checkpoints

        checkpoints.restore_optimizer(checkpoint, model)
        checkpoints.restore_rng_state(checkpoint, model)  # dropout draws continue exactly where they stopped
    if cluster.is_main and not options.resume:
        run_directory.create_output(options.output, options.overwrite)
    config = resolved_config(options, model, schedule, cluster, data, backend, precision)
    if growth is not None:
        config["added_words"] = len(growth.words)
        if growth.intermediate_tokens:
            config["added_intermediate_tokens"] = growth.intermediate_tokens
    if cluster.is_main and not options.resume:
        run_directory.write_config(options.output, config)
        if growth is not None:
            from mlm_cli.workflows.vocabulary_growth import write_added_words

            write_added_words(options.output, growth)
    # What a resumed run's card reports from the run's start.
    kept_from_start = ("data_sources", "command_line", "added_words", "added_intermediate_tokens")
    card_config = {**config, **{key: saved_config[key] for key in kept_from_start if saved_config.get(key)}}
    stream = training_stream(options, model, data)
    if state:
        stream.load_state_dict(state["data"])
    tracker = mlflow_tracker(options, config) if cluster.is_main else None
    metrics = run_directory.MetricsLog(options.output, enabled=cluster.is_main, tensorboard=options.tensorboard,
                                       tracker=tracker)
    return Run(options, cluster, ProcessSync(cluster), model, schedule, data, stream, metrics, config, card_config,
               state, flat_mask_capacity=mask_capacity(cluster, model, global_batch), tracker=tracker, lora=lora,
               vocabulary_growth=growth)


def mlflow_tracker(options: TrainOptions, config: dict[str, Any]):
    """--mlflow / --mlflow-uri: the MLflow run this training run logs to (None without them)."""
    if not (options.mlflow or options.mlflow_uri):
        return None
    from mlm_cli.workflows.mlflow_tracking import MlflowTracker, tracking_uri

    return MlflowTracker(tracking_uri(options.mlflow_uri, options.output), options.output, config, options.resume)


def mask_capacity(cluster, model, global_batch: int) -> int | None:
    """Slots for a batch's masks in one flat list, on one device (a sharded batch keeps its rows' own slots)."""
    from mlm_cli.data.flat_masks import flat_capacity

    if cluster.kind != "none" or cluster.num_processes > 1:
        return None
    preprocessor = model.preprocessor
    return flat_capacity(global_batch, preprocessor.sequence_length, preprocessor.mask_selection_rate,
                         preprocessor.mask_selection_length)


def corpus_specs(options: TrainOptions):
    """The training and validation corpora, checked to exist and be readable."""
    from mlm_cli.data.sources import CorpusSpec, check_corpus

    def spec(paths: list[str]):
        corpus = CorpusSpec(tuple(paths), text_column=options.text_column, encoding_errors=options.encoding_errors,
                            skip_bad_lines=options.skip_bad_lines)
        check_corpus(corpus)
        return corpus

    return spec(options.data), spec(options.validation_data) if options.validation_data else None


def resume_point(options: TrainOptions, cluster, global_batch: int) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Under --resume: the run's saved config, its latest checkpoint and that checkpoint's loop state."""
    if not options.resume:
        return {}, None, {}
    from mlm_cli.workflows import checkpoints

    saved_config = run_directory.read_config(options.output)
    check_resume_compatible(saved_config, options, global_batch)
    if cluster.is_main:
        checkpoints.clean_partial_checkpoints(options.output)
    checkpoint = checkpoints.latest_checkpoint(options.output)
    state = checkpoints.read_state(checkpoint)
    if cluster.is_main:
        run_directory.trim_metrics(options.output, int(state.get("step", 0)))
    return saved_config, checkpoint, state


def plan_data(options: TrainOptions, saved_config: dict[str, Any], cluster, global_batch: int, train_spec,
              validation_spec) -> DataPlan:
    shards = data_shard_count(options, saved_config, cluster, global_batch)
    split = max(2, round(1 / options.validation_split)) if options.validation_split else None
    return DataPlan(train_spec, validation_spec, shards, cluster_shards(cluster, shards), global_batch // shards, split)


def training_stream(options: TrainOptions, model, data: DataPlan):
    # As in Hugging Face's Trainer, --max-steps wins over --epochs: the data repeats until it is reached.
    passes = REPEAT_UNTIL_MAX_STEPS if options.max_steps else options.epochs
    return sharded_batch_stream(model, data.train_spec, shard_ids=data.shard_ids, data_shards=data.data_shards,
                                rows_per_shard=data.rows_per_shard * options.accumulation_steps,
                                packing=options.packing, seed=options.seed, epochs=passes,
                                split=(data.split, False) if data.split else None,
                                shuffle_buffer=options.shuffle_buffer if options.shuffle else None,
                                whole_words=options.whole_word_masking, weights=parse_weights(options.data_weights),
                                repeat_sources=bool(options.max_steps))


def build_model(options: TrainOptions, train_spec, precision: str, checkpoint):
    """The model to train: restored from `checkpoint`, built from scratch (vocabulary learned from the corpus), or
    loaded.
    """
    from mlm_cli.errors import BadInputError
    from mlm_cli.workflows.model_setup import build_scratch_masked_lm, is_scratch_preset, load_masked_lm

    masking = options.masking()
    overrides = dict(mask_selection_rate=masking.rate, mask_selection_length=masking.selection_length(
        options.sequence_length),
                     mask_token_rate=masking.mask_token_rate, random_token_rate=masking.random_token_rate,
                     seed=options.seed)
    if options.dropout is not None:
        overrides["dropout"] = options.dropout
    if options.extend_vocabulary is not None and is_scratch_preset(options.preset):
        raise BadInputError("--extend-vocabulary applies to pretrained presets: a from-scratch preset learns its whole "
                            "vocabulary from the corpus", hint="use --vocabulary-size to size it")
    if checkpoint is not None:
        return load_masked_lm(str(checkpoint), sequence_length=options.sequence_length, precision=precision,
                              **overrides)
    if is_scratch_preset(options.preset):
        if options.lora_rank is not None:
            raise BadInputError("--lora-rank adapts a pretrained model; a *_scratch preset starts from random weights",
                                hint="train it without LoRA first, then adapt the result")
        return build_scratch_masked_lm(
            options.preset, vocabulary_texts(train_spec), sequence_length=options.sequence_length, precision=precision,
            masking=masking, seed=options.seed, vocabulary_size=options.vocabulary_size, dropout=options.dropout,
        )
    if options.vocabulary_size is not None:
        raise BadInputError("--vocabulary-size only applies to from-scratch presets",
                            hint="run `mlm presets list` to see them")
    return load_masked_lm(options.preset, sequence_length=options.sequence_length, precision=precision, **overrides)


def extended_model(model, options: TrainOptions, data: DataPlan):
    """--extend-vocabulary: `model` with the words learned on the start of the training documents (the held-out split
    excluded); returns (model, VocabularyGrowth)."""
    from mlm_cli.workflows.vocabulary_growth import documents_read_once, grow_vocabulary

    documents = documents_of(data.train_spec, (data.split, False) if data.split else None)
    return grow_vocabulary(model, documents_read_once(documents.batches(1000)), options.extend_vocabulary)


def vocabulary_texts(train_spec):
    """The first documents of the corpus (at most VOCABULARY_TRAINING_DOCUMENTS), to learn a vocabulary from."""
    seen = 0
    for batch in documents_of(train_spec, None).batches(1000):
        yield from batch
        seen += len(batch)
        if seen >= VOCABULARY_TRAINING_DOCUMENTS:
            return


def compile_model(model, options: TrainOptions):
    """Compile with mlm's recipe optimizer; returns the learning-rate schedule."""
    from mlm_cli.models.optimizers import recipe_optimizer
    from mlm_cli.workflows.model_setup import is_scratch_preset
    from mlm_cli.workflows.schedule import WarmupDecay

    default = SCRATCH_LEARNING_RATE if is_scratch_preset(options.preset) else FINE_TUNE_LEARNING_RATE
    total = options.max_steps
    if options.warmup >= 1:
        warmup = int(options.warmup)
    else:
        warmup = round(options.warmup * (total or UNKNOWN_TOTAL_WARMUP_BASE))
    schedule = WarmupDecay(options.learning_rate or default, warmup, total, options.schedule)
    optimizer = recipe_optimizer(schedule, options.weight_decay, options.max_grad_norm, options.accumulation_steps)
    if options.accumulation_steps > 1:
        from mlm_cli.models.losses import MaskedTokenCrossEntropy

        # Summed: each part's mask weights carry 1 / (the step's masks) (workflows/accumulation.py).
        model.compile(optimizer=optimizer, loss=MaskedTokenCrossEntropy(reduction="sum"))
    else:
        model.compile(optimizer=optimizer)
    return schedule


def resolved_config(options: TrainOptions, model, schedule, cluster, data: DataPlan, backend: str,
                    precision: str) -> dict[str, Any]:
    """The options as resolved for this run (what train_config.json records)."""
    resolved = {
        **options.to_json(),
        "backend": backend,
        "precision": precision,
        "learning_rate": schedule.peak,
        "warmup_steps": schedule.warmup_steps,
        "mask_selection_length": model.preprocessor.mask_selection_length,
        "vocabulary_size": model.preprocessor.tokenizer.vocabulary_size(),
        "parameters": model.backbone.parameter_count(),
        "trainable_parameters": parameter_counts(model)[0],
        "distribution": cluster.kind,
        "processes": cluster.num_processes,
        "devices": cluster.devices,
        "model_shards": cluster.model_shards,
        "data_shards": data.data_shards,
        "global_batch_size": data.rows_per_shard * data.data_shards * options.accumulation_steps,
        "data_sources": data_sources(options.data) if cluster.is_main else [],
    }
    for launch_detail in ("coordinator", "process_id"):  # differ per process; not part of the run
        resolved.pop(launch_detail)
    return resolved


def data_shard_count(options: TrainOptions, saved_config: dict[str, Any], cluster, global_batch: int) -> int:
    """How many streams the corpus is dealt into: fixed for a run (resumable on another process count)."""
    from mlm_cli.errors import BadInputError

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
