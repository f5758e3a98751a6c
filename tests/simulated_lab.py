"""A second lab, simulated from real C-NMC cells: another stain and camera, labels known.

The cells are real; the lab's look is a fixed change of colour (gamma 0.8, red up 10%,
green down 15%) on the cell, the black background kept: the bundled model finds its colours
unfamiliar, and a site profile refits its decision rule on the lab's reviewed cells.  Each
patient becomes one case, reviewed with the truth and signed off.
`shifted_copy` makes a stronger change (hue turned, cells magnified): images the model must
not pretend to know.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

GAMMA = 0.8
CHANNEL_GAINS = (1.10, 0.85, 1.00)
BLACK_LEVEL = 10


def other_lab_look(rgb: np.ndarray) -> np.ndarray:
    """The cell as the simulated lab's stain and camera would show it."""
    cell = rgb.max(axis=2) > BLACK_LEVEL
    changed = np.clip((rgb / 255.0) ** GAMMA * np.array(CHANNEL_GAINS), 0.0, 1.0) * 255.0
    return np.where(cell[..., None], changed, 0).astype(np.uint8)


def lab_patients(shared_data: Path, blast_patients: int, normal_patients: int, skip: int = 0) -> list[str]:
    """Patient ids of C-NMC: ALL patients then healthy subjects, `skip` of each left out first."""
    with open(shared_data / "cnmc" / "manifest.tsv", encoding="utf-8") as manifest:
        patients = sorted({row["patient"] for row in csv.DictReader(manifest, delimiter="\t")})
    blasts = [p for p in patients if not p.startswith("H")][skip : skip + blast_patients]
    normals = [p for p in patients if p.startswith("H")][skip : skip + normal_patients]
    return blasts + normals


def write_lab_images(shared_data: Path, folder: Path, patients: Sequence[str], cells: int) -> dict[str, Path]:
    """`cells` cells of each patient in the lab's look, one PNG folder per patient."""
    with open(shared_data / "cnmc" / "manifest.tsv", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    folders = {}
    for patient in patients:
        target = folder / f"patient_{patient}"
        target.mkdir(parents=True, exist_ok=True)
        for row in [row for row in rows if row["patient"] == patient][:cells]:
            rgb = np.asarray(Image.open(shared_data / "cnmc" / row["file"]).convert("RGB"))
            Image.fromarray(other_lab_look(rgb)).save(target / (Path(row["file"]).stem + ".png"))
        folders[patient] = target
    return folders


def is_blast_patient(patient: str) -> bool:
    return not patient.startswith("H")


def classify_and_sign_off(store, folders: dict[str, Path], classifier, reviewer: str = "ana") -> None:
    """One case per patient, every cell reviewed with the truth, then signed off."""
    from app.core.pipeline import classify_case

    for patient, folder in folders.items():
        case = store.create_case(f"lab case {patient}", sample_id=patient)
        classify_case(store, case.id, [folder], classifier)
        for cell in store.list_cells(case.id):
            store.set_decision(cell.id, "blast" if is_blast_patient(patient) else "normal", reviewer)
        store.sign_off(case.id, reviewer)


def shifted_copy(source: Path, target: Path, hue_turn: float = 0.15, magnification: float = 1.4) -> Path:
    """The demo cells with their hue turned and magnified (another stain, another objective)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.bmp")):
        image = Image.open(path).convert("RGB")
        hsv = np.asarray(image.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(int) + round(hue_turn * 256)) % 256
        shifted = Image.fromarray(hsv, "HSV").convert("RGB")
        mask = np.asarray(image).max(axis=-1) > BLACK_LEVEL
        shifted = Image.fromarray(np.asarray(shifted) * mask[..., None])
        size = round(image.width * magnification)
        shifted.resize((size, size), Image.Resampling.BILINEAR).save(target / path.name)
    return target
