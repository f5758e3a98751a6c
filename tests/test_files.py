"""Replacing a file all or nothing (`app.core.files`)."""

import os

import pytest

from app.core.files import FolderNotWritable, replaced_atomically, replacement_path


def test_a_new_file_replaces_the_old_one_readable_to_all(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with replaced_atomically(target, "w", encoding="utf-8") as handle:
        handle.write("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o644
    assert [path.name for path in tmp_path.iterdir()] == ["out.csv"]


def test_a_failure_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacement_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".keras"
        temporary.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old" and [path.name for path in tmp_path.iterdir()] == ["model.keras"]


def test_file_and_folder_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda descriptor: synced.append(descriptor) or real_fsync(descriptor))
    with replaced_atomically(tmp_path / "profile.json") as handle:
        handle.write("{}")
    assert len(synced) == (2 if os.name == "posix" else 1)


def test_a_folder_that_takes_no_file_is_told_apart(tmp_path):
    with pytest.raises(FolderNotWritable) as raised, replaced_atomically(tmp_path / "gone" / "report.xlsx", "wb"):
        pass
    assert isinstance(raised.value, OSError) and raised.value.filename == str(tmp_path / "gone")
