"""Share of pbc_normal_other cells (normal, non-lymphoid) flagged as blasts after segmentation.

Run: .venv/bin/python bench/pbc_flag_rate.py [--every N]

Each image goes through `find_cells` (as a field: these crops keep their red-cell
background); its labelled cell is the one nearest the image centre (`central_cell`).  That
canvas is classified by the bundled model (`Classifier`, as its model card says: threshold,
temperature, TTA default); a cell is flagged if its calibrated probability is at or above
the card's threshold.  Images where segmentation finds no cell count as not flagged and are
listed apart.  'any' is the share of images with at least one flagged cell among all the
cells found in them (what the app would show for such an image).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.core.classifier import Classifier
from app.core.segmentation import find_cells, nearest_to_centre

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pbc_normal_other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="use every N-th image of each class")
    args = parser.parse_args()
    classifier = Classifier(num_threads=1)
    threshold = classifier.card.threshold
    print(f"model {classifier.version}, threshold {threshold:.3f}, TTA {classifier.tta}")
    print("class         images  no cell  central flagged        any flagged   cells/image  median prob")
    totals = np.zeros(4, dtype=int)
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        paths = sorted(folder.glob("*.jpg"))[:: args.every]
        no_cell = flagged = any_flagged = n_cells = 0
        probabilities = []
        for path in paths:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            cells = find_cells(rgb, kind="field")
            n_cells += len(cells)
            if not cells:
                no_cell += 1
                continue
            predictions = classifier.classify([cell.canvas for cell in cells])
            central = predictions[cells.index(nearest_to_centre(cells, rgb.shape))]
            probabilities.append(central.probability)
            flagged += central.probability >= threshold
            any_flagged += any(p.probability >= threshold for p in predictions)
        n = len(paths)
        totals += (n, no_cell, flagged, any_flagged)
        print(
            f"{folder.name:12s}  {n:6d}  {no_cell:7d}  {flagged:4d} ({flagged / n:6.1%})  "
            f"{any_flagged:4d} ({any_flagged / n:6.1%})  {n_cells / n:11.2f}  "
            f"{np.median(probabilities) if probabilities else float('nan'):11.3f}"
        )
    n, no_cell, flagged, any_flagged = totals
    print(
        f"{'all':12s}  {n:6d}  {no_cell:7d}  {flagged:4d} ({flagged / n:6.1%})  "
        f"{any_flagged:4d} ({any_flagged / n:6.1%})"
    )


if __name__ == "__main__":
    main()
