"""bench/device.py, the one-command GPU benchmark, in its CPU-sized form (--tiny) and its FLOP count."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "bench" / "device.py"
EXPECTED_RUNS = ("mlm-jax", "mlm-torch", "transformers")
TINY_SEQUENCE_LENGTHS = (32, 64)
TIMEOUT_S = 240  # about 30 s on 2 cores; the margin is for a busy machine


def run_tiny(out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    return subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out", str(out)], cwd=REPOSITORY, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.run_once
@pytest.mark.slow
def test_tiny_benchmark_reports_every_run(tmp_path):
    for package in ("jax", "transformers"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    out = tmp_path / "device.jsonl"
    done = run_tiny(out)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records == [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    peaks = [record for record in records if record["kind"] == "peak"]
    assert len(peaks) == 1 and positive_finite(peaks[0]["tflop_per_s"])
    runs = {(record["run"], record["seq"]): record for record in records if record["kind"] == "run"}
    assert set(runs) == {(run, length) for run in EXPECTED_RUNS for length in TINY_SEQUENCE_LENGTHS}
    for key, record in runs.items():
        assert record["status"] == "ok", (key, record.get("error"), record.get("stderr_tail"))
        assert positive_finite(record["tokens_per_s"]) and positive_finite(record["step_ms"]), record
        assert 0 < record["mfu"] < 1, record
        assert math.isfinite(record["loss"]), record
        assert record["head_positions"] == ("all" if record["framework"] == "transformers" else "masked")

    assert "| framework | backend | variant | seq | batch | step ms | tokens/s |" in done.stdout
    table_rows = [line for line in done.stdout.splitlines() if line.startswith(("| mlm |", "| transformers |"))]
    assert len(table_rows) == len(runs)


@pytest.mark.run_once
def test_flop_count_of_bert_base():
    from bench.device import CONFIGS, flops_per_token, head_share

    config = CONFIGS["bert_base"]
    layer_matmuls = 4 * 768 * 768 + 2 * 768 * 3072
    head_matmuls = 768 * 768 + 768 * 30522
    attention = 12 * 12 * 128 * 768
    assert flops_per_token(config, 128, 1.0) == 6 * (12 * layer_matmuls + head_matmuls) + attention
    # mlm projects only the masked positions (19 of 128), transformers every one
    assert head_share("mlm", 128) == 19 / 128 and head_share("transformers", 128) == 1.0
    assert flops_per_token(config, 128, head_share("mlm", 128)) < flops_per_token(config, 128, 1.0)
