"""Training run: features, patient-grouped cross-validation, calibration, final model.

The numbers in the model card are out-of-fold: each image is scored by a head that never
saw its patient.  The bundled model is the same recipe trained once on all patients.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from app.core.decision import UNCERTAIN_RECALL
from app.core.model_card import DecisionSection
from app.core.preprocess import Preprocessing
from training import metrics
from training.data import LabelledImage, find_extra_negatives, find_labelled_images
from training.features import colour_target, extract_features
from training.head import head_logits, train_head

COLOUR_SAMPLE = 600
"""Training cells whose colour statistics, averaged, are the colour normalisation target."""


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run (stored in the model card)."""

    data: Path
    out: Path
    run_dir: Path
    epochs: int = 30
    input_size: int = 224
    crop_size: int = 320
    folds: int = 5
    seed: int = 2019
    target_recall: float = 0.95
    weight_decay: float = 1e-3
    batch_size: int = 32
    extra_negatives: Path | None = None
    views: int = 8
    colour_normalisation: bool = False


@dataclass
class CrossValidation:
    """Out-of-fold logits per view and everything decided from them."""

    images: list[LabelledImage]
    labels: np.ndarray
    fold_of: np.ndarray
    logits: np.ndarray  # [N, views] out-of-fold logits, view 0 = the image as it is
    preprocessing: Preprocessing
    extras: list[LabelledImage] = field(default_factory=list)
    extra_logits: np.ndarray | None = None  # [M, 8] out-of-fold logits of the extra negatives
    decision: DecisionSection | None = None
    evaluation: dict = field(default_factory=dict)


def grouped_folds(labels: np.ndarray, groups: list[str], folds: int, seed: int) -> np.ndarray:
    """Fold number per image: stratified by class, and no group (patient) in two folds."""
    fold_of = np.empty(len(labels), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        fold_of[held_out] = fold
    return fold_of


@dataclass
class TrainingSet:
    """The labelled images with their features, the extra negatives, and the preprocessing."""

    images: list[LabelledImage]
    labels: np.ndarray
    features: np.ndarray  # [N, views, D]
    extras: list[LabelledImage]
    extra_features: np.ndarray  # [M, views, D]
    preprocessing: Preprocessing


def load_training_set(config: TrainingConfig, log=print) -> TrainingSet:
    """The readable images of `config.data` and `config.extra_negatives`, with cached features."""
    images = find_labelled_images(config.data)
    target = colour_target(images, COLOUR_SAMPLE, config.seed) if config.colour_normalisation else None
    preprocessing = Preprocessing(config.input_size, config.crop_size, target)
    images, features = _readable(images, preprocessing, config, log)
    log(f"{len(images)} images, {len({i.patient for i in images})} patients under {config.data}")
    extras, extra_features = [], np.zeros((0, *features.shape[1:]), dtype=features.dtype)
    if config.extra_negatives is not None:
        extras, extra_features = _readable(find_extra_negatives(config.extra_negatives), preprocessing, config, log)
        log(f"{len(extras)} extra negatives under {config.extra_negatives} (training only)")
    labels = np.array([image.is_blast for image in images])
    return TrainingSet(images, labels, features, extras, extra_features, preprocessing)


def run(config: TrainingConfig, log=print):
    """Train, evaluate and return (final head, cross-validation)."""
    started = time.monotonic()
    data = load_training_set(config, log)
    images, labels, features = data.images, data.labels, data.features
    extras, extra_features = data.extras, data.extra_features
    _check_enough_patients(images, config.folds)
    fold_of = grouped_folds(labels, [image.patient for image in images], config.folds, config.seed)
    extra_fold = np.random.default_rng(config.seed).integers(0, config.folds, len(extras))
    logits = np.zeros(features.shape[:2], dtype=np.float32)
    extra_logits = np.zeros(extra_features.shape[:2], dtype=np.float32)
    for fold in range(config.folds):
        train, extra_train = fold_of != fold, extra_fold != fold
        head = train_head(
            np.concatenate([features[train], extra_features[extra_train]]),
            np.r_[labels[train], np.zeros(extra_train.sum(), dtype=bool)],
            config.epochs,
            config.seed + fold,
            config.weight_decay,
            config.run_dir / f"fold{fold}",
        )
        logits[~train] = head_logits(head, features[~train])
        extra_logits[~extra_train] = head_logits(head, extra_features[~extra_train])
        fold_auroc = metrics.auroc(labels[~train], logits[~train].mean(axis=1))
        log(
            f"fold {fold + 1}/{config.folds}: {int((~train).sum())} held-out images, "
            f"AUROC {fold_auroc:.3f}  ({(time.monotonic() - started) / 60:.1f} min)"
        )
    cv = CrossValidation(images, labels, fold_of, logits, data.preprocessing, extras, extra_logits)
    decide(cv, config.target_recall)
    log(
        f"out-of-fold: AUROC {cv.evaluation['auroc']:.3f}, recall {cv.evaluation['recall']:.3f}, "
        f"specificity {cv.evaluation['specificity']:.3f} (TTA {cv.decision.tta})"
    )
    final = train_head(
        np.concatenate([features, extra_features]),
        np.r_[labels, np.zeros(len(extras), dtype=bool)],
        config.epochs,
        config.seed,
        config.weight_decay,
        config.run_dir / "final",
    )
    return final, cv


def _readable(images: list[LabelledImage], preprocessing: Preprocessing, config: TrainingConfig, log):
    """The images that could be read, with their cached features [N, views, D]."""
    features, readable = extract_features(
        images, preprocessing, config.run_dir / "cache", config.views, config.batch_size, log
    )
    return [image for image, ok in zip(images, readable) if ok], features[readable]


def _check_enough_patients(images: list[LabelledImage], folds: int) -> None:
    for is_blast, name in ((True, "blast"), (False, "normal")):
        patients = {image.patient for image in images if image.is_blast == is_blast}
        if len(patients) < folds:
            raise ValueError(
                f"{len(patients)} {name} patient(s) (groups) in the data: "
                f"{folds}-fold patient-grouped CV needs at least {folds}"
            )


def fit_decision(labels: np.ndarray, logits: np.ndarray, target_recall: float) -> DecisionSection:
    """TTA, temperature, threshold and uncertain band from out-of-fold logits [N, views]."""
    use_tta = metrics.auroc(labels, logits.mean(axis=1)) > metrics.auroc(labels, logits[:, 0])
    decided = decision_logits(logits, use_tta)  # TTA is 8x the compute: only where it helps
    temperature = metrics.fit_temperature(labels, decided)
    probabilities = metrics.sigmoid(decided / temperature)
    threshold = metrics.threshold_for_recall(labels, probabilities, target_recall)
    return DecisionSection(
        temperature=temperature,
        threshold=threshold,
        target_recall=target_recall,
        uncertain_low=min(threshold, metrics.threshold_for_recall(labels, probabilities, UNCERTAIN_RECALL)),
        tta=bool(use_tta),
        uncertain_band_rule=f"from the threshold of out-of-fold recall {UNCERTAIN_RECALL} up to the decision threshold",
    )


def decision_logits(logits: np.ndarray, tta: bool) -> np.ndarray:
    """The logit a decision uses from logits [N, views]: their mean with TTA, else view 0."""
    return logits.mean(axis=1) if tta else logits[:, 0]


def decided_probabilities(logits: np.ndarray, decision: DecisionSection) -> np.ndarray:
    """Calibrated probabilities of logits [N, views] under a `fit_decision` result."""
    return decision.rule.probabilities(decision_logits(logits, decision.tta))


def decide(cv: CrossValidation, target_recall: float) -> None:
    """Pick TTA, temperature, threshold and uncertain band from out-of-fold logits; evaluate."""
    cv.decision = fit_decision(cv.labels, cv.logits, target_recall)
    threshold, low = cv.decision.threshold, cv.decision.uncertain_low
    logits = decision_logits(cv.logits, cv.decision.tta)
    probabilities = decided_probabilities(cv.logits, cv.decision)
    auroc_single = metrics.auroc(cv.labels, cv.logits[:, 0])
    auroc_tta = metrics.auroc(cv.labels, cv.logits.mean(axis=1))
    in_band = (probabilities >= low) & (probabilities < threshold)
    cv.evaluation = {
        "auroc": metrics.auroc(cv.labels, probabilities),
        "auroc_without_tta": auroc_single,
        "auroc_with_tta": auroc_tta,
        **metrics.binary_metrics(cv.labels, probabilities, threshold),
        "ece_before_calibration": metrics.expected_calibration_error(cv.labels, metrics.sigmoid(logits)),
        "ece_after_calibration": metrics.expected_calibration_error(cv.labels, probabilities),
        "uncertain_fraction": float(in_band.mean()),
        "reliability": metrics.reliability(cv.labels, probabilities),
        "per_patient": _per_patient(cv, probabilities, threshold),
        "extra_negatives_flagged": _extra_flag_rates(cv, threshold),
        "probabilities": probabilities,
    }


def _extra_flag_rates(cv: CrossValidation, threshold: float) -> dict:
    """Out-of-fold share of the extra negatives flagged as blasts, per cell type (folder)."""
    if not cv.extras:
        return {}
    flagged = decided_probabilities(cv.extra_logits, cv.decision) >= threshold
    cell_types = np.array([image.path.parent.name for image in cv.extras])
    return {
        cell_type: {
            "cells": int((cell_types == cell_type).sum()),
            "flagged_fraction": float(flagged[cell_types == cell_type].mean()),
        }
        for cell_type in sorted(set(cell_types))
    }


def _per_patient(cv: CrossValidation, probabilities: np.ndarray, threshold: float) -> list[dict]:
    rows = []
    patients = np.array([image.patient for image in cv.images])
    for patient in sorted(set(patients), key=lambda p: (p.startswith("H"), len(p), p)):
        members = patients == patient
        rows.append(
            {
                "patient": patient,
                "class": "ALL" if cv.labels[members][0] else "healthy",
                "fold": int(cv.fold_of[members][0]),
                "cells": int(members.sum()),
                "flagged": int((probabilities[members] >= threshold).sum()),
                "flagged_fraction": float((probabilities[members] >= threshold).mean()),
                "mean_probability": float(probabilities[members].mean()),
            }
        )
    return rows
