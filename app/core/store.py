"""The case store: cases, images, cells, predictions and review decisions in one SQLite file.

The file is ``cases.sqlite3`` in the data folder: ``--data-dir``, else the environment
variable ``BLASTSCAN_DATA_DIR``, else the user's data folder (platformdirs).  The schema is
versioned (`MIGRATIONS`, applied in order on open); WAL journal, foreign keys on, and every
write is its own committed transaction, so a crash loses at most the image in flight.

Durability: review work (decisions, sign-off, case edits) commits with ``synchronous = FULL``,
synced to disk before the call returns.  Classification results (`add_image_result`,
`add_image_error`) commit with ``synchronous = NORMAL``: an application crash loses nothing,
a power cut or OS crash may lose the last results (a resumed run classifies those images
again) but never a decision, since the next FULL commit syncs every earlier one too.

Threads: one connection shared by all threads (``check_same_thread=False``), every
statement run under one lock.  Writes are short and the GUI's workers write from pool
threads while views read on the main thread; one lock keeps that simple and free of
"database is locked" errors between connections of one process.  Other processes (a CLI
run beside the app) are handled by WAL and the busy timeout.

A signed-off case is frozen: its metadata, images and decisions can no longer change.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from app.core.decision import DecisionRule
from app.core.familiarity import Familiarity

DB_FILE = "cases.sqlite3"
DATA_DIR_ENV = "BLASTSCAN_DATA_DIR"

CALLS = ("flagged", "uncertain", "normal")
DECISIONS = ("blast", "normal", "unsure")
INPUT_KINDS = ("crop", "field")
CELL_GROUPS = ("all", "flagged", "uncertain", "normal", "to_review", "unreviewed", "reviewed")
"""`to_review`: flagged or uncertain; `unreviewed`: of those, without a decision yet."""
CELL_SORTS = ("probability", "position")
"""`probability`: most suspicious first; `position`: image order, then cell index."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
    (
        """CREATE TABLE case_sources (
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            PRIMARY KEY (case_id, path))""",
    ),
    ("ALTER TABLE cases ADD COLUMN decision_rule TEXT",),
    (
        "ALTER TABLE predictions ADD COLUMN distances TEXT",
        "ALTER TABLE cases ADD COLUMN familiarity TEXT",
        "ALTER TABLE cases ADD COLUMN unfamiliar INTEGER NOT NULL DEFAULT 0",
    ),
)
"""Schema changes in order; the store's schema version is how many of them are applied."""


class StoreError(RuntimeError):
    """A request the case store refuses, with a reason for a person."""


@dataclass(frozen=True)
class Case:
    id: int
    name: str
    sample_id: str | None
    operator: str | None
    created_at: str
    input_kind: str | None
    """'crop' or 'field' when the user overrides detection; None: detect per image."""
    model_version: str | None
    threshold: float | None
    signed_off_by: str | None
    signed_off_at: str | None
    decision_rule: str | None = None
    """Name of the decision rule (model card or site profile) the calls were made with."""
    familiarity_json: str | None = None
    """The case's `Familiarity` verdict as JSON (None: never assessed)."""
    unfamiliar: bool = False
    """True when the verdict sends every unflagged cell to review (see `familiarity`)."""

    @property
    def familiarity(self) -> Familiarity | None:
        return Familiarity.from_json(self.familiarity_json)

    @property
    def signed_off(self) -> bool:
        return self.signed_off_at is not None


@dataclass(frozen=True)
class ImageRecord:
    id: int
    case_id: int
    path: str
    status: str
    """'ok' or 'error'."""
    message: str
    """The reason of an error, or the loader's notes for an image that was read."""
    width: int | None
    height: int | None
    cell_finder: str | None
    created_at: str


@dataclass(frozen=True)
class NewCell:
    """A classified cell to store: box in source pixels, canvas as PNG, the prediction."""

    box: tuple[int, int, int, int]
    touches_border: bool
    crop_png: bytes
    logit: float
    probability: float
    call: str
    distances: tuple[float, ...] | None = None
    """The cell's familiarity distances (`app.core.familiarity`), when the model has a reference."""


@dataclass(frozen=True)
class CellRecord:
    id: int
    image_id: int
    image_path: str
    index: int
    box: tuple[int, int, int, int]
    touches_border: bool
    logit: float
    probability: float
    call: str
    model_version: str
    decision: str | None
    reviewer: str | None
    decided_at: str | None


@dataclass(frozen=True)
class LabLabel:
    """A reviewed cell of a signed-off case: one label of this lab's own cells."""

    case_id: int
    cell_id: int
    is_blast: bool
    logit: float
    model_version: str


@dataclass(frozen=True)
class DecisionChange:
    id: int
    cell_id: int
    old: str | None
    new: str | None
    reviewer: str
    changed_at: str


@dataclass(frozen=True)
class CaseSummary:
    images: int
    errors: int
    cells: int
    flagged: int
    uncertain: int
    normal: int
    to_review: int
    """Flagged plus uncertain cells: the review queue."""
    reviewed: int
    """Cells of the review queue with a decision ('unsure' counts: someone looked)."""
    confirmed_blasts: int
    """Cells a reviewer decided are blasts (from any call)."""


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: `override`, else $BLASTSCAN_DATA_DIR, else the user's data folder."""
    chosen = override or os.environ.get(DATA_DIR_ENV)
    return Path(chosen) if chosen else Path(platformdirs.user_data_dir("BlastScan", appauthor=False))


_CASE_COLUMNS = (
    "id, name, sample_id, operator, created_at, input_kind, model_version, threshold, "
    "signed_off_by, signed_off_at, decision_rule, familiarity, unfamiliar"
)
_IMAGE_COLUMNS = "id, case_id, path, status, message, width, height, cell_finder, created_at"
_CALL = "(CASE WHEN k.unfamiliar = 1 AND p.call = 'normal' THEN 'uncertain' ELSE p.call END)"
"""A cell's call as the case shows it: in an unfamiliar case the AI calls no cell normal."""
_CELL_QUERY = f"""
    SELECT c.id, c.image_id, i.path, c.idx, c.x, c.y, c.width, c.height, c.touches_border,
           p.logit, p.probability, {_CALL} AS call, p.model_version, d.decision, d.reviewer, d.decided_at
    FROM cells c
    JOIN images i ON i.id = c.image_id
    JOIN cases k ON k.id = i.case_id
    JOIN predictions p ON p.id = (SELECT MAX(id) FROM predictions WHERE cell_id = c.id)
    LEFT JOIN decisions d ON d.cell_id = c.id
"""
_GROUPS = {
    "all": "1",
    "flagged": f"{_CALL} = 'flagged'",
    "uncertain": f"{_CALL} = 'uncertain'",
    "normal": f"{_CALL} = 'normal'",
    "to_review": f"{_CALL} IN ('flagged', 'uncertain')",
    "unreviewed": f"{_CALL} IN ('flagged', 'uncertain') AND d.decision IS NULL",
    "reviewed": "d.decision IS NOT NULL",
}
_SORTS = {"probability": "p.probability DESC, i.id, c.idx", "position": "i.id, c.idx"}
_EDITABLE = ("name", "sample_id", "operator", "input_kind")


class CaseStore:
    """The case database; see the module doc for files, transactions and threads."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open the case database {self.path}: {error}") from error

    @classmethod
    def open(cls, folder: str | os.PathLike[str] | None = None) -> CaseStore:
        """The store in `folder`, or in the data folder `data_dir()` picks."""
        return cls(data_dir(folder) / DB_FILE)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self._one("SELECT version FROM schema_version")[0])

    # Cases

    def create_case(
        self,
        name: str,
        *,
        sample_id: str | None = None,
        operator: str | None = None,
        input_kind: str | None = None,
    ) -> Case:
        name = _required(name, "case name")
        _check_choice(input_kind, INPUT_KINDS, "input kind", optional=True)
        with self._write() as db:
            if db.execute("SELECT 1 FROM cases WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"a case named {name!r} exists already")
            cursor = db.execute(
                "INSERT INTO cases (name, sample_id, operator, input_kind, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, sample_id, operator, input_kind, _now()),
            )
        return self.get_case(int(cursor.lastrowid))

    def get_case(self, case_id: int) -> Case:
        row = self._one(f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,))
        if row is None:
            raise StoreError(f"no case with id {case_id}")
        return _case(row)

    def find_case(self, name: str) -> Case | None:
        row = self._one(f"SELECT {_CASE_COLUMNS} FROM cases WHERE name = ?", (name,))
        return _case(row) if row else None

    def list_cases(self) -> list[Case]:
        """All cases, newest first."""
        return [_case(row) for row in self._all(f"SELECT {_CASE_COLUMNS} FROM cases ORDER BY id DESC")]

    def update_case(self, case_id: int, **changes: str | None) -> Case:
        """Change name, sample_id, operator or input_kind of a case that is not signed off."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise StoreError(f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(_EDITABLE)}")
        if "name" in changes:
            changes["name"] = _required(changes["name"], "case name")
        _check_choice(changes.get("input_kind"), INPUT_KINDS, "input kind", optional=True)
        with self._write() as db:
            self._check_open(db, case_id)
            for column, value in changes.items():
                try:
                    db.execute(f"UPDATE cases SET {column} = ? WHERE id = ?", (value, case_id))
                except sqlite3.IntegrityError as error:
                    raise StoreError(f"a case named {value!r} exists already") from error
        return self.get_case(case_id)

    def set_case_model(self, case_id: int, model_version: str, rule: DecisionRule, threshold: float) -> Case:
        """Record the model and decision rule (with its threshold) a case is classified with.

        When the rule or threshold changes, the case's stored predictions of that model get
        probability and call again from their logits, so every cell of a case is decided the
        same way; review decisions are not touched.
        """
        with self._write() as db:
            case = self._check_open(db, case_id)
            db.execute(
                "UPDATE cases SET model_version = ?, threshold = ?, decision_rule = ? WHERE id = ?",
                (model_version, threshold, rule.name, case_id),
            )
            if case.model_version is not None and (case.decision_rule, case.threshold) != (rule.name, threshold):
                rows = db.execute(
                    "SELECT p.id, p.logit FROM predictions p JOIN cells c ON c.id = p.cell_id "
                    "JOIN images i ON i.id = c.image_id WHERE i.case_id = ? AND p.model_version = ?",
                    (case_id, model_version),
                ).fetchall()
                probabilities = rule.probabilities([logit for _, logit in rows])
                db.executemany(
                    "UPDATE predictions SET probability = ?, call = ? WHERE id = ?",
                    [
                        (float(p), rule.call(float(p), threshold), prediction_id)
                        for (prediction_id, _), p in zip(rows, probabilities, strict=True)
                    ],
                )
        return self.get_case(case_id)

    def set_case_familiarity(self, case_id: int, familiarity: Familiarity) -> Case:
        """Record how familiar the case's cells are to the model deciding it.

        While the verdict is unfamiliar, every cell the model did not flag reads 'uncertain'
        (to review) wherever the store is read: lists, groups, summary, labels and exports.
        """
        with self._write() as db:
            self._check_open(db, case_id)
            db.execute(
                "UPDATE cases SET familiarity = ?, unfamiliar = ? WHERE id = ?",
                (familiarity.to_json(), int(familiarity.applies), case_id),
            )
        return self.get_case(case_id)

    def case_distances(self, case_id: int, model_version: str) -> list[tuple[float, ...]]:
        """The familiarity distances of the case's cells as `model_version` measured them."""
        rows = self._all(
            "SELECT p.distances FROM cells c JOIN images i ON i.id = c.image_id "
            "JOIN predictions p ON p.id = (SELECT MAX(id) FROM predictions WHERE cell_id = c.id) "
            "WHERE i.case_id = ? AND p.model_version = ? AND p.distances IS NOT NULL",
            (case_id, model_version),
        )
        return [tuple(json.loads(row[0])) for row in rows]

    def sign_off(self, case_id: int, reviewer: str) -> Case:
        """Sign a case off; refused while a flagged or uncertain cell has no decision."""
        reviewer = _required(reviewer, "reviewer")
        with self._write() as db:
            self._check_open(db, case_id)
            waiting = db.execute(
                f"SELECT COUNT(*) FROM ({_CELL_QUERY} WHERE i.case_id = ? AND {_GROUPS['unreviewed']})",
                (case_id,),
            ).fetchone()[0]
            if waiting:
                raise StoreError(f"{waiting} flagged or uncertain cell(s) still need a review decision")
            db.execute(
                "UPDATE cases SET signed_off_by = ?, signed_off_at = ? WHERE id = ?",
                (reviewer, _now(), case_id),
            )
        return self.get_case(case_id)

    def add_sources(self, case_id: int, paths: Sequence[str | os.PathLike[str]]) -> None:
        """Remember the files and folders a case is classified from, so that it can resume."""
        with self._write() as db:
            self._check_open(db, case_id)
            db.executemany(
                "INSERT OR IGNORE INTO case_sources (case_id, path) VALUES (?, ?)",
                [(case_id, os.fspath(path)) for path in paths],
            )

    def list_sources(self, case_id: int) -> list[str]:
        """The files and folders of a case, in the order they were added."""
        rows = self._all("SELECT path FROM case_sources WHERE case_id = ? ORDER BY rowid", (case_id,))
        return [row[0] for row in rows]

    def find_case_by_sources(self, paths: Sequence[str | os.PathLike[str]]) -> Case | None:
        """The newest case whose sources are exactly `paths` (in any order), or None."""
        wanted = sorted({os.fspath(path) for path in paths})
        sources: dict[int, list[str]] = {}
        for case_id, path in self._all("SELECT case_id, path FROM case_sources ORDER BY case_id DESC, path"):
            sources.setdefault(case_id, []).append(path)
        match = next((case_id for case_id, found in sources.items() if found == wanted), None)
        return None if match is None else self.get_case(match)

    # Images and cells

    def image_done(self, case_id: int, path: str | os.PathLike[str]) -> bool:
        """True when the image was read and classified in this case (errors are retried)."""
        row = self._one(
            "SELECT 1 FROM images WHERE case_id = ? AND path = ? AND status = 'ok'",
            (case_id, os.fspath(path)),
        )
        return row is not None

    def add_image_result(
        self,
        case_id: int,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        cells: Sequence[NewCell],
        model_version: str,
        message: str = "",
        cell_finder: str | None = None,
    ) -> ImageRecord:
        """Store a classified image with all its cells and predictions, in one transaction."""
        for cell in cells:
            _check_choice(cell.call, CALLS, "call")
        now = _now()
        with self._write(durable=False) as db:
            image_id = self._insert_image(db, case_id, path, "ok", message, (width, height, cell_finder, now))
            for index, cell in enumerate(cells):
                cell_id = db.execute(
                    "INSERT INTO cells (image_id, idx, x, y, width, height, touches_border, crop_png) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (image_id, index, *map(int, cell.box), int(cell.touches_border), cell.crop_png),
                ).lastrowid
                db.execute(
                    "INSERT INTO predictions (cell_id, logit, probability, call, model_version, created_at, "
                    "distances) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        cell_id,
                        cell.logit,
                        cell.probability,
                        cell.call,
                        model_version,
                        now,
                        None if cell.distances is None else json.dumps([round(float(d), 5) for d in cell.distances]),
                    ),
                )
        return self._image(image_id)

    def add_image_error(self, case_id: int, path: str | os.PathLike[str], message: str) -> ImageRecord:
        """Store why an image could not be read or classified."""
        with self._write(durable=False) as db:
            image_id = self._insert_image(db, case_id, path, "error", message, (None, None, None, _now()))
        return self._image(image_id)

    def list_images(self, case_id: int) -> list[ImageRecord]:
        """The case's images in the order they were processed."""
        rows = self._all(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE case_id = ? ORDER BY id", (case_id,))
        return [ImageRecord(*row) for row in rows]

    def list_errors(self, case_id: int) -> list[ImageRecord]:
        return [image for image in self.list_images(case_id) if image.status == "error"]

    def list_cells(
        self, case_id: int, group: str = "all", sort: str = "probability", image_id: int | None = None
    ) -> list[CellRecord]:
        """The case's cells of one of CELL_GROUPS (of one image if given), with latest
        prediction and current decision.

        Unreadable images have no cells: they are listed by `list_errors`.
        """
        _check_choice(group, CELL_GROUPS, "group")
        _check_choice(sort, CELL_SORTS, "sort")
        rows = self._all(
            f"{_CELL_QUERY} WHERE i.case_id = ? AND (? IS NULL OR i.id = ?) AND {_GROUPS[group]} "
            f"ORDER BY {_SORTS[sort]}",
            (case_id, image_id, image_id),
        )
        return [_cell(row) for row in rows]

    def get_cell(self, cell_id: int) -> CellRecord:
        row = self._one(f"{_CELL_QUERY} WHERE c.id = ?", (cell_id,))
        if row is None:
            raise StoreError(f"no cell with id {cell_id}")
        return _cell(row)

    def cell_crop(self, cell_id: int) -> bytes:
        """The cell's canvas (what the model saw) as PNG."""
        row = self._one("SELECT crop_png FROM cells WHERE id = ?", (cell_id,))
        if row is None:
            raise StoreError(f"no cell with id {cell_id}")
        return bytes(row[0])

    # Review

    def set_decision(self, cell_id: int, decision: str | None, reviewer: str) -> str | None:
        """Set (or with None clear) a cell's decision; return the previous one, for undo."""
        _check_choice(decision, DECISIONS, "decision", optional=True)
        reviewer = _required(reviewer, "reviewer")
        with self._write() as db:
            row = db.execute(
                "SELECT i.case_id, d.decision FROM cells c JOIN images i ON i.id = c.image_id "
                "LEFT JOIN decisions d ON d.cell_id = c.id WHERE c.id = ?",
                (cell_id,),
            ).fetchone()
            if row is None:
                raise StoreError(f"no cell with id {cell_id}")
            self._check_open(db, row[0])
            previous = row[1]
            if previous == decision:
                return previous
            now = _now()
            if decision is None:
                db.execute("DELETE FROM decisions WHERE cell_id = ?", (cell_id,))
            else:
                db.execute(
                    "INSERT INTO decisions (cell_id, decision, reviewer, decided_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (cell_id) DO UPDATE SET decision = excluded.decision, "
                    "reviewer = excluded.reviewer, decided_at = excluded.decided_at",
                    (cell_id, decision, reviewer, now),
                )
            db.execute(
                "INSERT INTO decision_history (cell_id, old_decision, new_decision, reviewer, changed_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (cell_id, previous, decision, reviewer, now),
            )
        return previous

    def decision_history(self, case_id: int, cell_id: int | None = None) -> list[DecisionChange]:
        """Every decision change of a case (or of one of its cells), oldest first."""
        rows = self._all(
            "SELECT h.id, h.cell_id, h.old_decision, h.new_decision, h.reviewer, h.changed_at "
            "FROM decision_history h JOIN cells c ON c.id = h.cell_id JOIN images i ON i.id = c.image_id "
            "WHERE i.case_id = ? AND (? IS NULL OR h.cell_id = ?) ORDER BY h.id",
            (case_id, cell_id, cell_id),
        )
        return [DecisionChange(*row) for row in rows]

    def lab_labels(self) -> list[LabLabel]:
        """Cells decided 'blast' or 'normal' in signed-off cases, with their latest logit.

        Only signed-off cases count: their decisions are final.  'unsure' is no label.
        """
        labels = [
            LabLabel(case.id, cell.id, cell.decision == "blast", cell.logit, cell.model_version)
            for case in self.list_cases()
            if case.signed_off
            for cell in self.list_cells(case.id, "reviewed")
            if cell.decision != "unsure"
        ]
        return sorted(labels, key=lambda label: label.cell_id)

    def summary(self, case_id: int) -> CaseSummary:
        images, errors = self._one(
            "SELECT COUNT(*), COALESCE(SUM(status = 'error'), 0) FROM images WHERE case_id = ?", (case_id,)
        )
        counts = self._one(
            f"""SELECT COUNT(*),
                       COALESCE(SUM(call = 'flagged'), 0), COALESCE(SUM(call = 'uncertain'), 0),
                       COALESCE(SUM(call = 'normal'), 0),
                       COALESCE(SUM(call IN ('flagged', 'uncertain')), 0),
                       COALESCE(SUM(call IN ('flagged', 'uncertain') AND decision IS NOT NULL), 0),
                       COALESCE(SUM(decision = 'blast'), 0)
                FROM ({_CELL_QUERY} WHERE i.case_id = ?)""",
            (case_id,),
        )
        return CaseSummary(images, errors, *counts)

    # Internals

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One immediate transaction, committed on success and rolled back on any error; not
        `durable`: committed without waiting for the disk (see the module doc)."""
        with self._lock:
            if not durable:
                self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous = FULL")

    def _one(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, parameters).fetchone()

    def _all(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (0)")
            current = row[0] if row else 0
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} was written by a newer BlastScan (schema {current}); "
                    f"this version reads up to schema {len(MIGRATIONS)}"
                )
            for statements in MIGRATIONS[current:]:
                for statement in statements:
                    db.execute(statement)
            db.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))

    def _check_open(self, db: sqlite3.Connection, case_id: int) -> Case:
        row = db.execute(f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise StoreError(f"no case with id {case_id}")
        case = _case(row)
        if case.signed_off:
            raise StoreError(
                f"case {case.name!r} was signed off by {case.signed_off_by} at {case.signed_off_at}; "
                "it can no longer be changed"
            )
        return case

    def _insert_image(
        self,
        db: sqlite3.Connection,
        case_id: int,
        path: str | os.PathLike[str],
        status: str,
        message: str,
        details: tuple[int | None, int | None, str | None, str],
    ) -> int:
        """Insert an image row, replacing an earlier error for the same path."""
        self._check_open(db, case_id)
        path = os.fspath(path)
        db.execute("DELETE FROM images WHERE case_id = ? AND path = ? AND status = 'error'", (case_id, path))
        try:
            cursor = db.execute(
                "INSERT INTO images (case_id, path, status, message, width, height, cell_finder, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (case_id, path, status, message, *details),
            )
        except sqlite3.IntegrityError as error:
            raise StoreError(f"{path} is already classified in this case") from error
        return int(cursor.lastrowid)

    def _image(self, image_id: int) -> ImageRecord:
        return ImageRecord(*self._one(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)))


def _case(row: sqlite3.Row) -> Case:
    *columns, unfamiliar = row
    return Case(*columns, unfamiliar=bool(unfamiliar))


def _cell(row: sqlite3.Row) -> CellRecord:
    (
        cell_id,
        image_id,
        path,
        index,
        x,
        y,
        width,
        height,
        touches,
        logit,
        probability,
        call,
        model_version,
        decision,
        reviewer,
        decided_at,
    ) = row
    return CellRecord(
        cell_id,
        image_id,
        path,
        index,
        (x, y, width, height),
        bool(touches),
        logit,
        probability,
        call,
        model_version,
        decision,
        reviewer,
        decided_at,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _required(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise StoreError(f"the {what} must not be empty")
    return value


def _check_choice(value: str | None, choices: Sequence[str], what: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in choices:
        raise StoreError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}")
