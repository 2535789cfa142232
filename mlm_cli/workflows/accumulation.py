"""Gradient accumulation: one training step's batch as --accumulation-steps forward passes.

The step's batch (`--batch-size` x devices x N rows, drawn, packed and masked exactly as a
batch of that size is without accumulation) is cut into N consecutive row blocks. Each
part's loss is a sum whose mask weights are scaled by N / (masks in the whole step), so the
mean of the N gradients, which Keras' optimizer applies on the N-th pass, is the gradient
of the step's mean masked-token loss; `StepLogs` puts the parts' losses and accuracies
together the same way. The step trains as one pass over the whole batch would, whatever
the parts' mask counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from mlm_cli.data.masked_batch_stream import Batch


def accumulation_parts(batch: Batch, part_masks: Sequence[int]) -> Iterator[Batch]:
    """`batch` itself for one part; else its row blocks, one per entry of `part_masks`, weights scaled.

    `part_masks` counts each part's masks over every process; their sum is the step's. A
    part's `real_tokens` is 0: the loop counts tokens per step.
    """
    steps = len(part_masks)
    if steps == 1:
        yield batch
        return
    rows = len(batch.token_ids) // steps
    scale = steps / max(sum(part_masks), 1)  # a step of filler rows only has no masks: its parts weigh nothing
    for part in range(steps):
        block = slice(part * rows, (part + 1) * rows)
        yield dataclasses.replace(
            batch, token_ids=batch.token_ids[block], segment_ids=batch.segment_ids[block],
            padding_mask=batch.padding_mask[block], mask_positions=batch.mask_positions[block],
            mask_ids=batch.mask_ids[block], mask_weights=batch.mask_weights[block] * scale, real_tokens=0)


class StepLogs:
    """The step's loss and accuracy from its parts' `train_on_batch` logs.

    Each part's loss is already its share of the step's mean (scaled weights, summed), so the
    step's loss is their mean over the N parts; accuracy is a mean over each part's own
    masks, so the parts are weighted by their mask counts.
    """

    def __init__(self, part_masks: Sequence[int]):
        self.part_masks = list(part_masks)
        self.logs: list[dict[str, Any]] = []

    def add(self, logs: dict[str, Any]) -> None:
        self.logs.append(logs)

    def result(self) -> dict[str, Any]:
        if len(self.logs) == 1:
            return self.logs[0]
        combined = dict(self.logs[-1])
        combined["loss"] = sum(float(logs["loss"]) for logs in self.logs) / len(self.logs)
        key = "sparse_categorical_accuracy"
        if all(key in logs for logs in self.logs):
            total = max(sum(self.part_masks), 1)
            combined[key] = sum(float(logs[key]) * n for logs, n in zip(self.logs, self.part_masks)) / total
        return combined
