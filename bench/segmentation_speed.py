"""Time `find_cells` on a 2592 x 1944 field (median of repeats), on this machine.

Run: .venv/bin/python bench/segmentation_speed.py [--repeats N]

The field: a 224 x 224 fields_taleqani image (a dense Pre field and a sparse Benign one)
upscaled bicubically to 1944 x 1944 (its red cells become ~150 px across, as at 100x on a
5 MP camera) and mirror-padded to 2592 x 1944.  Timed: `find_cells(rgb)` from the decoded
RGB array to the list of 450 x 450 canvases (input-kind check, detection at reduced
resolution, full-resolution crops); image decoding is not included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.core.segmentation import detect, find_cells

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fields_taleqani" / "Original"
FIELDS = ("Pre/WBC-Malignant-Pre-468.jpg", "Benign/WBC-Benign-020.jpg")


def big_field(path: Path) -> np.ndarray:
    """The 224 px field upscaled to 1944 px and mirror-padded to 2592 x 1944."""
    with Image.open(path) as image:
        square = np.asarray(image.convert("RGB").resize((1944, 1944), Image.Resampling.BICUBIC))
    return np.pad(square, ((0, 0), (324, 324), (0, 0)), mode="reflect")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for name in FIELDS:
        rgb = big_field(DATA / name)
        cells = find_cells(rgb)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            find_cells(rgb)
            times.append(time.perf_counter() - start)
        detection = detect(rgb)
        print(
            f"{name} as {rgb.shape[1]}x{rgb.shape[0]}: {len(cells)} cells, "
            f"red cell {detection.rbc_diameter:.0f} px, "
            f"working copy {detection.labels.shape[1]}x{detection.labels.shape[0]}: "
            f"median {statistics.median(times):.3f} s/field (min {min(times):.3f}, max {max(times):.3f}, "
            f"{args.repeats} runs)"
        )


if __name__ == "__main__":
    main()
