"""The case store's one SQLite connection: its settings, its lock and its transactions.

WAL journal, foreign keys on, and every write is its own committed transaction, so a crash
loses at most the image in flight.  A durable write (review work: decisions, sign-off, case
edits) commits with ``synchronous = FULL``, synced to disk before the call returns.  A write
that is not (classification results) commits with ``synchronous = NORMAL``: an application
crash loses nothing, a power cut or OS crash may lose the last results (a resumed run
classifies those images again) but never a decision, since the next FULL commit syncs every
earlier one too.

Threads: one connection shared by all threads (``check_same_thread=False``), every
statement run under one lock.  Writes are short and the GUI's workers write from pool
threads while views read on the main thread; one lock keeps that simple and free of
"database is locked" errors between connections of one process.  Other processes (a CLI
run beside the app) are handled by WAL and the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row that the INSERT just run on `cursor` added."""
    if cursor.lastrowid is None:
        raise LookupError("the statement inserted no row")
    return cursor.lastrowid


class Database:
    """A connection to one SQLite file, safe to share between threads; see the module doc."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self.connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode = WAL")
        self.connection.execute("PRAGMA synchronous = FULL")
        self.connection.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        with self._lock:
            self.connection.close()

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One immediate transaction, committed on success and rolled back on any error; not
        `durable`: committed without waiting for the disk."""
        with self._lock:
            if not durable:
                self.connection.execute("PRAGMA synchronous = NORMAL")
            try:
                self.connection.execute("BEGIN IMMEDIATE")
                try:
                    yield self.connection
                except BaseException:
                    self.connection.execute("ROLLBACK")
                    raise
                self.connection.execute("COMMIT")
            finally:
                if not durable:
                    self.connection.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query in it sees the database in the same state."""
        with self._lock:
            self.connection.execute("BEGIN")
            try:
                yield self.connection
            finally:
                self.connection.execute("COMMIT")

    def one(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.connection.execute(sql, parameters).fetchone()
            return row

    def row(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Row:
        """The first row of a query that always has one (an aggregate, a row known to exist)."""
        row = self.one(sql, parameters)
        if row is None:
            raise LookupError(f"no row for {sql.strip()!r} with {tuple(parameters)!r}")
        return row

    def all(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.connection.execute(sql, parameters).fetchall()
