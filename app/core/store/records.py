"""What the case store hands out and takes in: frozen records, and the string choices of its columns.

The choices are string enums: each member is the very string stored in SQLite, equal to it,
hashed like it and printed as it, so callers may keep comparing with plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from app.core.decision import MODEL_CARD_RULE, Proportion, describe_rule
from app.core.familiarity import Familiarity


class StrChoice(str, Enum):
    """A string enum whose members read as their values (Python 3.11's `enum.StrEnum`, for 3.10)."""

    __str__ = str.__str__
    # str's own method, as enum.StrEnum has it; mypy misjudges the unbound method's type
    __format__ = str.__format__  # type: ignore[assignment]


Choice = TypeVar("Choice", bound=StrChoice)


class Call(StrChoice):
    """The AI's call on a cell (see `app.core.decision`)."""

    FLAGGED = "flagged"
    UNCERTAIN = "uncertain"
    NORMAL = "normal"


class Decision(StrChoice):
    """A reviewer's decision on a cell.

    'artefact': not a white cell (smudge, cut cell, doublet, red-cell clump, a piece of a
    cell): it leaves the blast-% denominator and stays in the audit.  'unsure': it needs a
    second look; no final decision, so it blocks sign-off.
    """

    BLAST = "blast"
    NORMAL = "normal"
    ARTEFACT = "artefact"
    UNSURE = "unsure"


class InputKind(StrChoice):
    """What a case's images are, when the user overrides detection per image."""

    CROP = "crop"
    FIELD = "field"


class CellGroup(StrChoice):
    """The cells `CaseStore.list_cells` lists, by the call the case shows and the decision."""

    ALL = "all"
    FLAGGED = "flagged"
    UNCERTAIN = "uncertain"
    NORMAL = "normal"
    TO_REVIEW = "to_review"
    """The review queue: the calls `ReviewPolicy.review_calls` names (flagged or uncertain)."""
    UNREVIEWED = "unreviewed"
    """Cells of the review queue without a decision yet."""
    REVIEWED = "reviewed"
    """Cells with a decision, whatever their call."""
    UNSURE = "unsure"
    """Cells decided 'unsure': the queue of a second look."""


class CellSort(StrChoice):
    """The order of `CaseStore.list_cells`."""

    PROBABILITY = "probability"
    """Most suspicious first."""
    POSITION = "position"
    """Image order, then cell index."""


CALLS: tuple[str, ...] = tuple(call.value for call in Call)
DECISIONS: tuple[str, ...] = tuple(decision.value for decision in Decision)


@dataclass(frozen=True)
class Case:
    id: int
    name: str
    sample_id: str | None
    operator: str | None
    """Who prepared the case: 'Prepared by' in the report, the summaries and the command line."""
    created_at: str
    input_kind: InputKind | None
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
    """True when the verdict sends every unflagged cell to review (see `ReviewPolicy.shown_call_sql`)."""
    rule_threshold: float | None = None
    """The decision rule's own threshold; `threshold` differs from it when someone overrode it."""
    threshold_set_by: str | None = None
    """Who overrode the threshold (None: not overridden, or not recorded)."""

    @property
    def familiarity(self) -> Familiarity | None:
        return Familiarity.from_json(self.familiarity_json)

    @property
    def signed_off(self) -> bool:
        return self.signed_off_at is not None

    @property
    def threshold_overridden(self) -> bool:
        return None not in (self.threshold, self.rule_threshold) and self.threshold != self.rule_threshold

    @property
    def rule_label(self) -> str:
        """The rule and threshold that decided the case, as the summaries and the report name them:
        'model card (no site profile), threshold 0.170' or 'model card, threshold overridden to
        0.600 by ana (...)'."""
        if self.model_version is None or self.threshold is None:
            return "not classified yet"
        if not self.threshold_overridden:
            return f"{describe_rule(self.decision_rule)}, threshold {self.threshold:.3f}"
        rule = self.decision_rule or MODEL_CARD_RULE
        measured_on = "the card" if rule == MODEL_CARD_RULE else "the site profile"
        by = self.threshold_set_by or "someone not recorded"
        return (
            f"{rule}, threshold overridden to {self.threshold:.3f} by {by} (the rule's own: {self.rule_threshold:.3f}; "
            f"recall/specificity at this threshold not measured on {measured_on})"
        )


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
    acknowledged_by: str | None = None
    """Who acknowledged that this unreadable file is left out of the case (None: not acknowledged)."""
    acknowledged_at: str | None = None


@dataclass(frozen=True)
class NewCell:
    """A classified cell to store: box in source pixels, canvas as PNG, the prediction."""

    box: tuple[int, int, int, int]
    touches_border: bool
    crop_png: bytes
    logit: float
    probability: float
    call: Call | str
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
    call: Call
    """The call as the case shows it (see `ReviewPolicy.shown_call_sql`)."""
    model_version: str
    decision: Decision | None
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
    old: Decision | None
    new: Decision | None
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
    """Cells of the review queue (flagged plus uncertain)."""
    reviewed: int
    """Cells of the review queue with a final decision (blast, normal or artefact; 'unsure' is none)."""
    confirmed_blasts: int
    """Cells a reviewer decided are blasts (from any call)."""
    artefacts: int
    """Cells decided 'artefact': not white cells, out of the blast-% denominator."""
    unsure: int
    """Cells decided 'unsure' (from any call): they need a second look."""

    @property
    def counted(self) -> int:
        """The white cells counted, the blast-% denominator: cells analysed less artefacts."""
        return self.cells - self.artefacts

    @property
    def undecided(self) -> int:
        """Cells of the review queue without a final decision ('unsure' ones included)."""
        return self.to_review - self.reviewed

    @property
    def review_complete(self) -> bool:
        """Every cell of the queue has a final decision and no cell is 'unsure'."""
        return self.undecided == 0 and self.unsure == 0

    @property
    def blast_percentage(self) -> Proportion:
        """Confirmed blasts of the cells counted; it means something only once `review_complete`."""
        return Proportion(self.confirmed_blasts, self.counted)

    @property
    def flag_rate(self) -> Proportion:
        """The AI flag rate: cells the AI flagged of all cells analysed (no blast percentage)."""
        return Proportion(self.flagged, self.cells)


@dataclass(frozen=True)
class SignOff:
    """One sign-off of a case and, when the case was reopened after it, the amendment."""

    id: int
    case_id: int
    signed_off_by: str
    signed_off_at: str
    reopened_by: str | None
    reopened_at: str | None
    reopen_reason: str | None
