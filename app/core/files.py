"""Writing a file all or nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def replaced_atomically(target: Path, mode: str = "w", **open_options: object) -> Iterator[IO]:
    """A file to write in place of `target`: a temporary file beside it, fsynced, made readable
    to all (mkstemp makes it private) and renamed over `target`; removed if anything fails, so
    `target` is either the old file or the whole new one."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, mode, **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
