"""A corpus cut into units that can each be read on their own, from their start: what shuffling reorders.

- Uncompressed text and JSON Lines files: byte blocks. Block k holds the lines that start
  inside bytes [k * B, (k + 1) * B); it is found by seeking there and scanning (at most B
  bytes) to the next line start, so no pre-scan of the file is needed.
- Parquet files: their row groups.
- gzip / bzip2 / xz text and JSON Lines files: the whole file, decompressed as a stream.
- Everything else (CSV, JSON array files, .zst files): the whole file, read through
  `datasets` (`DocumentStream`); a Hub dataset: one unit per shard (file) of the dataset.

Units are numbered 0 .. len(units) - 1 over the corpus in `--data` order. A block or row
group documents exactly as `DocumentStream` reads the file: the same lines, the same
text column rules, the same errors.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from mlm_cli.data.jsonl_lines import OPENERS
from mlm_cli.data.sources import (
    COMPRESSIONS,
    SNIFF_BYTES,
    CorpusSpec,
    DocumentStream,
    HubDataset,
    LocalFiles,
    column_texts,
    expand_sources,
    hub_shard_count,
    locate_decode_error,
)
from mlm_cli.errors import BadInputError

BLOCKS, ROW_GROUPS, STREAM, DATASET = "blocks", "row_groups", "stream", "dataset"
UNIT_KINDS = (BLOCKS, ROW_GROUPS, STREAM, DATASET)
BLOCK_BYTES = 1 << 14  # blocks of big corpora: small enough to mix well, large enough to read fast
MIN_BLOCK_BYTES = 1 << 10  # a small corpus is cut into about a thousand blocks, but none smaller than this
MAX_BLOCKS = 1 << 20  # beyond 16 GB of text, blocks grow so the corpus never has more than this many
STREAM_READ_BYTES = 1 << 20  # compressed files are decompressed this much at a time
DOCUMENTS_PER_READ = 1000

SkipCounter = Callable[[int], None]


@dataclass(frozen=True)
class UnitGroup:
    """The units of one file (or one Hub dataset): `count` of one kind."""

    kind: str  # BLOCKS, ROW_GROUPS, STREAM or DATASET
    target: str  # a file path, or an hf:// handle
    format: str  # text, json, parquet, csv or hub
    count: int


def _compression_opener(file: str):
    lowered = file.lower()
    return next((opener for suffix, opener in OPENERS.items() if lowered.endswith(suffix)), None)


def _head(file: str) -> bytes:
    opener = _compression_opener(file) or open
    try:
        with opener(file, "rb") as f:
            return f.read(SNIFF_BYTES)
    except (OSError, EOFError) as error:
        raise BadInputError(f"cannot read data file {file}: {error}") from None


def _looks_like_json_lines(head: bytes) -> bool:
    """One JSON object per line (not a JSON array, nor one object spread over many lines)."""
    stripped = head.lstrip()
    return stripped.startswith(b"{") and stripped.split(b"\n", 1)[0].strip() != b"{"


def _file_kind(file: str, format: str) -> str:
    compressed = file.lower().endswith(COMPRESSIONS)
    if format == "parquet":
        return ROW_GROUPS
    if format not in ("text", "json") or (compressed and _compression_opener(file) is None):
        return DATASET
    if format == "json" and not _looks_like_json_lines(_head(file)):
        return DATASET
    return STREAM if compressed else BLOCKS


def reads_json_lines_itself(file: str) -> bool:
    """Whether mlm parses this JSON file itself (JSON Lines, uncompressed or gzip/bzip2/xz) rather than through
    `datasets`.

    pyarrow's multithreaded JSON reader, which `datasets` uses, can crash the process on
    some inputs; mlm's own reading parses with one thread.
    """
    return _file_kind(file, "json") in (BLOCKS, STREAM)


def json_document_records(file: str, encoding_errors: str = "strict") -> list[dict]:
    """The records of a JSON file that is not JSON Lines: an array of objects (or one object), parsed whole by mlm.

    `datasets` would hand it to pyarrow's multithreaded JSON reader first, which can crash the
    process (see reads_json_lines_itself); anything else is one clear error.
    """
    opener = _compression_opener(file) or open
    try:
        with opener(file, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise BadInputError(f"cannot read data file {file}: {error}") from None
    try:
        text = data.decode("utf-8", "replace" if encoding_errors == "replace" else "strict")
    except UnicodeDecodeError:
        raise BadInputError(f"{file} is not valid UTF-8", hint="pass --encoding-errors replace") from None
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError as error:
        raise BadInputError(f"cannot parse json data in {file}: {error}",
                            hint="fix the file, or pass --skip-bad-lines to skip malformed lines") from None
    records = [value] if isinstance(value, dict) else value
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise BadInputError(f"cannot parse json data in {file}: expected JSON Lines or an array of objects",
                            hint="write one JSON object per line")
    return records


def json_document_texts(file: str, column: str, encoding_errors: str, batch_size: int) -> Iterator[list[str]]:
    """Batches of the text column of json_document_records (null or missing: "")."""
    texts = []
    for index, record in enumerate(json_document_records(file, encoding_errors)):
        value = record.get(column)
        if value is not None and not isinstance(value, str):
            raise BadInputError(f"{file}: record {index + 1} has {type(value).__name__} in column {column!r}, not text")
        texts.append(value or "")
    for start in range(0, len(texts), batch_size):
        yield texts[start : start + batch_size]


def json_document_columns(file: str) -> list[str]:
    """The field names of the first records of a JSON array file."""
    columns: dict[str, None] = {}
    for record in json_document_records(file, "replace")[:1000]:
        columns.update(dict.fromkeys(record))
    return list(columns)


def mlm_reads_json(file: str) -> bool:
    """Whether mlm parses this JSON file itself (all but .zst, which it cannot open)."""
    return not file.lower().endswith(".zst")


PROBE_BYTES = 1 << 20  # the column names of a JSON Lines file come from its first records, up to this much


def json_lines_columns(file: str) -> list[str]:
    """The field names of the first records of a JSON Lines file, as `datasets` infers its columns (single-threaded)."""
    import pyarrow as pa
    import pyarrow.json as paj

    opener = _compression_opener(file) or open
    try:
        with opener(file, "rb") as f:
            lines, size = [], 0  # whole records (a long one is read whole, as training will)
            while size < PROBE_BYTES and (line := f.readline()):
                lines.append(line)
                size += len(line)
    except (OSError, EOFError) as error:
        raise BadInputError(f"cannot read data file {file}: {error}") from None
    data = b"".join(lines)
    if not data.strip():
        return []
    data = data.decode("utf-8", "replace").encode(
        "utf-8")  # names only: --encoding-errors applies when the text is read
    try:
        table = paj.read_json(io.BytesIO(data), read_options=paj.ReadOptions(block_size=len(data) + 1,
                                                                             use_threads=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise BadInputError(f"cannot parse json data in {file}: {str(error).splitlines()[0]}",
                            hint="fix the file, or pass --skip-bad-lines to skip malformed lines") from None
    return table.column_names


def json_lines_in_order(spec: CorpusSpec, files: tuple[str, ...], batch_size: int) -> Iterator[list[str]]:
    """Batches of `batch_size` documents of these JSON Lines files, in file order (see reads_json_lines_itself)."""
    units = CorpusUnits(replace(spec, paths=files))
    pending: list[str] = []
    for unit in range(len(units)):
        for texts in units.read(unit):
            pending.extend(texts)
            full = len(pending) // batch_size * batch_size
            yield from (pending[start : start + batch_size] for start in range(0, full, batch_size))
            del pending[:full]
    if pending:
        yield pending


def _lines(text: str) -> list[str]:
    """The lines `datasets`' text builder makes: split at universal newlines (\\n, \\r\\n, \\r) only."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ended with a line break
    return lines


def _row_group_count(file: str) -> int:
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(file) as parquet:
            return parquet.metadata.num_row_groups
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types on a broken file
        raise BadInputError(f"cannot parse parquet data in {file}: {error}") from None


def block_size(total_bytes: int) -> int:
    """Bytes per block for a corpus whose block-read files hold `total_bytes`."""
    return max(MIN_BLOCK_BYTES, min(BLOCK_BYTES, total_bytes // 1024), -(-total_bytes // MAX_BLOCKS))


class CorpusUnits:
    """Every unit of a corpus, numbered; `read(unit)` streams one unit's documents from its start.

    Holds a few numbers per file, never the documents: memory does not grow with the corpus.
    Safe to share between threads (each read opens its own file handles).
    """

    def __init__(self, spec: CorpusSpec):
        self.spec = spec
        found: list[tuple[str, str, str, int]] = []  # kind, target, format, count (blocks: file size)
        for source in expand_sources(spec):
            if isinstance(source, HubDataset):
                found.append((DATASET, str(source), "hub", hub_shard_count(source)))
                continue
            for file in source.files:
                kind = _file_kind(file, source.format)
                count = os.path.getsize(file) if kind == BLOCKS else _row_group_count(file) if kind == ROW_GROUPS else 1
                found.append((kind, file, source.format, count))
        self.block_bytes = block_size(sum(count for kind, _, _, count in found if kind == BLOCKS))
        self.groups = [
            UnitGroup(kind, target, format, -(-count // self.block_bytes) if kind == BLOCKS else count)
            for kind, target, format, count in found
        ]
        counts = np.array([group.count for group in self.groups], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        codes = np.array([UNIT_KINDS.index(group.kind) for group in self.groups], dtype=np.int8)
        self.kinds = np.repeat(codes, counts)  # UNIT_KINDS index of every unit

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, unit: int) -> tuple[UnitGroup, int]:
        """The group a unit belongs to and its number inside the group."""
        group = int(np.searchsorted(self._starts, unit, side="right")) - 1
        return self.groups[group], int(unit - self._starts[group])

    def read(self, unit: int, count_skipped: SkipCounter | None = None) -> Iterator[list[str]]:
        """Batches of the unit's documents, in file order; bad JSONL lines skipped are reported to `count_skipped`."""
        group, index = self.locate(unit)
        if group.kind == BLOCKS:
            data = self._block(group.target, index)
            if data:
                yield self._parse(data, group, count_skipped)
        elif group.kind == STREAM:
            for data in self._decompressed(group.target):
                yield self._parse(data, group, count_skipped)
        elif group.kind == ROW_GROUPS:
            yield from self._row_group(group.target, index)
        else:
            shard = (index, group.count) if group.count > 1 else (0, 1)
            yield from DocumentStream(replace(self.spec, paths=(group.target,)), shard=shard).batches(
                DOCUMENTS_PER_READ)

    # --- reading -------------------------------------------------------------

    def _block(self, file: str, index: int) -> bytes:
        """The bytes of the lines that start inside the block (the last one read to its end)."""
        start, end = index * self.block_bytes, (index + 1) * self.block_bytes
        with open(file, "rb") as f:
            if start:
                f.seek(start - 1)
                if f.read(1) != b"\n":
                    f.readline(end - start)  # the rest of a line that began in an earlier block
            first = f.tell()
            if first >= end:
                return b""
            data = f.read(end - first)
            if data and not data.endswith(b"\n"):
                data += f.readline()
            return data

    def _decompressed(self, file: str) -> Iterator[bytes]:
        with _compression_opener(file)(file, "rb") as f:
            while data := f.read(STREAM_READ_BYTES):
                if not data.endswith(b"\n"):
                    data += f.readline()
                yield data

    def _parse(self, data: bytes, group: UnitGroup, count_skipped: SkipCounter | None) -> list[str]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if self.spec.encoding_errors != "replace":
                if group.kind == BLOCKS:
                    locate_decode_error((group.target,))
                raise BadInputError(f"{group.target} is not valid UTF-8",
                                    hint="pass --encoding-errors replace") from None
            text = data.decode("utf-8", "replace")
            data = text.encode("utf-8")
        if group.format == "text":
            return _lines(text)
        if self.spec.skip_bad_lines:
            return self._tolerant_json_texts(text.split("\n"), count_skipped)
        return self._json_texts(data, group.target)

    def _json_texts(self, data: bytes, file: str) -> list[str]:
        """The text column of JSON Lines records, parsed by pyarrow as `datasets` does (null or missing: "")."""
        import pyarrow as pa
        import pyarrow.json as paj

        if not data.strip():
            return []
        column = self.spec.text_column
        try:
            table = paj.read_json(
                io.BytesIO(data),
                read_options=paj.ReadOptions(block_size=len(data) + 1, use_threads=False),
                parse_options=paj.ParseOptions(explicit_schema=pa.schema([(column, pa.string())]),
                                               unexpected_field_behavior="ignore"),
            )
        except pa.ArrowInvalid as error:
            raise BadInputError(f"cannot parse {file}: {str(error).splitlines()[0]}",
                                hint="fix the file, or pass --skip-bad-lines to skip malformed lines") from None
        return column_texts(table.column(column), column, LocalFiles("json", (file,)))

    def _tolerant_json_texts(self, lines: list[str], count_skipped: SkipCounter | None) -> list[str]:
        """--skip-bad-lines: the text of every usable record; lines that are not one are counted and skipped."""
        column = self.spec.text_column
        texts, skipped = [], 0
        for line in lines:
            if not line or line.isspace():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            value = record.get(column, False) if isinstance(record, dict) else False
            if value is None or isinstance(value, str):
                texts.append(value or "")
            else:
                skipped += 1
        if skipped and count_skipped is not None:
            count_skipped(skipped)
        return texts

    def _row_group(self, file: str, index: int) -> Iterator[list[str]]:
        import pyarrow.parquet as pq

        column = self.spec.text_column
        with pq.ParquetFile(file) as parquet:
            if column not in parquet.schema_arrow.names:
                raise BadInputError(
                    f"{file} has no column {column!r} (columns: {', '.join(parquet.schema_arrow.names[:20])})",
                                    hint="choose the text column with --text-column")
            for batch in parquet.iter_batches(batch_size=DOCUMENTS_PER_READ, row_groups=[index], columns=[column]):
                yield column_texts(batch.column(0), column, LocalFiles("parquet", (file,)))
