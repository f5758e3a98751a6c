"""Calibrate CANVAS_RBC_PX: white-cell size in red-cell diameters on fields_taleqani.

Run: .venv/bin/python bench/scale_calibration.py

For every detected white cell not cut by the border: its equivalent diameter (mask area) in
units of its field's red-cell diameter (the ruler of `detect`).  C-NMC canvases show blasts
at a median 216 px and normal lymphoid cells at 176 px (equivalent diameter, measured on
cnmc/ every 20th image), so CANVAS_RBC_PX = 216 / (blast-field median), or 176 / (benign-field median), a lower
bound since the benign fields also hold larger granulocytes and monocytes.
Also printed: the canvas size the current CANVAS_RBC_PX gives each class.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.core.segmentation import CANVAS_RBC_PX, detect

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fields_taleqani" / "Original"
CNMC_MEDIAN = {"Benign": 176.0, "blast": 216.0}


def ratios(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Cell equivalent diameter / red-cell diameter of every inner cell; the fields' red-cell diameters."""
    cells, rulers = [], []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            detection = detect(np.asarray(image.convert("RGB")))
        rulers.append(detection.rbc_diameter)
        height, width = detection.labels.shape
        for region in measure.regionprops(detection.labels):
            top, left, bottom, right = region.bbox
            if top > 0 and left > 0 and bottom < height and right < width:
                cells.append(region.equivalent_diameter_area / detection.scale / detection.rbc_diameter)
    return np.array(cells), np.array(rulers)


def main() -> None:
    blast = []
    for name in ("Benign", "Early", "Pre", "Pro"):
        cells, rulers = ratios(DATA / name)
        if name != "Benign":
            blast.append(cells)
        p5, p50, p95 = np.percentile(cells, [5, 50, 95])
        print(
            f"{name:7s} {len(cells):4d} cells: {p50:.2f} red-cell diameters (5-95% {p5:.2f}-{p95:.2f}); "
            f"red cell {np.median(rulers):.1f} px "
            f"(5-95% {np.percentile(rulers, 5):.1f}-{np.percentile(rulers, 95):.1f}); "
            f"on the canvas: median {p50 * CANVAS_RBC_PX:.0f} px"
        )
        if name == "Benign":
            print(
                f"        -> CANVAS_RBC_PX >= {CNMC_MEDIAN['Benign'] / p50:.0f} "
                "(C-NMC normal median 176 px; a lower bound)"
            )
    blast_median = np.median(np.concatenate(blast))
    print(
        f"blast fields: median {blast_median:.2f} -> "
        f"CANVAS_RBC_PX = {CNMC_MEDIAN['blast'] / blast_median:.0f} "
        f"(C-NMC blast median 216 px); in use: {CANVAS_RBC_PX:.0f}"
    )


if __name__ == "__main__":
    main()
