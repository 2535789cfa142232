"""Atomic writes publish whole files with the umask's permissions, and leave nothing behind on failure."""

from __future__ import annotations

import os
import stat

import pytest

from mlm_cli.atomic_files import staging_directory, write_atomic, write_text_atomic

pytestmark = pytest.mark.run_once  # no backend


@pytest.fixture()
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_files_and_folders_get_the_umask(tmp_path, umask_027):
    path = write_text_atomic(tmp_path / "card.md", "héllo\n")
    assert path.read_bytes() == "héllo\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    folder = staging_directory(tmp_path, ".x.partial-")
    assert folder.name.startswith(".x.partial-") and stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert {p.name for p in tmp_path.iterdir()} == {"card.md", folder.name}


def test_a_failed_write_keeps_the_old_file_and_no_leftovers(tmp_path):
    path = write_text_atomic(tmp_path / "config.json", "{}")

    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(path, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"] and path.read_text() == "{}"
