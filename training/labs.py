"""The labs the model learns from and is judged on, turned into labelled cell canvases.

Every image goes through the app's own loading and cell finder, so a training cell is what
the app would hand the model.  Each cell keeps its lab and its *group* (patient, field, or
file): splits are made by group or by lab, never by cell.

Roles: a `train` lab may be trained on; an `evaluate` lab never is (its images' licence does
not allow it, or it is kept as a lab the model never saw).  Labs without blasts (`normal_only`)
teach what normal cells of other stains and cameras look like and measure false flags.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.core.discovery import discover_images
from app.core.loading import ImageLoadError, load_image
from app.core.preprocess import CANVAS_SIZE
from app.core.segmentation import find_cells, nearest_to_centre

CACHE_SCALE = 2
"""Canvases are cached at 1/CACHE_SCALE of CANVAS_SIZE (225 px): ample for 128-192 px inputs."""
CACHE_VERSION = 1
"""Bump when the cell finder or the caching changes what a cached canvas holds."""
TALEQANI_BLOCK = 10
"""Taleqani fields carry no patient id: consecutive numbers of one class (likely one patient's
slides) are kept together in blocks of this many fields, so a split does not cut a patient."""

_CNMC_NAME = re.compile(r"^UID_(H?\d+)_", re.IGNORECASE)
_FIELD_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Lab:
    """One lab's folder and how its images become labelled cells."""

    name: str
    folders: tuple[str, ...]  # relative to the shared data folder
    role: str  # "train" or "evaluate"
    cells: str  # "crop": one cell per image; "central": the cell nearest the centre; "all": every cell of a field
    source: str

    @property
    def normal_only(self) -> bool:
        return self.name not in ("cnmc", "taleqani")

    def trained_on(self, leave_out: tuple[str, ...] | list[str]) -> bool:
        """Whether a run that leaves out the labs `leave_out` trains on this lab."""
        return self.role == "train" and self.name not in leave_out


LABS = (
    Lab(
        "cnmc",
        ("cnmc",),
        "train",
        "crop",
        "C-NMC 2019 (TCIA, doi:10.7937/tcia.2019.dc64i46r), CC BY 3.0: B-ALL blasts and normal "
        "B-lymphoid cells, segmented on black, 42 patients",
    ),
    Lab(
        "taleqani",
        ("fields_taleqani/Original", "fields_taleqani_more/Original"),
        "train",
        "all",
        "Taleqani Hospital, Tehran (Aria, Ghaderzadeh et al. 2021/2022): 224 px fields; every "
        "white cell labelled by its field's class (Benign = hematogones = normal; Early, Pre, "
        "Pro = blast)",
    ),
    Lab(
        "pbc",
        ("pbc_normal_other",),
        "train",
        "central",
        "PBC, Hospital Clinic de Barcelona (Acevedo et al. 2020), CC BY 4.0: normal non-lymphoid "
        "cells, CellaVision DM96",
    ),
    Lab(
        "bccd",
        ("other_labs_normal/bccd",),
        "train",
        "central",
        "BCCD (MIT licence): normal white cells cut from low-resolution fields",
    ),
    Lab(
        "raabin",
        ("other_labs_normal/raabin_wbc",),
        "train",
        "central",
        "Raabin-WBC via TXL-PBC (MIT licence): normal white cells, several microscopes, Iran",
    ),
    Lab(
        "jiangxi",
        ("other_labs_normal/jiangxi_tecom",),
        "evaluate",
        "central",
        "Jiangxi Tecom (Zheng et al. 2018; repository GPL-3.0): normal white cells, rapid stain; "
        "held out: a lab the model never sees",
    ),
    Lab(
        "cellavision",
        ("other_labs_normal/cellavision_blog",),
        "evaluate",
        "central",
        "CellaVision blog images (licence not stated: evaluation only): normal white cells",
    ),
)


@dataclass
class CellSet:
    """Labelled cells of one or more labs: canvases at 1/CACHE_SCALE, labels, labs and groups."""

    canvases: np.ndarray  # [N, S, S, 3] uint8, S = CANVAS_SIZE // CACHE_SCALE
    is_blast: np.ndarray  # [N] bool
    lab: np.ndarray  # [N] str
    group: np.ndarray  # [N] str: patient, field block or file
    path: np.ndarray  # [N] str, relative to the data folder

    def __len__(self) -> int:
        return len(self.is_blast)

    def subset(self, mask: np.ndarray) -> CellSet:
        return CellSet(self.canvases[mask], self.is_blast[mask], self.lab[mask], self.group[mask], self.path[mask])

    @classmethod
    def concatenate(cls, parts: list[CellSet]) -> CellSet:
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("canvases", "is_blast", "lab", "group", "path"))
        )


def lab_by_name(name: str) -> Lab:
    for lab in LABS:
        if lab.name == name:
            return lab
    raise KeyError(f"no lab named {name!r}; labs: {', '.join(lab.name for lab in LABS)}")


def load_cells(
    labs: list[Lab], data_root: Path, cache_dir: Path, log: Callable[[str], None] = print, workers: int = 2
) -> CellSet:
    """The labelled cells of `labs`, built once per lab and file list and cached as .npz."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for lab in labs:
        images = lab_images(lab, data_root)
        key = hashlib.sha256(
            f"{CACHE_VERSION}\n{lab}\n".encode()
            + "\n".join(p.relative_to(data_root).as_posix() for p in images).encode()
        )
        cache = cache_dir / f"cells_{lab.name}_{key.hexdigest()[:16]}.npz"
        if not cache.exists():
            log(f"{lab.name}: finding the cells of {len(images)} images")
            cells = _build(lab, images, data_root, workers, log)
            temporary = cache.with_suffix(".tmp.npz")
            np.savez(temporary, **{f: getattr(cells, f) for f in ("canvases", "is_blast", "lab", "group", "path")})
            temporary.replace(cache)
        with np.load(cache) as stored:
            parts.append(CellSet(*(stored[f] for f in ("canvases", "is_blast", "lab", "group", "path"))))
        log(
            f"{lab.name}: {len(parts[-1])} cells ({int(parts[-1].is_blast.sum())} blast) in "
            f"{len(set(parts[-1].group))} groups"
        )
    return CellSet.concatenate(parts)


def lab_images(lab: Lab, data_root: Path) -> list[Path]:
    """The lab's image files in a stable order, exact duplicates (same bytes) dropped; a folder
    that is not there gives none."""
    seen, images = set(), []
    for folder in lab.folders:
        if not (data_root / folder).is_dir():
            continue
        for path in discover_images([data_root / folder]):
            digest = hashlib.sha256(path.read_bytes()).digest()
            if digest not in seen:
                seen.add(digest)
                images.append(path)
    return images


def label_and_group(lab: Lab, path: Path) -> tuple[bool, str]:
    """Whether an image's cells are blasts, and their group, from the lab's naming."""
    if lab.name == "cnmc":
        match = _CNMC_NAME.match(path.name)
        return path.parent.name.lower() == "all", f"cnmc:{match.group(1).upper() if match else path.name}"
    if lab.name == "taleqani":
        klass = path.parent.name
        number = int(_FIELD_NUMBER.findall(path.stem)[-1])
        return klass != "Benign", f"taleqani:{klass}:{number // TALEQANI_BLOCK}"
    return False, f"{lab.name}:{path.parent.name}/{path.name}"


def _build(lab: Lab, images: list[Path], data_root: Path, workers: int, log) -> CellSet:
    rows: list[tuple[np.ndarray, bool, str, str]] = []
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn")
    ) as pool:  # TensorFlow may be loaded: no fork
        for index, (path, found) in enumerate(
            zip(images, pool.map(_canvases, [lab] * len(images), images, chunksize=16))
        ):
            if isinstance(found, str):
                log(f"  skipped {path.relative_to(data_root)}: {found}")
                continue
            is_blast, group = label_and_group(lab, path)
            rows += [(canvas, is_blast, group, path.relative_to(data_root).as_posix()) for canvas in found]
            if (index + 1) % 500 == 0:
                log(f"  {index + 1}/{len(images)} images, {len(rows)} cells")
    size = CANVAS_SIZE // CACHE_SCALE
    return CellSet(
        canvases=np.stack([r[0] for r in rows]) if rows else np.zeros((0, size, size, 3), np.uint8),
        is_blast=np.array([r[1] for r in rows], dtype=bool),
        lab=np.array([lab.name] * len(rows)),
        group=np.array([r[2] for r in rows]),
        path=np.array([r[3] for r in rows]),
    )


def _canvases(lab: Lab, path: Path) -> list[np.ndarray] | str:
    """The reduced canvases of an image's labelled cells, or why there are none."""
    try:
        rgb = load_image(path).rgb
    except ImageLoadError as error:
        return error.reason
    kind = "crop_on_black" if lab.cells == "crop" else "field"
    cells = find_cells(rgb, kind)
    if lab.cells == "central":
        central = nearest_to_centre(cells, rgb.shape)
        cells = [central] if central is not None else []
    elif lab.cells == "all":
        cells = [cell for cell in cells if not cell.touches_border]  # cut cells: half a label
    if not cells:
        return "no white cell found"
    return [reduce_canvas(cell.canvas) for cell in cells]


def reduce_canvas(canvas: np.ndarray) -> np.ndarray:
    """A cell canvas at 1/CACHE_SCALE (box filter): the form training caches."""
    size = CANVAS_SIZE // CACHE_SCALE
    return np.asarray(Image.fromarray(canvas).resize((size, size), Image.Resampling.BOX))
