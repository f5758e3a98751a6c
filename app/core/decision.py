"""The decision rule: how a model's logit becomes a calibrated probability and a call.

probability = sigmoid(logit / temperature + bias); at or above `threshold` a cell is
'flagged', in the uncertain band just below it 'uncertain', else 'normal' (recall first:
the uncertain band holds the blasts the threshold misses, and goes to review too).  The
model card carries the rule the model was trained with (bias 0); a site profile carries a
rule refitted on one lab's reviewed cells.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_CARD_RULE = "model card"
"""Name of the rule that comes with a model, when no site profile is in use."""
UNCERTAIN_RECALL = 0.99
"""The uncertain band runs from the threshold that reaches this recall up to the decision
threshold: the cells just below it, where the blasts the threshold misses lie (training, site
profiles and the bundled model's release all fit it this way)."""


@dataclass(frozen=True)
class DecisionRule:
    """Temperature, bias, threshold and the uncertain band's lower edge, with a name to show."""

    temperature: float
    threshold: float
    uncertain_low: float
    bias: float = 0.0
    name: str = MODEL_CARD_RULE

    def probabilities(self, logits: npt.ArrayLike) -> np.ndarray:
        """Calibrated blast probabilities of raw logits (numerically stable sigmoid)."""
        return sigmoid(np.asarray(logits, dtype=np.float64) / self.temperature + self.bias)

    def call(self, probability: float, threshold: float | None = None) -> str:
        """'flagged', 'uncertain' or 'normal'; an overridden threshold carries the band along."""
        threshold = self.threshold if threshold is None else threshold
        if probability >= threshold:
            return "flagged"
        if probability >= self.uncertain_low + (threshold - self.threshold):
            return "uncertain"
        return "normal"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DecisionRule:
        return cls(**{key: values[key] for key in ("temperature", "threshold", "uncertain_low", "bias", "name")})


def describe_rule(rule_name: str | None) -> str:
    """How a case's rule reads in the app and the report."""
    return rule_name if rule_name and rule_name != MODEL_CARD_RULE else "model card (no site profile)"


def sigmoid(values: npt.ArrayLike) -> np.ndarray:
    """The logistic function, numerically stable (via tanh), in float64."""
    return 0.5 * (1.0 + np.tanh(np.asarray(values, dtype=np.float64) / 2.0))


def wilson_interval(share: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion `share` observed in `trials` (which may be an
    effective, fractional number of trials); unlike the normal approximation it stays
    honest at 0 and 1."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    scale = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / scale
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Proportion:
    """`count` of `total` cells, with its Wilson interval at `confidence`."""

    count: int
    total: int
    confidence: float = 0.95

    @property
    def share(self) -> float | None:
        """count / total; None without a total."""
        return self.count / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.count / self.total, self.total, self.confidence) if self.total else None

    def describe(self) -> str:
        """'12.5% (95% CI 4.3% to 31.0%; 3 of 24)', or 'n/a (0 of 0)'."""
        if self.share is None or self.interval is None:
            return f"n/a ({self.count} of {self.total})"
        low, high = self.interval
        return f"{self.share:.1%} ({self.confidence:.0%} CI {low:.1%} to {high:.1%}; {self.count} of {self.total})"


def auroc(is_blast: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN without both classes."""
    is_blast = np.asarray(is_blast, dtype=bool)
    positives, negatives = int(is_blast.sum()), int((~is_blast).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[is_blast].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def threshold_for_recall(is_blast: np.ndarray, scores: np.ndarray, recall: float) -> float:
    """The highest threshold whose recall (score >= threshold) is at least `recall`."""
    positive_scores = np.sort(np.asarray(scores)[np.asarray(is_blast, dtype=bool)])
    allowed_misses = int(np.floor((1.0 - recall) * len(positive_scores) + 1e-9))
    return float(positive_scores[allowed_misses])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks
