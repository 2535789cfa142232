"""JSON Lines read one line at a time, skipping lines that are not usable records (`--skip-bad-lines`).

`datasets`' JSON reader stops at the first malformed line. With --skip-bad-lines mlm reads
the files itself instead: a line counts as bad when it is not valid JSON, not an object,
or has no string in the text column (null counts as an empty document). Memory is one
line plus one batch, whatever the file size.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from collections.abc import Iterator
from typing import IO

from mlm_cli.errors import BadInputError

OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _open_binary(file: str) -> IO[bytes]:
    lowered = file.lower()
    for suffix, opener in OPENERS.items():
        if lowered.endswith(suffix):
            return opener(file, "rb")
    if lowered.endswith(".zst"):
        raise BadInputError(f"{file}: --skip-bad-lines cannot read .zst files",
                            hint="decompress it, or use .gz/.bz2/.xz")
    return open(file, "rb")


class TolerantJsonLines:
    """Documents from JSONL files; `skipped` counts the bad lines met so far, per file in `skipped_by_file`."""

    def __init__(self, files: tuple[str, ...], column: str, encoding_errors: str = "strict"):
        self.files = files
        self.column = column
        self.encoding_errors = encoding_errors
        self.skipped_by_file: dict[str, int] = {}

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by_file.values())

    def batches(self, batch_size: int) -> Iterator[list[str]]:
        batch: list[str] = []
        for file in self.files:
            with _open_binary(file) as raw:
                lines = io.TextIOWrapper(raw, encoding="utf-8",
                    errors="replace" if self.encoding_errors == "replace" else "strict", newline="")
                number = 0
                try:
                    for number, line in enumerate(lines, start=1):
                        text = self._text(line)
                        if text is None:
                            if line.strip():
                                self.skipped_by_file[file] = self.skipped_by_file.get(file, 0) + 1
                            continue
                        batch.append(text)
                        if len(batch) >= batch_size:
                            yield batch
                            batch = []
                except UnicodeDecodeError:
                    raise BadInputError(f"{file}:{number + 1}: not valid UTF-8",
                                        hint="convert the file to UTF-8, or pass --encoding-errors replace") from None
        if batch:
            yield batch

    def _text(self, line: str) -> str | None:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict) or self.column not in record:
            return None
        value = record[self.column]
        if value is None:
            return ""
        return value if isinstance(value, str) else None
