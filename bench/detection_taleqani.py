"""Detection recall and precision of white cells on fields_taleqani (Original vs Segmented).

Run: .venv/bin/python bench/detection_taleqani.py [--show N]

Reference cells: the Segmented image is the field with everything but the white cells
blacked out (in false colour, JPEG), speckled with dark magenta red-cell edge fragments.
Its cell pixels (brightest channel > 60 and green > 100: the fragments are dark magenta)
are closed (2 px), hole-filled and opened (2 px); a connected component of at least
REF_MIN_AREA pixels that is at least half cell pixels before the fill (ring fragments close
into empty discs) is one reference cell.  Despite the folder's wording, the authors' masks
keep every white cell (neutrophils and monocytes too), and they miss some.  Reference cells
and detections whose centroid lies in the scale-bar corner (x >= 185, y >= 200) are ignored.

Match rule: a detection (a label of `segmentation.detect`, the regions `find_cells` turns
into canvases) matches a reference cell if their IoU is >= 0.5 or the detection's centroid
lies inside the reference cell; matches are one-to-one, best IoU first.  Recall = matched
reference cells / reference cells; precision = matched detections / detections.
The reference merges touching cells into one component (dense Pre fields), which the
strict one-to-one rule counts against every extra detection; so a lenient score is given
too: a detection is right if its centroid lies in the reference mask (many-to-one), and a
reference cell is found if any detection matches it by the rule above.

The Pro references are unusable: 39 of 50 hold no cell at this rule (the authors'
segmentation failed on that class: only red-cell edge fragments are kept) although every
field shows blasts.  Pro is therefore not scored; for every class the number of fields with
at least one detection is given (each field holds one or more white cells), and 'all' is
Benign + Early + Pre.  Fields of a scored class whose reference is empty are not scored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import measure, segmentation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.core.segmentation import detect

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fields_taleqani"
CLASSES = ("Benign", "Early", "Pre", "Pro")
SCORED = ("Benign", "Early", "Pre")
REF_MIN_AREA = 60
REF_MIN_GREEN = 85
SCALE_BAR = (185, 200)


def reference_cells(segmented: np.ndarray, min_green: float = REF_MIN_GREEN) -> np.ndarray:
    """Label image of the reference white cells of one Segmented image."""
    nonblack = segmented.max(axis=-1) > 60
    filled = ndi.binary_fill_holes(ndi.binary_closing(nonblack, iterations=2))
    filled = ndi.binary_opening(filled, iterations=2)
    labels = measure.label(filled)
    for region in measure.regionprops(labels):
        cut = labels[region.slice] == region.label
        kept = cut & nonblack[region.slice]
        if (
            region.area < REF_MIN_AREA
            or kept.sum() < 0.5 * region.area
            or np.median(segmented[region.slice][kept][:, 1]) < min_green
        ):
            labels[region.slice][cut] = 0
    return without_scale_bar(measure.label(labels > 0))


def without_scale_bar(labels: np.ndarray) -> np.ndarray:
    """The label image less the regions centred in the scale-bar corner, relabelled."""
    for region in measure.regionprops(labels):
        row, col = region.centroid
        if col >= SCALE_BAR[0] and row >= SCALE_BAR[1]:
            labels[region.slice][region.image] = 0
    return segmentation.relabel_sequential(labels)[0]


def match(detected: np.ndarray, reference: np.ndarray) -> tuple[int, int, int]:
    """One-to-one matches; reference cells matched by any detection; detections centred in the reference."""
    pairs = []
    centred = 0
    for det in measure.regionprops(detected):
        det_mask = detected == det.label
        row, col = (round(v) for v in det.centroid)
        inside = reference[row, col]
        centred += int(inside > 0)
        for ref in np.unique(reference[det_mask | (reference == inside)]):
            if ref == 0:
                continue
            ref_mask = reference == ref
            iou = (det_mask & ref_mask).sum() / (det_mask | ref_mask).sum()
            if iou >= 0.5 or ref == inside:
                pairs.append((iou, det.label, ref))
    used_det, used_ref = set(), set()
    for _, det_label, ref_label in sorted(pairs, reverse=True):
        if det_label not in used_det and ref_label not in used_ref:
            used_det.add(det_label)
            used_ref.add(ref_label)
    return len(used_det), len({ref for _, _, ref in pairs}), centred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=0, help="list the N worst images")
    parser.add_argument(
        "--ref-green",
        type=float,
        default=REF_MIN_GREEN,
        help="reference components need this median green (noise is dark magenta)",
    )
    args = parser.parse_args()
    # per class: one-to-one matches, reference cells found, detections centred in the reference,
    # reference cells, detections, images scored, images with empty reference, images with a
    # detection, all detections
    totals = {}
    per_image = []
    for name in CLASSES:
        counts = np.zeros(9, dtype=int)
        for path in sorted((DATA / "Original" / name).glob("*.jpg")):
            original = np.asarray(Image.open(path).convert("RGB"))
            segmented = np.asarray(Image.open(DATA / "Segmented" / name / path.name).convert("RGB"))
            reference = reference_cells(segmented, args.ref_green)
            detection = detect(original)
            if detection.scale != 1.0:
                raise SystemExit(f"{path.name}: expected detection at full resolution")
            detected = without_scale_bar(detection.labels.copy())
            n_det, n_ref = int(detected.max()), int(reference.max())
            counts[7:] += (int(n_det > 0), n_det)
            if n_ref == 0:
                counts[6] += 1
                continue
            one_to_one, found, centred = match(detected, reference)
            counts[:6] += (one_to_one, found, centred, n_ref, n_det, 1)
            score = 2 * one_to_one - n_ref - n_det
            per_image.append((score, f"{name}/{path.name}", one_to_one, n_ref, n_det))
        totals[name] = counts
    print(
        "class    strict recall / precision      lenient recall / precision     "
        "scored  empty-ref  fields with a detection"
    )
    scored = [totals[name] for name in SCORED]
    for name, c in [*totals.items(), ("all", sum(scored))]:
        if name not in (*SCORED, "all"):
            print(
                f"{name:7s}  (reference unusable: not scored)  {c[8]} detections in {c[5] + c[6]} fields,"
                f" fields with a detection {c[7]}/{c[5] + c[6]}"
            )
            continue
        print(
            f"{name:7s}  {c[0] / max(1, c[3]):.3f} ({c[0]}/{c[3]}) / "
            f"{c[0] / max(1, c[4]):.3f} ({c[0]}/{c[4]})"
            f"  {c[1] / max(1, c[3]):.3f} / {c[2] / max(1, c[4]):.3f}"
            f"  {c[5]:4d}  {c[6]:4d}  {c[7]}/{c[5] + c[6]}"
        )
    for _, image, one_to_one, n_ref, n_det in sorted(per_image)[: args.show]:
        print(f"  {image}: matched {one_to_one}, reference {n_ref}, detected {n_det}")


if __name__ == "__main__":
    main()
