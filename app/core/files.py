"""Writing a file all or nothing: the one way BlastScan and its training replace a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


class FolderNotWritable(OSError):
    """No temporary file could be made beside the target (a read-only, full or missing folder)."""


@contextmanager
def replacement_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` (same suffix) to write the new file to.  When the block
    ends it is fsynced, made readable to all (mkstemp makes it private) and renamed over
    `target`, and the folder is fsynced; if anything fails it is removed, so `target` is
    either the old file or the whole new one."""
    target = Path(target)
    try:
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    except OSError as error:
        raise FolderNotWritable(error.errno, error.strerror, str(target.parent)) from error
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        _fsync(temporary, os.O_RDWR)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
        if os.name == "posix":  # a folder cannot be opened on Windows, whose renames need no fsync
            _fsync(target.parent, os.O_RDONLY)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def replaced_atomically(target: Path, mode: str = "w", **open_options: Any) -> Iterator[IO[Any]]:
    """A file, opened with `mode` and `open_options`, to write in place of `target` (see
    `replacement_path`)."""
    with replacement_path(target) as temporary, open(temporary, mode, **open_options) as handle:
        yield handle


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
