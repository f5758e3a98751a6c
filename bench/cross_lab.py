"""The bundled model on cells it never trained on, through the app's own path, case by case.

Run: .venv/bin/python bench/cross_lab.py [--model models/] [--cells-per-case 25]

Every image goes through `classify_case` (the desktop app's cell finder, the card's defaults)
into a case of a temporary store, and every call is read back from the store, so the
familiarity check acts as in the app: in a case it finds unfamiliar no cell is called normal.
Sets: the held-out C-NMC patients and Taleqani field blocks the card names (one case per
patient or block; every cell found in a Taleqani field carries its field's class), the normal
cells of the labs never trained on (cases of `--cells-per-case` images), and the demo case as
it is and with its hue turned and its cells magnified.  Per set: AUROC of the logits, recall
(flagged), recall with review (flagged or uncertain), normal cells flagged, normal cells
flagged or sent to review, and the share of cases read unfamiliar.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import DATA, REPO, CaseStore, Classifier, classify_case, find_cells

from app.core.decision import auroc
from app.core.discovery import discover_images
from app.core.model_card import ModelCard
from training.labs import LABS, lab_by_name, label_and_group

DEMO = REPO / "resources" / "samples" / "demo_case"


def cases_of_held_out_groups(card: ModelCard) -> dict[str, list[tuple[str, list[Path], list[bool]]]]:
    """Held-out patients and field blocks of the labs with blasts, one case each."""
    held = card.training_data.held_out_groups
    sets: dict[str, list] = defaultdict(list)
    for lab in LABS:
        if lab.normal_only or lab.name not in held:
            continue
        by_group: dict[str, list[tuple[Path, bool]]] = defaultdict(list)
        for folder in lab.folders:
            for path in discover_images([DATA / folder]):
                is_blast, group = label_and_group(lab, path)
                if group in held[lab.name]:
                    by_group[group].append((path, is_blast))
        for group, members in sorted(by_group.items()):
            sets[lab.name].append((group, [p for p, _ in members], [b for _, b in members]))
    return sets


def cases_of_normal_labs(card: ModelCard, per_case: int) -> dict[str, list]:
    """The normal-cell labs never trained on, dealt into cases of `per_case` images."""
    sets = {}
    for lab in LABS:
        if not lab.normal_only or lab.trained_on(card.training.leave_out):
            continue
        paths = [p for folder in lab.folders for p in discover_images([DATA / folder])]
        sets[lab.name] = [
            (f"{lab.name}:{i // per_case}", paths[i : i + per_case], [False] * len(paths[i : i + per_case]))
            for i in range(0, len(paths), per_case)
        ]
    return sets


def run_set(classifier: Classifier, cases: list, store: CaseStore) -> dict:
    logits, labels, review, flagged, unfamiliar = [], [], [], [], []
    for name, paths, is_blast in cases:
        case = store.create_case(f"{name} {len(store.list_cases())}")
        summary = classify_case(store, case.id, paths, classifier, find_cells)
        unfamiliar.append(summary.familiarity.familiar is False)
        label_of = {str(p): b for p, b in zip(paths, is_blast, strict=True)}
        for cell in store.list_cells(case.id, sort="position"):
            logits.append(cell.logit)
            labels.append(label_of[cell.image_path])
            flagged.append(cell.call == "flagged")
            review.append(cell.call in ("flagged", "uncertain"))
    labels, flagged, review = np.array(labels, bool), np.array(flagged), np.array(review)
    row = {
        "cases": len(cases),
        "cells": len(labels),
        "blasts": int(labels.sum()),
        "unfamiliar_cases": round(float(np.mean(unfamiliar)), 3),
    }
    if labels.any() and not labels.all():
        row["auroc"] = round(auroc(labels, np.array(logits)), 3)
    if labels.any():
        row["recall"] = round(float(flagged[labels].mean()), 3)
        row["recall_with_review"] = round(float(review[labels].mean()), 3)
    if (~labels).any():
        row["normal_flagged"] = round(float(flagged[~labels].mean()), 3)
        row["normal_flagged_or_review"] = round(float(review[~labels].mean()), 3)
    return row


def shifted_demo(folder: Path) -> Path:
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from simulated_lab import shifted_copy

    return shifted_copy(DEMO, folder / "demo_shifted")


def _kind(name: str, card: ModelCard) -> str:
    if name not in {lab.name for lab in LABS}:
        return "demo (trained on) / shifted"
    trained = lab_by_name(name).trained_on(card.training.leave_out)
    return "held-out groups of a trained lab" if trained else "lab never trained on"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models")
    parser.add_argument("--cells-per-case", type=int, default=25)
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    args = parser.parse_args()
    classifier = Classifier(args.model)
    card = classifier.card
    print(
        f"model {classifier.version}, threshold {classifier.rule.threshold:.3f}, "
        f"band from {classifier.rule.uncertain_low:.3f}, TTA {classifier.tta}"
    )
    sets = {**cases_of_held_out_groups(card), **cases_of_normal_labs(card, args.cells_per_case)}
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="blastscan-crosslab-") as folder,
        CaseStore(Path(folder) / "cases.sqlite3") as store,
    ):
        sets["demo"] = [
            ("demo", discover_images([DEMO]), [p.name.endswith("_all.bmp") for p in discover_images([DEMO])])
        ]
        shifted = discover_images([shifted_demo(Path(folder))])
        sets["demo_hue_shifted_magnified"] = [("shifted", shifted, [p.name.endswith("_all.bmp") for p in shifted])]
        for name, cases in sets.items():
            results[name] = run_set(classifier, cases, store)
            print(f"{name:28s} {_kind(name, card):30s} " + json.dumps(results[name]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
