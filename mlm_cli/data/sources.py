"""Corpora: local files, folders, globs and Hub datasets, streamed through Hugging Face `datasets`.

A corpus is read in constant memory as batches of raw documents. `DocumentStream.position`
counts rows consumed, so a run can resume at the exact document it stopped on.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlm_cli.errors import BadInputError, MlmError

HF_SCHEME = "hf://"
FORMATS = {".txt": "text", ".text": "text", ".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv",
           ".parquet": "parquet"}
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")
SNIFF_BYTES = 1 << 16
TEXT_FORMATS = ("text", "json", "csv")


@dataclass(frozen=True)
class CorpusSpec:
    """What `--data` (and `--text-column`, `--encoding-errors`) asked for."""

    paths: tuple[str, ...]
    text_column: str = "text"
    encoding_errors: str = "strict"
    skip_bad_lines: bool = False  # JSONL: skip (and count) lines that are not usable records


@dataclass(frozen=True)
class LocalFiles:
    """Consecutive local files of one format, read by one `datasets` builder."""

    format: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class HubDataset:
    """`hf://name[/config][:split]`: a dataset on the Hugging Face Hub."""

    name: str
    config: str | None
    split: str

    def __str__(self) -> str:
        return f"hf://{self.name}" + (f"/{self.config}" if self.config else "") + f":{self.split}"


Source = LocalFiles | HubDataset


def file_format(path: str) -> str | None:
    """The `datasets` builder for a file name (compressed variants included), or None."""
    name = path.lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return FORMATS.get(os.path.splitext(name)[1])


def parse_hub_dataset(text: str) -> HubDataset:
    """`hf://name`, `hf://owner/name`, `hf://owner/name/config`, each with an optional `:split` (default train)."""
    body = text[len(HF_SCHEME):].strip("/")
    body, _, split = body.partition(":")
    parts = [p for p in body.split("/") if p]
    if not 1 <= len(parts) <= 3:
        raise BadInputError(f"malformed dataset handle {text!r}", hint="use hf://owner/name[/config][:split]")
    name = "/".join(parts[:2]) if len(parts) >= 2 else parts[0]
    config = parts[2] if len(parts) == 3 else None
    return HubDataset(name, config, split or "train")


def _files_of(entry: str) -> list[str]:
    """The data files one --data entry names: a file, a folder (recursively) or a glob."""
    if any(ch in entry for ch in "*?["):
        matches = sorted(p for p in glob.glob(os.path.expanduser(entry), recursive=True) if os.path.isfile(p))
        if not matches:
            raise BadInputError(f"no files match {entry}",
                                hint="check the pattern (quote it so the shell does not expand it)")
        return matches
    path = Path(entry).expanduser()
    if path.is_dir():
        found = sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith(".") and file_format(
            p.name))
        if not found:
            raise BadInputError(f"folder {path} holds no data files",
                                hint=f"mlm reads {', '.join(sorted(FORMATS))} (optionally compressed)")
        return found
    if not path.exists():
        raise BadInputError(f"data file {path} does not exist", hint="check the path given to --data")
    return [str(path)]


def expand_sources(spec: CorpusSpec) -> list[Source]:
    """Resolve every --data entry into sources, keeping their order; raise on anything unusable."""
    sources: list[Source] = []
    for entry in spec.paths:
        if entry.startswith(HF_SCHEME):
            sources.append(parse_hub_dataset(entry))
            continue
        for file in _files_of(entry):
            fmt = file_format(file)
            if fmt is None:
                raise BadInputError(
                    f"unsupported data file type: {file}",
                    hint=f"use text ({', '.join(sorted(FORMATS))}), optionally {'/'.join(COMPRESSIONS)}-compressed",
                )
            if sources and isinstance(sources[-1], LocalFiles) and sources[-1].format == fmt:
                sources[-1] = LocalFiles(fmt, sources[-1].files + (file,))
            else:
                sources.append(LocalFiles(fmt, (file,)))
    return sources


def _sniff(file: str) -> bytes:
    try:
        with open(file, "rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as error:
        raise BadInputError(f"cannot read data file {file}: {error.strerror}") from None


def _check_local(source: LocalFiles, spec: CorpusSpec) -> int:
    """Check files are readable, text where text is expected, and carry the text column; return total bytes."""
    total = 0
    for file in source.files:
        head = _sniff(file)
        size = os.path.getsize(file)
        compressed = file.lower().endswith(COMPRESSIONS)
        blank = source.format == "text" and not compressed and size <= SNIFF_BYTES and not head.strip()
        total += 0 if blank else size
        if source.format in TEXT_FORMATS and not compressed:
            if b"\x00" in head:
                raise BadInputError(f"{file} looks binary (it contains NUL bytes), not text",
                                    hint="pass text, JSONL, CSV or Parquet files")
            if spec.encoding_errors == "strict":
                _check_utf8_prefix(file, head)
    if source.format != "text" and total and not (spec.skip_bad_lines and source.format == "json"):
        _check_text_column(source, spec)
    return total


def _check_utf8_prefix(file: str, head: bytes) -> None:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 4:  # a character cut by the sniff window
            return
        line = head.count(b"\n", 0, error.start) + 1
        raise _decode_error(file, line, head[error.start]) from None


def _decode_error(file: str, line: int, byte: int) -> BadInputError:
    return BadInputError(
        f"{file}:{line}: not valid UTF-8 (byte 0x{byte:02x})",
        hint="convert the file to UTF-8, or pass --encoding-errors replace",
    )


def _check_text_column(source: LocalFiles, spec: CorpusSpec) -> None:
    columns = _columns(source)
    if columns is not None and spec.text_column not in columns:
        shown = ", ".join(columns[:20]) or "none"
        raise BadInputError(
            f"{source.files[0]} has no column {spec.text_column!r} (columns: {shown})",
            hint="choose the text column with --text-column",
        )


def _columns(source: LocalFiles) -> list[str] | None:
    if source.format == "json":
        from mlm_cli.data.corpus_units import (
            json_document_columns,
            json_lines_columns,
            mlm_reads_json,
            reads_json_lines_itself,
        )

        if reads_json_lines_itself(source.files[0]):
            return json_lines_columns(source.files[0])
        if mlm_reads_json(source.files[0]):
            return json_document_columns(source.files[0])
    try:
        dataset = _open_local(source, "strict")  # datasets parses the first records here already
        return list(dataset.features.keys()) if dataset.features is not None else list(next(iter(dataset), {}).keys())
    except UnicodeDecodeError:
        locate_decode_error(source.files)
        raise
    except Exception as error:  # noqa: BLE001 - pyarrow/pandas raise many types on a malformed file
        raise BadInputError(f"cannot parse {source.format} data in {', '.join(source.files[:3])}: {_first_line(error)}",
                            hint=_parse_hint(source)) from None


def _parse_hint(source: Source) -> str | None:
    if isinstance(source, LocalFiles) and source.format == "json":
        return "fix the file, or pass --skip-bad-lines to skip malformed lines"
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def check_corpus(spec: CorpusSpec) -> None:
    """Fail fast, with one clear line, on anything that would stop training later."""
    if not spec.paths:
        raise BadInputError("no training data given",
                            hint="pass --data FILE (text, JSONL, CSV, Parquet, a folder, a glob or hf://dataset)")
    sources = expand_sources(spec)
    local_bytes = sum(_check_local(s, spec) for s in sources if isinstance(s, LocalFiles))
    hub = [s for s in sources if isinstance(s, HubDataset)]
    if not hub and local_bytes == 0:
        raise BadInputError(f"the corpus is empty ({', '.join(spec.paths)})", hint="pass files that contain text")
    for dataset in hub:
        opened = _open_hub(dataset)
        if opened.features is not None and spec.text_column not in opened.features:
            raise BadInputError(
                f"{dataset} has no column {spec.text_column!r} (columns: {', '.join(opened.features)})",
                hint="choose the text column with --text-column",
            )


def _quiet_datasets():
    import datasets

    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its errors are reported as mlm's one-line errors
    datasets.disable_progress_bars()
    # Streaming datasets import torch (about 1 s and 250 MB) only to share an epoch counter
    # with DataLoader workers, which mlm never uses; on the jax backend torch is never needed.
    if hasattr(datasets.config, "TORCH_AVAILABLE"):
        datasets.config.TORCH_AVAILABLE = False
    return datasets


def _open_local(source: LocalFiles, encoding_errors: str):
    datasets = _quiet_datasets()
    options: dict[str, Any] = {}
    if source.format in ("text", "json"):
        options["encoding_errors"] = encoding_errors
    if source.format == "csv":
        options["encoding_errors"] = encoding_errors
    return datasets.load_dataset(source.format, data_files=list(source.files), split="train", streaming=True, **options)


def _open_hub(source: HubDataset):
    datasets = _quiet_datasets()
    try:
        return datasets.load_dataset(source.name, source.config, split=source.split, streaming=True)
    except datasets.exceptions.DatasetNotFoundError:
        raise BadInputError(
            f"dataset {source} was not found on the Hugging Face Hub",
            hint="check the name; a private or gated dataset needs HF_TOKEN",
        ) from None
    except ConnectionError as error:
        raise MlmError(
            f"cannot reach the Hugging Face Hub for {source}: {_first_line(error)}",
            hint="check the network; cached datasets load with HF_HUB_OFFLINE=1",
        ) from None
    except ValueError as error:  # unknown config or split
        raise BadInputError(f"dataset {source}: {_first_line(error)}",
                            hint="use hf://owner/name[/config][:split]") from None


def hub_shard_count(source: HubDataset) -> int:
    """How many shards (files) a Hub dataset streams from."""
    return _open_hub(source).n_shards


def locate_decode_error(files: tuple[str, ...]) -> None:
    """Raise a BadInputError naming the first file and line that is not UTF-8 (used after datasets reports one)."""
    for file in files:
        if file.lower().endswith(COMPRESSIONS):
            continue
        with open(file, "rb") as f:
            for number, line in enumerate(f, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise _decode_error(file, number, line[error.start]) from None


class DocumentStream:
    """The documents of a corpus, in order, as batches of strings; `position` counts rows read.

    `shard=(index, count)` keeps this shard's part of every source, as
    `datasets.distributed.split_dataset_by_node` deals it: whole files when the file count
    divides evenly, else every count-th document. `position` then counts the shard's rows.
    """

    def __init__(self, spec: CorpusSpec, shard: tuple[int, int] = (0, 1)):
        self.spec = spec
        self.sources = expand_sources(spec)
        self.shard = (int(shard[0]), int(shard[1]))
        if not 0 <= self.shard[0] < self.shard[1]:
            raise ValueError(f"shard index {shard[0]} outside 0..{shard[1] - 1}")
        self.position = 0
        self._tolerant: dict[tuple[str, ...], Any] = {}  # --skip-bad-lines readers, by files

    @property
    def skipped_lines(self) -> int:
        """Bad JSONL lines skipped so far (--skip-bad-lines), counted once per file and pass."""
        return sum(reader.skipped for reader in self._tolerant.values())

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])

    def start_epoch(self, epoch: int) -> None:
        """Rewind to the first document: every pass reads the corpus in file order."""
        self.position = 0

    def batches(self, batch_size: int = 1000) -> Iterator[list[str]]:
        """Batches of documents from `position` on (empty rows included, as ""), advancing `position`."""
        skip = self.position
        for source in self.sources:
            for texts in self._source_batches(source, batch_size):
                if skip >= len(texts):
                    skip -= len(texts)
                    continue
                if skip:
                    texts, skip = texts[skip:], 0
                self.position += len(texts)
                yield texts

    def _source_batches(self, source: Source, batch_size: int) -> Iterator[list[str]]:
        plain_text = isinstance(source, LocalFiles) and source.format == "text"
        column = "text" if plain_text else self.spec.text_column  # --text-column applies to structured data
        if self.spec.skip_bad_lines and isinstance(source, LocalFiles) and source.format == "json":
            from mlm_cli.data.jsonl_lines import TolerantJsonLines

            reader = self._tolerant.setdefault(source.files,
                                               TolerantJsonLines(source.files, column, self.spec.encoding_errors))
            reader.skipped_by_file.clear()  # a new pass counts again
            yield from _every_nth(reader.batches(batch_size), *self.shard)
            return
        if isinstance(source, LocalFiles) and source.format == "json" and (
            self.shard[1] == 1 or len(source.files) == 1):
            from mlm_cli.data.corpus_units import mlm_reads_json

            if all(mlm_reads_json(file) for file in source.files):
                yield from _every_nth(self._json_batches(source.files, column, batch_size), *self.shard)
                return
        if isinstance(source, HubDataset):
            dataset = _open_hub(source)
        else:
            dataset = _open_local(source, self.spec.encoding_errors)
        if self.shard[1] > 1:
            from datasets.distributed import split_dataset_by_node

            dataset = split_dataset_by_node(dataset, rank=self.shard[0], world_size=self.shard[1])
        try:
            for table in dataset.with_format("arrow").iter(batch_size=batch_size):
                if column not in table.column_names:
                    raise BadInputError(
                        f"{_describe(source)} has no column {column!r} (columns: {', '.join(table.column_names)})",
                        hint="choose the text column with --text-column",
                    )
                yield column_texts(table.column(column), column, source)
        except UnicodeDecodeError:
            if isinstance(source, LocalFiles):
                locate_decode_error(source.files)
            raise BadInputError(f"{_describe(source)} is not valid UTF-8",
                                hint="pass --encoding-errors replace") from None
        except (BadInputError, MlmError):
            raise
        except ConnectionError as error:
            raise MlmError(f"lost the connection while streaming {_describe(source)}: {_first_line(error)}") from None
        except Exception as error:  # noqa: BLE001 - a malformed file surfaces as pyarrow/pandas/json errors
            if type(error).__module__.startswith(("pyarrow", "pandas", "json", "datasets")):
                raise BadInputError(f"cannot parse {_describe(source)}: {_first_line(error)}",
                                    hint=_parse_hint(source)) from None
            raise

    def _json_batches(self, files: tuple[str, ...], column: str, batch_size: int) -> Iterator[list[str]]:
        """Local JSON files read by mlm, one thread (see corpus_units.reads_json_lines_itself), in file order."""
        from mlm_cli.data.corpus_units import json_document_texts, json_lines_in_order, reads_json_lines_itself

        for file in files:
            if reads_json_lines_itself(file):
                yield from json_lines_in_order(self.spec, (file,), batch_size)
            else:
                yield from json_document_texts(file, column, self.spec.encoding_errors, batch_size)


def _every_nth(batches: Iterator[list[str]], index: int, count: int) -> Iterator[list[str]]:
    """Documents index, index + count, ... of a stream of batches (split_dataset_by_node's rule for one file)."""
    if count == 1:
        yield from batches
        return
    seen = 0
    for batch in batches:
        kept = batch[(index - seen) % count :: count]
        seen += len(batch)
        if kept:
            yield kept


def _describe(source: Source) -> str:
    if isinstance(source, HubDataset):
        return str(source)
    return source.files[0] if len(source.files) == 1 else f"{source.files[0]} (+{len(source.files) - 1} more)"


def column_texts(values, column: str, source: Source) -> list[str]:
    """A pyarrow column as Python strings (nulls become "")."""
    import pyarrow as pa

    kind = values.type
    if pa.types.is_null(kind):
        return [""] * len(values)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise BadInputError(f"column {column!r} of {_describe(source)} holds {kind}, not text",
                            hint="choose the text column with --text-column")
    return values.fill_null("").to_pylist()
