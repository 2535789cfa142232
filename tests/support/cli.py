"""Run `mlm` the way a user does: in a real subprocess, or in-process through the same `main()` entry point.

`main()` is the CLI's single error boundary (exit codes, the one-line `error:` message), so both runners call it:
the subprocess with `python -c "...main()"`, the in-process runner with `main(argv)`, catching its `SystemExit`.
In-process runs are for usage errors and bad input, where the ~2 s of imports of a fresh process dominate; signals,
locks between processes, exit codes of a dying process and full training runs stay in subprocesses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connections are refused at once


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_mlm(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> Result:
    """`mlm ARGS` in a fresh Python process with `env` added to this one's environment."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", "from mlm_cli.cli.app import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_mlm_in_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> Result:
    """`mlm ARGS` through `mlm_cli.cli.app.main` in this process, in `cwd` and with `env` set only for the call.

    stdin is empty and not a terminal. Restores what `main` changes for the process (environment, exception hooks,
    --quiet/--verbose/--debug, the `mlm` logger's handlers), so that one call cannot leak into the next test.
    """
    from mlm_cli.cli import console
    from mlm_cli.cli.app import main

    saved_settings = dataclasses.replace(console.settings)
    saved_environment = dict(os.environ)
    saved_hooks = sys.excepthook, sys.unraisablehook
    saved_stdin = sys.stdin
    logger = logging.getLogger("mlm")
    saved_logger = list(logger.handlers), logger.level, logger.propagate
    stdout, stderr = io.StringIO(), io.StringIO()
    os.environ.update(env or {})
    sys.stdin = io.StringIO("")  # not a terminal, and empty: like a subprocess whose input is not a tty
    try:
        with contextlib.chdir(cwd or "."), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(list(args))
            except SystemExit as done:
                code = _exit_status(done.code)
            else:
                raise AssertionError("mlm_cli.cli.app.main returned instead of exiting")
    finally:
        os.environ.clear()
        os.environ.update(saved_environment)
        sys.excepthook, sys.unraisablehook = saved_hooks
        sys.stdin = saved_stdin
        for field in dataclasses.fields(saved_settings):
            setattr(console.settings, field.name, getattr(saved_settings, field.name))
        logger.handlers[:] = saved_logger[0]
        logger.setLevel(saved_logger[1])
        logger.propagate = saved_logger[2]
    return Result(code, stdout.getvalue(), stderr.getvalue())


def _exit_status(code: object) -> int:
    """The status a process would exit with for `sys.exit(code)`: None is 0, an int is itself, anything else 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1
