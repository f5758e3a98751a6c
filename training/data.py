"""Labelled image folders: find the images, their class and their patient.

A dataset folder holds one subfolder per class: `all`/`blast` (positive) and
`hem`/`normal` (negative).  C-NMC names carry the patient (`UID_<P>_...` for ALL patient P,
`UID_H<P>_...` for healthy subject H<P>); any other file is its own group, so that a
split never puts one patient (or one unknown source) on both sides.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from app.core.discovery import discover_images

POSITIVE_FOLDERS = ("all", "blast")
NEGATIVE_FOLDERS = ("hem", "normal")
_CNMC_NAME = re.compile(r"^UID_(H?\d+)_", re.IGNORECASE)


@dataclass(frozen=True)
class LabelledImage:
    """One training image: where it is, whether it is a blast, and its patient group."""

    path: Path
    is_blast: bool
    patient: str


def patient_id(path: Path) -> str:
    """Patient/subject id from a C-NMC file name, else a group of the file alone."""
    match = _CNMC_NAME.match(path.name)
    return match.group(1).upper() if match else f"file:{path.parent.name}/{path.name}"


def find_labelled_images(root: Path) -> list[LabelledImage]:
    """All images under the class subfolders of `root`, in a stable order."""
    images: list[LabelledImage] = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        name = folder.name.lower()
        if name not in POSITIVE_FOLDERS + NEGATIVE_FOLDERS:
            continue
        is_blast = name in POSITIVE_FOLDERS
        images += [LabelledImage(path, is_blast, patient_id(path)) for path in discover_images([folder])]
    if not images:
        raise ValueError(
            f"no labelled images under {root}: expected subfolders "
            f"{'/'.join(POSITIVE_FOLDERS)} and {'/'.join(NEGATIVE_FOLDERS)}"
        )
    return images


def find_extra_negatives(root: Path) -> list[LabelledImage]:
    """Normal cells of other types (one subfolder per cell type), each file its own group."""
    images = [LabelledImage(path, False, patient_id(path)) for path in discover_images([root])]
    if not images:
        raise ValueError(f"no images under {root}")
    return images


def file_list_hash(images: list[LabelledImage], root: Path) -> str:
    """SHA-256 over the relative paths and labels: identifies the training set in the card."""
    digest = hashlib.sha256()
    for image in images:
        digest.update(f"{image.path.relative_to(root).as_posix()}\t{int(image.is_blast)}\n".encode())
    return digest.hexdigest()
