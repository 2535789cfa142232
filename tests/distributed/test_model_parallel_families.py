"""Model-parallel layouts for every family: kernels sharded, training numerics unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlm_cli.models.preset.registry import FAMILIES

pytestmark = [pytest.mark.jax_pass, pytest.mark.slow]

# Two subprocesses of half the families each, so that two test workers share the work.
HALVES = [sorted(FAMILIES)[0::2], sorted(FAMILIES)[1::2]]


@pytest.mark.parametrize("families", HALVES, ids=["first_half", "second_half"])
def test_every_family_trains_sharded_like_on_one_device(families):
    done = subprocess.run(
        [sys.executable, "-m", "tests.distributed.model_parallel_families", *families],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert sorted(results) == families
    for name, result in results.items():
        assert result["unsharded"] == [], (name, result)
        assert result["max_loss_difference"] <= 1e-4, (name, result)
