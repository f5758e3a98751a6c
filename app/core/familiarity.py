"""How familiar a case's cells are to the model, so that it never stays silent out of its depth.

The reference is a sample of training cells of each lab on which the card's recall was
measured.  Each cell gets, per reference lab, four distances, each the mean distance to its
`neighbours` nearest reference cells of that lab:

- `features`: in the model's own embedding (a whitened projection of its pooled features, the
  model's second output);
- `colour`: optical-density mean and spread of the cell's pixels (the stain and the camera);
- `size`: the share of the model input the cell covers (the magnification);
- `joint`: all three together, each block weighted alike.

A case's score per lab and statistic is the median over its cells divided by the card's
cut-off for that lab and statistic (calibrated on the lab's held-out patients or fields).  A
case is familiar when, for one lab, every score is at most 1: it looks like that lab in every
respect at once (one lab's cells in another lab's colours or at another magnification are not
familiar).  In an unfamiliar case the AI calls no cell normal: every cell it does not flag
goes to review (the store applies this, see `CaseStore.set_case_familiarity`).  The check
applies to the model's own card: once a site profile or a lab model fitted on this lab's own
reviewed cells decides the case, that fit is what speaks for the lab.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.decision import MODEL_CARD_RULE
from app.core.preprocess import CELL_LEVEL, brightest_channel

STATISTICS = ("features", "colour", "size", "joint")
REFERENCE_FILE_KEY = "reference_file"

_WHY = {
    "features": "the cells look unlike the cells the model learned from",
    "colour": "the stain or camera colours are unlike the nearest training lab's",
    "size": "the cells' size (magnification) is unlike the nearest training lab's",
    "joint": "the cells' look, colour and size together are unlike the nearest training lab's",
}
_BLOCKS = ("features", "colour", "size")


class FamiliarityError(ValueError):
    """The card's familiarity section or its reference file is missing or damaged."""


@dataclass(frozen=True)
class Familiarity:
    """A case's verdict: `familiar` is None when it was not assessed (see `reason`)."""

    familiar: bool | None
    scores: dict[str, float]
    """Median cell distance over the cut-off, per statistic, for the nearest lab (above 1: unfamiliar)."""
    cells: int
    reason: str
    nearest_lab: str | None = None
    """The reference lab the case is closest to (the smallest of its largest scores)."""

    @property
    def applies(self) -> bool:
        """True when the case's calls must send every unflagged cell to review."""
        return self.familiar is False

    def describe(self) -> str:
        """One line for people: 'familiar (...)', 'unfamiliar: why (...)' or 'not checked: why'."""
        if self.familiar is None:
            return f"not checked: {self.reason}"
        figures = ", ".join(f"{name} {value:.2f}" for name, value in self.scores.items())
        head = "familiar" if self.familiar else f"unfamiliar: {self.reason}"
        return f"{head} (nearest lab {self.nearest_lab}: {figures} of the cut-off; {self.cells} cells)"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Familiarity | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(
            data["familiar"],
            {k: float(v) for k, v in data["scores"].items()},
            int(data["cells"]),
            str(data["reason"]),
            data.get("nearest_lab"),
        )

    @classmethod
    def not_checked(cls, reason: str) -> Familiarity:
        return cls(None, {}, 0, reason)


class FamiliarityGuard:
    """The card's reference cells and cut-offs; turns model outputs into per-cell distances."""

    def __init__(self, section: dict[str, Any], folder: Path) -> None:
        try:
            self.neighbours = int(section["neighbours"])
            self.labs = tuple(section["labs"])
            self.cutoffs = np.array(
                [[float(section["cutoffs"][lab][name]) for name in STATISTICS] for lab in self.labs]
            )
            self.colour_scale = np.asarray(section["colour_scale"], dtype=np.float32)
            self.size_scale = float(section["size_scale"])
            with np.load(folder / section[REFERENCE_FILE_KEY]) as reference:
                blocks = {name: np.asarray(reference[name], dtype=np.float32) for name in _BLOCKS}
                lab_of = np.asarray(reference["lab"])
        except FileNotFoundError as error:
            raise FamiliarityError(f"familiarity reference of the model card not found: {error.filename}") from error
        except (OSError, KeyError, TypeError, ValueError, EOFError) as error:
            raise FamiliarityError(f"familiarity reference of the model card is not usable: {error!r}") from error
        blocks["joint"] = _joint(blocks)
        self.reference = [
            {name: blocks[name][lab_of == index] for name in STATISTICS} for index in range(len(self.labs))
        ]
        if any(len(points["joint"]) == 0 for points in self.reference):
            raise FamiliarityError("familiarity reference of the model card has a lab without cells")

    @property
    def width(self) -> int:
        """Distances per cell: one per reference lab and statistic."""
        return len(self.labs) * len(STATISTICS)

    def distances(
        self, embeddings: np.ndarray, inputs: np.ndarray | None, statistics: np.ndarray | None = None
    ) -> np.ndarray:
        """[N, labs x 4] distances of N cells (lab-major, STATISTICS within a lab) from the
        model's embeddings of them and their model inputs (or their `cell_statistics`)."""
        if statistics is None:
            if inputs is None:
                raise TypeError("distances() needs the model inputs or their cell statistics")
            statistics = cell_statistics(inputs)
        points: dict[str, np.ndarray] = {
            "features": np.asarray(embeddings, dtype=np.float32),
            "colour": statistics[:, :6] / self.colour_scale,
            "size": statistics[:, 6:] / self.size_scale,
        }
        points["joint"] = _joint(points)
        return np.concatenate(
            [
                np.stack([self._nearest(reference[name], points[name]) for name in STATISTICS], axis=1)
                for reference in self.reference
            ],
            axis=1,
        )

    def case_scores(self, distances: np.ndarray) -> np.ndarray:
        """[labs, 4] median distance over the cut-off, per reference lab and statistic."""
        distances = np.asarray(distances, dtype=np.float64).reshape(-1, len(self.labs), len(STATISTICS))
        scores: np.ndarray = np.median(distances, axis=0) / self.cutoffs
        return scores

    def assess(self, distances: np.ndarray) -> Familiarity:
        """The verdict for a case whose cells have these [N, labs x 4] distances."""
        distances = np.asarray(distances, dtype=np.float64).reshape(-1, self.width)
        if len(distances) == 0:
            return Familiarity.not_checked("no cells")
        scores = self.case_scores(distances)
        nearest = int(np.argmin(scores.max(axis=1)))
        beyond = [name for name, score in zip(STATISTICS, scores[nearest]) if score > 1.0]
        reason = "; ".join(_WHY[name] for name in beyond) if beyond else f"like the {self.labs[nearest]} cells"
        return Familiarity(
            not beyond,
            {name: round(float(v), 3) for name, v in zip(STATISTICS, scores[nearest])},
            len(distances),
            reason,
            self.labs[nearest],
        )

    def _nearest(self, reference: np.ndarray, points: np.ndarray) -> np.ndarray:
        squared = (
            np.einsum("ij,ij->i", points, points)[:, None]
            + np.einsum("ij,ij->i", reference, reference)[None]
            - 2.0 * points @ reference.T
        )
        k = min(self.neighbours, reference.shape[0])
        nearest = np.partition(np.maximum(squared, 0.0), k - 1, axis=1)[:, :k]
        mean_distances: np.ndarray = np.sqrt(nearest).mean(axis=1)
        return mean_distances


def judge(rule_name: str, guard: FamiliarityGuard | None, distances: np.ndarray) -> Familiarity:
    """The verdict for a case decided by the rule named `rule_name` of a model with `guard`."""
    if rule_name != MODEL_CARD_RULE:
        return Familiarity.not_checked(
            f"the site profile '{rule_name}', fitted on this lab's reviewed cells, decides the case"
        )
    if guard is None:
        return Familiarity.not_checked(
            "the model has no familiarity reference (a model retrained "
            "on this lab's cells is judged by its lab evaluation)"
        )
    return guard.assess(distances)


def _joint(blocks: dict[str, np.ndarray]) -> np.ndarray:
    """Features, colour and size side by side, each block scaled to unit mean square norm per dimension."""
    return np.concatenate([blocks[name] / np.sqrt(blocks[name].shape[1]) for name in _BLOCKS], axis=1)


def cell_statistics(inputs: np.ndarray) -> np.ndarray:
    """[N, 7] per model input: optical-density mean and spread of the cell's pixels (R, G, B),
    then the square root of the share of the input the cell covers (a length: magnification)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    rows = np.zeros((len(inputs), 7), dtype=np.float32)
    for index, image in enumerate(inputs):
        cell = brightest_channel(image) > CELL_LEVEL
        if cell.sum() < 2:
            continue
        density = -np.log((image[cell] + 1.0) / 256.0)
        rows[index, :3], rows[index, 3:6] = density.mean(axis=0), density.std(axis=0)
        rows[index, 6] = np.sqrt(cell.mean())
    return rows
