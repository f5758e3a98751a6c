"""A lab made of the Taleqani fields: classified into a case store, reviewed with the truth, signed off.

Run: .venv/bin/python bench/taleqani_lab.py DATA_DIR [--fields-per-case 10]
then: .venv/bin/python -m training --lab-data DATA_DIR

Every field of fields_taleqani/Original goes through the app's path (`classify_case` with the
bundled model, its card's TTA and the cell finder of a case without override).  A detected
cell whose box centre lies in a reference cell of the authors' Segmented image
(`detection_taleqani.reference_cells`) is labelled by its field's class: Benign = normal,
Early/Pre/Pro = blast; other flagged or uncertain cells are decided 'unsure' (no label), so
that the case can be signed off.

Caveats: no patient ids exist, so each case is `--fields-per-case` consecutive fields of one
class (cases are one class each, and fields of one patient may fall into two cases, which
flatters case-grouped estimates); the reference keeps every white cell, not only lymphoid
ones; Pro references are mostly empty, so Pro gives few labels; a B-ALL field's lymphoid
cells are all called blasts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import FIELDS
from detection_taleqani import CLASSES, reference_cells
from PIL import Image

from app.core.classifier import Classifier
from app.core.pipeline import classify_case
from app.core.segmentation import cell_finder
from app.core.store import CaseStore

SEGMENTED = FIELDS.parent / "Segmented"
REVIEWER = "taleqani truth"


def label_cells(store: CaseStore, case_id: int, is_blast: bool) -> int:
    """Decide the case's cells by the reference; return how many got a label."""
    references = {}
    labelled = 0
    for cell in store.list_cells(case_id, sort="position"):
        path = Path(cell.image_path)
        if path not in references:
            references[path] = reference_cells(
                np.asarray(Image.open(SEGMENTED / path.parent.name / path.name).convert("RGB"))
            )
        x, y, width, height = cell.box
        if references[path][int(y + height / 2), int(x + width / 2)] > 0:
            store.set_decision(cell.id, "blast" if is_blast else "normal", REVIEWER)
            labelled += 1
        elif cell.call != "normal":
            store.set_decision(cell.id, "unsure", REVIEWER)
    return labelled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="data folder to create (case store inside)")
    parser.add_argument("--fields-per-case", type=int, default=10)
    args = parser.parse_args()
    classifier = Classifier()
    print(f"model {classifier.version}, TTA {classifier.tta}", flush=True)
    with CaseStore.open(args.data_dir) as store:
        for name in CLASSES:
            fields = sorted((FIELDS / name).glob("*.jpg"))
            for start in range(0, len(fields), args.fields_per_case):
                case_name = f"Taleqani {name} {start // args.fields_per_case + 1}"
                if store.find_case(case_name) is not None:
                    continue
                case = store.create_case(case_name, sample_id=case_name)
                run = classify_case(
                    store, case.id, fields[start : start + args.fields_per_case], classifier, cell_finder(None)
                )
                labelled = label_cells(store, case.id, is_blast=name != "Benign")
                store.sign_off(case.id, REVIEWER)
                print(f"{case_name}: {run.cells} cells, {labelled} labelled", flush=True)
        labels = store.lab_labels()
        blasts = sum(label.is_blast for label in labels)
        print(
            f"{len(labels)} labels: {blasts} blast, {len(labels) - blasts} normal, "
            f"{len({label.case_id for label in labels})} cases"
        )


if __name__ == "__main__":
    main()
