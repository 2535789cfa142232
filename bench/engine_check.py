"""Data or engine? Split bench/quality.py's gap between mlm and the Trainer into its two halves.

    .venv/bin/python bench/engine_check.py KEPT [--seed 0] [--steps 150] [--batch-size 16]

KEPT is a directory written by `bench/quality.py --keep KEPT` (its corpus split and the mlm
run of the standard scenario for --seed). Two measurements:

1. Same batch, same weights: mlm's model and transformers' BertForMaskedLM, both loaded from
   the mlm run's starting point (exported with its fresh head), dropout off, on mlm's first
   batch: loss, global gradient norm, and the relative difference of the (tied) word-embedding
   gradient. Equal figures mean mlm's forward and backward pass are transformers'.
   Then --same-steps steps (20) from those weights, dropout still off: mlm's train_on_batch
   beside torch's AdamW with mlm's schedule, decay groups and clipping, loss per step.
2. Same batches, other engine: the exact batches `mlm train` drew for that run (its packing,
   shuffling and masks under --seed) fed to BertForMaskedLM by a plain torch loop with the
   Trainer's recipe (torch AdamW, decay except biases and LayerNorm, linear warm-up 6% and
   decay, clipping 1.0, dropout 0.1), from the Trainer side's starting point (the shared start
   quality.py wrote, or set_seed + from_pretrained under --own-heads). The model is scored by
   quality.py's scorer on all three held-out row formats, beside the kept mlm and Trainer models.

Results: JSON lines on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")

import quality  # noqa: E402

FIELDS = ("token_ids", "padding_mask", "mask_positions", "mask_ids", "mask_weights")


def mlm_batches(checkpoint: Path, data: Path, seed: int, steps: int, batch_size: int) -> dict[str, np.ndarray]:
    """The batches `mlm train --seed SEED --batch-size B --sequence-length 128` draws, in order."""
    from mlm_cli.data.sources import CorpusSpec
    from mlm_cli.models import MaskedLM
    from mlm_cli.workflows.batch_stream_setup import sharded_batch_stream
    from mlm_cli.workflows.model_setup import MaskingOptions

    model = MaskedLM.from_preset(checkpoint, load_weights=False)
    model.preprocessor.sequence_length = quality.SEQUENCE_LENGTH
    model.preprocessor.mask_selection_length = MaskingOptions().selection_length(
        quality.SEQUENCE_LENGTH)  # as mlm train sets it
    stream = sharded_batch_stream(model, CorpusSpec((str(data),)), shard_ids=[0], data_shards=1,
                                  rows_per_shard=batch_size,
                                  packing=True, seed=seed, epochs=1, shuffle_buffer=100_000)
    collected: dict[str, list[np.ndarray]] = {name: [] for name in FIELDS}
    for index, batch in enumerate(stream):
        for name in FIELDS:
            collected[name].append(np.asarray(getattr(batch, name)))
        if index + 1 == steps:
            break
    stream.close()
    return {name: np.stack(arrays) for name, arrays in collected.items()}


def labels_of(batches: dict[str, np.ndarray], step: int):
    import torch

    ids = batches["token_ids"][step]
    labels = np.full(ids.shape, -100, dtype=np.int64)
    positions, weights = batches["mask_positions"][step], batches["mask_weights"][step] > 0
    rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], positions.shape)
    labels[rows[weights], positions[weights]] = batches["mask_ids"][step][weights]
    return torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(
        batches["padding_mask"][step].astype(np.int64)), torch.from_numpy(labels)


def same_batch_check(start: Path, batches: dict[str, np.ndarray]) -> dict[str, float]:
    """Loss and gradients of mlm's model and transformers' on mlm's first batch, same weights, no dropout."""
    import torch

    from mlm_cli.models import MaskedLM

    ids, attention, labels = labels_of(batches, 0)
    reference = quality.load_masked_lm(start).eval()
    output = reference(input_ids=ids, attention_mask=attention, token_type_ids=torch.zeros_like(ids), labels=labels)
    output.loss.backward()
    theirs = {name: p.grad for name, p in reference.named_parameters() if p.grad is not None}

    model = MaskedLM.from_preset(start)
    features = {"token_ids": ids.int(), "segment_ids": torch.zeros_like(ids).int(), "padding_mask": attention.bool(),
                "mask_positions": torch.from_numpy(batches["mask_positions"][0])}
    logits = model(features, training=False).float()
    targets = torch.from_numpy(batches["mask_ids"][0]).long()[..., None]
    weights = torch.from_numpy(batches["mask_weights"][0])
    losses = -torch.log_softmax(logits, -1).gather(-1, targets).squeeze(-1)
    loss = (losses * weights).sum() / weights.sum()
    loss.backward()
    ours = [v.value.grad for v in model.trainable_variables if v.value.grad is not None]

    def norm(grads) -> float:
        return math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))

    our_embedding = next(v.value.grad for v in model.trainable_variables if v.path.startswith("token_embedding/"))
    their_embedding = theirs["bert.embeddings.word_embeddings.weight"]
    worst = float((our_embedding - their_embedding).norm() / their_embedding.norm())
    return {"mlm_loss": float(loss), "transformers_loss": float(output.loss), "mlm_gradient_norm": norm(ours),
            "transformers_gradient_norm": norm(theirs.values()), "tensors": len(ours),
            "transformers_tensors": len(theirs),
            "word_embedding_gradient_relative_difference": worst}


def trainer_optimizer(model, learning_rate: float):
    """torch's AdamW as the Trainer builds it: betas 0.9/0.999, epsilon 1e-8, no decay on biases and LayerNorm."""
    import torch

    named = list(model.named_parameters())
    exempt = [p for n, p in named if "bias" in n or "LayerNorm" in n]
    decayed = [p for n, p in named if not ("bias" in n or "LayerNorm" in n)]
    groups = [{"params": decayed, "weight_decay": quality.WEIGHT_DECAY}, {"params": exempt, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)


def same_steps_check(start: Path, batches: dict[str, np.ndarray], steps: int, total_steps: int,
                     learning_rate: float) -> dict:
    """`steps` training steps from the same weights, dropout off: mlm's train_on_batch against torch's AdamW on
    BertForMaskedLM with mlm's schedule, decay groups and clipping; the loss of every step on both sides."""
    import torch
    from transformers import BertForMaskedLM

    from mlm_cli.models import MaskedLM
    from mlm_cli.models.optimizers import recipe_optimizer
    from mlm_cli.workflows.schedule import WarmupDecay

    warmup = math.ceil(quality.WARMUP * total_steps)
    reference = BertForMaskedLM.from_pretrained(start, hidden_dropout_prob=0.0,
                                                attention_probs_dropout_prob=0.0).train()
    optimizer = trainer_optimizer(reference, learning_rate)
    schedule = WarmupDecay(learning_rate, warmup, total_steps)
    theirs = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = schedule.value_at(step)
        ids, attention, labels = labels_of(batches, step)
        loss = reference(input_ids=ids, attention_mask=attention, token_type_ids=torch.zeros_like(ids),
                         labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), quality.MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad()
        theirs.append(float(loss.detach()))

    model = MaskedLM.from_preset(start, dropout=0.0)
    model.compile(optimizer=recipe_optimizer(schedule, quality.WEIGHT_DECAY, quality.MAX_GRAD_NORM))
    ours = []
    for step in range(steps):
        ids = batches["token_ids"][step]
        features = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
                    "padding_mask": batches["padding_mask"][step].astype(bool),
                    "mask_positions": batches["mask_positions"][step]}
        logs = model.train_on_batch(features, batches["mask_ids"][step], sample_weight=batches["mask_weights"][step],
                                    return_dict=True)
        ours.append(float(logs["loss"]))
    return {"steps": steps, "mlm_losses": [round(v, 5) for v in ours],
            "transformers_losses": [round(v, 5) for v in theirs],
            "largest_difference": max(abs(a - b) for a, b in zip(ours, theirs))}


def train_on_batches(start: Path, batches: dict[str, np.ndarray], seed: int, learning_rate: float,
                     output: Path) -> float:
    """BertForMaskedLM trained on `batches` from `start` with the Trainer's recipe in a plain torch loop; returns
    seconds.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    model = quality.fresh_transformers_model(start, seed).train()
    optimizer = trainer_optimizer(model, learning_rate)
    steps = len(batches["token_ids"])
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(quality.WARMUP * steps), steps)
    started = time.perf_counter()
    for step in range(steps):
        ids, attention, labels = labels_of(batches, step)
        loss = model(input_ids=ids, attention_mask=attention, token_type_ids=torch.zeros_like(ids), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), quality.MAX_GRAD_NORM)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 25 == 0:
            quality.progress(f"step {step}: loss {float(loss):.4f}")
    seconds = time.perf_counter() - started
    model.save_pretrained(output)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--same-steps", type=int, default=20,
                        help="steps of the dropout-free side-by-side check (0: skip)")
    args = parser.parse_args()
    checkpoint = quality.checkpoint_directory()
    runs = args.kept / "standard" / f"seed{args.seed}"
    quality.quiet_transformers()

    batches = mlm_batches(checkpoint, args.kept / "corpus" / "train_random_order.txt", args.seed, args.steps,
                          args.batch_size)
    shared = args.kept / "starts" / f"seed{args.seed}"  # both sides' start (quality.py without --own-heads)
    mlm_start = shared if shared.is_dir() else runs / "mlm" / "start-hf"
    print(json.dumps({"type": "same_batch", **same_batch_check(mlm_start, batches)}), flush=True)
    if args.same_steps:
        print(json.dumps({"type": "same_steps", **same_steps_check(mlm_start, batches, args.same_steps, args.steps,
                                                                     args.learning_rate)}), flush=True)

    trained = runs / "transformers_on_mlm_batches"
    seconds = train_on_batches(shared if shared.is_dir() else checkpoint, batches, args.seed, args.learning_rate,
                               trained)
    documents = quality.read_documents(args.kept / "corpus" / "heldout.txt")
    models = {"mlm": runs / "mlm" / "final-hf", "transformers": runs / "transformers" / "final-hf",
              "transformers on mlm's batches": trained}
    rows = []
    for packing in ("run_mlm", "mlm", "document"):
        heldout = quality.build_heldout(checkpoint, documents, packing)
        scores = {name: round(quality.score_model(quality.load_masked_lm(path), heldout)["loss"], 4)
                  for name, path in models.items() if path.is_dir()}
        print(json.dumps({"type": "score", "packing": packing, "train_seconds": round(seconds, 1), **scores}),
              flush=True)
        rows.append(
            f"| {packing} | " + " | ".join(f"{scores[name]:.3f}" if name in scores else "—" for name in models) + " |")
    print("\n| held-out rows | " + " | ".join(models) + " |\n|---|" + "---|" * len(models) + "\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
