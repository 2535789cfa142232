"""Training tokens/s of mlm, keras_hub and transformers on the same BERT config, side by side.

    python bench/train_speed.py [--steps 10] [--config small] [--runs
    mlm:torch:mixed_bfloat16,keras_hub:jax:float32,...]

Every run trains a masked-LM on the same random batch (vocabulary 30522, batch 16 x 128,
15% of positions masked) in its own subprocess, with Adam(W) at 1e-4. keras_hub and mlm take
the same keras_hub-layout batch; transformers gets the equivalent full-length labels
(-100 where nothing is masked) and bf16 autocast for mixed_bfloat16. keras_hub and
transformers are test dependencies.

Frameworks: `mlm` is `mlm train`'s loop (the recipe optimizer with clipping, train_on_batch);
`mlm-fit` and `mlm-api` are the Python API a user writes: `compile()` with its "auto"
defaults, then `fit()` over repeated batches or `train_on_batch`.

The same run also measures the machine's matmul peak at each precision (2048^3 products,
best of several, torch on every core) and reports each run's model FLOP/s as a share of
it: FLOPs are counted per trained token (forward + backward = 3x the forward matmuls;
the vocabulary projection only at masked positions for mlm and keras_hub, at every
position for transformers, which computes it there). Prints one JSON object per run and
a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = {
    "small": dict(vocabulary_size=30522, num_layers=4, num_heads=8, hidden_dim=512, intermediate_dim=2048,
                  max_sequence_length=512),
    "tiny": dict(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512,
                 max_sequence_length=512),
    "base": dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                 max_sequence_length=512),
}
DEFAULT_RUNS = (
    "mlm:torch:float32,mlm-api:torch:float32,mlm-fit:torch:float32,mlm:torch:mixed_bfloat16,"
    "mlm-api:torch:mixed_bfloat16,mlm-fit:torch:mixed_bfloat16,mlm:jax:float32,"
    "keras_hub:torch:float32,keras_hub:torch:mixed_bfloat16,keras_hub:jax:float32,keras_hub:jax:mixed_bfloat16,"
    "transformers:torch:float32,transformers:torch:mixed_bfloat16"
)


def make_batch(batch: int, length: int, vocabulary: int):
    import numpy as np

    rng = np.random.default_rng(0)
    selections = max(1, round(length * 0.15))
    positions = np.sort(np.stack([rng.choice(length - 2, selections, replace=False) + 1 for _ in range(batch)]),
                        axis=1).astype("int32")
    x = {
        "token_ids": rng.integers(5, vocabulary, (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), bool),
        "mask_positions": positions,
    }
    y = rng.integers(5, vocabulary, (batch, selections)).astype("int32")
    w = np.ones((batch, selections), "float32")
    return x, y, w


def keras_model(framework: str, config: dict, precision: str):
    import keras

    if framework.startswith("mlm"):
        from mlm_cli.models import BertBackbone, BertMaskedLM
    else:
        from keras_hub.models import BertBackbone, BertMaskedLM
    backbone = BertBackbone(**config, dropout=0.1, dtype=precision)
    model = BertMaskedLM(backbone, preprocessor=None)
    if framework in ("mlm-api", "mlm-fit"):  # the Python API as a user writes it
        model.compile()
        if framework == "mlm-fit":
            return fit_steps(model)
    elif framework == "mlm":  # what `mlm train` does: its allocator setting and recipe optimizer
        from mlm_cli.allocator import keep_freed_memory
        from mlm_cli.models.optimizers import recipe_optimizer

        keep_freed_memory()
        model.compile(optimizer=recipe_optimizer(1e-4))
    else:
        optimizer = keras.optimizers.Adam(1e-4)
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return lambda x, y, w: float(model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"])


def fit_steps(model):
    """A step function whose calls are timed inside one `fit()` over that many copies of the batch."""
    import time

    import keras
    import numpy as np

    class StepClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())
            self.loss = float(logs["loss"])

    clock = StepClock()

    def run(x, y, w, steps: int):
        clock.times = [time.perf_counter()]
        tile = lambda a: np.concatenate([a] * steps)  # noqa: E731
        model.fit({k: tile(v) for k, v in x.items()}, tile(y), sample_weight=tile(w), batch_size=len(y), epochs=1,
                  shuffle=False, verbose=0, callbacks=[clock])
        return clock.times, clock.loss

    return run


def transformers_model(config: dict, precision: str):
    import numpy as np
    import torch
    import transformers

    hf_config = transformers.BertConfig(
        vocab_size=config["vocabulary_size"], hidden_size=config["hidden_dim"], num_hidden_layers=config["num_layers"],
        num_attention_heads=config["num_heads"], intermediate_size=config["intermediate_dim"],
        max_position_embeddings=config["max_sequence_length"],
    )
    model = transformers.BertForMaskedLM(hf_config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(x, y, w):
        labels = np.full(x["token_ids"].shape, -100, dtype=np.int64)
        np.put_along_axis(labels, x["mask_positions"], y, axis=1)
        inputs = dict(input_ids=torch.from_numpy(x["token_ids"].astype(np.int64)),
                      token_type_ids=torch.from_numpy(x["segment_ids"].astype(np.int64)),
                      attention_mask=torch.from_numpy(x["padding_mask"].astype(np.int64)),
                      labels=torch.from_numpy(labels))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "mixed_bfloat16"):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def run_one(framework: str, backend: str, precision: str, config: str, steps: int, batch: int, length: int) -> dict:
    os.environ["KERAS_BACKEND"] = backend
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    if backend == "torch":
        import torch

        torch.manual_seed(0)
    sizes = CONFIGS[config]
    x, y, w = make_batch(batch, length, sizes["vocabulary_size"])
    step = transformers_model(sizes, precision) if framework == "transformers" else keras_model(framework, sizes,
                                                                                                precision)
    if framework == "mlm-fit":
        warm = 3
        times, loss = step(x, y, w, warm + steps)  # one fit(): its set-up and first (compiling) steps are not timed
        first = times[1] - times[0]
        seconds = times[-1] - times[warm]
    else:
        start = time.perf_counter()
        step(x, y, w)
        first = time.perf_counter() - start
        for _ in range(2):
            step(x, y, w)
        start = time.perf_counter()
        for _ in range(steps):
            loss = step(x, y, w)
        seconds = time.perf_counter() - start
    tokens_per_s = steps * batch * length / seconds
    flops = flops_per_token(sizes, length, masked_share=1.0 if framework == "transformers" else round(
        0.15 * length) / length)
    return {
        "framework": framework, "backend": backend, "precision": precision, "config": config, "batch": batch,
        "sequence_length": length, "steps": steps, "first_step_s": round(first, 2),
        "step_ms": round(1000 * seconds / steps, 1),
        "tokens_per_s": round(tokens_per_s), "model_mflop_per_token": round(flops / 1e6, 1),
        "model_gflop_per_s": round(tokens_per_s * flops / 1e9, 1), "loss": round(loss, 4),
    }


def flops_per_token(config: dict, length: int, masked_share: float) -> float:
    """Matmul FLOPs to train on one token: 3x the forward pass (the backward pass is two matmuls per forward one)."""
    h, i, v, layers = config["hidden_dim"], config["intermediate_dim"], config["vocabulary_size"], config["num_layers"]
    # q/k/v/output projections, feed-forward, attention scores and mixing
    per_layer = 2 * 4 * h * h + 2 * 2 * h * i + 2 * 2 * length * h
    head = masked_share * (2 * h * h + 2 * h * v)  # transform and tied vocabulary projection
    return 3.0 * (layers * per_layer + head)


def matmul_peak(precision: str, size: int = 2048, repeats: int = 8) -> float:
    """Best FLOP/s of a size^3 matrix product at the precision's compute dtype (torch, every core)."""
    import torch

    dtypes = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}
    dtype = dtypes.get(precision, torch.float32)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated framework:backend:precision")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--peak", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak:
        print(json.dumps({"precision": args.peak, "matmul_gflop_per_s": round(matmul_peak(args.peak) / 1e9, 1)}))
        return
    if args.child:
        framework, backend, precision = args.child.split(":")
        print(json.dumps(run_one(framework, backend, precision, args.config, args.steps, args.batch,
                                 args.sequence_length)))
        return
    peaks = {}
    for precision in sorted({run.split(":")[2] for run in args.runs.split(",")}):
        done = subprocess.run([sys.executable, __file__, "--peak", precision], capture_output=True, text=True,
                              check=True)
        peaks[precision] = json.loads(done.stdout)["matmul_gflop_per_s"]
        print(json.dumps({"matmul_peak": precision, "gflop_per_s": peaks[precision]}), flush=True)
    results = []
    for run in args.runs.split(","):
        command = [sys.executable, __file__, "--child", run, "--config", args.config, "--steps", str(args.steps),
                   "--batch", str(args.batch), "--sequence-length", str(args.sequence_length)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if done.returncode:
            print(f"{run} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["share_of_matmul_peak"] = round(result["model_gflop_per_s"] / peaks[result["precision"]], 3)
        results.append(result)
        print(json.dumps(result), flush=True)
    print(
        f"\n{args.config} config, batch {args.batch} x {args.sequence_length}, {args.steps} timed steps; matmul peak "
        "(GFLOP/s): "
          + ", ".join(f"{k} {v:,}" for k, v in peaks.items()) + "\n")
    print(
        "| framework | backend | precision | step (ms) | tokens/s | model GFLOP/s | share of matmul peak "
        "|\n|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['framework']} | {r['backend']} | {r['precision']} | {r['step_ms']} | {r['tokens_per_s']:,} | "
              f"{r['model_gflop_per_s']:,} | {100 * r['share_of_matmul_peak']:.0f}% |")


if __name__ == "__main__":
    main()
