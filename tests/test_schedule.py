"""--schedule: linear warm-up, then transformers' linear, cosine, constant or inverse-square-root shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
from keras import ops

from mlm_cli.workflows.schedule import WarmupDecay
from mlm_cli.workflows.train_options import SCHEDULES

PEAK, WARMUP, TOTAL = 2e-4, 4, 20


def transformers_factor(shape: str, step: int, warmup: int = WARMUP, total: int = TOTAL) -> float:
    """transformers' schedule lambdas after warm-up (optimization.py), written out."""
    if shape == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    if shape == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    if shape == "constant":
        return 1.0
    timescale = warmup or 10_000
    return 1.0 / math.sqrt((step + timescale - warmup) / timescale)


@pytest.mark.parametrize("shape", SCHEDULES)
def test_after_warmup_each_shape_is_transformers(shape):
    schedule = WarmupDecay(PEAK, WARMUP, TOTAL, shape)
    for step in range(WARMUP, TOTAL + 1):
        assert schedule.value_at(step) == pytest.approx(PEAK * transformers_factor(shape, step), rel=1e-9), step


@pytest.mark.parametrize("shape", SCHEDULES)
def test_warmup_rises_linearly_to_the_peak(shape):
    schedule = WarmupDecay(PEAK, WARMUP, TOTAL, shape)
    rising = [schedule.value_at(step) for step in range(WARMUP)]
    assert rising == pytest.approx([PEAK * (step + 1) / WARMUP for step in range(WARMUP)])


@pytest.mark.parametrize("shape", SCHEDULES)
def test_the_compiled_schedule_equals_the_logged_one(shape):
    """What the optimizer reads (float32 tensor ops on this backend) is what metrics.jsonl logs."""
    schedule = WarmupDecay(PEAK, WARMUP, TOTAL, shape)
    steps = np.arange(TOTAL + 3)
    tensor = [float(ops.convert_to_numpy(schedule(ops.convert_to_tensor(step)))) for step in steps]
    np.testing.assert_allclose(tensor, [schedule.value_at(int(step)) for step in steps], rtol=1e-5, atol=1e-12)


def test_shapes_differ_as_named_and_end_where_they_should():
    at = {shape: WarmupDecay(PEAK, WARMUP, TOTAL, shape) for shape in SCHEDULES}
    middle = (WARMUP + TOTAL) // 2
    assert at["linear"].value_at(TOTAL) == at["cosine"].value_at(TOTAL) == 0.0
    assert at["constant"].value_at(TOTAL) == PEAK
    assert at["cosine"].value_at(middle) == pytest.approx(at["linear"].value_at(middle), rel=1e-9)  # both halfway
    assert at["cosine"].value_at(WARMUP + 2) > at["linear"].value_at(WARMUP + 2)  # cosine falls slowly at first
    assert at["inverse_sqrt"].value_at(4 * WARMUP) == pytest.approx(PEAK / 2)


def test_without_a_known_length_decaying_shapes_hold_the_peak():
    for shape in ("linear", "cosine", "constant"):
        assert WarmupDecay(PEAK, WARMUP, None, shape).value_at(10_000) == PEAK
    no_warmup = WarmupDecay(PEAK, 0, None, "inverse_sqrt")
    assert no_warmup.value_at(0) == PEAK
    assert no_warmup.value_at(30_000) == pytest.approx(PEAK * transformers_factor("inverse_sqrt", 30_000, 0))


def test_an_unknown_shape_is_refused():
    with pytest.raises(ValueError, match="schedule must be one of"):
        WarmupDecay(PEAK, WARMUP, TOTAL, "exponential")
