"""The cell record shared by segmentation and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FoundCell:
    """One white cell found in an image, ready for the classifier."""

    box: tuple[int, int, int, int]  # x, y, w, h in source pixels
    canvas: np.ndarray  # 450x450 uint8 RGB, cell masked on black, centred, at C-NMC scale
    touches_border: bool = False
