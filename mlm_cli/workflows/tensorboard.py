"""TensorBoard event files written by hand: TFRecord framing around hand-encoded `Event` protobufs.

No TensorFlow, tensorboard or protobuf package is needed. Each writer creates a new
`events.out.tfevents.<time>.<host>` file (TensorBoard merges every file of a directory),
so a resumed run simply adds one.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

TENSORBOARD_DIR = "tensorboard"
FILE_VERSION = "brain.Event:2"
TRAIN_TAGS = {
    "loss": "train/loss",
    "accuracy": "train/accuracy",
    "learning_rate": "train/learning_rate",
    "tokens_per_second": "train/tokens_per_second",
}
EVAL_TAGS = {
    "val_loss": "validation/loss",
    "val_accuracy": "validation/accuracy",
    "val_perplexity": "validation/perplexity",
}
_CRC_MASK_DELTA = 0xA282EAD8


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord files use."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked checksum: rotate right by 15 bits and add a constant (mod 2**32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # protobuf encodes negative int64 as ten-byte two's complement
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _float32(value: float) -> bytes:
    """`value` as a little-endian float32; values beyond float32's range become +-inf."""
    try:
        return struct.pack("<f", value)
    except OverflowError:
        return struct.pack("<f", math.copysign(math.inf, value))


def scalar_summary(values: dict[str, float]) -> bytes:
    """A `Summary` message: one `Value {tag, simple_value}` per scalar."""
    return b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode("utf-8")) + _key(2, 5) + _float32(float(value)))
        for tag, value in values.items()
    )


def event(wall_time: float, step: int = 0, *, file_version: str | None = None, summary: bytes | None = None) -> bytes:
    """An `Event` message: wall_time (double), step (int64), and a file_version or a summary."""
    out = _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(int(step))
    if file_version is not None:
        out += _length_delimited(3, file_version.encode("utf-8"))
    if summary is not None:
        out += _length_delimited(5, summary)
    return out


def record_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The TensorBoard scalars of one metrics.jsonl record (train or eval); {} for anything else."""
    tags = {"train": TRAIN_TAGS, "eval": EVAL_TAGS}.get(record.get("type"), {})
    return {
        tag: float(record[key])
        for key, tag in tags.items()
        if isinstance(record.get(key), (int, float)) and not isinstance(record.get(key), bool)
    }


class TensorBoardWriter:
    """Append scalar events for a run to a new event file in `directory` (created if needed)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path, self._file = self._create()
        self._file.write(tfrecord(event(time.time(), file_version=FILE_VERSION)))
        self._file.flush()

    def _create(self):
        """Open a fresh `events.out.tfevents.<time>.<host>` file; a writer started in the same second gets a suffix."""
        base = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname() or 'localhost'}"
        for attempt in range(1000):
            path = self.directory / (base if attempt == 0 else f"{base}.{attempt}")
            try:
                return path, open(path, "xb")
            except FileExistsError:
                continue
        raise FileExistsError(f"{self.directory}: too many event files named {base}")

    def add_scalars(self, step: int, values: dict[str, float], wall_time: float | None = None) -> None:
        """One event holding `values` (tag -> number) at `step`, flushed so TensorBoard sees it live."""
        if not values:
            return
        data = event(time.time() if wall_time is None else wall_time, step, summary=scalar_summary(values))
        self._file.write(tfrecord(data))
        self._file.flush()

    def write(self, record: dict[str, Any]) -> None:
        """Write the scalars of a metrics.jsonl record: train/* for train records, validation/* for eval ones."""
        step = record.get("step")
        if isinstance(step, int) and not isinstance(step, bool):
            self.add_scalars(step, record_scalars(record))

    def flush(self) -> None:
        """Push written events to disk."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> TensorBoardWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
