"""Locks on the entries of mlm's cache (MLM_CACHE_DIR), so parallel jobs can share it.

A process that uses an entry (a Kaggle download, a Hub snapshot, a converted checkpoint)
shares the entry's lock until it exits, so `mlm cache clean` keeps the entry. Creating an
entry (a conversion, a Kaggle download) and removing one take the lock alone. Lock files
live in `MLM_CACHE_DIR/.locks/`, one per entry, named by an entry key such as
`converted/NAME` or `kaggle/owner/model/framework/variation/3`.

Cache locks are best effort: where the cache cannot be locked (read-only, or a filesystem
without locks) mlm works as it did without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

from mlm_cli.locks import FileLock, LockBusy, LockingUnavailable, acquire

log = logging.getLogger("mlm")

LOCKS_FOLDER = ".locks"
STAGING_NAME = re.compile(
    r"\.(?P<name>.+)\.(?:partial|old)-\w+")  # save_masked_lm's temporary siblings of a preset folder

WAIT_QUIETLY_ATTEMPTS = 5  # a creator waits this many tenths of a second before saying it waits
_used: dict[str, FileLock] = {}  # shared locks this process keeps until it exits


class EntryInUse(Exception):
    """A running process uses (or is creating) a cache entry."""

    def __init__(self, key: str):
        super().__init__(f"cache entry {key} is in use by a running process")
        self.key = key


def kaggle_key(owner: str, model: str, framework: str, variation: str, version: int | str | None = None) -> str:
    """A Kaggle model version, or (without `version`) its variation: downloads of a variation lock the latter."""
    base = f"kaggle/{owner}/{model}/{framework}/{variation}"
    return base if version is None else f"{base}/{version}"


def huggingface_key(repo_folder: str) -> str:
    """A Hub repository, by its folder in huggingface_hub's cache (`models--owner--repo`)."""
    return f"huggingface/{repo_folder}"


def converted_key(folder: str) -> str:
    """A converted checkpoint, by its folder name (or the name of one of its temporary staging folders)."""
    staging = STAGING_NAME.fullmatch(folder)
    return f"converted/{staging.group('name') if staging else folder}"


def lock_file(key: str) -> Path:
    from mlm_cli.hub import cache_dir

    name = re.sub(r"[^A-Za-z0-9._-]", "_", key.replace("/", "--"))
    if name != key.replace("/", "--") or len(name) > 150:
        name = f"{name[:100]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return cache_dir() / LOCKS_FOLDER / f"{name}.lock"


def use_entry(key: str) -> None:
    """Share the entry's lock until this process exits (waits while another process creates or removes the entry)."""
    held = _used.get(key)
    if held is not None and held.fd is not None:
        return
    try:
        _used[key] = acquire(lock_file(key), shared=True, wait=True)
    except (LockingUnavailable, OSError) as error:
        log.debug("cache entry %s is used without a lock: %s", key, error)


def stop_using(key: str) -> None:
    """Give up this process's shared lock on the entry (before creating it, which needs the lock alone)."""
    held = _used.pop(key, None)
    if held is not None:
        held.release()


@contextlib.contextmanager
def create_entry(key: str) -> Iterator[bool]:
    """Hold the entry's lock alone while creating it; yields whether the lock is held (False: no locking here).

    Waits for another process creating (or, for a moment, checking) the same entry.
    """
    stop_using(key)
    try:
        lock = _lock_alone(lock_file(key), key)
    except (LockingUnavailable, OSError) as error:
        log.debug("cache entry %s is created without a lock: %s", key, error)
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _lock_alone(path: Path, key: str) -> FileLock:
    """The exclusive lock, waiting as long as it takes; a wait longer than a moment is announced once."""
    for _ in range(WAIT_QUIETLY_ATTEMPTS):
        try:
            return acquire(path)
        except LockBusy:
            time.sleep(0.1)
    log.warning("waiting for another process to finish writing %s in the cache", key)
    return acquire(path, wait=True)


@contextlib.contextmanager
def remove_entry(keys: list[str]) -> Iterator[None]:
    """Hold every key's lock alone while the entry is deleted, then delete the lock files.

    Raises EntryInUse at once if any process uses or creates the entry.
    """
    held: list[FileLock] = []
    try:
        for key in keys:
            path = lock_file(key)
            try:
                held.append(acquire(path))
            except LockBusy:
                raise EntryInUse(key) from None
            except (LockingUnavailable, OSError) as error:
                log.debug("cache entry %s is removed without a lock: %s", key, error)
        yield
    finally:
        for lock in held:
            lock.release(delete=True)
