"""Atomic writes that keep the user's umask.

`tempfile.mkstemp` and `mkdtemp` create 0600 files and 0700 folders, which a rename then
publishes; here staging files and folders are created like any other (0666 / 0777 less
the umask), in the target's own folder, and renamed into place once complete.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

ATTEMPTS = 100
T = TypeVar("T")


def _create_unique(parent: Path, prefix: str, create: Callable[[Path], T]) -> tuple[Path, T]:
    """Create `parent/prefix<random>` with `create`, retrying on the (unlikely) name clash."""
    for _ in range(ATTEMPTS):
        candidate = parent / f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            return candidate, create(candidate)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free staging name {prefix}* in {parent}")


def staging_directory(parent: str | os.PathLike, prefix: str) -> Path:
    """A new empty folder `parent/prefix<random>` with the umask's permissions (mkdtemp's are 0700)."""
    return _create_unique(Path(parent), prefix, os.mkdir)[0]


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write` on a new hidden sibling of `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    staging, handle = _create_unique(path.parent, f".{path.name}.partial-", lambda p: open(p, "xb"))
    try:
        with handle as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` atomically (no newline translation)."""
    return write_bytes_atomic(path, text.encode("utf-8"))
