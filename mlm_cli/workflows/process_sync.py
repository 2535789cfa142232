"""What the processes of one training run agree on each step, so they never wait on each other forever.

With one process everything here is local and free. With several (jax.distributed) every
process must run the same number of steps and evaluations: each step they share whether
they still have data (a process whose shard ran out feeds filler rows until all have),
whether a signal arrived anywhere, and how many tokens went in; checkpoints gather every
process's data position; failures of a peer become one error line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlm_cli.distributed.cluster import Cluster


@dataclass(frozen=True)
class StepTurn:
    any_data: bool  # some process still has a batch: everyone trains this step
    signal: int  # SIGINT/SIGTERM received by any process (0: none)
    tokens: int  # tokens in the global batch
    real_tokens: int  # non-padding tokens of real rows in the global batch
    part_masks: tuple[int, ...]  # positions to predict in each accumulation part of the global batch


class ProcessSync:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def gather(self, values: list[int]) -> np.ndarray:
        """[processes, len(values)] (one row when alone)."""
        if not self.cluster.multi_process:
            return np.asarray([values], dtype=np.int64)
        from mlm_cli.distributed.host_arrays import allgather_ints

        return allgather_ints(values)

    def agree_on_step(self, batch, signal_received: int | None, parts: int = 1) -> StepTurn:
        """What every process learns before a step; `parts`: its batch's accumulation parts (row blocks)."""
        part_masks = [0] * parts if batch is None else [
            int(block.sum()) for block in np.split(batch.mask_weights, parts)]
        rows = self.gather([batch is not None, int(signal_received or 0),
                            int(batch.token_ids.size) if batch is not None else 0,
                            int(batch.real_tokens) if batch is not None else 0, *part_masks])
        signals = [int(s) for s in rows[:, 1] if s]
        return StepTurn(any_data=bool(rows[:, 0].any()), signal=signals[0] if signals else 0,
                        tokens=int(rows[:, 2].sum()), real_tokens=int(rows[:, 3].sum()),
                        part_masks=tuple(int(n) for n in rows[:, 4:].sum(axis=0)))

    def guard(self):
        """Within the block, a lost peer surfaces as PeerLostError (a one-line error)."""
        if not self.cluster.multi_process:
            return contextlib.nullcontext()
        from mlm_cli.distributed.host_arrays import peer_failures

        return peer_failures()

    @contextlib.contextmanager
    def readable(self, model) -> Iterator[None]:
        """`variable.numpy()` works on every model and optimizer variable within the block."""
        if not self.cluster.multi_process:
            yield
            return
        from mlm_cli.distributed.host_arrays import readable_variables

        optimizer = getattr(model, "optimizer", None)
        with readable_variables(list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])):
            yield

    def all_shard_states(self, local: dict[str, Any]) -> dict[str, Any]:
        """The data positions of every process's shards, merged (a collective)."""
        if not self.cluster.multi_process:
            return local
        from mlm_cli.distributed.host_arrays import allgather_json

        merged: dict[str, Any] = {}
        for part in allgather_json(local["shards"]):
            merged.update(part)
        return {"shards": merged}

    def masked_lm_metrics(self, model, stream, max_batches: int | None):
        from mlm_cli.workflows.masked_lm_metrics import lockstep_masked_lm_metrics, masked_lm_metrics

        if self.cluster.kind == "none":
            return masked_lm_metrics(model, stream, max_batches)
        return lockstep_masked_lm_metrics(model, stream, max_batches, self.gather)

