"""Seeded document shuffling: mixing across files and regions, a new order each epoch, exact resume, disjoint shards."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pytest

from mlm_cli.data import corpus_units
from mlm_cli.data.corpus_units import CorpusUnits
from mlm_cli.data.masked_batch_stream import MaskedBatchStream
from mlm_cli.data.masking import MaskGenerator
from mlm_cli.data.shuffling import ShuffledDocuments
from mlm_cli.data.sources import CorpusSpec, DocumentStream
from mlm_cli.errors import BadInputError
from mlm_cli.workflows.batch_stream_setup import HeldOutSplit, documents_of
from tests.data.resume_checks import assert_resumes_exactly, collect
from tests.data.test_sharding import CharacterEncoder

pytestmark = pytest.mark.run_once

FILES = ("alpha.txt", "beta.txt", "gamma.jsonl", "delta.jsonl.gz", "epsilon.csv", "zeta.parquet")
SIZES = {"alpha": 600, "beta": 600, "gamma": 400, "delta": 300, "epsilon": 300, "zeta": 400}


def document(name: str, index: int) -> str:
    return f"{name} {index:04d} " + " ".join(["word"] * (index % 7))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six files of every local kind; document i of file `name` reads "name i ..."."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("shuffling")
    docs = {name: [document(name, i) for i in range(count)] for name, count in SIZES.items()}
    (root / "alpha.txt").write_text("".join(d + "\n" for d in docs["alpha"]))
    (root / "beta.txt").write_text("".join(d + "\n" for d in docs["beta"]))
    (root / "gamma.jsonl").write_text("".join(json.dumps({"text": d, "id": i}) + "\n" for i,
                                              d in enumerate(docs["gamma"])))
    with gzip.open(root / "delta.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"text": d}) + "\n" for d in docs["delta"]))
    (root / "epsilon.csv").write_text("id,text\n" + "".join(f"{i},{d}\n" for i, d in enumerate(docs["epsilon"])))
    pq.write_table(pa.table({"text": docs["zeta"]}), root / "zeta.parquet", row_group_size=50)
    return root


def spec_of(corpus, *files: str, **options) -> CorpusSpec:
    return CorpusSpec(tuple(str(corpus / f) for f in files or FILES), **options)


def read_epoch(documents, epoch: int = 0) -> list[str]:
    documents.start_epoch(epoch)
    return [doc for batch in documents.batches(100) for doc in batch]


def region(doc: str) -> tuple[str, int]:
    """Which file, and which tenth of it, a document comes from."""
    name, index = doc.split()[:2]
    return name, int(index) * 10 // SIZES[name]


def test_an_epoch_holds_every_document_once(corpus):
    spec = spec_of(corpus)
    in_file_order = read_epoch(DocumentStream(spec))
    assert len(in_file_order) == sum(SIZES.values())
    shuffled = read_epoch(ShuffledDocuments(spec, seed=0, buffer_documents=150))
    assert Counter(shuffled) == Counter(in_file_order)
    assert shuffled != in_file_order


def decoded_rows(batch) -> list[str]:
    """The documents of an unpacked CharacterEncoder batch, with the masked characters put back."""
    ids = batch.token_ids.copy()
    for row, (positions, originals, weights) in enumerate(zip(batch.mask_positions, batch.mask_ids,
                                                              batch.mask_weights)):
        ids[row, positions[weights > 0]] = originals[weights > 0]
    return [bytes((ids[row, 1:][ids[row, 1:] > 2] - 10).astype(np.uint8)).decode() for row in range(
        len(ids)) if batch.padding_mask[row, 2]]


def batch_stream(documents, *, batch_size=32, epochs=1, packing=False) -> MaskedBatchStream:
    masker = MaskGenerator(vocabulary_size=200, mask_token_id=3, unselectable_token_ids=[0, 1, 2], selection_length=4,
                           seed=3)
    return MaskedBatchStream(documents, CharacterEncoder(), sequence_length=18, batch_size=batch_size, cls_id=1,
                             sep_id=2, pad_id=0,
                             mask_generator=masker, packing=packing, epochs=epochs, documents_per_chunk=37)


def first_batches(documents, count: int) -> list[list[str]]:
    stream = batch_stream(documents)
    try:
        return [decoded_rows(batch) for batch, _ in zip(stream, range(count))]
    finally:
        stream.close()


def test_every_batch_mixes_files_and_distant_parts_of_a_file(corpus):
    spec = spec_of(corpus)
    for rows in first_batches(ShuffledDocuments(spec, seed=0, buffer_documents=1000), 6):
        regions = {region(doc) for doc in rows}
        files = {name for name, _ in regions}
        assert len(files) >= 4 and len(regions) >= 12, sorted(regions)
        spread = max(max(t for f, t in regions if f == name) - min(t for f,
                                                                   t in regions if f == name) for name in files)
        assert spread >= 5, sorted(regions)  # the start and the second half of one file, side by side
    unshuffled = first_batches(documents_of(spec, None), 1)[0]
    assert {region(doc) for doc in unshuffled} == {("alpha", 0)}  # --no-shuffle: file order


def test_no_shuffle_reads_in_file_order(corpus):
    spec = spec_of(corpus)
    expected = [document(name, i) for name, count in SIZES.items() for i in range(count)]
    assert read_epoch(documents_of(spec, None)) == expected
    assert read_epoch(documents_of(spec, None, shuffle_buffer=100, seed=0)) != expected


def test_each_epoch_draws_a_new_order_and_the_seed_fixes_it(corpus):
    spec = spec_of(corpus)
    units = CorpusUnits(spec)
    first = ShuffledDocuments(units, seed=7, buffer_documents=200)
    epochs = [read_epoch(first, 0), read_epoch(first, 1), read_epoch(first, 2)]
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]
    assert Counter(epochs[0]) == Counter(epochs[1]) == Counter(epochs[2])
    again = ShuffledDocuments(spec, seed=7, buffer_documents=200)
    assert read_epoch(again, 1) == epochs[1] and read_epoch(again, 0) == epochs[0]
    other = ShuffledDocuments(units, seed=8, buffer_documents=200)
    assert read_epoch(other, 0) != epochs[0]


@pytest.mark.parametrize("files", [("alpha.txt",), ("gamma.jsonl",), ("delta.jsonl.gz",), ("epsilon.csv",),
                                   ("zeta.parquet",), FILES])
def test_resume_from_a_state_continues_with_the_same_batches(corpus, files):
    spec = spec_of(corpus, *files)

    def stream():
        return batch_stream(ShuffledDocuments(spec, seed=1, buffer_documents=70), batch_size=4, epochs=2, packing=True)

    full = collect(stream())
    assert len(full) > 12
    for stop in (1, len(full) // 3, len(full) // 2 + 1, len(full) - 2):
        assert_resumes_exactly(stream, full, stop)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("files", [FILES, ("delta.jsonl.gz", "epsilon.csv", "zeta.parquet")])
def test_data_shards_are_disjoint_and_cover_the_corpus_every_epoch(corpus, count, files):
    spec = spec_of(corpus, *files)
    everything = Counter(read_epoch(DocumentStream(spec)))
    units = CorpusUnits(spec)
    shards = [ShuffledDocuments(units, seed=2, shard=(index, count), buffer_documents=90) for index in range(count)]
    for epoch in (0, 1):
        parts = [read_epoch(shard, epoch) for shard in shards]
        assert sum((Counter(part) for part in parts), Counter()) == everything
        assert min(len(part) for part in parts) >= 0.6 * sum(everything.values()) / count  # no shard left idle


def test_a_held_out_split_stays_the_same_documents_and_never_reaches_training(corpus):
    spec = spec_of(corpus)
    everything = set(read_epoch(DocumentStream(spec)))
    held_out = read_epoch(HeldOutSplit(DocumentStream(spec), 7, True))
    assert 0.08 < len(held_out) / len(everything) < 0.22
    for seed in (0, 1):
        for epoch in (0, 1):
            training = read_epoch(HeldOutSplit(ShuffledDocuments(spec, seed=seed, buffer_documents=120), 7, False),
                                  epoch)
            assert not set(training) & set(held_out)
            assert len(training) + len(held_out) == len(everything) and set(training) | set(held_out) == everything
    shuffled_held_out = read_epoch(HeldOutSplit(ShuffledDocuments(spec, seed=3), 7, True), 1)
    assert sorted(shuffled_held_out) == sorted(held_out)


def test_the_buffer_bounds_characters_as_well_as_documents(corpus):
    spec = spec_of(corpus)
    documents = ShuffledDocuments(spec, seed=0, buffer_documents=10_000, buffer_characters=2_000)
    batches = list(documents.batches(10_000))  # one batch per window
    assert max(
        sum(map(len, batch)) for batch in batches) < 2_000 + 8 * 40  # each of 8 units may cross its share by a document
    assert Counter(doc for batch in batches for doc in batch) == Counter(read_epoch(DocumentStream(spec)))


@pytest.fixture()
def tiny_blocks(monkeypatch):
    """Cut files into 7-byte blocks, so lines cross many block edges."""
    monkeypatch.setattr(corpus_units, "BLOCK_BYTES", 7)
    monkeypatch.setattr(corpus_units, "MIN_BLOCK_BYTES", 7)


def units_in_order(spec) -> list[str]:
    units = CorpusUnits(spec)
    return [doc for unit in range(len(units)) for batch in units.read(unit) for doc in batch]


def test_byte_blocks_read_exactly_the_lines_of_the_file(tmp_path, tiny_blocks):
    text = tmp_path / "edges.txt"
    text.write_bytes("first\n\nthird has a line much longer than one block of bytes\r\nsplit\u2028here\nx\r\ry\r\n"
                     "caf\u00e9 \u4e2d\u6587\n\n\nno newline at the end".encode())
    jsonl = tmp_path / "edges.jsonl"
    jsonl.write_text(
        '{"text": "one"}\n\n{"text": null}\n{"other": 1}\n  \n{"text": "a long record spanning blocks \\u2028 ok"}\n'
                     '{"text": "last"}')
    for path in (text, jsonl):
        spec = CorpusSpec((str(path),))
        assert len(CorpusUnits(spec)) > 5
        assert units_in_order(spec) == read_epoch(DocumentStream(spec))


def test_jsonl_blocks_refuse_bad_lines_or_skip_and_count_them(tmp_path, tiny_blocks):
    path = tmp_path / "broken.jsonl"
    lines = [json.dumps({"text": f"good {i}"}) if i % 4 else ['{"text": "cut', "[1, 2]", '{"body": "x"}',
                                                              '{"text": 42}'][i // 4 % 4]
             for i in range(40)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as caught:
        read_epoch(ShuffledDocuments(CorpusSpec((str(path),)), seed=0))
    assert "broken.jsonl" in str(caught.value) and "--skip-bad-lines" in caught.value.hint
    spec = CorpusSpec((str(path),), skip_bad_lines=True)
    documents = ShuffledDocuments(spec, seed=0)
    assert Counter(read_epoch(documents)) == Counter(read_epoch(DocumentStream(spec)))
    assert documents.skipped_lines == 10
    stream = batch_stream(ShuffledDocuments(spec, seed=0), batch_size=4)
    collect(stream)
    assert stream.documents.skipped_lines == 10  # still reported once the last epoch is over


def test_hub_datasets_shuffle_their_shards(tmp_path, monkeypatch):
    """A Hub dataset of three shards (served from local files here): shards are units, every document once."""
    import datasets

    from mlm_cli.data import sources

    files = []
    for shard in range(3):
        files.append(str(tmp_path / f"shard{shard}.txt"))
        (tmp_path / f"shard{shard}.txt").write_text("".join(f"hub {shard} {i}\n" for i in range(120)))
    monkeypatch.setattr(sources, "_open_hub", lambda source: datasets.load_dataset("text", data_files=files,
                                                                                   split="train", streaming=True))
    spec = CorpusSpec(("hf://owner/name",))
    units = CorpusUnits(spec)
    assert len(units) == 3
    expected = Counter(f"hub {shard} {i}" for shard in range(3) for i in range(120))
    order = read_epoch(ShuffledDocuments(units, seed=0, buffer_documents=80))
    assert Counter(order) == expected
    assert len({doc.split()[1] for doc in order[:40]}) == 3  # a window draws from every shard
    halves = [read_epoch(ShuffledDocuments(units, seed=0, shard=(index, 2))) for index in range(2)]
    assert Counter(halves[0]) + Counter(halves[1]) == expected


def test_a_checkpoint_from_before_shuffling_still_resumes(corpus):
    spec = spec_of(corpus, "alpha.txt")
    full = collect(batch_stream(DocumentStream(spec), batch_size=4))
    stream = batch_stream(DocumentStream(spec), batch_size=4)
    iterator = iter(stream)
    for _ in range(5):
        next(iterator)
    state = stream.state_dict()
    stream.close()
    old_style = {**{k: v for k, v in state.items() if k != "documents"}, "chunk_start": state["documents"]["position"]}
    resumed = batch_stream(DocumentStream(spec), batch_size=4)
    resumed.load_state_dict(old_style)
    rest = collect(resumed)
    assert len(rest) == len(full) - 5
    np.testing.assert_array_equal(rest[0][0], full[5][0])
