"""Site recalibration on a simulated second lab: does the estimate hold on held-out cases?

Run: .venv/bin/python bench/site_recalibration.py [--cells-per-patient 30] [--splits 20]

The lab is tests/simulated_lab.py: real C-NMC cells (all 42 patients, up to N cells each) in
another stain's and camera's look, each patient one case.  The bundled model (no TTA) scores
every cell once.  Then, for each of `--splits` seeded splits of the patients into a half
that the lab has reviewed and a half it has not: `recalibrate` fits a site profile on the
reviewed half (the numbers the app shows: card before, case-grouped CV after, 95% case-
adjusted intervals) and the profile is applied to the other half.  Printed per split and in
total: recall and specificity of the card and of the profile on the held-out half, how often
the held-out figure falls inside the interval the app showed, and how often the held-out
half's own interval overlaps it (both are samples of the same lab).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
from _common import DATA, REPO, Classifier, find_cells

from app.core.recalibration import LabelSet, RecalibrationRefused, estimate, recalibrate

sys.path.insert(0, str(REPO / "tests"))
from simulated_lab import is_blast_patient, lab_patients, other_lab_look


def lab_logits(classifier: Classifier, cells_per_patient: int) -> LabelSet:
    """The model's logit of every simulated-lab cell, with its case (patient) and label."""
    import csv

    from PIL import Image

    patients = lab_patients(DATA, 30, 12)
    with open(DATA / "cnmc" / "manifest.tsv", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    cases, logits, blasts = [], [], []
    for number, patient in enumerate(patients):
        files = [row["file"] for row in rows if row["patient"] == patient][:cells_per_patient]
        canvases = [
            find_cells(other_lab_look(np.asarray(Image.open(DATA / "cnmc" / f).convert("RGB"))))[0].canvas
            for f in files
        ]
        logits += [p.logit for p in classifier.classify(canvases)]
        cases += [number] * len(files)
        blasts += [is_blast_patient(patient)] * len(files)
    return LabelSet(np.array(cases), np.array(logits), np.array(blasts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells-per-patient", type=int, default=30)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--target-recall", type=float, default=0.95)
    args = parser.parse_args()
    classifier = Classifier(tta=False)
    labels = lab_logits(classifier, args.cells_per_patient)
    print(
        f"simulated lab: {labels.blasts} blasts, {labels.normals} normals, {labels.cases} cases; "
        f"model {classifier.version}, no TTA"
    )
    held_recall, held_spec, card_recall, inside_recall, inside_spec, overlaps, warned = [], [], [], 0, 0, 0, 0
    for split in range(args.splits):
        rng = np.random.default_rng(split)
        cases = np.unique(labels.case_ids)
        blast_cases = rng.permutation([c for c in cases if labels.is_blast[labels.case_ids == c][0]])
        normal_cases = rng.permutation([c for c in cases if not labels.is_blast[labels.case_ids == c][0]])
        reviewed = np.r_[blast_cases[::2], normal_cases[::2]]
        mask = np.isin(labels.case_ids, reviewed)
        try:
            result = recalibrate(labels.subset(mask), classifier.rule, args.target_recall, seed=split)
        except RecalibrationRefused as error:
            print(f"split {split}: refused: {error}")
            continue
        other = labels.subset(~mask)
        flagged = result.rule.probabilities(other.logits) >= result.rule.threshold
        card_flagged = classifier.rule.probabilities(other.logits) >= classifier.rule.threshold
        held = estimate(other, flagged)
        recall, spec = held.recall, held.specificity
        overlaps += all(
            mine[0] <= theirs[1] and theirs[0] <= mine[1]
            for mine, theirs in (
                (held.recall_interval, result.after.recall_interval),
                (held.specificity_interval, result.after.specificity_interval),
            )
        )
        warned += bool(result.warnings)
        held_recall.append(recall)
        held_spec.append(spec)
        card_recall.append(card_flagged[other.is_blast].mean())
        inside_recall += result.after.recall_interval[0] <= recall <= result.after.recall_interval[1]
        inside_spec += result.after.specificity_interval[0] <= spec <= result.after.specificity_interval[1]
        print(
            f"split {split:2d}: fitted on {result.after.blasts}+{result.after.normals} cells of "
            f"{result.after.cases} cases | app shows before: {result.before.describe()} | after: "
            f"{result.after.describe()} | held out: card recall {card_recall[-1]:.2f}, profile recall "
            f"{recall:.2f}, specificity {spec:.2f}"
        )
    done = len(held_recall)
    print(
        f"\n{done} splits. Held-out recall: card {statistics.median(card_recall):.2f} "
        f"(median; {min(card_recall):.2f}-{max(card_recall):.2f}), site profile "
        f"{statistics.median(held_recall):.2f} ({min(held_recall):.2f}-{max(held_recall):.2f}); "
        f"specificity {statistics.median(held_spec):.2f} ({min(held_spec):.2f}-{max(held_spec):.2f})."
    )
    print(
        f"Held-out figure inside the interval the app showed: recall {inside_recall}/{done}, "
        f"specificity {inside_spec}/{done}; held-out intervals overlapping it (both): {overlaps}/{done}; "
        f"profiles that came with a warning: {warned}/{done}."
    )


if __name__ == "__main__":
    main()
