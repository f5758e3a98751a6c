"""Make the bundled demo case: 24 C-NMC cells (12 ALL, 12 normal) as 24-bit BMP, with attribution.

Run once from the repository root: ``.venv/bin/python resources/samples/make_demo_case.py``.
It takes 3 cells from each of 4 ALL patients and 4 healthy subjects (seeded choice), keeps
each file's original name with ``.bmp``, and writes ATTRIBUTION.md listing the sources.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO.parent / "shared" / "data" / "cnmc"
SAMPLES = Path(__file__).resolve().parent
DEMO = SAMPLES / "demo_case"
PATIENTS_PER_CLASS, CELLS_PER_PATIENT, SEED = 4, 3, 2019

ATTRIBUTION = """\
# Sample images

`demo_case/` holds {count} single-cell images from the C-NMC 2019 dataset, converted from the
dataset's lossless copies to 24-bit BMP (pixel-identical), under their original names:

- "C-NMC 2019: Classification of Normal vs Malignant Cells in B-ALL White Blood Cancer
  Microscopic Images", SBI Lab, IIIT-Delhi and AIIMS New Delhi; The Cancer Imaging Archive,
  collection C_NMC_2019, doi:10.7937/tcia.2019.dc64i46r.
- Licence: Creative Commons Attribution 3.0 (CC BY 3.0),
  https://creativecommons.org/licenses/by/3.0/
- Cite: Gupta A., Gupta R. (2019). ALL Challenge dataset of ISBI 2019 [Data set]. The Cancer
  Imaging Archive. https://doi.org/10.7937/tcia.2019.dc64i46r

`_all` files are leukemic B-lymphoblasts of ALL patients, `_hem` files normal cells of healthy
subjects (`UID_<patient>_<image>_<cell>_<class>`). Made by `make_demo_case.py`.

| file | patient | label |
|---|---|---|
{rows}
"""


def main() -> None:
    by_patient: dict[tuple[str, str], list[str]] = defaultdict(list)
    with open(SOURCE / "manifest.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            by_patient[(row["label"], row["patient"])].append(row["file"])
    chooser = random.Random(SEED)
    chosen = []
    for label in ("all", "hem"):
        patients = sorted(patient for (cls, patient) in by_patient if cls == label)
        for patient in sorted(chooser.sample(patients, PATIENTS_PER_CLASS)):
            files = sorted(chooser.sample(sorted(by_patient[(label, patient)]), CELLS_PER_PATIENT))
            chosen.extend((file, patient, label) for file in files)
    DEMO.mkdir(parents=True, exist_ok=True)
    rows = []
    for file, patient, label in chosen:
        target = DEMO / (Path(file).stem + ".bmp")
        with Image.open(SOURCE / file) as image:
            image.convert("RGB").save(target, format="BMP")
        rows.append(f"| {target.name} | {patient} | {label} |")
    (SAMPLES / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(count=len(rows), rows="\n".join(rows)), encoding="utf-8")


if __name__ == "__main__":
    main()
