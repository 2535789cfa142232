"""LoRA beside full fine-tuning, in one run, on the same work: continued pretraining of the real
MiniLM-L6-H384 checkpoint (with one fresh MLM head, as bench/quality.py draws it) on man-page
paragraphs, same documents, steps, batch and seed for both sides.

    .venv/bin/python bench/lora.py [--steps 100] [--batch-size 16] [--rank 8] [--targets query,value]
        [--full-learning-rate 1e-4] [--lora-learning-rate 1e-3] [--heldout-documents 1000] [--seed 0]
        [--corpus PATH] [--keep DIR]

    smoke test: --steps 3 --batch-size 4 --heldout-documents 50 --train-documents 2000

Three sides: full fine-tuning, LoRA (adapters only), and LoRA with `--lora-train-head` (the head's
own weights train too, as keras_hub's LoRA leaves them). Each side is the real CLI in a subprocess
(`mlm train`, torch backend, then `mlm export --format hf` of the published preset: the LoRA
sides' is the merged model). LoRA usually wants a larger
learning rate than full fine-tuning (it starts from zero change and moves few weights): each side
gets its own (--full-learning-rate, --lora-learning-rate); everything else is bench/quality.py's
recipe (6% warm-up then linear decay, weight decay 0.01, clipping at 1.0, 15% masking).

Reported per side: median step time (ms, over the training loop's logging windows, so the first
window's compilation counts once), peak RSS of the training process (MB), trainable parameters
(train_config.json; the share is of what full fine-tuning trains), and the held-out masked-token
loss and accuracy before and after, scored by bench/quality.py's `score_model` on the same
held-out documents with ONE fixed set of masks. Progress on stderr; one JSON line per side on
stdout, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")

import quality  # noqa: E402


def step_milliseconds(run: Path) -> float:
    """Median milliseconds per training step over metrics.jsonl's windows (each window's seconds / its steps)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    windows = [r for r in records if r.get("type") == "train"]
    times, previous = [], 0
    for record in windows:
        steps = record["step"] - previous
        previous = record["step"]
        if steps > 0:
            times.append(1000 * record["window_seconds"] / steps)
    return statistics.median(times)


def run_side(name: str, settings: quality.RunSettings, data: Path, root: Path, heldout: quality.HeldOut,
             checkpoint: Path, extra: list[str]) -> dict[str, Any]:
    work = root / name
    result = quality.SideResult(scenario="lora", seed=settings.seed, side=name)
    quality.run_mlm(settings, data, work, result, extra)
    quality.score_side(result, heldout, checkpoint)
    config = json.loads((work / "run" / "train_config.json").read_text(encoding="utf-8"))
    return {
        "side": name,
        "learning_rate": settings.learning_rate,
        "steps": settings.steps,
        "batch_size": settings.batch_size,
        "sequence_length": quality.SEQUENCE_LENGTH,
        "step_ms_median": round(step_milliseconds(work / "run"), 1),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "trainable_parameters": config["trainable_parameters"],
        "parameters": config["parameters"],
        "precision": config["precision"],
        "heldout_loss_before": round(result.loss_before, 4),
        "heldout_loss_after": round(result.loss_after, 4),
        "heldout_accuracy_after": round(result.accuracy_after, 4),
        "masked_tokens": result.details["masked_tokens"],
        "extra_flags": extra,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| side | learning rate | trainable parameters | step time (median) | peak RSS | held-out loss "
             "before → after | held-out accuracy after |", "|---|---|---|---|---|---|---|"]
    everything = rows[0]["trainable_parameters"]  # the full side trains the whole model (pooler aside)
    for row in rows:
        share = row["trainable_parameters"] / everything
        lines.append(
            f"| {row['side']} | {row['learning_rate']:g} | {row['trainable_parameters']:,} ({share:.2%}) | "
            f"{row['step_ms_median']:,.0f} ms | {row['peak_rss_mb']:,.0f} MB | {row['heldout_loss_before']:.3f} → "
            f"{row['heldout_loss_after']:.3f} | {row['heldout_accuracy_after']:.3f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--targets", default="query,value")
    parser.add_argument("--full-learning-rate", type=float, default=1e-4)
    parser.add_argument("--lora-learning-rate", type=float, default=1e-3)
    parser.add_argument("--heldout-documents", type=int, default=1000)
    parser.add_argument("--train-documents", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs in this directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quality.quiet_transformers()
    if not quality.mlm_train_accepts(("--lora-rank", "2")):
        raise SystemExit("this mlm's train has no --lora-rank")
    checkpoint = quality.checkpoint_directory()
    split = quality.split_documents(quality.read_documents(quality.ensure_corpus(args.corpus)), args.heldout_documents,
                                    args.train_documents)
    with tempfile.TemporaryDirectory(prefix="mlm-lora-bench-") as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        data = quality.write_lines(root / "train.txt", split.train_random_order)
        start = quality.shared_start(checkpoint, args.seed, root)
        heldout = quality.build_heldout(checkpoint, split.heldout, "run_mlm")
        lora = ["--lora-rank", str(args.rank), "--lora-targets", args.targets]
        sides = [("full", args.full_learning_rate, []),
                 (f"lora-r{args.rank}", args.lora_learning_rate, lora),
                 (f"lora-r{args.rank}+head", args.lora_learning_rate, [*lora, "--lora-train-head"])]
        rows = []
        for name, learning_rate, extra in sides:
            settings = quality.RunSettings(checkpoint=checkpoint, steps=args.steps, batch_size=args.batch_size,
                                           learning_rate=learning_rate, seed=args.seed, start=start)
            row = run_side(name, settings, data, root, heldout, checkpoint, extra)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
