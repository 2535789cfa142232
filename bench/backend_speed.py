"""Training throughput of mlm's BertMaskedLM per Keras backend and precision, side by side.

    python bench/backend_speed.py [--steps 20] [--config small|tiny] [--backends torch,jax]

Each (backend, precision) runs in its own subprocess (a process holds one Keras
backend). Prints one JSON object per run and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from mlm_cli.seeding import set_seed

CONFIGS = {
    # bert_small-sized: the configuration the performance issue measures.
    "small": dict(vocabulary_size=30522, num_layers=4, num_heads=8, hidden_dim=512, intermediate_dim=2048, max_sequence_length=512),
    "tiny": dict(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, max_sequence_length=512),
}


def run_one(backend: str, precision: str, config: str, steps: int, batch: int, length: int) -> dict:
    os.environ["KERAS_BACKEND"] = backend
    import keras
    import numpy as np

    from mlm_cli.models import BertBackbone, BertMaskedLM

    set_seed(0)
    backbone = BertBackbone(**CONFIGS[config], dropout=0.1, dtype=precision)
    model = BertMaskedLM(backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    rng = np.random.default_rng(0)
    selections = max(1, round(length * 0.15))
    x = {
        "token_ids": rng.integers(5, 30522, (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), bool),
        "mask_positions": np.sort(rng.choice(length, (batch, selections)), axis=1).astype("int32"),
    }
    y = rng.integers(5, 30522, (batch, selections)).astype("int32")
    w = np.ones((batch, selections), "float32")
    start = time.perf_counter()
    model.train_on_batch(x, y, sample_weight=w)
    warmup = time.perf_counter() - start
    for _ in range(2):
        model.train_on_batch(x, y, sample_weight=w)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y, sample_weight=w)
    seconds = time.perf_counter() - start
    return {
        "backend": backend,
        "precision": precision,
        "config": config,
        "batch": batch,
        "sequence_length": length,
        "steps": steps,
        "first_step_s": round(warmup, 2),
        "step_ms": round(1000 * seconds / steps, 1),
        "tokens_per_s": round(steps * batch * length / seconds),
        "final_loss": round(float(np.asarray(loss if not isinstance(loss, list) else loss[0])), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, precision = args.child.split(":")
        print(json.dumps(run_one(backend, precision, args.config, args.steps, args.batch, args.sequence_length)))
        return
    results = []
    for backend in args.backends.split(","):
        for precision in args.precisions.split(","):
            command = [sys.executable, __file__, "--child", f"{backend}:{precision}", "--config", args.config,
                       "--steps", str(args.steps), "--batch", str(args.batch), "--sequence-length", str(args.sequence_length)]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            if done.returncode:
                print(f"{backend}/{precision} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
    print("\n| backend | precision | step (ms) | tokens/s | first step (s) |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['precision']} | {r['step_ms']} | {r['tokens_per_s']:,} | {r['first_step_s']} |")


if __name__ == "__main__":
    main()
