"""Seconds per 2592x1944 field image through the whole pipeline: decode, detection, classification, store.

Run: .venv/bin/python bench/field_speed.py [--per-class 2] [--repeats 3] [--tta | --no-tta]

The fields are made as bench/segmentation_speed.py makes them (`big_field`: a 224x224
fields_taleqani image upscaled to 1944x1944, red cells ~150 px across as at 100x on a 5 MP
camera, mirror-padded to 2592x1944), from the first `--per-class` fields of each class, and
saved as JPEG (quality 95) as a camera would.  segmentation_speed.py times `find_cells` alone
on a decoded array; here the real pipeline (`classify_case` with the desktop app's cell
finder into a fresh temporary store, model as its card says unless --tta/--no-tta) runs on
the files: seconds per field is the run's wall time / fields, median of `--repeats` runs.
Then the stages run one after another per field (read + decode, find cells, model input,
canvas PNG, store write, model) to show where the time goes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import FIELDS, Classifier, median_and_spread, run_pipeline, stage_costs
from PIL import Image
from segmentation_speed import big_field


def camera_fields(per_class: int, folder: Path) -> list[Path]:
    """The first `per_class` taleqani fields of each class as 2592x1944 JPEGs in `folder`."""
    paths = []
    for source in (path for cls in sorted(FIELDS.iterdir()) for path in sorted(cls.glob("*.jpg"))[:per_class]):
        target = folder / source.name
        Image.fromarray(big_field(source)).save(target, quality=95)
        paths.append(target)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=2, help="fields of each of the 4 classes")
    parser.add_argument("--repeats", type=int, default=3, help="pipeline runs (median reported)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, help="default: as the model card says")
    args = parser.parse_args()
    classifier = Classifier(tta=args.tta)
    with tempfile.TemporaryDirectory(prefix="blastscan-fields-") as folder:
        paths = camera_fields(args.per_class, Path(folder))
        run_pipeline(classifier, paths[:1])  # warm-up
        per_field, cells = [], 0
        for _ in range(args.repeats):
            seconds, cells = run_pipeline(classifier, paths)
            per_field.append(seconds / len(paths))
        costs, _ = stage_costs(classifier, paths)
    print(
        f"{len(paths)} fields of 2592x1944 (JPEG), {cells} cells found "
        f"({cells / len(paths):.1f} per field), TTA {'on' if classifier.tta else 'off'}"
    )
    print(
        f"pipeline: {median_and_spread(per_field)} s per field, "
        f"{statistics.median(per_field) * len(paths) / max(cells, 1):.3f} s per cell"
    )
    print("per field, stages run serially (ms):")
    for name, ms in costs.items():
        print(f"  {name:14s} {ms:8.1f}")
    print(f"  {'sum':14s} {sum(costs.values()):8.1f}")


if __name__ == "__main__":
    main()
