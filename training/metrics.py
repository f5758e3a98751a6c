"""Evaluation on out-of-fold predictions: ranking, the recall-first threshold, calibration."""

from __future__ import annotations

import numpy as np

from app.core.decision import auroc, sigmoid, threshold_for_recall

__all__ = [
    "auroc",
    "binary_metrics",
    "expected_calibration_error",
    "fit_temperature",
    "reliability",
    "roc_curve",
    "sigmoid",
    "threshold_for_recall",
]


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    sorted_labels, sorted_scores = labels[order].astype(bool), scores[order]
    last_of_tie = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(scores) - 1]
    true_pos = np.cumsum(sorted_labels)[last_of_tie]
    false_pos = (last_of_tie + 1) - true_pos
    return (
        np.r_[0, false_pos / max(1, (~labels.astype(bool)).sum())],
        np.r_[0, true_pos / max(1, labels.astype(bool).sum())],
    )


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Recall, specificity, accuracy, balanced accuracy, weighted F1 and confusion matrix."""
    truth, predicted = labels.astype(bool), scores >= threshold
    tp, fn = int((truth & predicted).sum()), int((truth & ~predicted).sum())
    fp, tn = int((~truth & predicted).sum()), int((~truth & ~predicted).sum())
    recall, specificity = tp / max(1, tp + fn), tn / max(1, tn + fp)
    f1_blast = 2 * tp / max(1, 2 * tp + fp + fn)
    f1_normal = 2 * tn / max(1, 2 * tn + fn + fp)
    weighted_f1 = (f1_blast * (tp + fn) + f1_normal * (tn + fp)) / len(truth)
    return {
        "recall": recall,
        "specificity": specificity,
        "accuracy": (tp + tn) / len(truth),
        "balanced_accuracy": (recall + specificity) / 2,
        "weighted_f1": weighted_f1,
        "confusion_matrix": {
            "true_blast": {"flagged": tp, "not_flagged": fn},
            "true_normal": {"flagged": fp, "not_flagged": tn},
        },
    }


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width probability bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(probabilities[members].mean() - labels[members].mean())
    return float(error)


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[dict]:
    """Per-bin mean predicted probability, observed blast fraction and count."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    return [
        {
            "bin": [float(edges[b]), float(edges[b + 1])],
            "count": int((which == b).sum()),
            "mean_probability": float(probabilities[which == b].mean()),
            "blast_fraction": float(labels[which == b].mean()),
        }
        for b in range(bins)
        if (which == b).any()
    ]


def fit_temperature(labels: np.ndarray, logits: np.ndarray) -> float:
    """Temperature T minimising the log-loss of sigmoid(logit / T) (golden-section search)."""
    labels = labels.astype(float)

    def loss(log_t: float) -> float:
        p = np.clip(sigmoid(logits / np.exp(log_t)), 1e-7, 1 - 1e-7)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    low, high = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))
