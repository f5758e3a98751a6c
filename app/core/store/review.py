"""Review and sign-off, the same for every front: the review counts, the sign-off gate with every
reason it refuses, sign-off, amendment of a signed-off case, and the acknowledgement of a case's
unreadable files.  `CaseStore` has these methods from `ReviewMixin`.

A case is signed off only when every image file of its sources is classified (none cancelled
or added since), every unreadable file is acknowledged by name, every cell of the review queue
has a final decision (blast, normal or artefact), no cell is 'unsure' and the Sample ID is set.
An amendment reopens a signed-off case with a reason; every sign-off and amendment stays in
`sign_offs`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.discovery import discover_images
from app.core.store.common import StoreError, now, required
from app.core.store.connection import Database
from app.core.store.policy import ReviewPolicy
from app.core.store.queries import CellQueries
from app.core.store.records import Case, CaseSummary, CellGroup, ImageRecord, SignOff

NAMES_LISTED = 5
"""File names a refusal names before it says how many more there are."""
_UNACKNOWLEDGED = """
    SELECT i.path FROM images i LEFT JOIN acknowledged_errors a ON a.case_id = i.case_id AND a.path = i.path
    WHERE i.case_id = ? AND i.status = 'error' AND a.path IS NULL ORDER BY i.id
"""
_SIGN_OFF_COLUMNS = "id, case_id, signed_off_by, signed_off_at, reopened_by, reopened_at, reopen_reason"


class SignOffRefused(StoreError):
    """Sign-off refused; `reasons` holds every reason, each a sentence for a person."""

    def __init__(self, case: Case, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(f"case {case.name!r} cannot be signed off: " + "; ".join(self.reasons))


@dataclass(frozen=True)
class SignOffCheck:
    """Whether a case can be signed off now and every reason it cannot; `summary` holds the counts
    a sign-off signs (cells, confirmed blasts, artefacts, `blast_percentage` with its interval)."""

    case: Case
    summary: CaseSummary
    reasons: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons


class ReviewMixin:
    """The review methods of `CaseStore`; see the module doc."""

    _database: Database
    _cells: CellQueries
    policy: ReviewPolicy

    if TYPE_CHECKING:  # provided by CaseStore

        def get_case(self, case_id: int) -> Case: ...

        def list_sources(self, case_id: int) -> list[str]: ...

        def list_errors(self, case_id: int) -> list[ImageRecord]: ...

        def _check_open(self, db: sqlite3.Connection, case_id: int) -> Case: ...

    def summary(self, case_id: int) -> CaseSummary:
        """The case's counts: images, calls, the review queue and its final decisions, artefacts, unsure cells."""
        with self._database.read() as db:
            return self._summary(db, case_id)

    def sign_off_check(self, case_id: int) -> SignOffCheck:
        """What `sign_off` would say now, and the counts it would sign (it reads the case's source
        folders for image files not classified yet)."""
        files = self._source_files(case_id)
        with self._database.read() as db:
            return self._check(db, case_id, files)

    def sign_off(self, case_id: int, reviewer: str) -> Case:
        """Sign a case off, or raise `SignOffRefused` (a `StoreError`) with every reason it cannot be yet."""
        reviewer = required(reviewer, "reviewer")
        files = self._source_files(case_id)
        with self._database.write() as db:
            check = self._check(db, case_id, files)
            if not check.allowed:
                raise SignOffRefused(check.case, check.reasons)
            signed_at = now()
            db.execute(
                "UPDATE cases SET signed_off_by = ?, signed_off_at = ? WHERE id = ?", (reviewer, signed_at, case_id)
            )
            db.execute(
                "INSERT INTO sign_offs (case_id, signed_off_by, signed_off_at) VALUES (?, ?, ?)",
                (case_id, reviewer, signed_at),
            )
        return self.get_case(case_id)

    def amend(self, case_id: int, reason: str, by: str) -> Case:
        """Reopen a signed-off case to change it; its sign-off stays in `sign_offs` with the reason, who and when."""
        reason = required(reason, "reason for the amendment")
        by = required(by, "name of who amends the case")
        with self._database.write() as db:
            case = self.get_case(case_id)
            if not case.signed_off:
                raise StoreError(f"case {case.name!r} is not signed off: there is nothing to amend")
            db.execute(
                "UPDATE sign_offs SET reopened_by = ?, reopened_at = ?, reopen_reason = ? "
                "WHERE id = (SELECT MAX(id) FROM sign_offs WHERE case_id = ?)",
                (by, now(), reason, case_id),
            )
            db.execute("UPDATE cases SET signed_off_by = NULL, signed_off_at = NULL WHERE id = ?", (case_id,))
        return self.get_case(case_id)

    def sign_offs(self, case_id: int) -> list[SignOff]:
        """Every sign-off of a case, oldest first, each with the amendment that reopened it."""
        rows = self._database.all(
            f"SELECT {_SIGN_OFF_COLUMNS} FROM sign_offs WHERE case_id = ? ORDER BY id", (case_id,)
        )
        return [SignOff(*row) for row in rows]

    def acknowledge_errors(self, case_id: int, by: str) -> list[ImageRecord]:
        """Record that `by` accepts the case's unreadable files being left out; return them all.

        An acknowledgement holds for its file while the file stays unreadable; a file that
        fails later needs its own.
        """
        by = required(by, "name of who acknowledges the unreadable files")
        with self._database.write() as db:
            self._check_open(db, case_id)
            db.execute(
                "INSERT OR IGNORE INTO acknowledged_errors (case_id, path, acknowledged_by, acknowledged_at) "
                "SELECT case_id, path, ?, ? FROM images WHERE case_id = ? AND status = 'error'",
                (by, now(), case_id),
            )
        return self.list_errors(case_id)

    def _summary(self, db: sqlite3.Connection, case_id: int) -> CaseSummary:
        images, errors = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'error'), 0) FROM images WHERE case_id = ?", (case_id,)
        ).fetchone()
        return CaseSummary(images, errors, *db.execute(self._cells.summary, (case_id,)).fetchone())

    def _source_files(self, case_id: int) -> list[Path]:
        """The image files under the case's sources, as a classification run finds them."""
        return discover_images(self.list_sources(case_id))

    def _check(self, db: sqlite3.Connection, case_id: int, files: Sequence[Path]) -> SignOffCheck:
        case, summary = self.get_case(case_id), self._summary(db, case_id)
        if case.signed_off:
            reasons = [
                f"it is signed off already (by {case.signed_off_by}, {case.signed_off_at}): amend it to change it"
            ]
        else:
            reasons = self._reasons(db, case, summary, files)
        return SignOffCheck(case, summary, tuple(reasons))

    def _reasons(self, db: sqlite3.Connection, case: Case, summary: CaseSummary, files: Sequence[Path]) -> list[str]:
        """Every reason an open case cannot be signed off yet."""
        reasons = []
        stored = {row[0] for row in db.execute("SELECT path FROM images WHERE case_id = ?", (case.id,))}
        unclassified = [os.fspath(path) for path in files if os.fspath(path) not in stored]
        if unclassified:
            reasons.append(
                f"{len(unclassified)} image file(s) not classified yet (cancelled or added since): "
                f"{_names(unclassified)}; classify the case again"
            )
        elif not summary.images:
            reasons.append("no image has been classified")
        unacknowledged = [row[0] for row in db.execute(_UNACKNOWLEDGED, (case.id,))]
        if unacknowledged:
            reasons.append(
                f"{len(unacknowledged)} unreadable file(s) not acknowledged: {_names(unacknowledged)}; "
                "acknowledge them, with your name, to sign off without them"
            )
        waiting = db.execute(
            f"SELECT COUNT(*) FROM ({self._cells.select} WHERE i.case_id = ? "
            f"AND {self._cells.groups[CellGroup.UNREVIEWED]})",
            (case.id,),
        ).fetchone()[0]
        if waiting:
            every = " (the images are unfamiliar to the model: every cell is in the queue)" if case.unfamiliar else ""
            reasons.append(f"{waiting} {self.policy.describe_queue()} cell(s) still need a review decision{every}")
        if summary.unsure:
            reasons.append(
                f"{summary.unsure} cell(s) decided 'unsure' need a second look: decide blast, normal or artefact"
            )
        if not (case.sample_id or "").strip():
            reasons.append("the Sample ID is empty")
        return reasons


def _names(paths: Sequence[str]) -> str:
    """The file names of `paths`, the first NAMES_LISTED of them and how many more."""
    names = ", ".join(Path(path).name for path in paths[:NAMES_LISTED])
    return names + (f" and {len(paths) - NAMES_LISTED} more" if len(paths) > NAMES_LISTED else "")
