"""Training tokens/s of mlm, keras_hub and transformers on the same BERT config, side by side.

    python bench/train_speed.py [--steps 10] [--config small] [--runs mlm:torch:mixed_bfloat16,keras_hub:jax:float32,...]

Every run trains a masked-LM on the same random batch (vocabulary 30522, batch 16 x 128,
15% of positions masked) in its own subprocess, with Adam at 1e-4. keras_hub and mlm take
the same keras_hub-layout batch; transformers gets the equivalent full-length labels
(-100 where nothing is masked) and bf16 autocast for mixed_bfloat16. Prints one JSON
object per run and a markdown table. keras_hub and transformers are test dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = {
    "small": dict(vocabulary_size=30522, num_layers=4, num_heads=8, hidden_dim=512, intermediate_dim=2048, max_sequence_length=512),
    "tiny": dict(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, max_sequence_length=512),
    "base": dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072, max_sequence_length=512),
}
DEFAULT_RUNS = (
    "mlm:torch:float32,mlm:torch:mixed_bfloat16,mlm:jax:float32,"
    "keras_hub:torch:float32,keras_hub:torch:mixed_bfloat16,keras_hub:jax:float32,keras_hub:jax:mixed_bfloat16,"
    "transformers:torch:float32,transformers:torch:mixed_bfloat16"
)


def make_batch(batch: int, length: int, vocabulary: int):
    import numpy as np

    rng = np.random.default_rng(0)
    selections = max(1, round(length * 0.15))
    positions = np.sort(np.stack([rng.choice(length - 2, selections, replace=False) + 1 for _ in range(batch)]), axis=1).astype("int32")
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

    if framework == "mlm":
        from mlm_cli.models import BertBackbone, BertMaskedLM
    else:
        from keras_hub.models import BertBackbone, BertMaskedLM
    backbone = BertBackbone(**config, dropout=0.1, dtype=precision)
    model = BertMaskedLM(backbone, preprocessor=None)
    if framework == "mlm":
        from mlm_cli.models.optimizers import FusedAdamW

        optimizer = FusedAdamW(1e-4, weight_decay=0.0)  # what `mlm train` uses: Keras' Adam, fused on torch
    else:
        optimizer = keras.optimizers.Adam(1e-4)
    if framework == "mlm":  # what `mlm train` does: compile's defaults
        from mlm_cli.allocator import keep_freed_memory

        keep_freed_memory()
        model.compile(optimizer=optimizer)
    else:
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return lambda x, y, w: float(model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"])


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
        inputs = dict(input_ids=torch.from_numpy(x["token_ids"].astype(np.int64)), token_type_ids=torch.from_numpy(x["segment_ids"].astype(np.int64)),
                      attention_mask=torch.from_numpy(x["padding_mask"].astype(np.int64)), labels=torch.from_numpy(labels))
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
    step = transformers_model(sizes, precision) if framework == "transformers" else keras_model(framework, sizes, precision)
    start = time.perf_counter()
    step(x, y, w)
    first = time.perf_counter() - start
    for _ in range(2):
        step(x, y, w)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y, w)
    seconds = time.perf_counter() - start
    return {
        "framework": framework, "backend": backend, "precision": precision, "config": config, "batch": batch,
        "sequence_length": length, "steps": steps, "first_step_s": round(first, 2), "step_ms": round(1000 * seconds / steps, 1),
        "tokens_per_s": round(steps * batch * length / seconds), "loss": round(loss, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated framework:backend:precision")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, backend, precision = args.child.split(":")
        print(json.dumps(run_one(framework, backend, precision, args.config, args.steps, args.batch, args.sequence_length)))
        return
    results = []
    for run in args.runs.split(","):
        command = [sys.executable, __file__, "--child", run, "--config", args.config, "--steps", str(args.steps),
                   "--batch", str(args.batch), "--sequence-length", str(args.sequence_length)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if done.returncode:
            print(f"{run} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    print(f"\n{args.config} config, batch {args.batch} x {args.sequence_length}, {args.steps} timed steps\n")
    print("| framework | backend | precision | step (ms) | tokens/s | first step (s) |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['framework']} | {r['backend']} | {r['precision']} | {r['step_ms']} | {r['tokens_per_s']:,} | {r['first_step_s']} |")


if __name__ == "__main__":
    main()
