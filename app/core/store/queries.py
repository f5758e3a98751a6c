"""The case store's reads: the columns it selects, the cell query under a review policy with its
groups, sorts and summary, and rows turned into records."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from app.core.store.policy import ReviewPolicy
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
)

CASE_COLUMNS = (
    "id, name, sample_id, operator, created_at, input_kind, model_version, threshold, signed_off_by, "
    "signed_off_at, decision_rule, familiarity AS familiarity_json, unfamiliar, rule_threshold, threshold_set_by"
)
"""The columns of `cases`, named as the fields of `Case`."""
_ACKNOWLEDGEMENT = (
    "FROM acknowledged_errors a WHERE a.case_id = images.case_id AND a.path = images.path AND images.status = 'error'"
)
IMAGE_COLUMNS = (
    "id, case_id, path, status, message, width, height, cell_finder, created_at, "
    f"(SELECT a.acknowledged_by {_ACKNOWLEDGEMENT}), (SELECT a.acknowledged_at {_ACKNOWLEDGEMENT})"
)
"""The columns of `images`, with the acknowledgement of an unreadable file, as `ImageRecord` has them."""
LATEST_PREDICTION = "JOIN predictions p ON p.id = (SELECT MAX(id) FROM predictions WHERE cell_id = c.id)"
"""Joins each cell `c` to its latest prediction `p`."""
CELL_SORTS = {CellSort.PROBABILITY: "p.probability DESC, i.id, c.idx", CellSort.POSITION: "i.id, c.idx"}
CASE_DISTANCES = f"""
    SELECT p.distances FROM cells c JOIN images i ON i.id = c.image_id {LATEST_PREDICTION}
    WHERE i.case_id = ? AND p.model_version = ? AND p.distances IS NOT NULL
"""
"""The familiarity distances of a case's cells (parameters: case id, model version)."""
DECISION_CHANGES = """
    SELECT h.id, h.cell_id, h.old_decision, h.new_decision, h.reviewer, h.changed_at
    FROM decision_history h JOIN cells c ON c.id = h.cell_id JOIN images i ON i.id = c.image_id
    WHERE i.case_id = ? AND (? IS NULL OR h.cell_id = ?) ORDER BY h.id
"""
"""The decision changes of a case, oldest first (parameters: case id, then a cell id or None twice)."""
LAB_LABELS = f"""
    SELECT i.case_id, c.id, d.decision = '{Decision.BLAST}', p.logit, p.model_version
    FROM cells c JOIN images i ON i.id = c.image_id JOIN cases k ON k.id = i.case_id
    {LATEST_PREDICTION} JOIN decisions d ON d.cell_id = c.id
    WHERE k.signed_off_at IS NOT NULL AND d.decision IN ('{Decision.BLAST}', '{Decision.NORMAL}')
    ORDER BY c.id
"""
"""Every cell decided 'blast' or 'normal' in a signed-off case, with its latest prediction."""


class CellQueries:
    """The cell query (cells `c` of images `i` of cases `k`, latest prediction `p`, decision `d`)
    with the call its case shows, the filters of every `CellGroup`, and the case summary."""

    def __init__(self, policy: ReviewPolicy) -> None:
        call = policy.shown_call_sql("p.call", "k.unfamiliar")
        self.select = f"""
            SELECT c.id, c.image_id, i.path, c.idx, c.x, c.y, c.width, c.height, c.touches_border,
                   p.logit, p.probability, {call} AS call, p.model_version, d.decision, d.reviewer, d.decided_at
            FROM cells c
            JOIN images i ON i.id = c.image_id
            JOIN cases k ON k.id = i.case_id
            {LATEST_PREDICTION}
            LEFT JOIN decisions d ON d.cell_id = c.id
        """
        in_review = policy.in_review_sql(call)
        self.groups = {
            CellGroup.ALL: "1",
            **{CellGroup(shown): f"{call} = '{shown}'" for shown in Call},
            CellGroup.TO_REVIEW: in_review,
            CellGroup.UNREVIEWED: f"{in_review} AND d.decision IS NULL",
            CellGroup.REVIEWED: "d.decision IS NOT NULL",
            CellGroup.UNSURE: f"d.decision = '{Decision.UNSURE}'",
        }
        """The SQL filter of each group over `select`."""
        queued = policy.in_review_sql("call")
        self.summary = f"""
            SELECT COUNT(*),
                   COALESCE(SUM(call = '{Call.FLAGGED}'), 0), COALESCE(SUM(call = '{Call.UNCERTAIN}'), 0),
                   COALESCE(SUM(call = '{Call.NORMAL}'), 0),
                   COALESCE(SUM({queued}), 0),
                   COALESCE(SUM({queued} AND decision != '{Decision.UNSURE}'), 0),
                   COALESCE(SUM(decision = '{Decision.BLAST}'), 0),
                   COALESCE(SUM(decision = '{Decision.ARTEFACT}'), 0),
                   COALESCE(SUM(decision = '{Decision.UNSURE}'), 0)
            FROM ({self.select} WHERE i.case_id = ?)
        """
        """Cells, per call, in the review queue, finally decided of those, confirmed blasts, artefacts and
        unsure cells, of one case (the fields of `CaseSummary` after images and errors)."""


def case_from_row(row: sqlite3.Row) -> Case:
    case = Case(**dict(zip(row.keys(), row)))
    return replace(case, unfamiliar=bool(case.unfamiliar), input_kind=_optional(InputKind, case.input_kind))


def image_from_row(row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(*row)


def cell_from_row(row: sqlite3.Row) -> CellRecord:
    return CellRecord(
        id=row["id"],
        image_id=row["image_id"],
        image_path=row["path"],
        index=row["idx"],
        box=(row["x"], row["y"], row["width"], row["height"]),
        touches_border=bool(row["touches_border"]),
        logit=row["logit"],
        probability=row["probability"],
        call=Call(row["call"]),
        model_version=row["model_version"],
        decision=_optional(Decision, row["decision"]),
        reviewer=row["reviewer"],
        decided_at=row["decided_at"],
    )


def change_from_row(row: sqlite3.Row) -> DecisionChange:
    change_id, cell_id, old, new, reviewer, changed_at = row
    return DecisionChange(change_id, cell_id, _optional(Decision, old), _optional(Decision, new), reviewer, changed_at)


def label_from_row(row: sqlite3.Row) -> LabLabel:
    case_id, cell_id, is_blast, logit, model_version = row
    return LabLabel(case_id, cell_id, bool(is_blast), logit, model_version)


def _optional(choice: type[Choice], value: str | None) -> Choice | None:
    return None if value is None else choice(value)
