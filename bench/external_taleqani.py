"""Another lab, never trained on: the bundled model on the Taleqani whole-field images.

Run: .venv/bin/python bench/external_taleqani.py [--no-tta]

Every field in fields_taleqani/Original goes through the app's path (`find_cells`, then the
`Classifier` as its model card says).  Labels are per field: Benign (hematogones) = normal,
Early/Pre/Pro (B-ALL) = blast; fields hold other detected cells too, so per-field numbers
are the meaningful ones: the highest cell probability in a field and the share of its cells
flagged.  Printed: per class the cells found and the share flagged; per-field AUROC of the
highest probability and of the flagged share (Benign vs B-ALL).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from _common import FIELDS

from app.core.classifier import Classifier
from app.core.loading import load_image
from app.core.segmentation import find_cells
from training.metrics import auroc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--model-dir", type=Path, default=None, help="default: the bundled model")
    args = parser.parse_args()
    classifier = Classifier(args.model_dir, tta=args.tta)
    field_max, field_share, field_blast = [], [], []
    print(f"model {classifier.version}, TTA {classifier.tta}, threshold {classifier.card.threshold:.3f}")
    for folder in sorted(FIELDS.iterdir()):
        shares = []
        cells = flagged = 0
        for path in sorted(folder.iterdir()):
            predictions = classifier.classify([c.canvas for c in find_cells(load_image(path).rgb)])
            if not predictions:
                continue
            probabilities = [p.probability for p in predictions]
            is_flagged = [p >= classifier.card.threshold for p in probabilities]
            cells, flagged = cells + len(predictions), flagged + sum(is_flagged)
            shares.append(float(np.mean(is_flagged)))
            field_max.append(max(probabilities))
            field_share.append(shares[-1])
            field_blast.append(folder.name != "Benign")
        print(
            f"{folder.name:7s} fields {len(shares):3d}  cells {cells:5d}  flagged {flagged / max(cells, 1):6.1%}"
            f"  median flagged share per field {statistics.median(shares):.2f}"
        )
    labels = np.array(field_blast)
    print(
        f"per-field AUROC, Benign vs B-ALL: highest cell probability "
        f"{auroc(labels, np.array(field_max)):.3f}, flagged share {auroc(labels, np.array(field_share)):.3f}"
    )


if __name__ == "__main__":
    main()
