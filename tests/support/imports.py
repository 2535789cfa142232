"""Run Python code in a fresh process and report which heavy frameworks it imported."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_MODULES = ("keras", "jax", "torch", "tensorflow", "datasets")


def heavy_modules_imported(code: str, heavy: tuple[str, ...] = HEAVY_MODULES, timeout: float = 120) -> list[str]:
    """Run `code` in a fresh interpreter (it must succeed) and return the `heavy` modules loaded by its end."""
    report = ("\nimport json as _json, sys as _sys\n"
              f"print(_json.dumps(sorted(m for m in {heavy!r} if m in _sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
