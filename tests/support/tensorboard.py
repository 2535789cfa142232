"""Reading TensorBoard event files back with TensorFlow's own reader (skips the test where TensorFlow is missing)."""

from __future__ import annotations

import pytest


def read_events(path) -> list:
    """Every event of a file through TensorFlow's reader, which verifies both CRCs of each record."""
    tensorflow = pytest.importorskip("tensorflow")
    return list(tensorflow.compat.v1.train.summary_iterator(str(path)))


def scalars(event) -> dict[str, float]:
    return {value.tag: value.simple_value for value in event.summary.value}
