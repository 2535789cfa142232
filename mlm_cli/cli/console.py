"""Where output goes: results to stdout, progress and logs to stderr, plain text when piped."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from rich.console import Console


@dataclass
class Verbosity:
    quiet: bool = False
    verbose: bool = False
    debug: bool = False


settings = Verbosity()
stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def configure_logging() -> None:
    """Log records from mlm (and warnings) go to stderr at a level set by --quiet/--verbose/--debug."""
    level = logging.WARNING
    if settings.verbose:
        level = logging.INFO
    if settings.debug:
        level = logging.DEBUG
    if settings.quiet:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("mlm")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def info(message: str) -> None:
    """A progress or status line on stderr, hidden by --quiet."""
    if not settings.quiet:
        stderr.print(message, markup=False)


def warn(message: str) -> None:
    """A warning line on stderr (shown even with --quiet)."""
    stderr.print(f"warning: {message}", markup=False, style="yellow" if stderr.is_terminal else None)


def error_line(message: str) -> None:
    stderr.print(f"error: {message}", markup=False, style="bold red" if stderr.is_terminal else None)
