r"""Training throughput and MFU of mlm (jax and torch) and transformers on one GPU, bert_base, one command.

The one command on the lent GPU machine (it has torch, jax, numpy, transformers, tokenizers
and safetensors but no keras and no network; run `bash bench/fetch_device_wheels.sh` here
first and carry `.device-wheels`):

    python -m pip install -q --no-index --find-links .device-wheels keras regex && \
        PYTHONPATH=. python bench/device.py --peak-tflops 989 --out $OUT/device.jsonl

(pip only adds what is missing: keras' dependencies come from the folder, and the machine's
numpy, torch and jax stay, as keras pins none of them. 989 TFLOP/s is the datasheet's dense
bf16 peak of an H100/H200 SXM, less for an H200 NVL: each line names the device; the measured
peak is reported beside it either way.) It fits
in one run of at most 8 minutes: `--budget-s` (default 450) caps the whole, each run is
stopped at `--run-timeout-s` and the rest still run. On a CPU, `--tiny` runs the same
runs on a 2-layer model in well under a minute (tests/test_bench_device.py).

Runs, in this order, each in its own subprocess (a crash, a time-out or an out-of-memory error
in one is reported as failed with its last stderr lines, and the others go on; an error at one
sequence length leaves the next its chance):

- mlm-jax: mlm's BertMaskedLM on Keras' jax backend, `train_on_batch` (Keras' jit-compiled step).
- mlm-torch: the same on the torch backend (eager).
- transformers: BertForMaskedLM with attn_implementation="sdpa", autocast to bf16 for
  mixed_bfloat16, torch.optim.AdamW(fused=True), weight decay 0.01 off biases and LayerNorm,
  gradients clipped at 1.0 as Trainer does.
- transformers-compile: the same model under `torch.compile`. The faster of the two is
  transformers' best configuration, which the closing lines set mlm's fastest run against.
- mlm-torch-compile: mlm on torch with `compile(jit_compile=True)`, which Keras on torch runs
  through `torch.compile` (inside a compiled step the recipe optimizer leaves its fused
  `torch._fused_adamw_` call, which inductor refuses, to Keras' own update, which inductor
  fuses). If it fails, the run records that and the command goes on.

With --tiny the torch.compile runs are left out unless --compile (or --runs) asks for them,
and every run (and the peak) uses one CPU thread (--threads), so that runs on a busy
2-core machine do not spin against each other. Runs whose packages are missing are reported
as skipped.

mlm runs build `BertMaskedLM(BertBackbone(..., dtype=precision), preprocessor=None)` and
compile it with the recipe optimizer (`mlm train`'s: AdamW, clipping) and the task's default
loss and metric, after `keep_freed_memory()`, as `mlm train` does. Every run trains on the
same seeded batch per sequence length: random token ids, 15% of positions masked; mlm takes
the keras_hub layout ("mask_positions" and labels at those positions), transformers the same
labels at full length with -100 elsewhere. Batches go from host memory to the device on every
step in both. Each sequence length runs `--warmup` untimed steps (the first one, compilation
included, is reported as first_step_s), then `--steps` timed ones with one device
synchronisation at the end of the window only. Keras' `train_on_batch` itself returns its
logs as Python floats, so Keras synchronises once per step anyway: that is mlm's real loop.
torch.compile runs specialise on each shape (no automatic dynamic shapes).

FLOPs per step, what MFU counts: 6 x (matmul parameters) x tokens, plus attention. Matmul
parameters per layer are the query/key/value/output projections (4 h^2) and the feed-forward
(2 h i); the head's transform (h^2) and the tied vocabulary projection (h v) count only at the
positions a framework projects: the masked 15% for mlm (its head gathers them first), every
position for transformers (BertForMaskedLM computes logits everywhere). Attention adds
12 x layers x seq x h per token (QK^T and AV, 2 x 2 x seq x h forward, x3 with the backward
pass). Biases, norms, softmax and embedding look-ups are not counted. MFU is that FLOP rate
over the device's matmul peak at the run's compute dtype, measured in the same command
(8192^3 products on a GPU, best of several, synchronised; a small product on a CPU), and,
with --peak-tflops, over that nominal peak too. tokens/s counts every position of the batch.

Output: one JSON object per line (a "peak" line, then one "run" line per run and sequence
length), also written to --out as they come, then a markdown table and, per sequence length,
mlm's fastest run against transformers' best configuration (also written beside --out, .md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CONFIGS = {
    "bert_base": dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                      max_sequence_length=512),
    "tiny": dict(vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=64, intermediate_dim=128,
                 max_sequence_length=128),
}
MASKED_SHARE = 0.15
LEARNING_RATE = 1e-4
RESULT_PREFIX = "DEVICE-BENCH "  # marks a child's result lines among library chatter on stdout
STDERR_TAIL_LINES = 25
ERROR_CHARS = 1500  # the head of an exception's message: its type and first lines say what failed


@dataclass(frozen=True)
class RunSpec:
    """One way of training: which framework, on which backend, compiled how."""

    name: str
    framework: str
    backend: str
    variant: str

    @property
    def compiles(self) -> bool:
        return self.variant == "torch.compile"

    @property
    def needs(self) -> tuple[str, ...]:
        return ("keras", self.backend) if self.framework == "mlm" else ("torch", "transformers")


RUNS = {spec.name: spec for spec in (
    RunSpec("mlm-jax", "mlm", "jax", "jit"),
    RunSpec("mlm-torch", "mlm", "torch", "eager"),
    RunSpec("transformers", "transformers", "torch", "eager"),
    RunSpec("transformers-compile", "transformers", "torch", "torch.compile"),
    RunSpec("mlm-torch-compile", "mlm", "torch", "torch.compile"),
)}


# --- FLOPs ------------------------------------------------------------------------------------


def head_share(framework: str, length: int) -> float:
    """Share of positions whose hidden state goes through the head's transform and vocabulary projection."""
    return 1.0 if framework == "transformers" else masked_count(length) / length


def masked_count(length: int) -> int:
    return max(1, round(length * MASKED_SHARE))


def flops_per_token(config: dict, length: int, projected_share: float) -> float:
    """Training FLOPs per token: 6 x matmul parameters (head at the projected share) + attention."""
    h, i, v, layers = config["hidden_dim"], config["intermediate_dim"], config["vocabulary_size"], config["num_layers"]
    matmul_parameters = layers * (4 * h * h + 2 * h * i) + projected_share * (h * h + h * v)
    attention = 12 * layers * length * h
    return 6 * matmul_parameters + attention


# --- batches ------------------------------------------------------------------------------------


def make_batch(batch: int, length: int, vocabulary: int, seed: int = 0):
    """A keras_hub-layout masked-LM batch: inputs with mask_positions, labels and weights at those positions."""
    import numpy as np

    rng = np.random.default_rng(seed)
    count = masked_count(length)
    positions = np.sort(np.stack([rng.choice(length - 2, count, replace=False) + 1 for _ in range(batch)]), axis=1)
    x = {
        "token_ids": rng.integers(5, vocabulary, (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), bool),
        "mask_positions": positions.astype("int32"),
    }
    y = rng.integers(5, vocabulary, (batch, count)).astype("int32")
    return x, y, np.ones((batch, count), "float32")


def full_length_labels(x: dict, y):
    """transformers' labels: the masked positions' targets, -100 everywhere else."""
    import numpy as np

    labels = np.full(x["token_ids"].shape, -100, dtype=np.int64)
    np.put_along_axis(labels, x["mask_positions"].astype(np.int64), y.astype(np.int64), axis=1)
    return labels


# --- the child: one run ------------------------------------------------------------------------------


def torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def mlm_step(spec: RunSpec, config: dict, precision: str):
    """mlm's training step as `mlm train` drives it; returns (step(x, y, w) -> loss, sync)."""
    from mlm_cli.allocator import keep_freed_memory
    from mlm_cli.models import BertBackbone, BertMaskedLM
    from mlm_cli.models.optimizers import recipe_optimizer

    keep_freed_memory()
    model = BertMaskedLM(BertBackbone(**config, dropout=0.1, dtype=precision), preprocessor=None)
    model.compile(optimizer=recipe_optimizer(LEARNING_RATE), jit_compile=True if spec.compiles else "auto")

    def step(x, y, w):
        return model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"]

    return step, float  # train_on_batch already returns host floats


def transformers_step(spec: RunSpec, config: dict, precision: str):
    """BertForMaskedLM with sdpa attention, fused AdamW, bf16 autocast; returns (step, sync)."""
    import torch
    import transformers

    device = torch_device()
    hf_config = transformers.BertConfig(
        vocab_size=config["vocabulary_size"], hidden_size=config["hidden_dim"], num_hidden_layers=config["num_layers"],
        num_attention_heads=config["num_heads"], intermediate_size=config["intermediate_dim"],
        max_position_embeddings=config["max_sequence_length"], attn_implementation="sdpa",
    )
    model = transformers.BertForMaskedLM(hf_config).to(device).train()
    optimizer = torch.optim.AdamW(parameter_groups(model), lr=LEARNING_RATE, fused=True)
    forward = torch.compile(model, dynamic=False) if spec.compiles else model
    autocast = dict(device_type=device, dtype=torch.bfloat16, enabled=precision == "mixed_bfloat16")

    def step(x, y, w):
        inputs = dict(input_ids=x["token_ids"], token_type_ids=x["segment_ids"], attention_mask=x["padding_mask"],
                      labels=full_length_labels(x, y))
        inputs = {k: torch.from_numpy(v.astype("int64")).to(device, non_blocking=True) for k, v in inputs.items()}
        with torch.autocast(**autocast):
            loss = forward(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def sync(loss) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss)

    return step, sync


def parameter_groups(model) -> list[dict]:
    """Weight decay 0.01 except on biases and LayerNorm, as transformers' Trainer (and mlm's recipe)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    return [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]


def time_steps(step, sync, batch: tuple, warmup: int, steps: int) -> dict:
    """First-step seconds, then `steps` steps timed as one window synchronised at its end."""
    start = time.perf_counter()
    loss = sync(step(*batch))
    first = time.perf_counter() - start
    for _ in range(max(0, warmup - 1)):
        loss = step(*batch)
    sync(loss)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(*batch)
    loss = sync(loss)
    return {"first_step_s": first, "seconds": time.perf_counter() - start, "loss": loss}


def peak_memory_gib(spec: RunSpec) -> float | None:
    """The device's peak allocated memory so far (torch: since the last reset; jax: since start), if known."""
    if spec.backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
    else:
        import torch

        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return None if peak is None else round(peak / 2**30, 2)


def reset_peak_memory(spec: RunSpec) -> None:
    if spec.backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()


def device_description(spec: RunSpec) -> dict:
    """Where the run's arrays live, and the library versions that ran it."""
    versions = {}
    for package in ("torch", "jax", "keras", "transformers"):
        if package in sys.modules:
            versions[package] = getattr(sys.modules[package], "__version__", None)
    if spec.backend == "jax":
        import jax

        device = jax.devices()[0]
        return {"device": device.platform, "device_name": device.device_kind, "versions": versions}
    import torch

    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"device": torch_device(), "device_name": name, "versions": versions}


def prepare_child(spec: RunSpec) -> None:
    """Backend choice before keras loads, seeds, and per-shape torch.compile."""
    import random

    import numpy as np

    if spec.framework == "mlm":
        from mlm_cli.backend import configure_backend

        configure_backend(spec.backend)
    random.seed(0)
    np.random.seed(0)
    if spec.backend == "torch":
        # keras imports jax where it is installed; should anything start it, it must not take 75% of the GPU
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        import torch

        torch.manual_seed(0)
        if spec.compiles:
            import torch._dynamo

            torch._dynamo.config.automatic_dynamic_shapes = False  # specialise on each sequence length


def run_child(spec: RunSpec, args: argparse.Namespace) -> None:
    """Train one run at every sequence length; print a result line for each (failures included)."""
    prepare_child(spec)
    config = CONFIGS[args.config]
    build = mlm_step if spec.framework == "mlm" else transformers_step
    step, sync = build(spec, config, args.precision)
    for length, batch in zip(args.seq_lengths, args.batch_sizes):
        base = run_fields(spec, args, length, batch)
        try:
            reset_peak_memory(spec)
            timing = time_steps(step, sync, make_batch(batch, length, config["vocabulary_size"]), args.warmup,
                                args.steps)
            result = {**base, **device_description(spec), **measured_fields(spec, config, timing, length, batch,
                                                                            args.steps)}
        except Exception as error:  # an out-of-memory error at one length leaves the next its chance
            result = {**base, "status": "failed", "error": f"{type(error).__name__}: {error}"[:ERROR_CHARS]}
        print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_fields(spec: RunSpec, args: argparse.Namespace, length: int, batch: int) -> dict:
    return {"kind": "run", "run": spec.name, "framework": spec.framework, "backend": spec.backend,
            "variant": spec.variant, "precision": args.precision, "config": args.config, "seq": length,
            "batch": batch, "warmup": args.warmup, "steps": args.steps}


def measured_fields(spec: RunSpec, config: dict, timing: dict, length: int, batch: int, steps: int) -> dict:
    step_s = timing["seconds"] / steps
    tokens = batch * length
    share = head_share(spec.framework, length)
    step_flops = tokens * flops_per_token(config, length, share)
    return {
        "status": "ok", "first_step_s": round(timing["first_step_s"], 3), "step_ms": round(1000 * step_s, 3),
        "tokens_per_s": round(tokens / step_s, 1), "head_positions": "all" if share == 1.0 else "masked",
        "model_tflop_per_step": round(step_flops / 1e12, 6), "model_tflop_per_s": round(step_flops / step_s / 1e12, 4),
        "loss": round(float(timing["loss"]), 5), "peak_memory_gib": peak_memory_gib(spec),
    }


# --- the device's matmul peak -----------------------------------------------------------------------


def matmul_peak_tflops(precision: str) -> dict:
    """Best FLOP/s of square matrix products at the precision's compute dtype, synchronised around each burst."""
    import torch

    device = torch_device()
    dtype = torch.bfloat16 if precision == "mixed_bfloat16" else torch.float32
    size, burst, repeats = (8192, 10, 5) if device == "cuda" else (512, 1, 10)
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.matmul(a, b)
    sync()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(burst):
            torch.matmul(a, b)
        sync()
        best = min(best, (time.perf_counter() - start) / burst)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return {"kind": "peak", "precision": precision, "device": device, "device_name": name, "matmul_size": size,
            "tflop_per_s": round(2 * size**3 / best / 1e12, 4)}


# --- the parent: run every child, collect, report ---------------------------------------------------------


def child_command(spec: RunSpec, args: argparse.Namespace) -> list[str]:
    return [sys.executable, __file__, "--child", spec.name, "--config", args.config, "--precision", args.precision,
            "--seq-lengths", ",".join(map(str, args.seq_lengths)),
            "--batch-sizes", ",".join(map(str, args.batch_sizes)), "--warmup", str(args.warmup),
            "--steps", str(args.steps)]


def child_environment(threads: int | None) -> dict:
    """The parent's environment, quieter, with CPU threads capped at `threads` where given."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        if threads == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    return env


def run_subprocess(command: list[str], timeout_s: float, threads: int | None) -> tuple[int | None, str, str]:
    """Run a command in its own process group; on time-out kill the group (compile workers included).

    Returns (exit code or None on time-out, stdout, stderr).
    """
    env = child_environment(threads)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=max(1.0, timeout_s))
        return process.returncode, stdout, stderr
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, stdout, stderr


def stderr_tail(stderr: str) -> str:
    return "\n".join(stderr.strip().splitlines()[-STDERR_TAIL_LINES:])


def collect_run(spec: RunSpec, args: argparse.Namespace, timeout_s: float) -> list[dict]:
    """One child's result lines; lengths it never reported are failures carrying why (exit, time-out, stderr)."""
    code, stdout, stderr = run_subprocess(child_command(spec, args), timeout_s, args.threads)
    results = [json.loads(line[len(RESULT_PREFIX):]) for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    reported = {result["seq"] for result in results}
    reason = f"timed out after {timeout_s:.0f} s" if code is None else f"exited with status {code}"
    for result in results:
        if result["status"] == "failed":
            result["stderr_tail"] = stderr_tail(stderr)
    for length, batch in zip(args.seq_lengths, args.batch_sizes):
        if length not in reported:
            results.append({**run_fields(spec, args, length, batch), "status": "failed", "error": reason,
                            "stderr_tail": stderr_tail(stderr)})
    return sorted(results, key=lambda result: args.seq_lengths.index(result["seq"]))


def skipped_runs(spec: RunSpec, args: argparse.Namespace, reason: str) -> list[dict]:
    return [{**run_fields(spec, args, length, batch), "status": "skipped", "error": reason}
            for length, batch in zip(args.seq_lengths, args.batch_sizes)]


def missing_packages(spec: RunSpec) -> list[str]:
    return [package for package in spec.needs if importlib.util.find_spec(package) is None]


def add_mfu(result: dict, peaks: dict, nominal_tflops: float | None) -> dict:
    if result["status"] != "ok":
        return result
    peak = peaks.get(result["precision"])
    if peak:
        result["mfu"] = round(result["model_tflop_per_s"] / peak, 4)
    if nominal_tflops:
        result["mfu_nominal"] = round(result["model_tflop_per_s"] / nominal_tflops, 4)
    return result


def measure_peak(args: argparse.Namespace, emit) -> dict:
    """{precision: measured TFLOP/s}, from a subprocess so that the parent holds no device memory."""
    if importlib.util.find_spec("torch") is None:
        return {}
    command = [sys.executable, __file__, "--peak-only", "--precision", args.precision]
    code, stdout, stderr = run_subprocess(command, 120, args.threads)
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if code != 0 or not lines:
        emit({"kind": "peak", "precision": args.precision, "status": "failed", "stderr_tail": stderr_tail(stderr)})
        return {}
    peak = json.loads(lines[-1][len(RESULT_PREFIX):])
    if args.peak_tflops:
        peak["nominal_tflop_per_s"] = args.peak_tflops
    emit(peak)
    return {args.precision: peak["tflop_per_s"]}


def chosen_runs(args: argparse.Namespace) -> list[RunSpec]:
    """--runs, else every run (on --tiny, torch.compile runs only with --compile)."""
    if args.runs:
        names = [name.strip() for name in args.runs.split(",") if name.strip()]
        unknown = [name for name in names if name not in RUNS]
        if unknown:
            raise SystemExit(f"unknown runs {unknown}; choose from {', '.join(RUNS)}")
        return [RUNS[name] for name in names]
    return [spec for spec in RUNS.values() if args.compile or not (args.tiny and spec.compiles)]


def run_all(args: argparse.Namespace) -> list[dict]:
    """Measure the peak, run every chosen run within the budget, print and write each line as it comes."""
    deadline = time.monotonic() + args.budget_s
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out = open(args.out, "w", encoding="utf-8") if args.out else None

    def emit(record: dict) -> None:
        line = json.dumps(record)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    peaks = measure_peak(args, emit)
    results = []
    for spec in chosen_runs(args):
        missing = missing_packages(spec)
        left = deadline - time.monotonic()
        if missing:
            records = skipped_runs(spec, args, f"not installed: {', '.join(missing)}")
        elif left < 10:
            records = skipped_runs(spec, args, "no time left in --budget-s")
        else:
            records = collect_run(spec, args, min(args.run_timeout_s, left))
        for record in records:
            emit(add_mfu(record, peaks, args.peak_tflops))
        results.extend(records)
    if out:
        out.close()
    return results


def markdown_table(results: list[dict], args: argparse.Namespace) -> str:
    nominal = " | MFU (nominal)" if args.peak_tflops else ""
    lines = [f"| framework | backend | variant | seq | batch | step ms | tokens/s | first step s | MFU{nominal} |",
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if nominal else "")]
    for r in results:
        if r["status"] != "ok":
            cells = [r["status"]] * 4 + ([r["status"]] if nominal else [])
        else:
            cells = [f"{r['step_ms']:.1f}", f"{r['tokens_per_s']:,.0f}", f"{r['first_step_s']:.1f}",
                     percent(r.get("mfu"))] + ([percent(r.get("mfu_nominal"))] if nominal else [])
        lines.append("| " + " | ".join([r["framework"], r["backend"], r["variant"], str(r["seq"]), str(r["batch"]),
                                        *cells]) + " |")
    return "\n".join(lines)


def best_by_framework(results: list[dict], args: argparse.Namespace) -> str:
    """Per sequence length: mlm's fastest run against transformers' best configuration, in tokens/s."""
    lines = []
    for length in args.seq_lengths:
        best = {}
        for r in results:
            if r["seq"] == length and r["status"] == "ok" and r["tokens_per_s"] > best.get(r["framework"], {}).get(
                    "tokens_per_s", 0):
                best[r["framework"]] = r
        if {"mlm", "transformers"} <= set(best):
            mlm, hf = best["mlm"], best["transformers"]
            lines.append(f"seq {length}: mlm's best {mlm['run']} {mlm['tokens_per_s']:,.0f} tokens/s, transformers' "
                         f"best {hf['run']} {hf['tokens_per_s']:,.0f} tokens/s: "
                         f"{mlm['tokens_per_s'] / hf['tokens_per_s']:.2f}x")
    return "\n".join(lines)


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def number_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU-sized: tiny model, float32, 2+2 steps, seq 32 and 64")
    parser.add_argument("--runs", help=f"comma-separated subset of: {', '.join(RUNS)}")
    parser.add_argument("--compile", action="store_true", help="with --tiny, also run the torch.compile variants")
    parser.add_argument("--config", choices=sorted(CONFIGS))
    parser.add_argument("--precision", choices=("mixed_bfloat16", "float32"))
    parser.add_argument("--seq-lengths", type=number_list, help="default 128,512 (--tiny: 32,64)")
    parser.add_argument("--batch-sizes", type=number_list, help="one per sequence length; default 64,16 (--tiny: 8,4)")
    parser.add_argument("--warmup", type=int, help="untimed steps, the compiling first one included; default 5")
    parser.add_argument("--steps", type=int, help="timed steps; default 30")
    parser.add_argument("--peak-tflops", type=float, help="the device's nominal peak, for a second MFU column")
    parser.add_argument("--budget-s", type=float, default=450, help="time for the whole command (default 450)")
    parser.add_argument("--run-timeout-s", type=float, default=180, help="time for one run (default 180)")
    parser.add_argument("--threads", type=int, help="CPU threads per run (default: all; --tiny: 1, so that runs on a "
                        "busy machine do not spin on each other)")
    parser.add_argument("--out", help="also write the JSON lines to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--peak-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return with_defaults(args)


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the flags left out: GPU-sized, or CPU-sized under --tiny."""
    tiny = dict(config="tiny", precision="float32", seq_lengths=[32, 64], batch_sizes=[8, 4], warmup=2, steps=2,
                threads=1)
    full = dict(config="bert_base", precision="mixed_bfloat16", seq_lengths=[128, 512], batch_sizes=[64, 16],
                warmup=5, steps=30, threads=None)
    for name, value in (tiny if args.tiny else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if len(args.seq_lengths) != len(args.batch_sizes):
        raise SystemExit("--seq-lengths and --batch-sizes need one entry each")
    if max(args.seq_lengths) > CONFIGS[args.config]["max_sequence_length"]:
        raise SystemExit(f"the {args.config} config takes at most {CONFIGS[args.config]['max_sequence_length']} tokens")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.peak_only:
        print(RESULT_PREFIX + json.dumps(matmul_peak_tflops(args.precision)), flush=True)
        return
    if args.child:
        run_child(RUNS[args.child], args)
        return
    results = run_all(args)
    report = "\n\n".join(filter(None, [
        f"{args.config}, {args.precision}, {args.warmup} warm-up + {args.steps} timed steps",
        markdown_table(results, args), best_by_framework(results, args)]))
    print("\n" + report)
    if args.out:
        Path(args.out).with_suffix(".md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
