"""`mlm --help` and `mlm presets list` latency (best and median of N runs, fresh processes).

Runs the `mlm` console script installed next to this Python (else `python -m mlm_cli`).

    python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {"mlm --help": ["--help"], "mlm presets list": ["presets", "list"], "mlm train --help": ["train", "--help"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "mlm"  # the console script users type, next to this interpreter
    launcher = [str(script)] if script.is_file() and os.access(script, os.X_OK) else [sys.executable, "-m", "mlm_cli"]
    print(f"launcher: {' '.join(launcher)}\n")
    print("| command | best (s) | median (s) |\n|---|---|---|")
    for name, argv in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([*launcher, *argv], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        result = {"command": name, "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}
        print(f"| {name} | {result['best_s']} | {result['median_s']} |  <!-- {json.dumps(result)} -->")


if __name__ == "__main__":
    main()
