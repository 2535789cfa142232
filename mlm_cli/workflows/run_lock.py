"""One writer per output directory: `mlm train`, `mlm export --output` and `mlm pull --output` lock it;
readers that need a consistent copy (`mlm push`) share a lock that keeps the writers out meanwhile.

The lock file sits beside the directory (`.NAME.lock` in its parent), not inside it: it
exists before the directory does (two fresh runs started together cannot both pass the
"output exists" check) and survives `--overwrite` deleting the directory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from mlm_cli.errors import BadInputError, MlmError
from mlm_cli.locks import LockBusy, LockingUnavailable, acquire, describe_holder, read_holder, this_process

log = logging.getLogger("mlm")


def lock_path(output: Path) -> Path:
    """Where the lock of the output directory `output` lives."""
    output = Path(output).expanduser().absolute()
    return output.parent / f".{output.name}.lock"


@contextlib.contextmanager
def output_lock(output: Path, command: str, *, writer: bool = True, no_lock: bool | None = None) -> Iterator[None]:
    """Hold the exclusive lock on `output` for the duration of the block.

    A process that writes nothing (`writer=False`: processes other than 0 of a multi-host
    run) takes no lock. `no_lock=True` skips locking with a warning (`None`: the command
    has no --no-lock flag). Another holder is one BadInputError naming it; so is a
    filesystem without locks.
    """
    if not writer:
        yield
        return
    output = Path(output).expanduser().absolute()
    if no_lock:
        log.warning("--no-lock: nothing stops another mlm process from writing into %s at the same time", output)
        yield
        return
    path = lock_path(output)
    try:
        lock = acquire(path)
    except LockBusy:
        raise BadInputError(
            f"{output} is in use by another mlm process: {describe_holder(read_holder(path))}",
            hint="wait for it to end or stop it, then run again; or choose another --output",
        ) from None
    except LockingUnavailable as error:
        raise BadInputError(
            f"cannot lock {output}: {error.reason}",
            hint="put --output on a filesystem with file locks (a local disk, NFS with its lock service)"
            + (", or pass --no-lock if you are sure no other mlm process writes there" if no_lock is not None else ""),
        ) from None
    except PermissionError as error:
        raise MlmError(f"cannot create the lock file {path}: {error.strerror}",
                       hint="mlm locks an output directory with a file beside it; make its parent writable") from None
    try:
        lock.record(this_process(command))
        yield
    finally:
        lock.release(delete=True)


@contextlib.contextmanager
def read_lock(directory: Path) -> Iterator[None]:
    """Hold a shared lock on `directory` (a run or output directory) for the block: a writer holding its lock is one
    BadInputError naming it, other readers share it. Where no lock can be taken (a parent without write access, a
    filesystem without locks) the block runs unlocked: reading must not need more than read access."""
    directory = Path(directory).expanduser().absolute()
    path = lock_path(directory)
    created = not path.exists()
    try:
        lock = acquire(path, shared=True)
    except LockBusy:
        holder = describe_holder(read_holder(path))
        raise BadInputError(f"{directory} is being written by another mlm process: {holder}",
                            hint="wait for it to end, then run again") from None
    except (LockingUnavailable, OSError) as error:
        log.debug("reading %s without a lock: %s", directory, error)
        yield
        return
    try:
        yield
    finally:
        lock.release()
        if created:  # leave no lock file behind, unless another process holds it now
            try:
                acquire(path).release(delete=True)
            except (LockBusy, LockingUnavailable, OSError):
                pass
