"""Recalibration to one lab: refit the decision rule on the lab's own reviewed cells.

A model's threshold does not carry to a lab with another stain, camera or scale, but its
ranking often does.  From the reviewed cells of signed-off cases (`CaseStore.lab_labels`)
this fits temperature and bias (Platt scaling of the model's logits), then the threshold
that reaches the target blast recall and the uncertain band below it, the same way training
decides them.  No TensorFlow: numbers only.

The estimate is honest about cases: cases (patients/samples), never cells, are split into
folds; each fold's cells are decided by a rule fitted on the other folds, and recall and
specificity come with 95% intervals that count cases, not just cells (`clustered_proportion`).
The numbers *before* apply the rule in use now to the same cells.

Caveat for whoever reads the numbers: a lab's labels are the cells someone reviewed.  Cells
called normal are reviewed only when the technician chose to, so blasts among unreviewed
normal calls are not counted; review a sample of normal calls to make recall fair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from app.core.decision import UNCERTAIN_RECALL, DecisionRule, auroc, sigmoid, threshold_for_recall, wilson_interval
from app.core.store import LabLabel

MINIMUM_BLASTS = 50
MINIMUM_NORMALS = 50
MINIMUM_CASES = 5
FOLDS = 5
LOW_SPECIFICITY = 0.2
"""Below this cross-validated specificity a profile comes with a warning: it flags most cells."""
WIDE_MARGIN = 0.1
"""A recall interval reaching this far below the target comes with a warning."""
SMALLEST_SLOPE = 0.01
"""Platt slope floor: a model that does not rank this lab's cells keeps a usable scale."""


class RecalibrationRefused(ValueError):
    """Recalibration is not possible with these labels; the message says why."""


@dataclass(frozen=True)
class LabelSet:
    """Labelled cells of one model: case of each cell, the model's logit, the reviewer's label."""

    case_ids: np.ndarray
    logits: np.ndarray
    is_blast: np.ndarray

    @classmethod
    def of_model(cls, labels: Sequence[LabLabel], model_version: str) -> LabelSet:
        """The labels whose logits come from `model_version` (other models' logits differ)."""
        mine = [label for label in labels if label.model_version == model_version]
        return cls.of(mine, [label.logit for label in mine])

    @classmethod
    def of(cls, labels: Sequence[LabLabel], logits: Sequence[float] | np.ndarray) -> LabelSet:
        """The labels' cases and classes with `logits` (one per label, from any model)."""
        return cls(
            np.array([label.case_id for label in labels], dtype=np.int64),
            np.asarray(logits, dtype=np.float64).reshape(len(labels)),
            np.array([label.is_blast for label in labels], dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.logits)

    @property
    def blasts(self) -> int:
        return int(self.is_blast.sum())

    @property
    def normals(self) -> int:
        return int((~self.is_blast).sum())

    @property
    def cases(self) -> int:
        return len(np.unique(self.case_ids))

    def subset(self, mask: np.ndarray) -> LabelSet:
        return LabelSet(self.case_ids[mask], self.logits[mask], self.is_blast[mask])


@dataclass(frozen=True)
class RateEstimate:
    """Blast recall and specificity on labelled cells, each with a 95% interval (see `estimate`)."""

    recall: float
    recall_interval: tuple[float, float]
    specificity: float
    specificity_interval: tuple[float, float]
    blasts: int
    normals: int
    cases: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """E.g. 'recall 0.93 (0.85-1.00), specificity 0.78 (0.68-0.86)'."""
        return (
            f"recall {self.recall:.2f} ({self.recall_interval[0]:.2f}-{self.recall_interval[1]:.2f}), "
            f"specificity {self.specificity:.2f} "
            f"({self.specificity_interval[0]:.2f}-{self.specificity_interval[1]:.2f})"
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RateEstimate:
        return cls(
            **{
                **values,
                "recall_interval": tuple(values["recall_interval"]),
                "specificity_interval": tuple(values["specificity_interval"]),
            }
        )


@dataclass(frozen=True)
class Recalibration:
    """A refitted rule with its evidence: the rule in use now and the new one, on the same cells."""

    rule: DecisionRule
    target_recall: float
    before: RateEstimate
    after: RateEstimate
    auroc: float
    folds: int

    @property
    def warnings(self) -> list[str]:
        """What a person should know before using this profile."""
        found = []
        if self.after.specificity < LOW_SPECIFICITY:
            found.append(
                f"to reach recall {self.target_recall:.2f} this profile flags {1 - self.after.specificity:.0%} of "
                f"this lab's normal cells: the model ranks this lab's cells poorly (AUROC {self.auroc:.2f}). "
                "Consider retraining on this lab's cells (python -m training --lab-data)."
            )
        if self.after.recall_interval[0] < self.target_recall - WIDE_MARGIN:
            found.append(
                f"the recall estimate is uncertain (95% interval from {self.after.recall_interval[0]:.2f}): "
                "more reviewed cases will narrow it."
            )
        return found


def check_enough_labels(
    labels: LabelSet,
    minimum_blasts: int = MINIMUM_BLASTS,
    minimum_normals: int = MINIMUM_NORMALS,
    minimum_cases: int = MINIMUM_CASES,
    purpose: str = "recalibrate",
) -> None:
    """Refuse, saying what is missing, while the labels are too few to `purpose` (fit and check)."""
    missing = []
    if labels.blasts < minimum_blasts:
        missing.append(f"{labels.blasts} confirmed blasts (need {minimum_blasts})")
    if labels.normals < minimum_normals:
        missing.append(f"{labels.normals} confirmed normal cells (need {minimum_normals})")
    if labels.cases < minimum_cases:
        missing.append(f"{labels.cases} signed-off cases with labels (need {minimum_cases})")
    if missing:
        raise RecalibrationRefused(
            f"not enough reviewed cells to {purpose}: "
            + "; ".join(missing)
            + ". Review and sign off more cases (decide normal calls too), then try again."
        )


def recalibrate(
    labels: LabelSet,
    current: DecisionRule,
    target_recall: float,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    minimums: tuple[int, int, int] = (MINIMUM_BLASTS, MINIMUM_NORMALS, MINIMUM_CASES),
) -> Recalibration:
    """Fit a rule for this lab on all labels; estimate it case-grouped; compare with `current`."""
    check_enough_labels(labels, *minimums)
    if not 0 < target_recall < 1:
        raise RecalibrationRefused(f"the target recall must be between 0 and 1, not {target_recall}")
    before = estimate(labels, current.probabilities(labels.logits) >= current.threshold)
    fold_of = case_folds(labels, folds, seed)
    flagged = np.zeros(len(labels), dtype=bool)
    for fold in range(fold_of.max() + 1):
        held_out = fold_of == fold
        rule = fit_rule(labels.subset(~held_out), target_recall)
        flagged[held_out] = rule.probabilities(labels.logits[held_out]) >= rule.threshold
    return Recalibration(
        rule=fit_rule(labels, target_recall),
        target_recall=target_recall,
        before=before,
        after=estimate(labels, flagged),
        auroc=auroc(labels.is_blast, labels.logits),
        folds=int(fold_of.max() + 1),
    )


def fit_rule(labels: LabelSet, target_recall: float, name: str = "site profile") -> DecisionRule:
    """Temperature and bias by Platt scaling, then threshold and uncertain band for the recall."""
    if labels.blasts == 0 or labels.normals == 0:
        raise RecalibrationRefused("a fold holds only one class: label cells of more cases")
    slope, bias = platt_scaling(labels.logits, labels.is_blast)
    rule = DecisionRule(temperature=1.0 / slope, threshold=0.5, uncertain_low=0.5, bias=bias, name=name)
    probabilities = rule.probabilities(labels.logits)
    threshold = threshold_for_recall(labels.is_blast, probabilities, target_recall)
    low = min(threshold, threshold_for_recall(labels.is_blast, probabilities, UNCERTAIN_RECALL))
    return DecisionRule(rule.temperature, threshold, low, bias, name)


def platt_scaling(logits: np.ndarray, is_blast: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """Slope a and intercept b minimising the log-loss of sigmoid(a * logit + b) (Newton)."""
    design = np.column_stack([logits, np.ones_like(logits)])
    target = is_blast.astype(np.float64)
    weights = np.array([1.0, 0.0])
    ridge = 1e-6 * np.eye(2)
    for _ in range(iterations):
        p = sigmoid(design @ weights)
        gradient = design.T @ (p - target)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian, gradient)
        weights = weights - step
        if np.abs(step).max() < 1e-10:
            break
    return max(float(weights[0]), SMALLEST_SLOPE), float(weights[1])


def case_folds(labels: LabelSet, folds: int, seed: int) -> np.ndarray:
    """Fold of each cell: whole cases dealt to folds, cases ordered by their blast share."""
    cases = np.unique(labels.case_ids)
    shares = np.array([labels.is_blast[labels.case_ids == case].mean() for case in cases])
    shuffled = np.random.default_rng(seed).permutation(len(cases))
    order = shuffled[np.argsort(shares[shuffled], kind="stable")]
    fold_of_case = np.empty(len(cases), dtype=int)
    fold_of_case[order] = np.arange(len(cases)) % min(folds, len(cases))
    return fold_of_case[np.searchsorted(cases, labels.case_ids)]


def estimate(labels: LabelSet, flagged: np.ndarray) -> RateEstimate:
    """Recall and specificity of `flagged`, with 95% intervals that respect cases."""
    recall, recall_interval = clustered_proportion(flagged[labels.is_blast], labels.case_ids[labels.is_blast])
    specificity, specificity_interval = clustered_proportion(
        ~flagged[~labels.is_blast], labels.case_ids[~labels.is_blast]
    )
    return RateEstimate(
        recall, recall_interval, specificity, specificity_interval, labels.blasts, labels.normals, labels.cases
    )


def clustered_proportion(hits: np.ndarray, case_ids: np.ndarray) -> tuple[float, tuple[float, float]]:
    """A proportion over cells of several cases with its 95% Wilson interval on the effective
    number of cells: cells of one case are alike, so n is divided by the design effect (Kish),
    estimated from how much the cases differ; never more than n cells nor fewer than one per
    case.  Unlike a bootstrap it stays honest at 0 and 1."""
    if len(hits) == 0:
        return float("nan"), (float("nan"), float("nan"))
    _, index = np.unique(case_ids, return_inverse=True)
    successes, sizes = np.bincount(index, weights=hits), np.bincount(index).astype(np.float64)
    n, cases, p = len(hits), len(sizes), float(hits.mean())
    if 0 < p < 1 and cases > 1:
        variance = cases / (cases - 1) * np.sum((successes - p * sizes) ** 2) / n**2
        effective = float(np.clip(p * (1 - p) / max(variance, 1e-12), cases, n))
    else:
        effective = float(cases)
    return p, wilson_interval(p, effective)
