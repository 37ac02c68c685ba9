"""Atomic writes: the target is either the old file or the complete new one."""

import os

import pytest

from fluctinit._io import TEMP_PREFIX, atomic_path, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "sub" / "result.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["result.json"]
    assert (target.stat().st_mode & 0o777) == 0o666 & ~_umask()


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(TEMP_PREFIX)]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
