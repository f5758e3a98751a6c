"""From a fine-tuning run to what the app bundles, judged on cells the model never saw.

1. Weights: the average of the run's second-half epochs (no checkpoint is picked on in-lab
   validation; averaging is as cheap to run as one).
2. The run's held-out cells (patients, field blocks, whole labs never trained on) are scored
   in the centre view, as the app makes it.
3. Decision rule: temperature fitted on the held-out cells of the labs with blasts; the
   threshold that keeps recall >= the target on *each* of those labs, and the uncertain band
   down to recall `UNCERTAIN_RECALL` on each.
4. Familiarity reference: the whitened embedding, colour and size of a sample of training cells
   of the labs with blasts (where recall was measured); per-statistic cut-offs from the
   held-out cases of those labs (`app.core.familiarity`).
5. Validation: per-lab AUROC, recall, specificity and flag rates; a colour-and-size-only
   baseline on the same held-out patients; a counterfactual colour swap; the guard's verdicts
   on held-out cases, labs never trained on, and shifted copies of held-out patients.
6. Export: the Keras and LiteRT model (logit and embedding), the familiarity reference, the model
   card and its markdown (file names: `app.core.model_card`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tensorflow as tf

from app.core.decision import UNCERTAIN_RECALL
from app.core.familiarity import STATISTICS, FamiliarityGuard, cell_statistics
from app.core.files import replaced_atomically
from app.core.model_card import (
    CARD_FILE,
    FAMILIARITY_FILE,
    KERAS_FILE,
    MODEL_FILE,
    DecisionSection,
    FamiliaritySection,
    GuardVerdicts,
    LabData,
    Metrics,
    ModelCard,
    ModelDescription,
    ModelFiles,
    TrainingData,
    TrainingRecipe,
    TtaComparison,
)
from app.core.preprocess import CANVAS_SIZE, Preprocessing, tta_views
from training import metrics
from training.augment import Augmentation
from training.export import card_heading, export_model, model_version, now, write_markdown
from training.finetune import SHARES, FinetuneConfig, build_model, centre_inputs, forward
from training.labs import LABS, CellSet, Lab, lab_by_name, load_cells

keras = tf.keras

EMBEDDING_SIZE = 16
REFERENCE_CELLS = 1500
"""Reference cells per lab with blasts (training cells, not held out)."""
NEIGHBOURS = 10
CUTOFF_MARGIN = 1.25
"""A cut-off is this much above the most distant held-out case of a lab the recall was measured on."""
PSEUDO_CASE_CELLS = 25
"""Cells of a normal-cell lab (no patients) dealt into pseudo-cases of this size for the guard."""
TTA_MIN_GAIN = 0.0
"""Test-time augmentation (8 flips and rotations) is on where it lowers no lab's held-out AUROC:
a cell has no orientation, and at 128 px the 8 views still leave the whole pipeline at 53
cells/s on 2 cores (bench/RESULTS.md), above what a lab needs."""
RECALL_LABS = ("cnmc", "taleqani")
"""Labs with blasts: where recall is measured, and what 'familiar' is measured against."""


@dataclass
class Scored:
    """Held-out cells with their logits, embeddings (pooled features) and app-side statistics."""

    cells: CellSet
    logits: np.ndarray
    features: np.ndarray
    inputs_statistics: np.ndarray
    tta_logits: np.ndarray | None = None  # mean over the 8 flips and rotations (`tta_views`)


def release(
    run_dir: Path,
    out: Path,
    target_recall: float = 0.95,
    log: Callable[[str], None] = print,
    lolo_card: Path | None = None,
) -> ModelCard:
    """Turn the fine-tuning run in `run_dir` into the bundled model in `out`; return the card.

    `lolo_card`: the card a leave-one-lab-out run's release wrote; its results on the labs it
    left out go into this card's validation."""
    config = _load_config(run_dir)
    cells = load_cells(list(LABS), config.data_root, run_dir.parent / "cells", log)
    held = np.load(run_dir / "held_out.npy")
    model, epochs = averaged_model(run_dir, config, log)
    recall_labs = tuple(lab for lab in RECALL_LABS if lab not in config.leave_out)
    held_out = score(model, cells.subset(held), config, tta=True)
    rng = np.random.default_rng(config.seed)
    reference = score(model, reference_sample(cells, ~held, recall_labs, rng), config)
    log(f"scored {len(held_out.cells)} held-out and {len(reference.cells)} reference cells")

    tta = tta_comparison(held_out, recall_labs)
    if tta.used:
        held_out.logits = held_out.tta_logits
    decision = fit_decision(held_out, target_recall, recall_labs, tta)
    projection = fit_projection(reference.features)
    guard_section, guard_files = fit_guard(reference, held_out, projection, recall_labs)
    with tempfile.TemporaryDirectory() as scratch:
        np.savez(Path(scratch) / FAMILIARITY_FILE, **guard_files)
        guard = FamiliarityGuard(guard_section.to_dict(), Path(scratch))
        verdicts = guard_verdicts(guard, held_out, projection, model, config, rng)
    guard_section = replace(guard_section, evaluation=verdicts)
    validation = {
        "held_out": held_out_metrics(held_out, decision, recall_labs, config.leave_out),
        "confound_baseline": confound_baseline(cells, held, held_out, config),
        "counterfactual_colour_swap": counterfactual(model, cells, held, config, decision),
    }
    if lolo_card is not None:
        validation["leave_one_lab_out"] = leave_one_lab_out(ModelCard.load(lolo_card), config.augmentation.describe())
    export_files(exporting_model(model, projection), guard_files, out)
    card = _card(config, cells, held, epochs, decision, guard_section, validation, out)
    card.write(out / CARD_FILE)
    write_markdown(markdown(card), out)
    log(f"wrote {out}: {json.dumps(validation['held_out']['per_lab'])}")
    return card


def _load_config(run_dir: Path) -> FinetuneConfig:
    raw = json.loads((run_dir / "config.json").read_text())
    raw["augmentation"] = Augmentation(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in raw["augmentation"].items()}
    )
    raw.update(
        data_root=Path(raw["data_root"]),
        run_dir=Path(raw["run_dir"]),
        held_out_cnmc=tuple(raw["held_out_cnmc"]),
        leave_out=tuple(raw["leave_out"]),
    )
    return FinetuneConfig(**raw)


def averaged_model(run_dir: Path, config: FinetuneConfig, log) -> tuple[keras.Model, list[int]]:
    """The model with the mean weights of the run's second-half epochs."""
    files = sorted(run_dir.glob("epoch_*.weights.h5"))
    if not files:
        raise FileNotFoundError(f"no epoch checkpoints in {run_dir}")
    chosen = files[len(files) // 2 :]
    model = build_model(config.input_size, config.dropout)
    total = None
    for file in chosen:
        model.load_weights(file)
        weights = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
        total = weights if total is None else [a + b for a, b in zip(total, weights)]
    model.set_weights([w / len(chosen) for w in total])
    epochs = [int(f.name.split("_")[1].split(".")[0]) for f in chosen]
    log(f"weights averaged over epochs {epochs}")
    return model, epochs


def score(model: keras.Model, cells: CellSet, config: FinetuneConfig, tta: bool = False) -> Scored:
    """Logits, pooled features and cell statistics of the centre views (and with `tta` the mean
    logit of the 8 flips and rotations, as the app's test-time augmentation)."""
    logits, features, statistics, tta_logits = [], [], [], []
    for start in range(0, len(cells), 1024):  # bounded memory
        inputs = centre_inputs(cells.canvases[start : start + 1024], config)
        logit, feature = forward(model, inputs)
        logits.append(logit)
        features.append(feature)
        statistics.append(cell_statistics(inputs))
        if tta:
            tta_logits.append(np.mean([forward(model, view)[0] for view in tta_views(inputs)], axis=0))
    return Scored(
        cells,
        np.concatenate(logits),
        np.concatenate(features),
        np.concatenate(statistics),
        np.concatenate(tta_logits) if tta else None,
    )


def reference_sample(
    cells: CellSet, training: np.ndarray, recall_labs: tuple[str, ...], rng: np.random.Generator
) -> CellSet:
    """Up to REFERENCE_CELLS training cells of each trained lab with blasts, classes as they come."""
    chosen = []
    for lab in recall_labs:
        members = np.flatnonzero(training & (cells.lab == lab))
        chosen.append(rng.choice(members, min(REFERENCE_CELLS, len(members)), replace=False))
    return cells.subset(np.sort(np.concatenate(chosen)))


# Decision


def tta_comparison(held_out: Scored, recall_labs: tuple[str, ...]) -> TtaComparison:
    """Held-out AUROC per lab without and with test-time augmentation; used where it gains at
    least TTA_MIN_GAIN on every lab (it costs 8 times the model's time)."""
    rows = {}
    for lab in recall_labs:
        mine = held_out.cells.lab == lab
        labels = held_out.cells.is_blast[mine]
        if labels.any() and not labels.all():
            rows[lab] = (
                round(metrics.auroc(labels, held_out.logits[mine]), 4),
                round(metrics.auroc(labels, held_out.tta_logits[mine]), 4),
            )
    used = bool(rows) and all(with_tta - without >= TTA_MIN_GAIN for without, with_tta in rows.values())
    return TtaComparison(rows, TTA_MIN_GAIN, used)


def fit_decision(
    held_out: Scored, target_recall: float, recall_labs: tuple[str, ...], tta: TtaComparison
) -> DecisionSection:
    """Temperature, threshold and uncertain band from the held-out cells of the trained labs with
    blasts (their logits as `tta` decided)."""
    in_recall_labs = np.isin(held_out.cells.lab, recall_labs)
    labels, logits = held_out.cells.is_blast[in_recall_labs], held_out.logits[in_recall_labs]
    labs = held_out.cells.lab[in_recall_labs]
    temperature = metrics.fit_temperature(labels, logits)
    probabilities = metrics.sigmoid(logits / temperature)
    present = [lab for lab in recall_labs if labels[labs == lab].any()]
    threshold = min(
        metrics.threshold_for_recall(labels[labs == lab], probabilities[labs == lab], target_recall) for lab in present
    )
    low = min(
        metrics.threshold_for_recall(labels[labs == lab], probabilities[labs == lab], UNCERTAIN_RECALL)
        for lab in present
    )
    return DecisionSection(
        temperature=float(temperature),
        threshold=float(threshold),
        target_recall=target_recall,
        uncertain_low=float(min(low, threshold)),
        tta=tta.used,
        uncertain_band_rule=f"from the threshold of held-out recall {UNCERTAIN_RECALL} (lowest over the "
        "labs) up to the decision threshold",
        threshold_rule=f"the lowest of the thresholds that give recall {target_recall} on the held-out "
        f"cells of each lab with blasts ({', '.join(present)})",
        tta_comparison=tta,
    )


def held_out_metrics(
    held_out: Scored, decision: DecisionSection, recall_labs: tuple[str, ...], leave_out: tuple[str, ...]
) -> dict:
    """Per held-out lab: cells, AUROC, recall, specificity, flagged and to-review shares."""
    probabilities = decision.rule.probabilities(held_out.logits)
    flagged = probabilities >= decision.threshold
    review = probabilities >= decision.uncertain_low
    per_lab = {}
    for lab in sorted(set(held_out.cells.lab)):
        mine = held_out.cells.lab == lab
        labels = held_out.cells.is_blast[mine]
        row = {
            "cells": int(mine.sum()),
            "blasts": int(labels.sum()),
            "groups": len(set(held_out.cells.group[mine])),
            "trained_on": lab_by_name(lab).trained_on(leave_out),
        }
        if labels.any() and not labels.all():
            row["auroc"] = round(metrics.auroc(labels, held_out.logits[mine]), 4)
        if labels.any():
            row["recall"] = round(float(flagged[mine][labels].mean()), 4)
            row["recall_with_review"] = round(float(review[mine][labels].mean()), 4)
        if (~labels).any():
            row["specificity"] = round(float(1 - flagged[mine][~labels].mean()), 4)
            row["normal_flagged"] = round(float(flagged[mine][~labels].mean()), 4)
            row["normal_to_review"] = round(float(review[mine][~labels].mean()), 4)
        per_lab[lab] = row
    in_recall_labs = np.isin(held_out.cells.lab, recall_labs)
    labels = held_out.cells.is_blast[in_recall_labs]
    pooled = metrics.binary_metrics(labels, probabilities[in_recall_labs], decision.threshold)
    return {
        "per_lab": per_lab,
        "auroc": round(metrics.auroc(labels, held_out.logits[in_recall_labs]), 4),
        "recall": round(float(pooled["recall"]), 4),
        "specificity": round(float(pooled["specificity"]), 4),
        "ece": round(metrics.expected_calibration_error(labels, probabilities[in_recall_labs]), 4),
    }


# Familiarity


def fit_projection(features: np.ndarray) -> dict:
    """Whitening PCA of pooled features: embedding = (features - mean) @ weights."""
    mean = features.mean(axis=0)
    _, singular, components = np.linalg.svd(features - mean, full_matrices=False)
    scale = singular[:EMBEDDING_SIZE] / np.sqrt(len(features) - 1)
    weights = components[:EMBEDDING_SIZE].T / np.maximum(scale, 1e-6)
    return {"mean": mean.astype(np.float32), "weights": weights.astype(np.float32)}


def project(features: np.ndarray, projection: dict) -> np.ndarray:
    return ((features - projection["mean"]) @ projection["weights"]).astype(np.float32)


def fit_guard(
    reference: Scored, held_out: Scored, projection: dict, recall_labs: tuple[str, ...]
) -> tuple[FamiliaritySection, dict]:
    """The card's familiarity section (cut-offs per lab and statistic) and the reference arrays."""
    colour_scale = reference.inputs_statistics[:, :6].std(axis=0) + 1e-6
    size_scale = float(reference.inputs_statistics[:, 6].std() + 1e-6)
    files = {
        "features": project(reference.features, projection),
        "colour": (reference.inputs_statistics[:, :6] / colour_scale).astype(np.float32),
        "size": (reference.inputs_statistics[:, 6:] / size_scale).astype(np.float32),
        "lab": np.array([recall_labs.index(lab) for lab in reference.cells.lab], dtype=np.int8),
    }
    unit_cutoffs = FamiliaritySection(  # case scores are then the case medians themselves
        neighbours=NEIGHBOURS,
        labs=recall_labs,
        cutoffs={lab: dict.fromkeys(STATISTICS, 1.0) for lab in recall_labs},
        colour_scale=tuple(colour_scale.tolist()),
        size_scale=size_scale,
        reference_file=FAMILIARITY_FILE,
    )
    with tempfile.TemporaryDirectory() as scratch:
        np.savez(Path(scratch) / FAMILIARITY_FILE, **files)
        guard = FamiliarityGuard(unit_cutoffs.to_dict(), Path(scratch))
        distances = guard.distances(project(held_out.features, projection), None, statistics=held_out.inputs_statistics)
    cutoffs, counts = {}, {}
    for index, lab in enumerate(recall_labs):
        cases = familiar_cases(held_out, (lab,))
        scores = np.array([guard.case_scores(distances[members])[index] for members in cases.values()])
        cutoffs[lab] = {name: float(scores[:, i].max() * CUTOFF_MARGIN) for i, name in enumerate(STATISTICS)}
        counts[lab] = len(cases)
    calibration = (
        f"cut-off per lab and statistic = {CUTOFF_MARGIN} x the largest case median among the lab's held-out "
        "cases (" + ", ".join(f"{lab}: {count}" for lab, count in counts.items()) + " held-out patients or "
        f"field blocks); reference: {len(reference.cells)} training cells of those labs; distance = mean over "
        f"the {NEIGHBOURS} nearest reference cells of the lab"
    )
    return replace(unit_cutoffs, cutoffs=cutoffs, calibration=calibration), files


def familiar_cases(held_out: Scored, recall_labs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Held-out groups (patients, field blocks) of the trained labs with blasts: what must read familiar."""
    groups = held_out.cells.group
    in_labs = np.isin(held_out.cells.lab, recall_labs)
    return {group: np.flatnonzero(groups == group) for group in sorted(set(groups[in_labs]))}


def guard_verdicts(
    guard: FamiliarityGuard, held_out: Scored, projection: dict, model, config, rng
) -> dict[str, GuardVerdicts]:
    """Share of cases read unfamiliar: held-out cases of the recall labs, pseudo-cases of the
    normal-cell labs, and held-out patients shifted in hue, in size, or both."""
    embeddings = project(held_out.features, projection)
    distances = guard.distances(embeddings, None, statistics=held_out.inputs_statistics)
    result = {}
    for lab in sorted(set(held_out.cells.lab)):
        members = np.flatnonzero(held_out.cells.lab == lab)
        if not lab_by_name(lab).normal_only:
            cases = [np.flatnonzero(held_out.cells.group == g) for g in sorted(set(held_out.cells.group[members]))]
        else:
            shuffled = rng.permutation(members)
            cases = [shuffled[i : i + PSEUDO_CASE_CELLS] for i in range(0, len(shuffled), PSEUDO_CASE_CELLS)]
        unfamiliar = [not guard.assess(distances[case]).familiar for case in cases]
        result[lab] = GuardVerdicts(
            len(cases), round(float(np.mean(unfamiliar)), 3), lab_by_name(lab).trained_on(config.leave_out)
        )
    cnmc = held_out.cells.lab == "cnmc"
    patients = sorted(set(held_out.cells.group[cnmc]))
    for name, hue, magnification in (
        ("cnmc_hue_shift", 0.12, 1.0),
        ("cnmc_rescaled_0.7", 0.0, 0.7),
        ("cnmc_rescaled_1.4", 0.0, 1.4),
        ("cnmc_hue_shift_and_rescaled", 0.12, 1.3),
    ):
        unfamiliar = []
        for patient in patients:
            rows = np.flatnonzero(held_out.cells.group == patient)[:60]
            inputs = shifted_inputs(held_out.cells.canvases[rows], config, hue, magnification)
            _logits, features = forward(model, inputs)
            shifted = guard.distances(project(features, projection), inputs)
            unfamiliar.append(not guard.assess(shifted).familiar)
        result[name] = GuardVerdicts(len(patients), round(float(np.mean(unfamiliar)), 3), trained_on=False)
    return result


def shifted_inputs(canvases: np.ndarray, config: FinetuneConfig, hue: float, magnification: float) -> np.ndarray:
    """Centre-view inputs of canvases with the hue turned and the cell magnified."""
    inputs = centre_inputs(canvases, config)
    if magnification != 1.0:
        size = config.input_size
        scaled = tf.image.resize(inputs, [round(size * magnification)] * 2).numpy()
        inputs = tf.image.resize_with_crop_or_pad(scaled, size, size).numpy()
    if hue:
        mask = inputs.max(axis=-1, keepdims=True) > 20
        inputs = tf.image.adjust_hue(inputs / 255.0, hue).numpy() * 255.0 * mask
    return inputs.astype(np.float32)


# Validation


def confound_baseline(cells: CellSet, held: np.ndarray, held_out: Scored, config: FinetuneConfig) -> dict:
    """AUROC of a small model on colour and size alone (the app's 7 cell statistics), trained on
    the training cells of each lab with blasts and scored on its held-out cells, beside the CNN's."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    result = {}
    for lab in RECALL_LABS:
        train_rows = np.flatnonzero(~held & (cells.lab == lab))
        if len(train_rows) == 0:
            continue
        train_rows = np.random.default_rng(0).choice(train_rows, min(4000, len(train_rows)), replace=False)
        features = _canvas_statistics(cells.canvases[train_rows], config)
        baseline = HistGradientBoostingClassifier(max_depth=3, max_iter=150, random_state=0)
        baseline.fit(features, cells.is_blast[train_rows])
        mine = held_out.cells.lab == lab
        if not mine.any():
            continue
        labels = held_out.cells.is_blast[mine]
        scores = baseline.predict_proba(held_out.inputs_statistics[mine])[:, 1]
        result[lab] = {
            "colour_and_size_auroc": round(metrics.auroc(labels, scores), 4),
            "cnn_auroc": round(metrics.auroc(labels, held_out.logits[mine]), 4),
        }
    return result


def _canvas_statistics(canvases: np.ndarray, config: FinetuneConfig) -> np.ndarray:
    parts = [cell_statistics(centre_inputs(canvases[i : i + 1024], config)) for i in range(0, len(canvases), 1024)]
    return np.concatenate(parts)


def counterfactual(model, cells: CellSet, held: np.ndarray, config: FinetuneConfig, decision: DecisionSection) -> dict:
    """Held-out C-NMC blasts given the colour statistics of training normal cells and vice versa:
    how far the probabilities move (small: the model reads the cell, not its colour)."""
    training_stats = {}
    for is_blast in (True, False):
        rows = np.flatnonzero(~held & (cells.lab == "cnmc") & (cells.is_blast == is_blast))
        rows = np.random.default_rng(1).choice(rows, min(1000, len(rows)), replace=False)
        statistics = _canvas_statistics(cells.canvases[rows], config)
        training_stats[is_blast] = (statistics[:, :3].mean(axis=0), statistics[:, 3:6].mean(axis=0))
    result = {}
    rows_all = np.flatnonzero(held & (cells.lab == "cnmc"))
    for is_blast, name in ((True, "blasts_in_normal_colours"), (False, "normals_in_blast_colours")):
        rows = rows_all[cells.is_blast[rows_all] == is_blast][:600]
        inputs = centre_inputs(cells.canvases[rows], config)
        before = decision.rule.probabilities(forward(model, inputs)[0])
        after = decision.rule.probabilities(forward(model, colour_swapped(inputs, *training_stats[not is_blast]))[0])
        flagged_before, flagged_after = before >= decision.threshold, after >= decision.threshold
        result[name] = {
            "cells": len(rows),
            "mean_probability_before": round(float(before.mean()), 4),
            "mean_probability_after": round(float(after.mean()), 4),
            "mean_absolute_change": round(float(np.abs(after - before).mean()), 4),
            "calls_changed": round(float((flagged_before != flagged_after).mean()), 4),
        }
    return result


def colour_swapped(inputs: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Each cell's optical-density mean and spread replaced by the given ones; black stays black."""
    out = inputs.copy()
    for index, image in enumerate(inputs):
        cell = image.max(axis=-1) > 20
        if cell.sum() < 2:
            continue
        density = -np.log((image[cell] + 1.0) / 256.0)
        density = (density - density.mean(axis=0)) / (density.std(axis=0) + 1e-6) * spread + mean
        out[index][cell] = np.clip(256.0 * np.exp(-np.maximum(density, 0.0)) - 1.0, 0, 255)
    return out


def leave_one_lab_out(card: ModelCard, augmentation: dict) -> dict:
    """What a run that never saw some labs reached on them (from that run's card); says where its
    augmentation differed from this model's (`augmentation`)."""
    left_out = card.training.leave_out
    theirs = card.training.settings.get("augmentation", {})
    augmentation = json.loads(json.dumps(augmentation))  # tuples as the card's lists
    differences = [
        f"{name} {theirs.get(name)} (this model: {mine})"
        for name, mine in augmentation.items()
        if theirs.get(name) != mine
    ]
    recipe = "The same recipe" if not differences else f"The recipe with {'; '.join(differences)}"
    per_lab = {}
    for lab in left_out:
        row = dict(card.validation["held_out"]["per_lab"].get(lab, {}), trained_on=False)
        verdicts = card.familiarity.evaluation.get(lab)
        row["unfamiliar"] = verdicts.unfamiliar if verdicts else None
        per_lab[lab] = row
    return {
        "description": f"{recipe}, trained without {', '.join(left_out)}, its threshold and "
        "familiarity cut-offs fitted without it, then scored on every cell of it "
        f"(model {card.version}).",
        "per_lab": per_lab,
    }


# Export


def exporting_model(model: keras.Model, projection: dict) -> keras.Model:
    """Image (0..255 RGB) to [logit (N x 1), embedding (N x EMBEDDING_SIZE)] for the app."""
    logit, features = model.output
    dense = keras.layers.Dense(EMBEDDING_SIZE, name="embedding")
    embedding = dense(features)
    dense.set_weights([projection["weights"], -projection["mean"] @ projection["weights"]])
    return keras.Model(model.input, [logit, embedding], name="blast_classifier")


def export_files(model: keras.Model, guard_files: dict, out: Path) -> None:
    """The model (Keras and LiteRT) and its familiarity reference into `out`."""
    export_model(model, out)
    with replaced_atomically(out / FAMILIARITY_FILE, "wb") as handle:
        np.savez(handle, **guard_files)


def _lab_data(lab: Lab, cells: CellSet, held: np.ndarray, leave_out: tuple[str, ...]) -> LabData:
    mine = cells.lab == lab.name
    return LabData(
        lab=lab.name,
        source=lab.source,
        role=lab.role,
        trained_on=lab.trained_on(leave_out),
        cells=int(mine.sum()),
        blasts=int(cells.is_blast[mine].sum()),
        groups=len(set(cells.group[mine])),
        held_out_cells=int((mine & held).sum()),
    )


def _card(config, cells, held, epochs, decision, guard_section, validation, out) -> ModelCard:
    settings = {key: value for key, value in config.to_json().items() if key != "leave_out"}
    held_out = validation["held_out"]
    return ModelCard(
        name="BlastScan blast classifier",
        version=model_version(out),
        created=now(),
        model=ModelDescription(
            architecture="EfficientNet-Lite0 (ImageNet weights) fine-tuned on cells of several labs "
            "(batch norm frozen), linear head on the pooled features",
            output="one logit per image (probability = sigmoid(logit / temperature)) and a "
            f"{EMBEDDING_SIZE}-d whitened embedding for the familiarity check",
            final_model=f"mean of the weights of epochs {epochs[0]}-{epochs[-1]} of one run",
            files=ModelFiles(MODEL_FILE, KERAS_FILE, FAMILIARITY_FILE),
        ),
        training_data=TrainingData(
            source="; ".join(lab.source for lab in LABS if lab.role == "train"),
            labs=tuple(_lab_data(lab, cells, held, config.leave_out) for lab in LABS),
            held_out_groups={
                lab.name: tuple(sorted(set(cells.group[held & (cells.lab == lab.name)])))
                for lab in LABS
                if not lab.normal_only
            },
            never_shown="the labs marked role 'evaluate', the held-out patients and field blocks, "
            "myeloid blasts, other stains than those above",
        ),
        training=TrainingRecipe(
            leave_out=config.leave_out,
            settings={
                **settings,
                "sampling_shares": {f"{k[0]}/{'blast' if k[1] else 'normal'}": v for k, v in SHARES.items()},
            },
        ),
        preprocessing=Preprocessing(config.input_size, config.crop_size),
        decision=decision,
        familiarity=guard_section,
        metrics=Metrics(
            auroc=held_out["auroc"],
            recall=held_out["recall"],
            specificity=held_out["specificity"],
            basis="held-out cells of the labs with blasts (patients and field blocks never trained on)",
            details={"ece": held_out["ece"]},
        ),
        validation=validation,
    )


def markdown(card: ModelCard) -> str:
    """The card for people: what the model is, what it learned from, how it holds where it never looked."""
    d, v, f = card.decision, card.validation, card.familiarity
    lines = [
        *card_heading(card),
        f"- {card.model.architecture}; input {card.preprocessing.input_size} px "
        f"(centre {card.preprocessing.crop_size} px of the {CANVAS_SIZE} px cell canvas).",
        f"- Outputs: {card.model.output}.",
        f"- Final weights: {card.model.final_model}.",
        "",
        "## Training data",
        "",
        "| lab | role | cells | blasts | groups | held out | source |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {lab.lab} | {'trained on' if lab.trained_on else 'never trained on'} | {lab.cells} | "
        f"{lab.blasts} | {lab.groups} | {lab.held_out_cells} | {lab.source} |"
        for lab in card.training_data.labs
    ]
    lines += [
        "",
        f"Never shown: {card.training_data.never_shown}.",
        "",
        "Groups are patients (C-NMC), blocks of 10 consecutive fields of one class (Taleqani: no patient "
        "ids) or files; every split keeps a group on one side. Each batch draws fixed shares per lab and "
        "class ("
        + ", ".join(f"{k} {s:.0%}" for k, s in card.training.settings["sampling_shares"].items())
        + "), so no lab's colour predicts the class; every view is augmented afresh (magnification, any "
        "rotation, flips, stain transfer to another training cell's colours, HED jitter, hue, saturation, "
        "brightness, contrast, gamma, blur, noise, JPEG, mask erosion).",
        "",
        "## Decision",
        f"- Temperature {d.temperature:.3f}; threshold {d.threshold:.4f}: {d.threshold_rule}.",
        f"- Uncertain band {d.uncertain_low:.4f}–{d.threshold:.4f}: {d.uncertain_band_rule}.",
        f"- Test-time augmentation (8 flips and rotations) {'on' if d.tta else 'off'} by default: held-out "
        "AUROC without / with it "
        + ", ".join(f"{lab} {a:.3f} / {b:.3f}" for lab, (a, b) in d.tta_comparison.auroc_without_and_with.items())
        + f" (used where it gains at least {d.tta_comparison.min_gain} on every lab).",
        "",
        "## Held-out results (cells never trained on, at the threshold above)",
        "",
        "| lab | trained on | cells | blasts | AUROC | recall | recall incl. uncertain | normal flagged | "
        "normal flagged or uncertain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lab, row in v["held_out"]["per_lab"].items():
        lines.append(
            f"| {lab} | {'yes (other patients/fields)' if row['trained_on'] else 'no'} | {row['cells']} | "
            f"{row['blasts']} | {_number(row.get('auroc'))} | {_number(row.get('recall'))} | "
            f"{_number(row.get('recall_with_review'))} | {_number(row.get('normal_flagged'))} | "
            f"{_number(row.get('normal_to_review'))} |"
        )
    lines += [
        "",
        f"Pooled over the labs with blasts: AUROC {v['held_out']['auroc']:.3f}, recall "
        f"{v['held_out']['recall']:.3f}, specificity {v['held_out']['specificity']:.3f}, ECE "
        f"{v['held_out']['ece']:.3f}.",
        "",
    ]
    if "leave_one_lab_out" in v:
        lines += [
            "## Leave one lab out",
            "",
            v["leave_one_lab_out"]["description"],
            "",
            "| lab | AUROC | recall | recall incl. uncertain | normal flagged | guard: unfamiliar cases |",
            "|---|---|---|---|---|---|",
        ]
        for lab, row in v["leave_one_lab_out"]["per_lab"].items():
            lines.append(
                f"| {lab} | {_number(row.get('auroc'))} | {_number(row.get('recall'))} | "
                f"{_number(row.get('recall_with_review'))} | {_number(row.get('normal_flagged'))} | "
                f"{_number(row.get('unfamiliar'))} |"
            )
        lines.append("")
    lines += [
        "## Colour-and-size baseline (the confound check)",
        "",
        "A small model (gradient-boosted trees) on the 7 colour and size statistics of each cell, trained "
        "on the same training cells and scored on the same held-out cells:",
        "",
        "| lab | colour and size only | this model |",
        "|---|---|---|",
    ]
    lines += [
        f"| {lab} | {row['colour_and_size_auroc']:.3f} | {row['cnn_auroc']:.3f} |"
        for lab, row in v["confound_baseline"].items()
    ]
    lines += [
        "",
        "## Counterfactual colour swap",
        "",
        "Held-out C-NMC cells given the mean colour statistics of the other class's training cells:",
        "",
        "| cells | n | mean probability before → after | mean change | calls changed |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name.replace('_', ' ')} | {row['cells']} | {row['mean_probability_before']:.3f} → "
        f"{row['mean_probability_after']:.3f} | {row['mean_absolute_change']:.3f} | {row['calls_changed']:.1%} |"
        for name, row in v["counterfactual_colour_swap"].items()
    ]
    lines += [
        "",
        "## Familiarity check",
        "",
        "Per cell and reference lab: mean distance to its nearest reference cells of that lab in the model's "
        "embedding, in colour, in size and in all three together; per case: the median over its cells over "
        "the lab's cut-off. " + f.calibration + ". A case is familiar when it is within every cut-off "
        "of one lab; otherwise the app calls no cell normal (all go to review). Verdicts on held-out cases "
        "(normal-cell labs: cases of 25 cells; shifted: held-out C-NMC patients with the hue turned 0.12 "
        "and/or the cells magnified):",
        "",
        "| set | trained on | cases | read unfamiliar |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {'yes' if row.trained_on else 'no'} | {row.cases} | {row.unfamiliar:.0%} |"
        for name, row in f.evaluation.items()
    ]
    lines += [
        "",
        "## Limits",
        "- Two labs with blasts (C-NMC, Taleqani), both B-ALL; Taleqani labels are per field, not per "
        "cell, and its fields carry no patient ids. Myeloid blasts were never shown.",
        "- The threshold is fitted on held-out cells of the training labs; at a new lab the familiarity "
        "check sends every cell to review until a site profile or a lab model is fitted there.",
        "",
    ]
    return "\n".join(lines)


def _number(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    import argparse

    from training.__main__ import REPO

    parser = argparse.ArgumentParser(prog="python -m training.release", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=REPO / "training" / "runs" / "finetune")
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--lolo-card", type=Path, default=None)
    args = parser.parse_args(argv)
    release(args.run_dir.resolve(), args.out.resolve(), args.target_recall, lolo_card=args.lolo_card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
