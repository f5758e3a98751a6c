"""Seconds per 2592x1944 field image, cell detection plus classification.

Run: .venv/bin/python bench/field_speed.py [--per-class 2] [--repeats 3] [--tta | --no-tta]

No field images of that size are at hand, so fields_taleqani fields (224x224 JPEG, 1 to 5
white cells among red cells) are enlarged (bicubic, 11.6x, aspect kept: 2592x2592 cut to its
middle 1944 rows) and saved as JPEG (quality 95) as a 5-megapixel camera would, the first
`--per-class` fields of each class.  The real pipeline (`classify_case` with the desktop
app's cell finder into a fresh temporary store, model as its card says unless --tta/--no-tta)
runs on them; seconds per field is the run's wall time / fields, median of `--repeats` runs.
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

SIZE = (2592, 1944)


def enlarged_fields(per_class: int, folder: Path) -> list[Path]:
    """The first `per_class` taleqani fields of each class as 2592x1944 JPEGs in `folder`."""
    paths = []
    for source in (path for cls in sorted(FIELDS.iterdir()) for path in sorted(cls.glob("*.jpg"))[:per_class]):
        with Image.open(source) as image:
            square = image.convert("RGB").resize((SIZE[0], SIZE[0]), Image.Resampling.BICUBIC)
        top = (SIZE[0] - SIZE[1]) // 2
        target = folder / source.name
        square.crop((0, top, SIZE[0], top + SIZE[1])).save(target, quality=95)
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
        paths = enlarged_fields(args.per_class, Path(folder))
        run_pipeline(classifier, paths[:1])  # warm-up
        per_field, cells = [], 0
        for _ in range(args.repeats):
            seconds, cells = run_pipeline(classifier, paths)
            per_field.append(seconds / len(paths))
        costs, _ = stage_costs(classifier, paths)
    print(f"{len(paths)} fields of {SIZE[0]}x{SIZE[1]} (JPEG), {cells} cells found "
          f"({cells / len(paths):.1f} per field), TTA {'on' if classifier.tta else 'off'}")
    print(f"pipeline: {median_and_spread(per_field)} s per field, "
          f"{statistics.median(per_field) * len(paths) / max(cells, 1):.3f} s per cell")
    print("per field, stages run serially (ms):")
    for name, ms in costs.items():
        print(f"  {name:14s} {ms:8.1f}")
    print(f"  {'sum':14s} {sum(costs.values()):8.1f}")


if __name__ == "__main__":
    main()
