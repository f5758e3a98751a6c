"""Retraining on a lab's own reviewed cells: `python -m training --lab-data <data dir>`.

The lab's labels are the reviewed cells of its signed-off cases (`CaseStore.lab_labels`),
seen through the canvases the app stored (`CaseStore.cell_crop`).  The backbone stays frozen,
as for the bundled model (fine-tuning it runs at 7.7 img/s on two CPU cores), so their
features come from the same extractor and views as the original data's, whose features
are cached.  The linear head is trained from scratch on the original data and the lab's
cells: it is a convex problem that takes a minute on cached features, so a warm start from
the current head would save little, and from scratch the model depends on the data alone,
not on which model happens to be in use; its standardisation is refitted to include the
lab's cells.  Within each source the classes weigh half; the lab's cells together weigh
`lab_share` of the total.

Evaluation, before the model is offered: the lab's cases (never cells) are dealt into folds
(`recalibration.case_folds`); each fold's cells are scored by a head trained on the original
data and the other folds, and decided by the temperature and threshold fitted on the other
folds' out-of-fold logits.  The current model (its LiteRT file, its card's TTA and rule, as
the lab runs it now) is scored on the same cells.  Recall and specificity of both come with
95% intervals that count cases (`recalibration.estimate`).  The final head is trained on all
cells; its decision comes from all out-of-fold logits, and it is written into
`<data dir>/models/<name>/`, where the app offers it beside the current model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.core.classifier import Classifier
from app.core.decision import auroc
from app.core.model_card import LabCells, LabEvaluation, ModelCard, ModelRates, TrainingRecipe
from app.core.recalibration import (
    LabelSet,
    RecalibrationRefused,
    case_folds,
    check_enough_labels,
    estimate,
)
from app.core.site import MODELS_FOLDER, ModelChoice, SiteLibrary
from app.core.store import CaseStore, LabLabel
from training.data import LabelledImage
from training.export import (
    augmentation,
    build_classifier,
    card_metrics,
    export_model,
    model_description,
    model_version,
    now,
    training_data,
    write_card_files,
)
from training.features import extract_features, stored_canvas
from training.head import class_balanced_weights, head_logits, train_head
from training.train import (
    CrossValidation,
    TrainingConfig,
    decide,
    decided_probabilities,
    decision_logits,
    fit_decision,
    load_training_set,
)

CLASSIFY_CHUNK = 256


def retrain(config: TrainingConfig, data_dir: Path, lab_share: float, log: Callable[[str], None] = print) -> Path:
    """Evaluate, train and write a model retrained on the lab's cells; return its folder.

    Raises `RecalibrationRefused` while the lab has too few labels.
    """
    started = time.monotonic()
    with CaseStore.open(data_dir) as store:
        labels = store.lab_labels()
        check_enough_labels(LabelSet.of(labels, np.zeros(len(labels))), purpose="retrain")
        current = SiteLibrary(data_dir).active().model
        log(
            f"{len(labels)} labelled cells of {len({label.case_id for label in labels})} signed-off "
            f"cases; current model {current.card.version}"
        )
        original = load_training_set(config, log)
        config.run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="lab_cells-", dir=config.run_dir) as folder:
            images = _write_canvases(store, labels, Path(folder))
            features, readable = extract_features(
                images,
                original.preprocessing,
                config.run_dir / "cache",
                config.views,
                config.batch_size,
                log,
                canvas=stored_canvas,
            )
            labels = [label for label, ok in zip(labels, readable) if ok]
            images, features = [image for image, ok in zip(images, readable) if ok], features[readable]
            lab = LabelSet.of(labels, current_logits(current, images))
    check_enough_labels(lab, purpose="retrain")
    log(f"current model scored {len(lab)} lab cells  ({(time.monotonic() - started) / 60:.1f} min)")

    original_features = np.concatenate([original.features, original.extra_features])
    original_labels = np.r_[original.labels, np.zeros(len(original.extras), dtype=bool)]

    def train(lab_members: np.ndarray, seed: int):
        weights = mixed_weights(original_labels, lab.is_blast[lab_members], lab_share)
        return train_head(
            np.concatenate([original_features, features[lab_members]]),
            np.r_[original_labels, lab.is_blast[lab_members]],
            config.epochs,
            seed,
            config.weight_decay,
            image_weights=weights,
        )

    fold_of = case_folds(lab, config.folds, config.seed)
    out_of_fold = np.zeros(features.shape[:2], dtype=np.float32)
    for fold in range(fold_of.max() + 1):
        held_out = fold_of == fold
        out_of_fold[held_out] = head_logits(train(~held_out, config.seed + fold), features[held_out])
        log(
            f"lab fold {fold + 1}/{fold_of.max() + 1}: {int(held_out.sum())} held-out cells, AUROC "
            f"{auroc(lab.is_blast[held_out], out_of_fold[held_out].mean(axis=1)):.3f}  "
            f"({(time.monotonic() - started) / 60:.1f} min)"
        )
    cv = CrossValidation(images, lab.is_blast, fold_of, out_of_fold, original.preprocessing)
    decide(cv, config.target_recall)
    final = train(np.ones(len(lab), dtype=bool), config.seed)
    return _write_model(config, data_dir, lab_share, original, cv, lab, current, final, log)


def mixed_weights(original_labels: np.ndarray, lab_labels: np.ndarray, lab_share: float) -> np.ndarray:
    """Image weights, original first: classes balanced within each source, the lab's cells
    `lab_share` of the total, mean 1."""
    shares = np.r_[
        (1 - lab_share) * class_balanced_weights(original_labels) / len(original_labels),
        lab_share * class_balanced_weights(lab_labels) / len(lab_labels),
    ]
    return shares * len(shares)


def current_logits(current: ModelChoice, images: list[LabelledImage]) -> np.ndarray:
    """The current model's logits for the canvases, run as the app runs it (card's TTA)."""
    classifier = Classifier(current.folder)
    logits = []
    for start in range(0, len(images), CLASSIFY_CHUNK):
        canvases = [stored_canvas(image.path) for image in images[start : start + CLASSIFY_CHUNK]]
        logits += [prediction.logit for prediction in classifier.classify(canvases)]
    return np.array(logits, dtype=np.float64)


def cross_fitted_flags(cv: CrossValidation, target_recall: float) -> np.ndarray:
    """Each fold's cells decided by the decision fitted on the other folds' out-of-fold logits."""
    flagged = np.zeros(len(cv.labels), dtype=bool)
    for fold in np.unique(cv.fold_of):
        held_out = cv.fold_of == fold
        if cv.labels[~held_out].all() or not cv.labels[~held_out].any():
            raise RecalibrationRefused("the other folds of a fold hold only one class: label cells of more cases")
        decision = fit_decision(cv.labels[~held_out], cv.logits[~held_out], target_recall)
        flagged[held_out] = decided_probabilities(cv.logits[held_out], decision) >= decision.threshold
    return flagged


def lab_evaluation(
    cv: CrossValidation, lab: LabelSet, current: ModelChoice, version: str, target_recall: float
) -> LabEvaluation:
    """Current and retrained model on the same held-out lab cells (the card's `lab_evaluation`)."""

    def rates(model: str, logits: np.ndarray, threshold: float, flagged: np.ndarray) -> ModelRates:
        found = estimate(lab, flagged)
        return ModelRates(
            version=model,
            auroc=auroc(lab.is_blast, logits),
            threshold=float(threshold),
            recall=found.recall,
            recall_interval=found.recall_interval,
            specificity=found.specificity,
            specificity_interval=found.specificity_interval,
        )

    rule = current.card.rule
    return LabEvaluation(
        method=f"this lab's cases (never cells) dealt into folds; each fold's cells scored by a "
        f"head trained on the original data and the other folds' lab cells, and decided by "
        f"the temperature and threshold fitted on the other folds' out-of-fold logits at "
        f"target recall {target_recall}; the current model (its LiteRT file, its card's "
        f"TTA and threshold) on the same cells; AUROC of the logits; 95% Wilson intervals on "
        f"the design-effect-adjusted number of cells. 'threshold' is each model's own: the "
        f"retrained one is fitted on all out-of-fold logits",
        lab_cells=LabCells(lab.blasts, lab.normals, lab.cases),
        folds=int(cv.fold_of.max() + 1),
        current=rates(
            current.card.version, lab.logits, rule.threshold, rule.probabilities(lab.logits) >= rule.threshold
        ),
        retrained=rates(
            version,
            decision_logits(cv.logits, cv.decision.tta),
            cv.decision.threshold,
            cross_fitted_flags(cv, target_recall),
        ),
    )


def _write_canvases(store: CaseStore, labels: list[LabLabel], folder: Path) -> list[LabelledImage]:
    """Each labelled cell's stored canvas as a PNG file, exactly as stored."""
    images = []
    for label in labels:
        path = folder / f"case{label.case_id}_cell{label.cell_id}.png"
        path.write_bytes(store.cell_crop(label.cell_id))
        images.append(LabelledImage(path, label.is_blast, f"case {label.case_id}"))
    return images


def _write_model(config, data_dir, lab_share, original, cv, lab, current, head, log) -> Path:
    """Export into a folder beside `models/`, write the card, then rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=".retraining-", dir=data_dir))
    try:
        export_model(build_classifier(head, config.input_size), staging)
        version = model_version(staging, tag="lab")
        evaluation = lab_evaluation(cv, lab, current, version, config.target_recall)
        original_data = training_data(config, original.images, original.labels, original.extras)
        lab_data = {
            "data_dir": str(data_dir),
            "blasts": lab.blasts,
            "normals": lab.normals,
            "cases": lab.cases,
            "source": "reviewed cells of signed-off cases",
        }
        card = ModelCard(
            name="BlastScan blast classifier, retrained on this lab",
            version=version,
            created=now(),
            model=model_description("head trained from scratch on all original and all lab cells, backbone frozen"),
            training_data=replace(original_data, details={**original_data.details, "lab": lab_data}),
            training=TrainingRecipe(
                settings={
                    "epochs": config.epochs,
                    "folds": evaluation.folds,
                    "seed": config.seed,
                    "weight_decay": config.weight_decay,
                    "augmentation": augmentation(config),
                    "lab_share": lab_share,
                    "class_balance": f"classes weigh half within each source; the lab's cells weigh "
                    f"{lab_share} of the total",
                    "split": "lab cases grouped into folds; original data in every fold",
                    "current_model": current.card.version,
                }
            ),
            preprocessing=cv.preprocessing,
            decision=cv.decision,
            metrics=card_metrics(
                cv.evaluation,
                "this lab's cells, out-of-fold by case; recall and specificity at the threshold fitted on "
                "them (lab_evaluation: fitted on other folds)",
                left_out=("per_patient", "extra_negatives_flagged"),
            ),
            lab_evaluation=evaluation,
        )
        write_card_files(card, cv, staging, _markdown(card))
        target = data_dir / MODELS_FOLDER / version.split("+", 1)[1]
        if target.exists():
            raise FileExistsError(f"{target} exists already")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for key, e in (("current", evaluation.current), ("retrained", evaluation.retrained)):
        log(
            f"{key:9s} {e.version}: AUROC {e.auroc:.3f}, threshold {e.threshold:.3f}, recall "
            f"{e.recall:.3f} {_interval(e.recall_interval)}, specificity {e.specificity:.3f} "
            f"{_interval(e.specificity_interval)}"
        )
    log(f"wrote {target}: the app offers it beside the current model; it is used only once chosen")
    return target


def _interval(bounds: tuple[float, float]) -> str:
    return f"({bounds[0]:.3f}-{bounds[1]:.3f})"


def _markdown(card: ModelCard) -> str:
    e, d, t, data = card.lab_evaluation, card.decision, card.training.settings, card.training_data.details
    current, new = e.current, e.retrained
    rows = [
        ("AUROC", f"{current.auroc:.3f}", f"{new.auroc:.3f}"),
        ("threshold", f"{current.threshold:.4f}", f"{new.threshold:.4f}"),
        (
            "recall (95% interval)",
            f"{current.recall:.3f} {_interval(current.recall_interval)}",
            f"{new.recall:.3f} {_interval(new.recall_interval)}",
        ),
        (
            "specificity (95% interval)",
            f"{current.specificity:.3f} {_interval(current.specificity_interval)}",
            f"{new.specificity:.3f} {_interval(new.specificity_interval)}",
        ),
    ]
    return "\n".join(
        [
            f"# {card.name} — model card",
            "",
            f"Version {card.version}, created {card.created}; the lab used {t['current_model']}.",
            "",
            "Decision support only: every flagged or uncertain cell needs review by a qualified "
            "person. Not a diagnosis. The app uses this model only once someone chooses it.",
            "",
            "## This lab's held-out cases: current vs retrained",
            "",
            f"{e.lab_cells.blasts} blasts and {e.lab_cells.normals} normal cells of "
            f"{e.lab_cells.cases} cases, {e.folds} folds.",
            "",
            f"| | current {current.version} | retrained {new.version} |",
            "|---|---|---|",
            *[f"| {name} | {old} | {retrained} |" for name, old, retrained in rows],
            "",
            f"Method: {e.method}.",
            "",
            "## Model and training",
            f"- {card.model.architecture}; {card.model.final_model}.",
            f"- Original data: {data['images_per_class']['all']} blast and {data['images_per_class']['hem']} "
            f"normal images ({card.training_data.source})"
            + (f", {data['extra_negatives']['cells']} extra negatives" if data["extra_negatives"] else "")
            + ".",
            f"- This lab: {data['lab']['blasts']} blasts, {data['lab']['normals']} normal cells, "
            f"{data['lab']['cases']} cases ({data['lab']['source']}); {t['class_balance']}.",
            f"- {t['epochs']} epochs, weight decay {t['weight_decay']}, augmentation: {t['augmentation']}.",
            "",
            "## Decision (from all out-of-fold logits of this lab)",
            f"- temperature {d.temperature:.3f}, threshold {d.threshold:.4f} (target recall "
            f"{d.target_recall}), uncertain band {d.uncertain_low:.4f} – {d.threshold:.4f}, "
            f"test-time augmentation {'on' if d.tta else 'off'}.",
            "",
            "![ROC curve](roc_curve.png) ![Reliability diagram](reliability.png)",
            "",
            "## Limits",
            "- The labels are the cells someone reviewed: cells called normal are reviewed only when "
            "the technician chose to, so blasts among unreviewed normal calls are not counted.",
            "- A current model that was itself retrained on these cells is scored here on cells it "
            "was trained on: its numbers are optimistic.",
            "- A patient whose cells lie in two cases is on both sides of a split, which flatters "
            "the retrained model's numbers.",
            "- The numbers hold for this lab's stain, camera and cell mix as reviewed so far; "
            "re-check after changes. The bundled model stays one choice away.",
            "",
        ]
    )
