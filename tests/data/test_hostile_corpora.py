"""Hostile corpora: broken JSONL, binary bytes, NUL bytes, huge lines, random files. Clean errors or correct batches,
bounded memory.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlm_cli.data.masked_batch_stream import MaskedBatchStream, bounded_documents
from mlm_cli.data.masking import MaskGenerator
from mlm_cli.data.sources import CorpusSpec, DocumentStream, check_corpus
from mlm_cli.errors import BadInputError, MlmError
from mlm_cli.models import BertTokenizer
from tests.support.corpus import tiny_vocabulary

pytestmark = pytest.mark.run_once


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)


def stream_for(tokenizer, spec: CorpusSpec, packing: bool = True, sequence_length: int = 16, batch_size: int = 4,
               **kwargs) -> MaskedBatchStream:
    masker = MaskGenerator(vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
                           unselectable_token_ids=tokenizer.special_token_ids, selection_length=4, seed=0)
    return MaskedBatchStream(DocumentStream(spec), tokenizer.encoder, sequence_length=sequence_length,
                             batch_size=batch_size,
                             cls_id=tokenizer.cls_token_id,
                             sep_id=tokenizer.sep_token_id, pad_id=tokenizer.pad_token_id, mask_generator=masker,
                             packing=packing, **kwargs)


def test_skip_bad_lines_counts_exactly_and_keeps_the_good_ones(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = [f"document number {i}" for i in range(20)]
    lines = []
    for i, text in enumerate(good):
        lines.append(json.dumps({"text": text}))
        lines.append(['{"text": "cut off', "[1, 2]", '{"body": "no text column"}', '{"text": 42}', "not json at all"][
            i % 5])
    lines.append(json.dumps({"text": None}))  # null: an empty document, not a bad line
    path.write_text("\n".join(lines) + "\n\n")
    with pytest.raises(BadInputError) as caught:
        check_corpus(CorpusSpec((str(path),)))
        list(DocumentStream(CorpusSpec((str(path),))).batches(7))
    assert "--skip-bad-lines" in (caught.value.hint or "")

    spec = CorpusSpec((str(path),), skip_bad_lines=True)
    check_corpus(spec)
    documents = DocumentStream(spec)
    read = [text for batch in documents.batches(7) for text in batch]
    assert read == good + [""]
    assert documents.skipped_lines == 20
    assert documents.position == 21


def test_skip_bad_lines_resumes_at_the_same_document(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(f'{{"text": "doc {i}"}}\n' if i % 3 else "{oops\n" for i in range(30)))
    spec = CorpusSpec((str(path),), skip_bad_lines=True)
    whole = [t for b in DocumentStream(spec).batches(4) for t in b]
    first = DocumentStream(spec)
    head = next(first.batches(4))
    second = DocumentStream(spec)
    second.load_state_dict(first.state_dict())
    assert head + [t for b in second.batches(4) for t in b] == whole


def test_long_documents_are_split_at_whitespace():
    text = " ".join(f"w{i}" for i in range(1000))
    pieces = bounded_documents([text, "short"], 100, packing=True)
    assert all(len(p) <= 100 for p in pieces) and "".join(pieces[:-1]) == text and pieces[-1] == "short"
    assert all(p.endswith(" ") for p in pieces[:-2])  # cut after a space: no word is split
    assert bounded_documents([text], 100, packing=False) == [pieces[0]]
    assert bounded_documents(["x" * 250], 100, packing=True) == ["x" * 100, "x" * 100,
                                                                 "x" * 50]  # no whitespace: cut anyway


def traced_peak(work) -> tuple[int, object]:
    tracemalloc.start()
    try:
        result = work()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_a_huge_single_line_streams_in_bounded_memory(tmp_path, tokenizer):
    path = tmp_path / "one-line.txt"
    words = ("the model trained quickly and the data was good " * 400_000).strip()  # about 19 MB, one line
    path.write_text(words + "\n")
    spec = CorpusSpec((str(path),))
    check_corpus(spec)
    # Reading alone (Hugging Face datasets) holds the line several times over; mlm's own work
    # on top of that is bounded by the 1 MB piece size. Encoding the line whole would add over 200 MB.
    reading, _ = traced_peak(lambda: [len(b) for b in DocumentStream(spec).batches(1000)])
    # Long rows: the same tokens in few batches (the per-batch work is not what this test is about).
    streaming, tokens = traced_peak(lambda: sum(int(batch.padding_mask.sum())
                                                for batch in stream_for(tokenizer, spec, sequence_length=512,
                                                                        batch_size=64)))
    assert tokens >= 3_600_000  # every word became a token (plus [CLS]/[SEP])
    assert streaming - reading < 64 * 2**20, (reading / 2**20, streaming / 2**20)


def test_nul_bytes_after_the_sniffed_prefix_are_just_text(tmp_path, tokenizer):
    path = tmp_path / "late-nul.txt"
    path.write_bytes(b"plain words here\n" * 5000 + b"a\x00b the model\n" + b"more text\n" * 10)
    spec = CorpusSpec((str(path),))
    check_corpus(spec)
    batches = list(stream_for(tokenizer, spec))
    assert batches and all(b.token_ids.shape == (4, 16) for b in batches)


HOSTILE_BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"the model", b"\xff\xfe", b"\x00", b'{"text": "ok"}', b'{"text": 1}', b"{",
                              b"text,label",
                              b'"quoted, text",1', b"\n", b"\r\n", b",", b'"', b"\xe2\x82", b"\xf0\x9f\x98\x80",
                              b" " * 50]),
             max_size=40).map(b"".join),
)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv"])
@pytest.mark.parametrize("skip_bad_lines", [False, True])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=HOSTILE_BYTES, encoding_errors=st.sampled_from(["strict", "replace"]))
def test_random_files_give_a_clean_error_or_valid_batches(tmp_path, tokenizer, suffix, skip_bad_lines, content,
                                                          encoding_errors):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    spec = CorpusSpec((str(path),), encoding_errors=encoding_errors, skip_bad_lines=skip_bad_lines)
    try:
        check_corpus(spec)
        stream = stream_for(tokenizer, spec)
        for batch in stream:
            assert batch.token_ids.shape == (4, 16) and batch.token_ids.dtype == np.int32
            assert (batch.token_ids >= 0).all() and (batch.token_ids < tokenizer.vocabulary_size()).all()
    except MlmError as error:
        assert str(error) and "\n" not in str(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written next to the data


def test_json_lines_with_mixed_value_types_is_one_clean_error(tmp_path):
    """datasets 5 parses the first records while opening the file; its errors there must not escape as a traceback."""
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"text": 1}{"text": "ok"},\xf0\x9f\x98\x80')
    with pytest.raises(BadInputError, match="cannot parse json data"):
        check_corpus(CorpusSpec((str(path),)))


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_json_lines_are_parsed_by_mlm_on_one_thread_not_by_datasets(tmp_path, monkeypatch, suffix):
    """pyarrow's multithreaded JSON reader (what datasets uses) can crash the process on hostile input."""
    import gzip

    import mlm_cli.data.sources as sources

    lines = [json.dumps({"text": f"document {i}", "id": i}) for i in range(2500)] + ['{"text": null}', '{"id": 7}']
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)

    def refuse(*args, **kwargs):
        raise AssertionError("JSON Lines went through datasets")

    monkeypatch.setattr(sources, "_open_local", refuse)
    spec = CorpusSpec((str(path),))
    check_corpus(spec)
    texts = [text for batch in DocumentStream(spec).batches(1000) for text in batch]
    assert texts == [f"document {i}" for i in range(2500)] + ["", ""]
    assert [len(batch) for batch in DocumentStream(spec).batches(1000)] == [1000, 1000, 502]
    second_shard = [text for batch in DocumentStream(spec, shard=(1, 2)).batches(1000) for text in batch]
    assert second_shard == texts[1::2]
    with pytest.raises(BadInputError, match="no column 'body'"):
        check_corpus(CorpusSpec((str(path),), text_column="body"))


@pytest.mark.parametrize("content", [b"the model {", b"{\nthe model", b"[1, 2", b"  \n "])
def test_json_that_is_not_json_never_reaches_datasets(tmp_path, monkeypatch, content):
    """Garbage in a .json file is refused by mlm with one line, before pyarrow's multithreaded reader could see it."""
    import mlm_cli.data.sources as sources

    path = tmp_path / "broken.json"
    path.write_bytes(content)

    def refuse(*args, **kwargs):
        raise AssertionError("garbage went to datasets")

    monkeypatch.setattr(sources, "_open_local", refuse)
    with pytest.raises(BadInputError) as raised:
        check_corpus(CorpusSpec((str(path),)))
    assert "broken.json" in str(raised.value) and "\n" not in str(raised.value)


def test_a_json_array_of_records_still_reads(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"text": "first document"}, {"text": "second one", "id": 2}], indent=2))
    spec = CorpusSpec((str(path),))
    check_corpus(spec)
    assert [t for batch in DocumentStream(spec).batches(10) for t in batch] == ["first document", "second one"]
