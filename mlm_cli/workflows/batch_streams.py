"""Masked batch streams for training and evaluation: documents -> (shards of) packed, masked batches."""

from __future__ import annotations

from collections.abc import Sequence

SHARD_SEED_STRIDE = 1_000_003  # shard s masks with seed + s * stride (shard 0 keeps the run's seed)


class EveryNth:
    """Wrap a DocumentStream, keeping (or dropping) every n-th document: a streaming train/validation split."""

    def __init__(self, documents, n: int, keep_nth: bool):
        self.documents = documents
        self.n = n
        self.keep_nth = keep_nth

    @property
    def skipped_lines(self) -> int:
        return self.documents.skipped_lines

    def batches(self, batch_size: int = 1000):
        for batch in self.documents.batches(batch_size):
            start = self.documents.position - len(batch)
            picked = [doc for i, doc in enumerate(batch) if ((start + i) % self.n == 0) == self.keep_nth]
            if picked:
                yield picked

    @property
    def position(self) -> int:
        return self.documents.position

    @position.setter
    def position(self, value: int) -> None:
        self.documents.position = value

    def state_dict(self) -> dict:
        return self.documents.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.documents.load_state_dict(state)


def documents_of(spec, split: tuple[int, bool] | None, shard: tuple[int, int] = (0, 1)):
    """The documents of `spec` (one shard of them), optionally every n-th kept or dropped."""
    from mlm_cli.data.sources import DocumentStream

    stream = DocumentStream(spec, shard=shard)
    return EveryNth(stream, split[0], split[1]) if split else stream


def masked_batch_stream(model, documents, *, batch_size: int, packing: bool, seed: int, epochs: int = 1):
    """Pack and mask `documents` with the model's tokenizer and masking settings."""
    from mlm_cli.data.batches import MaskedBatchStream
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
                         packing: bool, seed: int, epochs: int = 1, split: tuple[int, bool] | None = None):
    """This process's shards of the corpus, each packed and masked on its own, joined row-wise per step."""
    from mlm_cli.data.sharded_batches import ShardedBatchStream

    streams = [
        masked_batch_stream(model, documents_of(spec, split, (shard, data_shards)), batch_size=rows_per_shard,
                            packing=packing, seed=seed + shard * SHARD_SEED_STRIDE, epochs=epochs)
        for shard in shard_ids
    ]
    return ShardedBatchStream(streams, shard_ids)
