"""Peak memory and step time of `mlm train` with and without --gradient-checkpointing, side by side.

    python bench/gradient_checkpointing.py [--preset bert_small_scratch] [--sequence-length 512]
        [--batch-size 8] [--steps 6] [--backends torch,jax]

Each run is its own process training through `mlm_cli.workflows.train.train` (what `mlm
train` runs; float32, the embedded sample corpus, the same seed). Memory is read from the
kernel: once the model is built and the loop is about to start, the process's resident
high-water mark is reset (/proc/self/clear_refs) and its resident size noted; the
high-water mark after the last step is the peak of training, and the peak minus that
resident size is what training needed on top of the built model: optimizer state, gradients,
activations and scratch (and, on jax, compiling the step). The step time is the median over steps 3..N.
The losses of both runs are printed too: checkpointing must not change them. Prints one
JSON object per run and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "mlm_cli" / "samples" / "corpus.txt"


CHILD = """
import json, sys
from pathlib import Path
from mlm_cli.workflows.train import train
from mlm_cli.workflows.train_options import TrainOptions

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])  # KiB

class Reporter:
    marks = {}
    def start(self, info):  # the model is built; training starts next
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark
        self.marks["before_training_kib"] = status("VmRSS:")
    def step(self, metrics): pass
    def evaluation(self, metrics): pass
    def message(self, text): pass
    def finish(self, summary): self.marks["peak_kib"] = status("VmHWM:")

if len(sys.argv) > 2 and sys.argv[2] == "glibc-default":  # diagnosis: malloc as glibc sets it
    import mlm_cli.allocator
    mlm_cli.allocator.keep_freed_memory = lambda: False
options = TrainOptions(**json.loads(sys.argv[1]))
options.output = Path(options.output)
reporter = Reporter()
train(options, reporter)
print(json.dumps(reporter.marks))
"""


def run(backend: str, checkpointing: bool, args: argparse.Namespace, workdir: Path) -> dict:
    output = workdir / f"{backend}-{'remat' if checkpointing else 'plain'}"
    options = {"preset": args.preset, "data": [str(SAMPLE_CORPUS)], "output": str(output), "max_steps": args.steps,
               "batch_size": args.batch_size, "sequence_length": args.sequence_length, "precision": "float32",
               "log_every": 1, "save_every": 100000, "gradient_checkpointing": checkpointing}
    env = {**os.environ, "KERAS_BACKEND": backend, "MLM_CACHE_DIR": str(workdir / "cache")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(options), args.malloc], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{done.stderr[-2000:]}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    step_seconds = statistics.median(r["window_seconds"] for r in train[2:]) if len(train) > 2 else None
    return {"backend": backend, "gradient_checkpointing": checkpointing, "preset": args.preset,
            "sequence_length": args.sequence_length, "batch_size": args.batch_size, "steps": args.steps,
            "peak_rss_mib": round(marks["peak_kib"] / 1024),
            "step_memory_mib": round((marks["peak_kib"] - marks["before_training_kib"]) / 1024),
            "step_ms": round(1000 * step_seconds) if step_seconds else None,
            "losses": [round(r["loss"], 6) for r in train], "process_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="bert_small_scratch")
    parser.add_argument("--sequence-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--malloc", choices=("mlm", "glibc-default"), default="mlm",
                        help="glibc-default: leave malloc's settings alone (mlm keeps freed memory for speed)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            pair = [run(backend, checkpointing, args, Path(folder)) for checkpointing in (False, True)]
            for result in pair:
                print(json.dumps(result), flush=True)
            plain, remat = pair
            largest_gap = max(abs(a - b) for a, b in zip(plain["losses"], remat["losses"]))
            rows.append((backend, plain, remat, largest_gap))
    print(f"\n{args.preset}, {args.batch_size} x {args.sequence_length} tokens a step, float32, "
          f"{os.cpu_count()} CPU cores\n")
    print("| backend | peak while training, plain → checkpointed (MiB) | training's own memory, plain → "
          "checkpointed (MiB) | saved | step, plain → checkpointed (ms) | largest loss difference |")
    print("|---|---|---|---|---|---|")
    for backend, plain, remat, gap in rows:
        saved = 1 - remat["step_memory_mib"] / max(plain["step_memory_mib"], 1)
        print(f"| {backend} | {plain['peak_rss_mib']:,} → {remat['peak_rss_mib']:,} | {plain['step_memory_mib']:,} → "
              f"{remat['step_memory_mib']:,} | {saved:.0%} | {plain['step_ms']:,} → {remat['step_ms']:,} | {gap:.1e} |")


if __name__ == "__main__":
    main()
