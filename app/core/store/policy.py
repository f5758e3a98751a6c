"""The review policy a case store applies: which cells go to review before sign-off, the call an
unfamiliar case shows, and when stored cells are decided again.

The store keeps no rule of its own: it receives a `ReviewPolicy` (`CaseStore(path, policy)`,
`REVIEW_POLICY` unless told otherwise) and reads every call and the review queue through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.decision import DecisionRule
from app.core.store.records import Call, Case


@dataclass(frozen=True)
class ReviewPolicy:
    """The rules of review; SQL pieces take the SQL of the columns they read."""

    review_calls: tuple[Call, ...] = (Call.FLAGGED, Call.UNCERTAIN)
    """The calls of the review queue: a case is signed off only once each such cell has a decision."""

    def shown_call_sql(self, call: str, unfamiliar: str) -> str:
        """SQL of a cell's call as its case shows it, from its stored `call` and its case's `unfamiliar` flag.

        In an unfamiliar case (see `app.core.familiarity`) the AI calls no cell normal: every
        cell it did not flag reads 'uncertain', and so goes to review.  Lists, groups, summary,
        sign-off and exports all read calls through this one expression.
        """
        return f"(CASE WHEN {unfamiliar} = 1 AND {call} = '{Call.NORMAL}' THEN '{Call.UNCERTAIN}' ELSE {call} END)"

    def in_review_sql(self, shown_call: str) -> str:
        """SQL: true when a cell with this shown call is in the review queue."""
        calls = ", ".join(f"'{call}'" for call in self.review_calls)
        return f"{shown_call} IN ({calls})"

    def describe_queue(self) -> str:
        """The review queue for people: 'flagged or uncertain'."""
        return " or ".join(self.review_calls)

    def needs_redeciding(self, case: Case, rule: DecisionRule, threshold: float) -> bool:
        """True when a classified case changes its decision rule or threshold.

        Its stored predictions are then decided again from their logits (`redecide`), so that
        every cell of a case is decided the same way; review decisions stay as they are.
        """
        return case.model_version is not None and (case.decision_rule, case.threshold) != (rule.name, threshold)

    def redecide(self, rule: DecisionRule, threshold: float, logits: Sequence[float]) -> list[tuple[float, Call]]:
        """Probability and call of each stored logit under `rule` at `threshold`."""
        probabilities = rule.probabilities(list(logits))
        return [(float(p), Call(rule.call(float(p), threshold))) for p in probabilities]


REVIEW_POLICY = ReviewPolicy()
"""The policy of BlastScan: flagged and uncertain cells are reviewed before sign-off."""
