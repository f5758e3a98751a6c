"""Where the app's log goes: a rotating file in the data folder, for every front.

Warnings and errors (with their tracebacks) of a frozen app would otherwise be lost: the
windowed executable has no console.  Nothing here leaves the machine.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

LOG_FILE = "blastscan.log"
LOG_BYTES = 1_000_000
LOG_BACKUPS = 4
"""The log is rotated at LOG_BYTES; the last LOG_BACKUPS older files are kept."""


def start_logging(folder: str | os.PathLike[str]) -> Path | None:
    """Send the `app` loggers' INFO and above to LOG_FILE in `folder` (instead of any earlier log).

    Returns the log's path, or None when the folder cannot be written (the app still runs).
    """
    path = Path(folder) / LOG_FILE
    logger = logging.getLogger("app")
    if log_path() == path.absolute():
        return path
    for old in [handler for handler in logger.handlers if isinstance(handler, logging.handlers.RotatingFileHandler)]:
        logger.removeHandler(old)
        old.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return path


def log_path() -> Path | None:
    """The file the app logs to, if logging was started."""
    for handler in logging.getLogger("app").handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    return None
