"""The file-lock primitive and the output-directory lock, in one process (flock locks conflict between open files)."""

from __future__ import annotations

import errno
import logging
import threading

import pytest

from mlm_cli import locks
from mlm_cli.errors import BadInputError
from mlm_cli.workflows.run_lock import lock_path, output_lock

pytestmark = pytest.mark.run_once  # no Keras backend involved


def test_exclusive_and_shared_locks(tmp_path):
    path = tmp_path / "entry.lock"
    first = locks.acquire(path, shared=True)
    second = locks.acquire(path, shared=True)
    with pytest.raises(locks.LockBusy):
        locks.acquire(path)
    first.release()
    second.release()
    alone = locks.acquire(path)
    with pytest.raises(locks.LockBusy):
        locks.acquire(path, shared=True)
    alone.release()


def test_a_waiter_on_a_deleted_lock_file_locks_the_new_one(tmp_path):
    """Deleting the lock file while holding it never lets two processes hold 'the' lock."""
    path = tmp_path / "run.lock"
    holder = locks.acquire(path)
    got = []
    waiter = threading.Thread(target=lambda: got.append(locks.acquire(path, wait=True)))
    waiter.start()
    waiter.join(timeout=0.3)
    assert waiter.is_alive()  # blocked on the file that is about to be deleted
    holder.release(delete=True)
    waiter.join(timeout=10)
    assert got and got[0].fd is not None
    with pytest.raises(locks.LockBusy):  # the waiter holds the lock file that now has the name
        locks.acquire(path)
    got[0].release(delete=True)
    assert not path.exists()


def test_the_output_lock_names_its_holder_and_goes_away(tmp_path):
    run = tmp_path / "run"
    with output_lock(run, "mlm train"):
        assert lock_path(run) == tmp_path / ".run.lock" and lock_path(run).is_file()
        with pytest.raises(BadInputError) as refused:
            with output_lock(run, "mlm export"):
                pass
        assert refused.value.exit_code == 2
        assert "mlm train, pid" in str(refused.value) and "started" in str(refused.value)
    assert not lock_path(run).exists() and not run.exists()


def test_only_the_writer_of_a_multi_process_run_locks(tmp_path):
    with output_lock(tmp_path / "run", "mlm train", writer=False):
        assert not lock_path(tmp_path / "run").exists()


def test_a_filesystem_without_locks_is_refused_unless_no_lock(tmp_path, monkeypatch, caplog):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_locks)
    with pytest.raises(BadInputError) as refused:
        with output_lock(tmp_path / "run", "mlm train", no_lock=False):
            pass
    assert "does not support file locks" in str(refused.value) and "--no-lock" in str(refused.value)
    with pytest.raises(BadInputError) as refused:  # a command without --no-lock does not offer it
        with output_lock(tmp_path / "run", "mlm export"):
            pass
    assert "--no-lock" not in str(refused.value)
    ran = []
    monkeypatch.setattr(logging.getLogger("mlm"), "propagate", True)  # in case a CLI test in this process configured it
    with caplog.at_level(logging.WARNING, logger="mlm"), output_lock(tmp_path / "run", "mlm train", no_lock=True):
        ran.append(True)
    assert ran and "--no-lock" in caplog.text
