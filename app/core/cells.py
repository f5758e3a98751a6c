"""Found cells: what a cell finder hands the classifier, and the finder for single-cell crops.

A *cell finder* is any callable ``find(rgb) -> list[FoundCell]`` taking an H x W x 3 uint8
image.  `whole_image_as_cell` serves crops like C-NMC's (one cell on black); the
whole-field segmentation plugs in with the same `FoundCell` type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.core.preprocess import brightest_channel, to_canvas

BLACK_LEVEL = 10
"""Pixels whose brightest channel is at most this are background in a crop on black."""


@dataclass(frozen=True)
class FoundCell:
    """One cell: its box (x, y, width, height) in source pixels, and its cell canvas.

    `canvas` is CANVAS_SIZE x CANVAS_SIZE x 3 uint8: the cell masked on black, centred, at
    C-NMC scale.  `touches_border` marks a cell cut by the image edge (less reliable).
    """

    box: tuple[int, int, int, int]
    canvas: np.ndarray
    touches_border: bool = False


CellFinder = Callable[[np.ndarray], list[FoundCell]]


def whole_image_as_cell(rgb: np.ndarray) -> list[FoundCell]:
    """A single-cell crop on black is one cell; an all-black image holds none."""
    foreground = brightest_channel(rgb) > BLACK_LEVEL
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if rows.size == 0:
        return []
    top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    height, width = foreground.shape
    touches = top == 0 or left == 0 or bottom == height - 1 or right == width - 1
    box = (left, top, right - left + 1, bottom - top + 1)
    return [FoundCell(box=box, canvas=to_canvas(rgb), touches_border=touches)]
