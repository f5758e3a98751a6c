"""The case store: cases, images, cells, predictions and review decisions in one SQLite file.

Every method is one statement or one transaction (see `app.core.store.connection` for
durability and threads).  A signed-off case is frozen: its metadata, images and decisions can
no longer change until it is amended; sign-off, amendment and the review counts are the
`ReviewMixin`'s (`app.core.store.review`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from app.core.decision import DecisionRule
from app.core.familiarity import Familiarity
from app.core.store import schema
from app.core.store.common import StoreError
from app.core.store.common import now as _now
from app.core.store.common import required as _required
from app.core.store.connection import Database, inserted_id
from app.core.store.location import DB_FILE, data_dir
from app.core.store.policy import REVIEW_POLICY, ReviewPolicy
from app.core.store.queries import (
    CASE_COLUMNS,
    CASE_DISTANCES,
    CELL_SORTS,
    DECISION_CHANGES,
    IMAGE_COLUMNS,
    LAB_LABELS,
    CellQueries,
    case_from_row,
    cell_from_row,
    change_from_row,
    image_from_row,
    label_from_row,
)
from app.core.store.records import (
    Call,
    Case,
    CellGroup,
    CellRecord,
    CellSort,
    Choice,
    Decision,
    DecisionChange,
    ImageRecord,
    InputKind,
    LabLabel,
    NewCell,
)
from app.core.store.review import ReviewMixin

_EDITABLE = ("name", "sample_id", "operator", "input_kind")


class CaseStore(ReviewMixin):
    """The case database under a review policy; see the module doc."""

    def __init__(self, db_path: str | os.PathLike[str], policy: ReviewPolicy = REVIEW_POLICY) -> None:
        self.path = Path(db_path)
        self.policy = policy
        self._cells = CellQueries(policy)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._database = Database(self.path)
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open the case database {self.path}: {error}") from error

    @classmethod
    def open(cls, folder: str | os.PathLike[str] | None = None, policy: ReviewPolicy = REVIEW_POLICY) -> CaseStore:
        """The store in `folder`, or in the data folder `data_dir()` picks."""
        return cls(data_dir(folder) / DB_FILE, policy)

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self._database.row("SELECT version FROM schema_version")[0])

    # Cases

    def create_case(
        self,
        name: str,
        *,
        sample_id: str | None = None,
        operator: str | None = None,
        input_kind: InputKind | str | None = None,
    ) -> Case:
        name = _required(name, "case name")
        input_kind = _optional_choice(InputKind, input_kind, "input kind")
        with self._database.write() as db:
            if db.execute("SELECT 1 FROM cases WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"a case named {name!r} exists already")
            cursor = db.execute(
                "INSERT INTO cases (name, sample_id, operator, input_kind, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, sample_id, operator, input_kind, _now()),
            )
        return self.get_case(inserted_id(cursor))

    def get_case(self, case_id: int) -> Case:
        row = self._database.one(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,))
        if row is None:
            raise StoreError(f"no case with id {case_id}")
        return case_from_row(row)

    def find_case(self, name: str) -> Case | None:
        row = self._database.one(f"SELECT {CASE_COLUMNS} FROM cases WHERE name = ?", (name,))
        return case_from_row(row) if row else None

    def list_cases(self) -> list[Case]:
        """All cases, newest first."""
        return [case_from_row(row) for row in self._database.all(f"SELECT {CASE_COLUMNS} FROM cases ORDER BY id DESC")]

    def update_case(self, case_id: int, **changes: str | None) -> Case:
        """Change name, sample_id, operator or input_kind of a case that is not signed off."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise StoreError(f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(_EDITABLE)}")
        if "name" in changes:
            changes["name"] = _required(changes["name"], "case name")
        if "input_kind" in changes:
            changes["input_kind"] = _optional_choice(InputKind, changes["input_kind"], "input kind")
        with self._database.write() as db:
            self._check_open(db, case_id)
            for column, value in changes.items():
                try:
                    db.execute(f"UPDATE cases SET {column} = ? WHERE id = ?", (value, case_id))
                except sqlite3.IntegrityError as error:
                    raise StoreError(f"a case named {value!r} exists already") from error
        return self.get_case(case_id)

    def set_case_model(
        self, case_id: int, model_version: str, rule: DecisionRule, threshold: float, overridden_by: str | None = None
    ) -> Case:
        """Record the model and decision rule (with its threshold) a case is classified with, and who
        chose a threshold other than the rule's (`overridden_by`, kept while the case keeps that
        threshold); the stored predictions of that model are decided again when the policy says so
        (`ReviewPolicy.needs_redeciding`)."""
        with self._database.write() as db:
            case = self._check_open(db, case_id)
            kept_by = case.threshold_set_by if (case.decision_rule, case.threshold) == (rule.name, threshold) else None
            set_by = None if threshold == rule.threshold else (overridden_by or "").strip() or kept_by
            db.execute(
                "UPDATE cases SET model_version = ?, threshold = ?, decision_rule = ?, rule_threshold = ?, "
                "threshold_set_by = ? WHERE id = ?",
                (model_version, threshold, rule.name, rule.threshold, set_by, case_id),
            )
            if self.policy.needs_redeciding(case, rule, threshold):
                rows = db.execute(
                    "SELECT p.id, p.logit FROM predictions p JOIN cells c ON c.id = p.cell_id "
                    "JOIN images i ON i.id = c.image_id WHERE i.case_id = ? AND p.model_version = ?",
                    (case_id, model_version),
                ).fetchall()
                decided = self.policy.redecide(rule, threshold, [logit for _, logit in rows])
                db.executemany(
                    "UPDATE predictions SET probability = ?, call = ? WHERE id = ?",
                    [(*decision, prediction_id) for (prediction_id, _), decision in zip(rows, decided, strict=True)],
                )
        return self.get_case(case_id)

    def set_case_familiarity(self, case_id: int, familiarity: Familiarity) -> Case:
        """Record how familiar the case's cells are to the model deciding it.

        While the verdict is unfamiliar, the calls the case shows follow the unfamiliar-case
        rule (`ReviewPolicy.shown_call_sql`) wherever the store is read.
        """
        with self._database.write() as db:
            self._check_open(db, case_id)
            db.execute(
                "UPDATE cases SET familiarity = ?, unfamiliar = ? WHERE id = ?",
                (familiarity.to_json(), int(familiarity.applies), case_id),
            )
        return self.get_case(case_id)

    def case_distances(self, case_id: int, model_version: str) -> list[tuple[float, ...]]:
        """The familiarity distances of the case's cells as `model_version` measured them."""
        rows = self._database.all(CASE_DISTANCES, (case_id, model_version))
        return [tuple(json.loads(row[0])) for row in rows]

    def add_sources(self, case_id: int, paths: Sequence[str | os.PathLike[str]]) -> None:
        """Remember the files and folders a case is classified from, so that it can resume."""
        with self._database.write() as db:
            self._check_open(db, case_id)
            db.executemany(
                "INSERT OR IGNORE INTO case_sources (case_id, path) VALUES (?, ?)",
                [(case_id, os.fspath(path)) for path in paths],
            )

    def list_sources(self, case_id: int) -> list[str]:
        """The files and folders of a case, in the order they were added."""
        rows = self._database.all("SELECT path FROM case_sources WHERE case_id = ? ORDER BY rowid", (case_id,))
        return [row[0] for row in rows]

    def find_case_by_sources(self, paths: Sequence[str | os.PathLike[str]]) -> Case | None:
        """The newest case whose sources are exactly `paths` (in any order), or None."""
        wanted = sorted({os.fspath(path) for path in paths})
        sources: dict[int, list[str]] = {}
        for case_id, path in self._database.all("SELECT case_id, path FROM case_sources ORDER BY case_id DESC, path"):
            sources.setdefault(case_id, []).append(path)
        match = next((case_id for case_id, found in sources.items() if found == wanted), None)
        return None if match is None else self.get_case(match)

    # Images and cells

    def image_done(self, case_id: int, path: str | os.PathLike[str]) -> bool:
        """True when the image was read and classified in this case (errors are retried)."""
        row = self._database.one(
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
        calls = [_choice(Call, cell.call, "call") for cell in cells]
        now = _now()
        with self._database.write(durable=False) as db:
            image_id = self._insert_image(db, case_id, path, "ok", message, (width, height, cell_finder, now))
            for index, (cell, call) in enumerate(zip(cells, calls, strict=True)):
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
                        call,
                        model_version,
                        now,
                        None if cell.distances is None else json.dumps([round(float(d), 5) for d in cell.distances]),
                    ),
                )
        return self._image(image_id)

    def add_image_error(self, case_id: int, path: str | os.PathLike[str], message: str) -> ImageRecord:
        """Store why an image could not be read or classified."""
        with self._database.write(durable=False) as db:
            image_id = self._insert_image(db, case_id, path, "error", message, (None, None, None, _now()))
        return self._image(image_id)

    def list_images(self, case_id: int) -> list[ImageRecord]:
        """The case's images in the order they were processed."""
        rows = self._database.all(f"SELECT {IMAGE_COLUMNS} FROM images WHERE case_id = ? ORDER BY id", (case_id,))
        return [image_from_row(row) for row in rows]

    def list_errors(self, case_id: int) -> list[ImageRecord]:
        return [image for image in self.list_images(case_id) if image.status == "error"]

    def list_cells(
        self,
        case_id: int,
        group: CellGroup | str = CellGroup.ALL,
        sort: CellSort | str = CellSort.PROBABILITY,
        image_id: int | None = None,
    ) -> list[CellRecord]:
        """The case's cells of one group (of one image if given), with latest prediction and
        current decision.

        Unreadable images have no cells: they are listed by `list_errors`.
        """
        condition = self._cells.groups[_choice(CellGroup, group, "group")]
        order = CELL_SORTS[_choice(CellSort, sort, "sort")]
        rows = self._database.all(
            f"{self._cells.select} WHERE i.case_id = ? AND (? IS NULL OR i.id = ?) AND {condition} ORDER BY {order}",
            (case_id, image_id, image_id),
        )
        return [cell_from_row(row) for row in rows]

    def get_cell(self, cell_id: int) -> CellRecord:
        row = self._database.one(f"{self._cells.select} WHERE c.id = ?", (cell_id,))
        if row is None:
            raise StoreError(f"no cell with id {cell_id}")
        return cell_from_row(row)

    def cell_crop(self, cell_id: int) -> bytes:
        """The cell's canvas (what the model saw) as PNG."""
        row = self._database.one("SELECT crop_png FROM cells WHERE id = ?", (cell_id,))
        if row is None:
            raise StoreError(f"no cell with id {cell_id}")
        return bytes(row[0])

    # Review

    def set_decision(self, cell_id: int, decision: Decision | str | None, reviewer: str) -> Decision | None:
        """Set (or with None clear) a cell's decision; return the previous one, for undo."""
        decision = _optional_choice(Decision, decision, "decision")
        reviewer = _required(reviewer, "reviewer")
        with self._database.write() as db:
            row = db.execute(
                "SELECT i.case_id, d.decision FROM cells c JOIN images i ON i.id = c.image_id "
                "LEFT JOIN decisions d ON d.cell_id = c.id WHERE c.id = ?",
                (cell_id,),
            ).fetchone()
            if row is None:
                raise StoreError(f"no cell with id {cell_id}")
            self._check_open(db, row[0])
            previous = None if row[1] is None else Decision(row[1])
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
        return [change_from_row(row) for row in self._database.all(DECISION_CHANGES, (case_id, cell_id, cell_id))]

    def lab_labels(self) -> list[LabLabel]:
        """Cells decided 'blast' or 'normal' in signed-off cases, with their latest logit, by cell id.

        Only signed-off cases count: their decisions are final.  'unsure' is no label.
        """
        return [label_from_row(row) for row in self._database.all(LAB_LABELS)]

    # Internals

    def _migrate(self) -> None:
        with self._database.write() as db:
            current = schema.read_version(db)
            if current > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer BlastScan (schema {current}); "
                    f"this version reads up to schema {schema.SCHEMA_VERSION}"
                )
            schema.migrate(db, current)

    def _check_open(self, db: sqlite3.Connection, case_id: int) -> Case:
        row = db.execute(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise StoreError(f"no case with id {case_id}")
        case = case_from_row(row)
        if case.signed_off:
            raise StoreError(
                f"case {case.name!r} was signed off by {case.signed_off_by} at {case.signed_off_at}; "
                "it can no longer be changed unless it is amended (with a reason)"
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
        return inserted_id(cursor)

    def _image(self, image_id: int) -> ImageRecord:
        return image_from_row(self._database.row(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)))


def _choice(choices: type[Choice], value: str, what: str) -> Choice:
    """`value` as one of `choices`, or a StoreError naming them."""
    try:
        return choices(value)
    except ValueError:
        raise StoreError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}") from None


def _optional_choice(choices: type[Choice], value: str | None, what: str) -> Choice | None:
    return None if value is None else _choice(choices, value, what)
