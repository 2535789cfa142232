"""Scaling out on jax: one device vs data parallel vs model parallel vs two processes, same global batch.

Every configuration trains the same preset on the same global batch through the real
`mlm train`; the table gives tokens/s (median over log windows after the first, which
holds compilation) and the largest loss difference from the one-device run.

On a CPU the devices are simulated (`XLA_FLAGS=--xla_force_host_platform_device_count`)
and share the same cores, so the figures show what distribution costs, not what it
gains; on a multi-GPU host pass --real-devices.

    python bench/scaling.py [--devices 4] [--steps 30] [--batch-size 8] [--real-devices]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "mlm_cli" / "samples" / "corpus.txt"


def mlm(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from mlm_cli.cli.app import main; main()", "-q", *args],
                            env={**os.environ, "KERAS_BACKEND": "jax", **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"mlm failed: {err[-2000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def summary(run: Path) -> tuple[float, list[float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    return statistics.median(r["tokens_per_second"] for r in train[1:]), [r["loss"] for r in train]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8, help="per replica in the data-parallel run")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--preset", default="bert_small_scratch")
    parser.add_argument("--real-devices", action="store_true",
                        help="use the machine's devices instead of simulated CPU devices")
    args = parser.parse_args()
    n = args.devices
    def simulated(count: int) -> dict[str, str]:
        return {} if args.real_devices else {"XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        base = root / "base"  # a fixed starting point (from-scratch presets train their vocabulary first)
        wait([mlm("train", "--preset", args.preset, "--vocabulary-size", "8000", "--data", str(SAMPLE), "--output",
                  str(base),
                  "--max-steps", "1", env=simulated(1))])
        common = ["train", "--preset", str(base), "--data", str(SAMPLE), "--max-steps", str(args.steps), "--log-every",
                  "5",
                  "--sequence-length", str(args.sequence_length), "--save-every", str(10 * args.steps), "--precision",
                  "float32"]
        global_batch = args.batch_size * n
        runs = {
            "one device": ([common + ["--batch-size", str(global_batch), "--distribute", "none", "--data-shards",
                                      "2"]], simulated(1)),
            f"data parallel, {n} devices": ([common + ["--batch-size", str(args.batch_size), "--data-shards", "2"]],
                                            simulated(n)),
            f"model parallel, {n} shards": ([common + ["--batch-size", str(global_batch), "--distribute", "model",
                                                       "--data-shards", "2"]], simulated(n)),
        }
        port = free_port()
        runs[f"2 processes x {n // 2} devices"] = (
            [common + ["--batch-size", str(args.batch_size), "--coordinator", f"127.0.0.1:{port}", "--num-processes",
                       "2", "--process-id", str(i)]
             for i in range(2)],
            simulated(n // 2),
        )
        results, reference = [], None
        print(f"global batch {global_batch} x {args.sequence_length} tokens, {args.steps} steps, {args.preset} sizes, "
              f"{'real' if args.real_devices else 'simulated CPU'} devices\n")
        print("| configuration | tokens/s | vs one device | max loss difference |\n|---|---|---|---|")
        for index, (name, (commands, env)) in enumerate(runs.items()):
            output = root / f"run{index}"
            wait([mlm(*command, "--output", str(output), env=env) for command in commands])
            speed, losses = summary(output)
            reference = reference or (speed, losses)
            difference = max(abs(a - b) for a, b in zip(losses, reference[1]))
            result = {"configuration": name, "tokens_per_second": round(speed),
                      "relative": round(speed / reference[0], 2),
                      "max_loss_difference": difference}
            results.append(result)
            print(
                f"| {name} | {speed:,.0f} | {speed / reference[0]:.2f}x | {difference:.1e} |  <!-- "
                f"{json.dumps(result)} -->")


if __name__ == "__main__":
    main()
