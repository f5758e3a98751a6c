"""Export what the app bundles: the Keras and LiteRT model, the model card, its markdown and plots."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import tensorflow as tf

import app
from app.core.files import replaced_atomically, replacement_path
from app.core.model_card import (
    CARD_FILE,
    CARD_MARKDOWN_FILE,
    KERAS_FILE,
    MODEL_FILE,
    Metrics,
    ModelCard,
    ModelDescription,
    ModelFiles,
    TrainingData,
    TrainingRecipe,
)
from training import metrics
from training.data import file_list_hash
from training.features import FEATURE_LAYERS, build_feature_extractor
from training.train import decision_logits

keras = tf.keras

HEADLINE_METRICS = ("auroc", "recall", "specificity")


def build_classifier(head: keras.Model, input_size: int) -> keras.Model:
    """Image (0..255 RGB) to blast logit: frozen backbone features into the trained head."""
    extractor = build_feature_extractor(input_size)
    return keras.Model(extractor.input, head(extractor.output), name="blast_classifier")


def export_model(model: keras.Model, out: Path) -> None:
    """Write the Keras model and its LiteRT conversion (dynamic batch) into `out`, each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    with replacement_path(out / KERAS_FILE) as keras_file:
        model.save(keras_file)
    size = model.input_shape[1]
    signature = tf.function(
        lambda image: model(image, training=False),
        input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, "image")],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([signature.get_concrete_function()], model)
    converted = converter.convert()
    with replaced_atomically(out / MODEL_FILE, "wb") as handle:
        handle.write(converted)


def write_card(config, cv, out: Path) -> ModelCard:
    """The model card (for the app) and its markdown with ROC and reliability plots."""
    card = ModelCard(
        name="BlastScan blast classifier",
        version=model_version(out),
        created=now(),
        model=model_description("head retrained on all patients with the cross-validated recipe"),
        training_data=training_data(config, cv.images, cv.labels, cv.extras),
        training=TrainingRecipe(
            settings={
                "epochs": config.epochs,
                "folds": config.folds,
                "seed": config.seed,
                "weight_decay": config.weight_decay,
                "augmentation": augmentation(config),
                "class_balance": "class weights inversely proportional to class frequency",
                "split": "stratified group k-fold by patient; numbers below are out-of-fold",
            }
        ),
        preprocessing=cv.preprocessing,
        decision=cv.decision,
        metrics=card_metrics(cv.evaluation, "out-of-fold: every image scored by a head that never saw its patient"),
    )
    write_card_files(card, cv, out, _markdown(card))
    return card


def now() -> str:
    """The time a card is created: ISO 8601, UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def model_version(out: Path, tag: str = "") -> str:
    """App version, `tag`, date and the first 8 hex digits of the tflite file's SHA-256."""
    digest = hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()[:8]
    return f"{app.__version__}+{tag}{dt.date.today():%Y%m%d}.{digest}"


def model_description(final_model: str) -> ModelDescription:
    return ModelDescription(
        architecture="EfficientNet-Lite0 (ImageNet weights, frozen) + linear head on "
        f"pooled features of {', '.join(FEATURE_LAYERS)}",
        output="one logit per image; probability = sigmoid(logit / temperature)",
        final_model=final_model,
        files=ModelFiles(MODEL_FILE, KERAS_FILE),
    )


def card_metrics(evaluation: dict, basis: str, left_out: tuple[str, ...] = ()) -> Metrics:
    """The card's metrics of a `train.decide` evaluation: the headline figures, and the others
    as details but for the probabilities and `left_out`."""
    details = {
        key: value for key, value in evaluation.items() if key not in (*HEADLINE_METRICS, "probabilities", *left_out)
    }
    return Metrics(*(float(evaluation[key]) for key in HEADLINE_METRICS), basis=basis, details=details)


def augmentation(config) -> str:
    return (
        "the 8 flips/rotations of every image as training views" if config.views == 8 else "none (one view per image)"
    )


def training_data(config, images, labels, extras) -> TrainingData:
    """The labelled images (C-NMC) and extra negatives a model was trained on."""
    patients = {
        label: sorted({image.patient for image, is_blast in zip(images, labels) if is_blast == flag})
        for label, flag in (("all", True), ("hem", False))
    }
    details = {
        "folder": str(config.data),
        "images_per_class": {"all": int(labels.sum()), "hem": int((~labels).sum())},
        "patients_per_class": {k: len(v) for k, v in patients.items()},
        "file_list_sha256": file_list_hash(images, config.data),
        "extra_negatives": None
        if not extras
        else {
            "source": "PBC dataset (Acevedo et al. 2020, doi:10.17632/snkd93bnjr.1), CC BY 4.0",
            "folder": str(config.extra_negatives),
            "cells": len(extras),
            "use": "segmented with the app's cell finder (cell nearest the centre); added "
            "to every training fold as negatives; excluded from the metrics",
            "file_list_sha256": file_list_hash(extras, config.extra_negatives),
        },
    }
    return TrainingData(source="C-NMC 2019 (TCIA, doi:10.7937/tcia.2019.dc64i46r), CC BY 3.0", details=details)


def write_card_files(card: ModelCard, cv, out: Path, markdown: str) -> None:
    """The model card, ROC and reliability plots of `cv` and the card's markdown into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    card.write(out / CARD_FILE)
    _plot_roc(cv, out / "roc_curve.png")
    _plot_reliability(cv, out / "reliability.png")
    write_markdown(markdown, out)


def write_markdown(markdown: str, out: Path) -> None:
    """The card for people, beside the model card."""
    with replaced_atomically(out / CARD_MARKDOWN_FILE, "wb") as handle:
        handle.write(markdown.encode())


def _plot_roc(cv, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probabilities = cv.evaluation["probabilities"]
    fpr, tpr = metrics.roc_curve(cv.labels, probabilities)
    chosen = metrics.binary_metrics(cv.labels, probabilities, cv.decision.threshold)
    figure, axes = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    axes.plot(fpr, tpr, label=f"out-of-fold, AUROC {cv.evaluation['auroc']:.3f}")
    axes.plot([0, 1], [0, 1], ":", color="grey")
    axes.plot(
        1 - chosen["specificity"],
        chosen["recall"],
        "o",
        color="crimson",
        label=f"threshold {cv.decision.threshold:.3f}",
    )
    axes.set(xlabel="1 - specificity", ylabel="blast recall", title="ROC, patient-level CV")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_reliability(cv, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    for name, probabilities in (
        ("before (T=1)", metrics.sigmoid(decision_logits(cv.logits, cv.decision.tta))),
        (f"after (T={cv.decision.temperature:.2f})", cv.evaluation["probabilities"]),
    ):
        bins = metrics.reliability(cv.labels, probabilities)
        axes.plot([b["mean_probability"] for b in bins], [b["blast_fraction"] for b in bins], "o-", label=name)
    axes.plot([0, 1], [0, 1], ":", color="grey")
    axes.set(xlabel="predicted blast probability", ylabel="observed blast fraction", title="Reliability, out-of-fold")
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def card_heading(card: ModelCard) -> list[str]:
    """The first lines of every MODEL_CARD.md: name, version, what the model is for, then "## Model"."""
    return [
        f"# {card.name} — model card",
        "",
        f"Version {card.version}, created {card.created}.",
        "",
        "Decision support only: every flagged or uncertain cell needs review by a qualified person. Not a diagnosis.",
        "",
        "## Model",
    ]


def _markdown(card: ModelCard) -> str:
    m, d, data, t = card.metrics.details, card.decision, card.training_data.details, card.training.settings
    cm = m["confusion_matrix"]
    lines = [
        *card_heading(card),
        f"- {card.model.architecture}.",
        f"- {card.model.output}.",
        f"- Final model: {card.model.final_model}.",
        "",
        "## Training data",
        f"- {card.training_data.source}.",
        f"- Images: {data['images_per_class']['all']} blast (ALL), {data['images_per_class']['hem']} "
        f"normal (hem); patients: {data['patients_per_class']['all']} ALL, "
        f"{data['patients_per_class']['hem']} healthy.",
        f"- File list SHA-256: `{data['file_list_sha256']}`.",
        "",
        "## How it was evaluated",
        f"- {t['split']} ({t['folds']} folds, seed {t['seed']}). No patient is on both sides of a split.",
        f"- Augmentation: {t['augmentation']}; {t['class_balance']}.",
        "",
        "## Out-of-fold results (patient-level)",
        "",
        "| metric | value |",
        "|---|---|",
        f"| AUROC | {card.metrics.auroc:.3f} |",
        f"| AUROC without / with test-time augmentation | {m['auroc_without_tta']:.3f} / {m['auroc_with_tta']:.3f} |",
        f"| threshold (target recall {d.target_recall}) | {d.threshold:.4f} |",
        f"| recall (sensitivity) | {card.metrics.recall:.3f} |",
        f"| specificity | {card.metrics.specificity:.3f} |",
        f"| accuracy | {m['accuracy']:.3f} |",
        f"| balanced accuracy | {m['balanced_accuracy']:.3f} |",
        f"| weighted F1 | {m['weighted_f1']:.3f} |",
        f"| ECE before / after temperature scaling | {m['ece_before_calibration']:.3f} / "
        f"{m['ece_after_calibration']:.3f} |",
        f"| temperature | {d.temperature:.3f} |",
        f"| uncertain band | {d.uncertain_low:.4f} – {d.threshold:.4f} ({m['uncertain_fraction']:.1%} of cells) |",
        f"| test-time augmentation in the app | {'on' if d.tta else 'off'} |",
        "",
        "Confusion matrix at the threshold:",
        "",
        "| | flagged | not flagged |",
        "|---|---|---|",
        f"| blast | {cm['true_blast']['flagged']} | {cm['true_blast']['not_flagged']} |",
        f"| normal | {cm['true_normal']['flagged']} | {cm['true_normal']['not_flagged']} |",
        "",
        "![ROC curve](roc_curve.png) ![Reliability diagram](reliability.png)",
        "",
        "## Per patient (out-of-fold)",
        "",
        "| patient | class | fold | cells | flagged | flagged % | mean probability |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['patient']} | {r['class']} | {r['fold']} | {r['cells']} | {r['flagged']} | "
        f"{r['flagged_fraction']:.1%} | {r['mean_probability']:.3f} |"
        for r in m["per_patient"]
    ]
    extra = data["extra_negatives"]
    lines += ["", "## Other normal cell types (not lymphoid)", ""]
    if extra:
        lines += [
            f"{extra['cells']} normal cells of other types ({extra['source']}) were {extra['use']}. "
            "Out-of-fold share flagged as blast at the threshold:",
            "",
            "| cell type | cells | flagged |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {r['cells']} | {r['flagged_fraction']:.1%} |"
            for name, r in m["extra_negatives_flagged"].items()
        ]
    else:
        lines += [
            "None in training: the model has only seen lymphoid cells; "
            "`bench/pbc_flag_rate.py` measures how often it flags other types."
        ]
    lines += [
        "",
        "## Limits",
        "- One lab, one stain normalisation, one camera: neither the threshold nor the "
        "ranking is known to carry to another lab. `bench/external_taleqani.py` runs the "
        "model on another lab's whole fields (Taleqani, 224 px): check it before trusting "
        "the model there, and recalibrate per site.",
        "- The extra negatives come from one other lab: the head may learn that cells unlike "
        "C-NMC's look normal, which costs recall at a new lab.",
        "- C-NMC normal cells are lymphoid only; other cell types were never seen in the C-NMC labels.",
        "",
    ]
    return "\n".join(lines)
