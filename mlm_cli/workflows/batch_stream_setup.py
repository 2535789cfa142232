"""Masked batch streams for training and evaluation: documents -> (shards of) packed, masked batches."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any

SHARD_SEED_STRIDE = 1_000_003  # shard s masks with seed + s * stride (shard 0 keeps the run's seed)
SOURCE_SEED_STRIDE = 7_919  # weighted source i shuffles with seed + i * stride: its own order


def is_held_out(document: str, n: int) -> bool:
    """Whether a document belongs to the 1-in-n validation split: decided by its text alone, never by where it comes."""
    return zlib.crc32(document.encode("utf-8", "surrogatepass")) % n == 0


class HeldOutSplit:
    """Wrap a document stream, keeping only the held-out documents (or only the others): a streaming train/validation
    split.

    The split follows each document's text (its crc32), so the held-out documents are the
    same whatever the shuffle order, epoch or data shard, and never reach training.
    """

    def __init__(self, documents, n: int, keep_held_out: bool):
        self.documents = documents
        self.n = n
        self.keep_held_out = keep_held_out

    @property
    def skipped_lines(self) -> int:
        return self.documents.skipped_lines

    def batches(self, batch_size: int = 1000) -> Iterator[list[str]]:
        for batch in self.documents.batches(batch_size):
            picked = [doc for doc in batch if is_held_out(doc, self.n) == self.keep_held_out]
            if picked:
                yield picked

    def state_dict(self) -> dict[str, Any]:
        return self.documents.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.documents.load_state_dict(state)

    def start_epoch(self, epoch: int) -> None:
        self.documents.start_epoch(epoch)


def mixed_documents(spec, weights: list[float], split: tuple[int, bool] | None, shard: tuple[int, int], *,
                    shuffle_buffer: int | None, seed: int, repeat: bool):
    """`--data-weights`: one document stream per path of `spec` (this shard's part, split and shuffled alike),
    drawn in proportion to `weights` (mlm_cli.data.mixing)."""
    import dataclasses

    from mlm_cli.data.mixing import WeightedSources

    sources = [documents_of(dataclasses.replace(spec, paths=(path,)), split, shard, shuffle_buffer=shuffle_buffer,
                            seed=seed + index * SOURCE_SEED_STRIDE)
               for index, path in enumerate(spec.paths)]
    return WeightedSources(sources, list(spec.paths), weights, seed=seed + shard[0] * SHARD_SEED_STRIDE, repeat=repeat)


def documents_of(spec, split: tuple[int, bool] | None, shard: tuple[int, int] = (0, 1), *,
                 shuffle_buffer: int | None = None,
                 seed: int = 0, units=None):
    """The documents of `spec` (one shard of them): in file order, or shuffled (`shuffle_buffer` documents held,
    seeded);
    optionally only the held-out split or only the rest of it (`split` = (n, keep held-out))."""
    if shuffle_buffer:
        from mlm_cli.data.shuffling import ShuffledDocuments

        stream = ShuffledDocuments(units or spec, seed=seed, shard=shard, buffer_documents=shuffle_buffer)
    else:
        from mlm_cli.data.sources import DocumentStream

        stream = DocumentStream(spec, shard=shard)
    return HeldOutSplit(stream, split[0], split[1]) if split else stream


def masked_batch_stream(model, documents, *, batch_size: int, packing: bool, seed: int, epochs: int = 1,
                        whole_words: bool = False):
    """Pack and mask `documents` with the model's tokenizer and masking settings (whole words: see MaskGenerator)."""
    from mlm_cli.data.masked_batch_stream import MaskedBatchStream
    from mlm_cli.data.masking import MaskGenerator

    preprocessor = model.preprocessor
    tokenizer = preprocessor.tokenizer
    masker = MaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(),
        mask_token_id=tokenizer.mask_token_id,
        unselectable_token_ids=tokenizer.special_token_ids,
        selection_rate=preprocessor.mask_selection_rate,
        selection_length=preprocessor.mask_selection_length,
        mask_token_rate=preprocessor.mask_token_rate,
        random_token_rate=preprocessor.random_token_rate,
        seed=seed,
        word_starts=tokenizer.word_starts() if whole_words else None,
    )
    return MaskedBatchStream(
        documents,
        tokenizer.encoder,
        sequence_length=preprocessor.sequence_length,
        batch_size=batch_size,
        cls_id=tokenizer.cls_token_id,
        sep_id=tokenizer.sep_token_id,
        pad_id=tokenizer.pad_token_id,
        mask_generator=masker,
        packing=packing,
        epochs=epochs,
    )


def sharded_batch_stream(model, spec, *, shard_ids: Sequence[int], data_shards: int, rows_per_shard: int,
                         packing: bool, seed: int, epochs: int = 1, split: tuple[int, bool] | None = None,
                         shuffle_buffer: int | None = None, whole_words: bool = False,
                         weights: list[float] | None = None, repeat_sources: bool = False):
    """This process's shards of the corpus, each packed and masked on its own, joined row-wise per step.

    With `shuffle_buffer`, every shard reads its part of one seeded order of the corpus (new each epoch).
    With `weights` (one per path of `spec`), each shard mixes its part of every path in those proportions
    (`repeat_sources`: a path that runs out starts over; else the mix ends with the first one)."""
    from mlm_cli.data.sharded_batch_stream import ShardedBatchStream

    units = None
    if shuffle_buffer and weights is None:
        from mlm_cli.data.corpus_units import CorpusUnits

        units = CorpusUnits(spec)  # found once, shared by this process's shards

    def documents(shard: int):
        if weights is None:
            return documents_of(spec, split, (shard, data_shards), shuffle_buffer=shuffle_buffer, seed=seed,
                                units=units)
        return mixed_documents(spec, weights, split, (shard, data_shards), shuffle_buffer=shuffle_buffer, seed=seed,
                               repeat=repeat_sources)

    streams = [
        masked_batch_stream(model, documents(shard),
                            batch_size=rows_per_shard, packing=packing, seed=seed + shard * SHARD_SEED_STRIDE,
                            epochs=epochs, whole_words=whole_words)
        for shard in shard_ids
    ]
    return ShardedBatchStream(streams, shard_ids)
