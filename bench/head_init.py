"""How a fresh MLM head should be drawn: held-out loss of the real MiniLM-L6 checkpoint with
fresh heads whose transform kernel is normal(0.02) (transformers) or truncated normal
(0.02, redrawn beyond 2 sigma: keras_hub), over paired draws.

    .venv/bin/python bench/head_init.py [--draws 12] [--documents 600] [--corpus PATH]

Draw i of each kind starts from the same standard-normal tensor (seed i); the truncated one
redraws its entries beyond 2 sigma. Everything else in the head is as transformers builds
it (LayerNorm 1/0, biases 0, decoder tied to the embeddings). Each head is scored by
bench/quality.py's scorer on the first --documents held-out documents, one per row, with
its fixed masks. At 150 fine-tuning steps the starting loss carries through to the end
(see bench/quality.py --own-heads), so a head that starts lower is the better default.
Prints one JSON line per draw, then the means and the paired difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")

import quality  # noqa: E402

STDDEV = 0.02
KINDS = ("normal", "truncated")


def draw_kernel(shape, seed: int, kind: str):
    import torch

    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=generator)
    if kind == "truncated":
        while (outside := values.abs() > 2).any():
            values[outside] = torch.randn(int(outside.sum()), generator=generator)
    return values * STDDEV


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=12)
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--corpus", type=Path, help="one document per line [default: the man-page corpus]")
    args = parser.parse_args()
    import torch
    from transformers import BertForMaskedLM

    quality.quiet_transformers()
    checkpoint = quality.checkpoint_directory()
    split = quality.split_documents(quality.read_documents(quality.ensure_corpus(args.corpus)), 4000, None)
    heldout = quality.build_heldout(checkpoint, split.heldout[: args.documents], "document")
    model = BertForMaskedLM.from_pretrained(checkpoint)
    kernel = model.cls.predictions.transform.dense.weight
    losses: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for seed in range(args.draws):
        for kind in KINDS:
            with torch.no_grad():
                kernel.copy_(draw_kernel(kernel.shape, seed, kind))
            losses[kind].append(quality.score_model(model, heldout)["loss"])
        print(json.dumps({"draw": seed, **{kind: round(values[-1], 4) for kind, values in losses.items()}}), flush=True)
    differences = [t - n for n, t in zip(losses["normal"], losses["truncated"])]
    summary = {kind: {"mean": round(statistics.mean(v), 4), "sd": round(statistics.stdev(v), 4)} for kind,
               v in losses.items()}
    print(json.dumps({"summary": summary, "truncated_minus_normal_mean": round(statistics.mean(differences), 4),
                      "normal_lower_in": f"{sum(d > 0 for d in differences)}/{len(differences)}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
