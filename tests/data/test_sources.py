"""Corpus reading: formats, folders and globs, resumable positions, and clear errors on bad data."""

from __future__ import annotations

import json

import pytest

from mlm_cli.data.sources import CorpusSpec, DocumentStream, check_corpus, parse_hub_dataset
from mlm_cli.errors import BadInputError

pytestmark = pytest.mark.run_once


def read_all(spec: CorpusSpec, batch_size: int = 3) -> list[str]:
    return [doc for batch in DocumentStream(spec).batches(batch_size) for doc in batch]


@pytest.fixture()
def mixed_corpus(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.txt").write_text("first line\n\nthird line\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"body": f"json {i}", "id": i}) + "\n" for i in range(4)),
                                      encoding="utf-8")
    (tmp_path / "c.csv").write_text('id,body\n1,csv one\n2,"csv, two"\n', encoding="utf-8")
    pq.write_table(pa.table({"body": ["parquet a", None]}), tmp_path / "d.parquet")
    return tmp_path


def test_every_format_in_order(mixed_corpus):
    documents = read_all(CorpusSpec((str(mixed_corpus / "a.txt"),)))
    assert documents == ["first line", "", "third line"]
    structured = CorpusSpec(tuple(str(mixed_corpus / n) for n in ("b.jsonl", "c.csv", "d.parquet")), text_column="body")
    check_corpus(structured)
    assert read_all(structured) == ["json 0", "json 1", "json 2", "json 3", "csv one", "csv, two", "parquet a", ""]


def test_folder_and_glob(mixed_corpus):
    (mixed_corpus / "sub").mkdir()
    (mixed_corpus / "sub" / "e.txt").write_text("nested\n", encoding="utf-8")
    (mixed_corpus / "notes.md").write_text("ignored in folders\n", encoding="utf-8")
    assert read_all(CorpusSpec((str(mixed_corpus / "**" / "*.txt"),))) == ["first line", "", "third line", "nested"]
    folder = read_all(CorpusSpec((str(mixed_corpus),), text_column="body"), batch_size=100)
    # --text-column applies to structured files; plain text files are read line by line
    assert "nested" in folder and "first line" in folder and "parquet a" in folder
    assert "ignored in folders" not in folder


def test_position_resumes_exactly(mixed_corpus):
    spec = CorpusSpec(tuple(str(mixed_corpus / n) for n in ("b.jsonl", "c.csv", "d.parquet")), text_column="body")
    everything = read_all(spec)
    for start in range(len(everything) + 1):
        stream = DocumentStream(spec)
        stream.load_state_dict({"position": start})
        rest = [doc for batch in stream.batches(3) for doc in batch]
        assert rest == everything[start:]
        assert stream.position == len(everything)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"ok\nline two \xff here\n", "bad.txt:2: not valid UTF-8"),
        (b"x" * 70_000 + b"\nfine\n\xc3\x28 broken\n", "bad.txt:3: not valid UTF-8"),
        (b"\x00\x01\x02binary", "looks binary"),
        (b"\n\n  \n", "empty"),
    ],
)
def test_bad_text_files_name_the_problem(tmp_path, content, expected):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(BadInputError, match=expected.replace(".", r"\.")):
        check_corpus(CorpusSpec((str(bad),)))
        read_all(CorpusSpec((str(bad),)))


def test_invalid_utf8_can_be_replaced(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good\nbad \xff byte\n")
    spec = CorpusSpec((str(bad),), encoding_errors="replace")
    check_corpus(spec)
    assert read_all(spec) == ["good", "bad \ufffd byte"]


def test_missing_inputs_and_columns(tmp_path, mixed_corpus):
    with pytest.raises(BadInputError, match="does not exist"):
        check_corpus(CorpusSpec((str(tmp_path / "missing.txt"),)))
    with pytest.raises(BadInputError, match="no files match"):
        check_corpus(CorpusSpec((str(tmp_path / "*.nothing"),)))
    with pytest.raises(BadInputError, match="unsupported data file type"):
        (tmp_path / "model.bin").write_bytes(b"123")
        check_corpus(CorpusSpec((str(tmp_path / "model.bin"),)))
    with pytest.raises(BadInputError, match=r"no column 'text' \(columns: body, id\)"):
        check_corpus(CorpusSpec((str(mixed_corpus / "b.jsonl"),)))
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    with pytest.raises(BadInputError, match="holds no data files"):
        check_corpus(CorpusSpec((str(empty_folder),)))


def test_hub_dataset_handles():
    assert parse_hub_dataset("hf://wikitext").name == "wikitext"
    handle = parse_hub_dataset("hf://Salesforce/wikitext/wikitext-2-raw-v1:validation")
    assert (handle.name, handle.config, handle.split) == ("Salesforce/wikitext", "wikitext-2-raw-v1", "validation")
    assert parse_hub_dataset("hf://owner/name").split == "train"
    with pytest.raises(BadInputError):
        parse_hub_dataset("hf://a/b/c/d")
