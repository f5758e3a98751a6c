"""The one preprocessing shared by training and the app.

A *cell canvas* is a square RGB uint8 image with one white cell centred on black, at the
scale of the C-NMC training images (450 px canvas).  `model_input` turns a canvas into the
classifier's input; training imports the very same function, so the app sees what the
model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

CANVAS_SIZE = 450
"""Side of a cell canvas in pixels (the C-NMC image size, which fixes the cell scale)."""


@dataclass(frozen=True)
class Preprocessing:
    """How a cell canvas becomes model input; stored in and read from the model card."""

    input_size: int = 224
    crop_size: int = 320

    def to_dict(self) -> dict:
        return {
            "canvas_size": CANVAS_SIZE,
            "crop_size": self.crop_size,
            "input_size": self.input_size,
            "resample": "bilinear",
            "pixel_range": "float32 0..255 RGB; the model normalises internally",
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        return cls(input_size=int(data["input_size"]), crop_size=int(data["crop_size"]))


def to_canvas(cell_rgb: np.ndarray) -> np.ndarray:
    """Centre an RGB cell image (cell on black) on a black CANVAS_SIZE square, same scale.

    Larger images are centre-cropped, smaller ones padded, so no rescaling happens here.
    """
    height, width = cell_rgb.shape[:2]
    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE, 3), dtype=np.uint8)
    src_y, src_x = max(0, (height - CANVAS_SIZE) // 2), max(0, (width - CANVAS_SIZE) // 2)
    dst_y, dst_x = max(0, (CANVAS_SIZE - height) // 2), max(0, (CANVAS_SIZE - width) // 2)
    copy_h, copy_w = min(height, CANVAS_SIZE), min(width, CANVAS_SIZE)
    canvas[dst_y:dst_y + copy_h, dst_x:dst_x + copy_w] = cell_rgb[
        src_y:src_y + copy_h, src_x:src_x + copy_w, :3
    ]
    return canvas


def model_input(canvas: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Crop the centre of a cell canvas and resize it to the model's float32 input."""
    canvas = to_canvas(canvas) if canvas.shape[:2] != (CANVAS_SIZE, CANVAS_SIZE) else canvas
    offset = (CANVAS_SIZE - preprocessing.crop_size) // 2
    window = canvas[offset:offset + preprocessing.crop_size, offset:offset + preprocessing.crop_size]
    resized = Image.fromarray(np.ascontiguousarray(window)).resize(
        (preprocessing.input_size, preprocessing.input_size), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def tta_views(batch: np.ndarray) -> list[np.ndarray]:
    """The 8 flips/rotations (dihedral group) of a batch of NHWC images."""
    views = []
    for flipped in (batch, batch[:, :, ::-1]):
        for quarter_turns in range(4):
            views.append(np.ascontiguousarray(np.rot90(flipped, quarter_turns, axes=(1, 2))))
    return views
