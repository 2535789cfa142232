"""`mlm --help` and `mlm presets list` latency (best and median of N runs, fresh processes).

    python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {"mlm --help": ["--help"], "mlm presets list": ["presets", "list"], "mlm train --help": ["train", "--help"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print("| command | best (s) | median (s) |\n|---|---|---|")
    for name, argv in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mlm_cli", *argv], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        result = {"command": name, "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}
        print(f"| {name} | {result['best_s']} | {result['median_s']} |  <!-- {json.dumps(result)} -->")


if __name__ == "__main__":
    main()
