"""TensorBoard event files written without TensorFlow, read back by TensorFlow's own (CRC-checking) reader."""

from __future__ import annotations

import math
import re
import socket
import time

import numpy as np
import pytest

from mlm_cli.workflows.tensorboard import TensorBoardWriter, crc32c, masked_crc32c
from tests.support.tensorboard import read_events, scalars

pytestmark = pytest.mark.run_once  # file format only: no Keras backend involved

TRAIN = {"type": "train", "step": 2, "epoch": 1, "loss": 5.123456789, "accuracy": 0.1, "learning_rate": 3.3e-4,
         "tokens_per_second": 1234.5, "real_tokens_per_second": 1000.0, "tokens_seen": 128, "elapsed_seconds": 0.5}
EVAL = {"type": "eval", "step": 2, "val_loss": 4.9876, "val_accuracy": 0.25, "val_perplexity": 146.5,
        "val_masked_tokens": 40,
        "val_tokens": 256, "val_batches": 2}


def test_crc32c_check_values():
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    assert crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720 B.4: 32 bytes of ones
    crc = crc32c(b"123456789")
    assert masked_crc32c(b"123456789") == ((crc >> 15 | crc << 17) + 0xA282EAD8) % 2**32


def test_train_and_eval_records_read_back_exactly(tmp_path):
    before = time.time()
    with TensorBoardWriter(tmp_path / "tensorboard") as writer:
        writer.write(TRAIN)
        writer.write(EVAL)
        writer.write({**TRAIN, "step": 300, "loss": 4.5})  # a two-byte varint step
    after = time.time()
    files = list((tmp_path / "tensorboard").iterdir())
    assert files == [writer.path]
    assert re.fullmatch(rf"events\.out\.tfevents\.\d{{10}}\.{re.escape(socket.gethostname())}", writer.path.name)

    events = read_events(writer.path)
    assert len(events) == 4
    assert events[0].file_version == "brain.Event:2" and not events[0].summary.value
    assert all(before - 1 <= e.wall_time <= after + 1 for e in events)
    assert [e.step for e in events] == [0, 2, 2, 300]
    assert scalars(events[1]) == {
        "train/loss": np.float32(TRAIN["loss"]),
        "train/accuracy": np.float32(TRAIN["accuracy"]),
        "train/learning_rate": np.float32(TRAIN["learning_rate"]),
        "train/tokens_per_second": np.float32(TRAIN["tokens_per_second"]),
    }
    assert scalars(events[2]) == {
        "validation/loss": np.float32(EVAL["val_loss"]),
        "validation/accuracy": np.float32(EVAL["val_accuracy"]),
        "validation/perplexity": np.float32(EVAL["val_perplexity"]),
    }
    assert scalars(events[3])["train/loss"] == np.float32(4.5)
    assert not any(e.file_version for e in events[1:])


def test_odd_values_and_records(tmp_path):
    writer = TensorBoardWriter(tmp_path)
    writer.write({"type": "train", "step": 1, "loss": float("nan"), "accuracy": None, "learning_rate": 1e300})
    writer.write({"type": "other", "step": 2, "loss": 1.0})  # not a metrics record: nothing written
    writer.write({"type": "train", "loss": 1.0})  # no step: nothing written
    writer.add_scalars(2**40, {"x" * 200: -2.5})  # a long tag (two-byte length) and a five-byte step
    writer.flush()
    events = read_events(writer.path)  # readable before close
    writer.close()
    writer.close()  # closing twice is harmless
    assert [e.step for e in events] == [0, 1, 2**40]
    first = scalars(events[1])
    assert set(first) == {"train/loss", "train/learning_rate"}
    assert math.isnan(first["train/loss"]) and first["train/learning_rate"] == math.inf
    assert scalars(events[2]) == {"x" * 200: -2.5}


def test_a_resumed_run_adds_a_file(tmp_path):
    first = TensorBoardWriter(tmp_path)
    first.write(TRAIN)
    first.close()
    second = TensorBoardWriter(tmp_path)  # usually within the same second: the name must still be new
    second.write({**TRAIN, "step": 4})
    second.close()
    assert first.path != second.path and len(list(tmp_path.iterdir())) == 2
    assert [e.step for e in read_events(first.path)] == [0, 2]
    assert [e.step for e in read_events(second.path)] == [0, 4]
    assert all(p.name.startswith("events.out.tfevents.") for p in tmp_path.iterdir())


def test_a_corrupted_record_is_detected(tmp_path):
    """The reader really checks the CRCs, so the tests above would notice a wrong checksum."""
    writer = TensorBoardWriter(tmp_path)
    writer.write(TRAIN)
    writer.close()
    data = bytearray(writer.path.read_bytes())
    data[-10] ^= 0x01  # a byte inside the last record's data
    writer.path.write_bytes(bytes(data))
    tensorflow = pytest.importorskip("tensorflow")
    with pytest.raises(tensorflow.errors.DataLossError):
        read_events(writer.path)
