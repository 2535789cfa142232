"""Training on real text: non-padding tokens/s and loss, mlm (`mlm train`) vs keras_hub's default pipeline.

    python bench/real_text.py CORPUS.txt [--steps 200] [--batch-size 16] [--sequence-length 128]

CORPUS.txt is one document per line (bench/man_page_corpus.py writes man-page
paragraphs). Runs, each in its own process, on the bert_small architecture:
  * `mlm train --preset bert_small_scratch` with packing, in mixed_bfloat16 and float32;
    each trained model is then scored by `mlm eval` (float32, fixed mask seed) on held-out
    documents that follow the training documents in the corpus: the two held-out losses
    after --steps steps must agree within 2%,
  * keras_hub's BertMaskedLM + BertMaskedLMPreprocessor trained with `fit` on the raw
    strings (its documented pipeline: one document per row, padded to the sequence
    length), on torch with mixed_bfloat16, using mlm's vocabulary from the first run.
Reports all and non-padding tokens/s, the share of time training waited for data, and the
training loss of the last 20 steps, as JSON lines and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def split_corpus(corpus: str, scratch: Path, train_lines: int, heldout_lines: int) -> tuple[str, str]:
    """The first `train_lines` non-empty documents for training, the next `heldout_lines` held out."""
    train, heldout = scratch / "train.txt", scratch / "heldout.txt"
    with open(corpus, encoding="utf-8") as source, open(train, "w", encoding="utf-8") as a, open(heldout, "w",
                                                                                                 encoding="utf-8") as b:
        written = 0
        for line in source:
            if not line.strip():
                continue
            (a if written < train_lines else b).write(line)
            written += 1
            if written >= train_lines + heldout_lines:
                break
    return str(train), str(heldout)


def heldout_loss(output: Path, heldout: str) -> float:
    command = [sys.executable, "-m", "mlm_cli", "eval", "--preset", str(output), "--data", heldout, "--json",
               "--precision", "float32", "--batch-size", "32"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "torch"})
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return float(json.loads(done.stdout)["loss"])


def mlm_run(corpus: str, output: Path, precision: str, args) -> dict:
    command = [sys.executable, "-m", "mlm_cli", "train", "--preset", "bert_small_scratch", "--data", corpus,
               "--output", str(output), "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
               "--sequence-length", str(args.sequence_length), "--precision", precision, "--log-every", "10",
               "--save-every", str(10**9), "--seed", "0", "--overwrite"]
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    timed = train[2:]  # skip warm-up windows
    seconds = sum(r["window_seconds"] for r in timed)
    return {
        "run": f"mlm packed {precision}",
        "tokens_per_s": round(sum(r["window_tokens"] for r in timed) / seconds),
        "real_tokens_per_s": round(sum(r["window_real_tokens"] for r in timed) / seconds),
        "data_wait_share": round(sum(r["window_data_wait_seconds"] for r in timed) / seconds, 4),
        "final_loss": round(sum(r["loss"] for r in train[-2:]) / 2, 4),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "heldout_loss": None,
    }


def keras_hub_child(corpus: str, vocabulary: str, args) -> dict:
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import keras_hub
    import numpy as np

    keras.config.set_dtype_policy("mixed_bfloat16")
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=args.sequence_length)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=4, num_heads=8,
                                             hidden_dim=512, intermediate_dim=2048, max_sequence_length=512)
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.AdamW(5e-4, weight_decay=0.01))
    lines = []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(line.rstrip("\n"))
            if len(lines) >= args.batch_size * (args.keras_hub_steps + 2):
                break
    real = sum(int(np.asarray(preprocessor(lines[i : i + args.batch_size])[0]["padding_mask"]).sum())
               for i in range(args.batch_size * 2, len(lines), args.batch_size))
    model.fit(lines[: args.batch_size * 2], batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up
    started = time.perf_counter()
    history = model.fit(lines[args.batch_size * 2 :], batch_size=args.batch_size, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    steps = len(lines[args.batch_size * 2 :]) // args.batch_size
    return {
        "run": "keras_hub fit(strings) mixed_bfloat16",
        "tokens_per_s": round(steps * args.batch_size * args.sequence_length / seconds),
        "real_tokens_per_s": round(real / seconds),
        "data_wait_share": None,
        "final_loss": round(float(history.history["loss"][-1]), 4),
        "wall_seconds": round(seconds, 1),
        "heldout_loss": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--keras-hub-steps", type=int, default=40)
    parser.add_argument("--train-documents", type=int, default=200_000)
    parser.add_argument("--heldout-documents", type=int, default=4_000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(keras_hub_child(args.corpus, args.child, args)))
        return
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        train, heldout = split_corpus(args.corpus, Path(scratch), args.train_documents, args.heldout_documents)
        for precision in ("mixed_bfloat16", "float32"):
            results.append(mlm_run(train, Path(scratch) / precision, precision, args))
            results[-1]["heldout_loss"] = round(heldout_loss(Path(scratch) / precision, heldout), 4)
            print(json.dumps(results[-1]), flush=True)
        vocabulary = str(Path(scratch) / "mixed_bfloat16" / "assets" / "tokenizer" / "vocabulary.txt")
        command = [sys.executable, __file__, train, "--child", vocabulary, "--keras-hub-steps",
                   str(args.keras_hub_steps),
                   "--batch-size", str(args.batch_size), "--sequence-length", str(args.sequence_length)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if done.returncode:
            print(f"keras_hub failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    bf16, fp32 = results[0]["heldout_loss"], results[1]["heldout_loss"]
    print(f"\nbert_small, batch {args.batch_size} x {args.sequence_length}; held-out loss after {args.steps} steps: "
          f"bf16 {bf16} vs float32 {fp32} ({100 * abs(bf16 - fp32) / fp32:.2f}% apart)\n")
    print(
        "| run | tokens/s | non-padding tokens/s | waiting for data | train loss | held-out loss "
        "|\n|---|---|---|---|---|---|")
    for r in results:
        wait = "" if r["data_wait_share"] is None else f"{r['data_wait_share']:.1%}"
        heldout = "" if r["heldout_loss"] is None else r["heldout_loss"]
        print(
            f"| {r['run']} | {r['tokens_per_s']:,} | {r['real_tokens_per_s']:,} | {wait} | {r['final_loss']} | "
            f"{heldout} |")


if __name__ == "__main__":
    main()
