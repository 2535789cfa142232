"""One batch from several shard streams: how a global batch is dealt over data shards.

The corpus is split into `data_shards` streams (`DocumentStream(shard=...)`), each packed
and masked on its own. Every step takes the same number of rows from each shard, in shard
order, so the global batch of a run is the same whether its shards are read by one
process or by one process per host. A shard that runs out contributes filler rows
(no masked positions) until every shard has.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mlm_cli.data.masked_batch_stream import Batch, MaskedBatchStream


def concatenate_batches(parts: Sequence[Batch]) -> Batch:
    if len(parts) == 1:
        return parts[0]
    return Batch(
        token_ids=np.concatenate([p.token_ids for p in parts]),
        segment_ids=np.concatenate([p.segment_ids for p in parts]),
        padding_mask=np.concatenate([p.padding_mask for p in parts]),
        mask_positions=np.concatenate([p.mask_positions for p in parts]),
        mask_ids=np.concatenate([p.mask_ids for p in parts]),
        mask_weights=np.concatenate([p.mask_weights for p in parts]),
        real_tokens=sum(p.real_tokens for p in parts),
    )


class ShardedBatchStream:
    """Batches made of equal row slices from this process's shard streams, in shard order."""

    def __init__(self, streams: Sequence[MaskedBatchStream], shard_ids: Sequence[int]):
        if not streams or len(streams) != len(shard_ids):
            raise ValueError("one stream per shard id is needed")
        self.streams = list(streams)
        self.shard_ids = list(shard_ids)
        self._iterators: list[Iterator[Batch] | None] | None = None

    @property
    def batch_size(self) -> int:
        return sum(stream.batch_size for stream in self.streams)

    @property
    def epoch(self) -> int:
        return max(stream.epoch for stream in self.streams)

    @property
    def skipped_lines(self) -> int:
        """Bad JSONL lines this process's shards skipped (--skip-bad-lines)."""
        return sum(stream.documents.skipped_lines for stream in self.streams)

    @property
    def wait_seconds(self) -> float:
        return sum(stream.wait_seconds for stream in self.streams)

    def state_dict(self) -> dict[str, Any]:
        """Positions of this process's shards: {"shards": {shard id: stream state}} (JSON keys are strings)."""
        return {"shards": {str(shard): stream.state_dict() for shard, stream in zip(self.shard_ids, self.streams)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Accepts the state of a run with any number of processes (all shards), or a one-stream state."""
        shards = state.get("shards")
        if shards is None:  # a checkpoint written before data shards existed: one stream
            shards = {"0": state}
        for shard, stream in zip(self.shard_ids, self.streams):
            if str(shard) not in shards:
                raise KeyError(f"no saved position for data shard {shard}")
            stream.load_state_dict(shards[str(shard)])

    def filler(self) -> Batch:
        """A batch of this process's size with nothing to predict."""
        return concatenate_batches([stream.filler_batch() for stream in self.streams])

    def next_batch(self) -> Batch | None:
        """The next batch, or None once every local shard is exhausted."""
        if self._iterators is None:
            self._iterators = [iter(stream) for stream in self.streams]
        parts, live = [], False
        for index, stream in enumerate(self.streams):
            iterator = self._iterators[index]
            batch = next(iterator, None) if iterator is not None else None
            if batch is None:
                self._iterators[index] = None
                batch = stream.filler_batch()
            else:
                live = True
            parts.append(batch)
        return concatenate_batches(parts) if live else None

    def __iter__(self) -> Iterator[Batch]:
        while (batch := self.next_batch()) is not None:
            yield batch

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
