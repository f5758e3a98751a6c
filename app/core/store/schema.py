"""The case store's schema: named migrations, applied in order, and the version they reach.

A database records the version of the last migration applied to it (table `schema_version`,
one row); opening it applies the later ones, each with its version, in the opening transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema change: the version it brings a database to, what it is for, its statements."""

    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "cases, images, cells, predictions, decisions and their history",
        (
            """CREATE TABLE cases (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                sample_id TEXT,
                operator TEXT,
                created_at TEXT NOT NULL,
                input_kind TEXT CHECK (input_kind IN ('crop', 'field')),
                model_version TEXT,
                threshold REAL,
                signed_off_by TEXT,
                signed_off_at TEXT)""",
            """CREATE TABLE images (
                id INTEGER PRIMARY KEY,
                case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
                path TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
                message TEXT NOT NULL DEFAULT '',
                width INTEGER,
                height INTEGER,
                cell_finder TEXT,
                created_at TEXT NOT NULL,
                UNIQUE (case_id, path))""",
            """CREATE TABLE cells (
                id INTEGER PRIMARY KEY,
                image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                x INTEGER NOT NULL,
                y INTEGER NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                touches_border INTEGER NOT NULL DEFAULT 0,
                crop_png BLOB NOT NULL,
                UNIQUE (image_id, idx))""",
            """CREATE TABLE predictions (
                id INTEGER PRIMARY KEY,
                cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
                logit REAL NOT NULL,
                probability REAL NOT NULL,
                call TEXT NOT NULL CHECK (call IN ('flagged', 'uncertain', 'normal')),
                model_version TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            "CREATE INDEX predictions_by_cell ON predictions (cell_id)",
            """CREATE TABLE decisions (
                cell_id INTEGER PRIMARY KEY REFERENCES cells(id) ON DELETE CASCADE,
                decision TEXT NOT NULL CHECK (decision IN ('blast', 'normal', 'unsure')),
                reviewer TEXT NOT NULL,
                decided_at TEXT NOT NULL)""",
            """CREATE TABLE decision_history (
                id INTEGER PRIMARY KEY,
                cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
                old_decision TEXT,
                new_decision TEXT,
                reviewer TEXT NOT NULL,
                changed_at TEXT NOT NULL)""",
            "CREATE INDEX decision_history_by_cell ON decision_history (cell_id)",
        ),
    ),
    Migration(
        2,
        "the files and folders a case is classified from",
        (
            """CREATE TABLE case_sources (
                case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
                path TEXT NOT NULL,
                PRIMARY KEY (case_id, path))""",
        ),
    ),
    Migration(3, "the decision rule of a case", ("ALTER TABLE cases ADD COLUMN decision_rule TEXT",)),
    Migration(
        4,
        "familiarity: cell distances and the case's verdict",
        (
            "ALTER TABLE predictions ADD COLUMN distances TEXT",
            "ALTER TABLE cases ADD COLUMN familiarity TEXT",
            "ALTER TABLE cases ADD COLUMN unfamiliar INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        5,
        "review and sign-off: artefact decisions, acknowledged unreadable files, sign-offs and amendments, "
        "threshold overrides",
        (
            # SQLite cannot change a CHECK constraint: the table is rebuilt with 'artefact' allowed.
            """CREATE TABLE decisions_v5 (
                cell_id INTEGER PRIMARY KEY REFERENCES cells(id) ON DELETE CASCADE,
                decision TEXT NOT NULL CHECK (decision IN ('blast', 'normal', 'artefact', 'unsure')),
                reviewer TEXT NOT NULL,
                decided_at TEXT NOT NULL)""",
            "INSERT INTO decisions_v5 (cell_id, decision, reviewer, decided_at) "
            "SELECT cell_id, decision, reviewer, decided_at FROM decisions",
            "DROP TABLE decisions",
            "ALTER TABLE decisions_v5 RENAME TO decisions",
            """CREATE TABLE acknowledged_errors (
                case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
                path TEXT NOT NULL,
                acknowledged_by TEXT NOT NULL,
                acknowledged_at TEXT NOT NULL,
                PRIMARY KEY (case_id, path))""",
            """CREATE TABLE sign_offs (
                id INTEGER PRIMARY KEY,
                case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
                signed_off_by TEXT NOT NULL,
                signed_off_at TEXT NOT NULL,
                reopened_by TEXT,
                reopened_at TEXT,
                reopen_reason TEXT)""",
            "CREATE INDEX sign_offs_by_case ON sign_offs (case_id)",
            "INSERT INTO sign_offs (case_id, signed_off_by, signed_off_at) "
            "SELECT id, signed_off_by, signed_off_at FROM cases WHERE signed_off_at IS NOT NULL ORDER BY id",
            "ALTER TABLE cases ADD COLUMN rule_threshold REAL",
            "ALTER TABLE cases ADD COLUMN threshold_set_by TEXT",
        ),
    ),
)
"""Every schema change, in order; migration n brings a database to version n."""

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The version this BlastScan writes and reads up to."""


def read_version(db: sqlite3.Connection) -> int:
    """The schema version of an open database; a new one gets version 0 recorded."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        db.execute("INSERT INTO schema_version (version) VALUES (0)")
        return 0
    return int(row[0])


def migrate(db: sqlite3.Connection, current: int, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Apply the migrations after version `current` in order, recording each one's version."""
    for migration in migrations:
        if migration.version > current:
            for statement in migration.statements:
                db.execute(statement)
            db.execute("UPDATE schema_version SET version = ?", (migration.version,))
