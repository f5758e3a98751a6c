"""Where the case store lives: `DB_FILE` in the data folder that `data_dir` picks."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DB_FILE = "cases.sqlite3"
DATA_DIR_ENV = "BLASTSCAN_DATA_DIR"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: `override`, else $BLASTSCAN_DATA_DIR, else the user's data folder."""
    chosen = override or os.environ.get(DATA_DIR_ENV)
    return Path(chosen) if chosen else Path(platformdirs.user_data_dir("BlastScan", appauthor=False))
