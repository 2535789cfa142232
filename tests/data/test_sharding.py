"""Data shards: every document in exactly one shard, and global batches that do not depend on who reads the shards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlm_cli.data.masked_batch_stream import MaskedBatchStream
from mlm_cli.data.masking import MaskGenerator
from mlm_cli.data.sharded_batch_stream import ShardedBatchStream
from mlm_cli.data.sources import CorpusSpec, DocumentStream

pytestmark = pytest.mark.run_once


class CharacterEncoder:
    """Token ids from characters: enough to see which documents went where."""

    def encode_batch_flat(self, texts):
        ids = [np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int32) + 10 for text in texts]
        offsets = np.cumsum([0] + [len(i) for i in ids]).astype(np.int64)
        return (np.concatenate(ids) if ids else np.zeros(0, np.int32)), offsets


def read_all(stream: DocumentStream) -> list[str]:
    return [doc for batch in stream.batches(7) for doc in batch]


@pytest.fixture()
def corpus(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("".join(f"doc {i}\n" for i in range(23)))
    two = tmp_path / "two.jsonl"
    two.write_text("".join(json.dumps({"text": f"rec {i}"}) + "\n" for i in range(10)))
    return tmp_path


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("skip_bad_lines", [False, True])
def test_shards_partition_the_corpus(corpus, count, skip_bad_lines):
    spec = CorpusSpec((str(corpus / "one.txt"), str(corpus / "two.jsonl")), skip_bad_lines=skip_bad_lines)
    everything = read_all(DocumentStream(spec))
    shards = [read_all(DocumentStream(spec, shard=(index, count))) for index in range(count)]
    assert sorted(doc for shard in shards for doc in shard) == sorted(everything)
    assert sum(len(shard) for shard in shards) == len(everything) == 33
    if count > 1:  # one file per source: every count-th document, as split_dataset_by_node deals them
        assert shards[1][:3] == ["doc 1", f"doc {1 + count}", f"doc {1 + 2 * count}"]


def test_a_shard_resumes_from_its_position(corpus):
    spec = CorpusSpec((str(corpus / "one.txt"),))
    stream = DocumentStream(spec, shard=(1, 2))
    first = next(stream.batches(4))
    resumed = DocumentStream(spec, shard=(1, 2))
    resumed.load_state_dict(stream.state_dict())
    assert first + read_all(resumed) == read_all(DocumentStream(spec, shard=(1, 2)))


def test_shard_index_must_be_inside_the_count(corpus):
    with pytest.raises(ValueError):
        DocumentStream(CorpusSpec((str(corpus / "one.txt"),)), shard=(2, 2))


def shard_streams(spec, shard_ids, count, rows_per_shard, epochs=1):
    streams = [
        MaskedBatchStream(DocumentStream(spec, shard=(shard, count)), CharacterEncoder(), sequence_length=8,
                          batch_size=rows_per_shard,
                          cls_id=1, sep_id=2, pad_id=0, packing=False, epochs=epochs,
                          mask_generator=MaskGenerator(vocabulary_size=200, mask_token_id=3,
                                                       unselectable_token_ids=[0, 1, 2],
                                                       selection_length=3, seed=shard))
        for shard in shard_ids
    ]
    return ShardedBatchStream(streams, shard_ids)


def test_global_batches_are_the_same_whoever_reads_the_shards(corpus):
    """One reader of shards 0 and 1 == readers of shard 0 and shard 1 side by side (two hosts)."""
    spec = CorpusSpec((str(corpus / "one.txt"),))
    together = list(shard_streams(spec, [0, 1], 2, rows_per_shard=3))
    first, second = shard_streams(spec, [0], 2, 3), shard_streams(spec, [1], 2, 3)
    apart = []
    while True:
        a, b = first.next_batch(), second.next_batch()
        if a is None and b is None:
            break
        apart.append((a or first.filler(), b or second.filler()))
    assert len(together) == len(apart) == 4  # 12 and 11 documents in rows of 3
    for joined, (a, b) in zip(together, apart):
        np.testing.assert_array_equal(joined.token_ids, np.concatenate([a.token_ids, b.token_ids]))
        np.testing.assert_array_equal(joined.mask_ids, np.concatenate([a.mask_ids, b.mask_ids]))
        assert joined.real_tokens == a.real_tokens + b.real_tokens


def test_an_exhausted_shard_contributes_filler_rows_with_nothing_to_predict(corpus):
    spec = CorpusSpec((str(corpus / "one.txt"), str(corpus / "two.jsonl")))  # shards of 12 + 5 and 11 + 5 documents
    stream = shard_streams(spec, [0, 1], 2, rows_per_shard=4)
    batches = list(stream)
    assert len(batches) == 5
    last = batches[-1]
    assert last.token_ids.shape == (8, 8)
    assert last.mask_weights[:1].sum() > 0  # shard 0's 17th document
    assert last.mask_weights[4:].sum() == 0 and last.token_ids[4:,
        2:].max() == 0  # shard 1 ran out after 4 batches: [CLS] [SEP] rows
    assert stream.next_batch() is None
    filler = stream.filler()
    assert filler.token_ids.shape == (8, 8) and filler.mask_weights.sum() == 0 and filler.real_tokens == 0


def test_state_of_all_shards_resumes_in_any_grouping(corpus):
    """A checkpoint holds every shard's position; a reader of some of the shards picks up its own."""
    spec = CorpusSpec((str(corpus / "one.txt"),))
    whole = shard_streams(spec, [0, 1], 2, rows_per_shard=2)
    expected = [whole.next_batch() for _ in range(4)]
    stopped = shard_streams(spec, [0, 1], 2, rows_per_shard=2)
    stopped.next_batch()
    state = json.loads(json.dumps(stopped.state_dict()))
    stopped.close()
    second_host = shard_streams(spec, [1], 2, rows_per_shard=2)
    second_host.load_state_dict(state)
    for batch in expected[1:]:
        np.testing.assert_array_equal(second_host.next_batch().token_ids, batch.token_ids[2:])
    with pytest.raises(KeyError):
        shard_streams(spec, [2], 3, rows_per_shard=2).load_state_dict(state)
    for stream in (whole, second_host):
        stream.close()
