"""Weighted mixing of document sources (`--data-weights`): source i gives w_i / sum(w) of the documents.

The shares are kept exact rather than left to chance: every batch of documents is filled by
smooth weighted round robin (each source earns its weight in credit per document, the
richest one gives the document and pays 1), so after any number of documents each source
is within one document of its share, and the batch is then put in a seeded random order.

Every source is a document stream of its own (in file order or shuffled, this data shard's
part of it), so shards stay disjoint. With `repeat` (a run bounded by --max-steps) a source
that runs out starts its next pass, in a new order when shuffled, on its own; without it the
mix ends when the first source runs out, as `datasets.interleave_datasets` does by default.
Between batches the state is the generator's state and the sources' credits plus, for each
source, its pass, its state before the batch being read and how much of that batch was
handed out: a resumed mix continues with exactly the same documents.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from mlm_cli.errors import BadInputError  # numpy is imported where it is used: option checks run at start-up

SOURCE_BATCH = 1000  # documents read from a source at a time
MIXING_DRAWS = 3  # keeps the mixer's random stream apart from the shuffle's (shuffling.UNIT_ORDER/WINDOW_ORDER)


def parse_weights(text: str | None) -> list[float] | None:
    """'0.8,0.2' -> [0.8, 0.2]; None stays None. ValueError unless every weight is a finite positive number."""
    if text is None:
        return None
    weights = [float(part) for part in str(text).split(",")]
    if not weights or not all(math.isfinite(w) and w > 0 for w in weights):
        raise ValueError(text)
    return weights


class _SourceReader:
    """One source's documents from its recorded place: the state before its current batch, and how much was taken."""

    def __init__(self, source, name: str, state: dict[str, Any], repeat: bool):
        self.source, self.name, self.state, self.repeat = source, name, state, repeat
        if state["start"] is None:
            source.start_epoch(state["epoch"])
            state["start"] = source.state_dict()
        else:
            source.load_state_dict(state["start"])
        self._batches = source.batches(SOURCE_BATCH)
        self._batch = next(self._batches, None)
        if self._batch is None:
            self._batch = self._next_pass()

    def _next_pass(self) -> list[str] | None:
        """The first batch of the source's next pass (None when the mix does not repeat)."""
        if not self.repeat:
            return None
        self.state["epoch"] += 1
        self.source.start_epoch(self.state["epoch"])
        self.state["start"], self.state["taken"] = self.source.state_dict(), 0
        self._batches = self.source.batches(SOURCE_BATCH)
        batch = next(self._batches, None)
        if batch is None:
            raise BadInputError(f"--data {self.name} has no documents (for this data shard)",
                                hint="give every weighted source some text, or fewer --data-shards")
        return batch

    def next_document(self) -> str | None:
        while self._batch is not None and self.state["taken"] >= len(self._batch):
            start = self.source.state_dict()  # the place before the batch about to be read
            batch = next(self._batches, None)
            if batch is None:
                batch = self._next_pass()
            else:
                self.state["start"], self.state["taken"] = start, 0
            self._batch = batch
        if self._batch is None:
            return None
        document = self._batch[self.state["taken"]]
        self.state["taken"] += 1
        return document


class WeightedSources:
    """Documents of several sources in proportion to `weights` (see the module docstring); a `Documents` stream."""

    def __init__(self, sources: Sequence[Any], names: Sequence[str], weights: Sequence[float], seed: int,
                 repeat: bool):
        if len(sources) != len(weights) or len(sources) != len(names):
            raise ValueError("one weight and one name per source")
        self.sources = list(sources)
        self.names = list(names)
        self.probabilities = [float(w) / math.fsum(weights) for w in weights]
        self.seed = int(seed)
        self.repeat = bool(repeat)
        self._state = self._epoch_start(0)

    @property
    def skipped_lines(self) -> int:
        return sum(getattr(source, "skipped_lines", 0) for source in self.sources)

    def _epoch_start(self, epoch: int) -> dict[str, Any]:
        import numpy as np

        generator = np.random.default_rng([self.seed % (1 << 64), MIXING_DRAWS, epoch])
        return {"epoch": epoch, "rng": generator.bit_generator.state, "credits": [0.0] * len(self.sources),
                "sources": [{"epoch": epoch, "start": None, "taken": 0} for _ in self.sources]}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self._state["epoch"], "rng": self._state["rng"], "credits": list(self._state["credits"]),
                "sources": [dict(source) for source in self._state["sources"]]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state.get("sources", ())) != len(self.sources):
            raise ValueError(f"the state mixes {len(state.get('sources', ()))} sources, this stream "
                             f"{len(self.sources)}")
        self._state = {"epoch": int(state["epoch"]), "rng": state["rng"],
                       "credits": [float(c) for c in state["credits"]],
                       "sources": [dict(source) for source in state["sources"]]}

    def start_epoch(self, epoch: int) -> None:
        self._state = self._epoch_start(epoch)

    def batches(self, batch_size: int = 1000) -> Iterator[list[str]]:
        """Batches of documents from the current state on, advancing it; ends when a source does (without repeat)."""
        import numpy as np

        generator = np.random.default_rng()
        generator.bit_generator.state = self._state["rng"]
        readers: dict[int, _SourceReader] = {}
        while True:
            picks = generator.permutation(self._round_robin(batch_size))
            documents: list[str] = []
            for pick in picks.tolist():
                if pick not in readers:
                    readers[pick] = _SourceReader(self.sources[pick], self.names[pick], self._state["sources"][pick],
                                                  self.repeat)
                document = readers[pick].next_document()
                if document is None:
                    break
                documents.append(document)
            self._state["rng"] = generator.bit_generator.state
            if documents:
                yield documents
            if len(documents) < batch_size:
                return

    def _round_robin(self, count: int) -> list[int]:
        """The sources of the next `count` documents by smooth weighted round robin, advancing the credits."""
        credits = self._state["credits"]
        picks = []
        for _ in range(count):
            for index, share in enumerate(self.probabilities):
                credits[index] += share
            pick = max(range(len(credits)), key=credits.__getitem__)
            credits[pick] -= 1.0
            picks.append(pick)
        return picks
