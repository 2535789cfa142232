"""Advisory OS file locks (flock): exclusive for one writer, shared for many readers.

The kernel drops a lock when its process ends, however it ends (SIGKILL, OOM killer), so
there is never a stale lock to clean up. A lock file may be deleted by the holder of an
exclusive lock; whoever was waiting on the deleted file notices and locks the new one.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

# flock on a filesystem that cannot lock (some FUSE and cluster filesystems, NFS mounted without a lock manager).
UNSUPPORTED_ERRNOS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


class LockBusy(Exception):
    """Another process holds the lock (`read_holder(path)` says who, if it recorded itself)."""

    def __init__(self, path: Path):
        super().__init__(f"{path} is locked")
        self.path = path


class LockingUnavailable(Exception):
    """The filesystem (or platform) does not support file locks."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class FileLock:
    """One held lock (an open file description with flock on it)."""

    def __init__(self, path: Path, fd: int, shared: bool):
        self.path = path
        self.fd: int | None = fd
        self.shared = shared

    def record(self, holder: dict[str, Any]) -> None:
        """Write who holds the lock into the lock file (exclusive locks only), for the error lines of others."""
        data = json.dumps(holder).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self, delete: bool = False) -> None:
        """Unlock; with `delete`, remove the lock file first (safe only while holding it exclusively)."""
        if self.fd is None:
            return
        try:
            if delete and not self.shared:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
        finally:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = None


def this_process(command: str) -> dict[str, Any]:
    """What a lock holder records: command, pid, host and start time."""
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    return {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "started": started}


def describe_holder(holder: dict[str, Any] | None) -> str:
    """`mlm train, pid 123 on host a1, started 2025-01-01T10:00:00+00:00`, or `unknown holder`."""
    if not holder:
        return "unknown holder"
    command, pid, host, started = (holder.get(key, default) for key, default in
                                   (("command", "mlm"), ("pid", "?"), ("host", "?"), ("started", "?")))
    return f"{command}, pid {pid} on host {host}, started {started}"


def acquire(path: Path, *, shared: bool = False, wait: bool = False) -> FileLock:
    """Lock `path` (created if missing, with its parent folders).

    Without `wait`, raises LockBusy at once when the lock is taken; with it, blocks until it
    is free. Raises LockingUnavailable where the filesystem cannot lock.
    """
    if fcntl is None:
        raise LockingUnavailable(path, "file locks need fcntl (Linux or macOS)")
    path.parent.mkdir(parents=True, exist_ok=True)
    operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(path) from None
        except OSError as error:
            os.close(fd)
            if error.errno in UNSUPPORTED_ERRNOS:
                raise LockingUnavailable(path,
                                         f"the filesystem does not support file locks ({error.strerror})") from None
            raise
        if _still_named(fd, path):
            return FileLock(path, fd, shared)
        os.close(fd)  # the file was deleted by its last holder while we waited: lock the new one


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def read_holder(path: Path, attempts: int = 20) -> dict[str, Any] | None:
    """The holder recorded in a lock file; retries briefly, since a new holder writes it just after locking."""
    for _ in range(attempts):
        try:
            data = json.loads(path.read_bytes() or b"null")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):
            return data
        time.sleep(0.025)
    return None
