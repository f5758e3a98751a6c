"""The one preprocessing shared by training and the app.

A *cell canvas* is a square RGB uint8 image with one white cell centred on black, at the
scale of the C-NMC training images (450 px canvas).  `model_input` turns a canvas into the
classifier's input; training imports the very same function, so the app sees what the
model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from PIL import Image

CANVAS_SIZE = 450
"""Side of a cell canvas in pixels (the C-NMC image size, which fixes the cell scale)."""

CELL_LEVEL = 20
"""Canvas pixels whose brightest channel is above this belong to the cell (black is not)."""


ColourTarget = tuple[float, float, float, float, float, float]
"""CIELAB mean L, a, b, then standard deviation L, a, b."""


@dataclass(frozen=True)
class Preprocessing:
    """How a cell canvas becomes model input; stored in and read from the model card.

    `colour_target` (CIELAB mean L, a, b, then standard deviation L, a, b of the cell's
    pixels) turns on colour normalisation: every cell's own colour statistics are mapped
    onto it (Reinhard et al. 2001), so that a stain or camera unlike the training lab's
    does not change what the model sees.  None: colours as they are.
    """

    input_size: int = 224
    crop_size: int = 320
    colour_target: ColourTarget | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "canvas_size": CANVAS_SIZE,
            "crop_size": self.crop_size,
            "input_size": self.input_size,
            "resample": "bilinear",
            "pixel_range": "float32 0..255 RGB; the model normalises internally",
            "colour_normalisation": None
            if self.colour_target is None
            else {
                "method": "per-cell CIELAB mean and standard deviation mapped onto the target",
                "target": list(self.colour_target),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        colour = data.get("colour_normalisation")
        return cls(
            input_size=int(data["input_size"]),
            crop_size=int(data["crop_size"]),
            colour_target=cast(ColourTarget, tuple(float(v) for v in colour["target"])) if colour else None,
        )


def to_canvas(cell_rgb: np.ndarray) -> np.ndarray:
    """Centre an RGB cell image (cell on black) on a black CANVAS_SIZE square, same scale.

    Larger images are centre-cropped, smaller ones padded, so no rescaling happens here.
    """
    height, width = cell_rgb.shape[:2]
    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE, 3), dtype=np.uint8)
    src_y, src_x = max(0, (height - CANVAS_SIZE) // 2), max(0, (width - CANVAS_SIZE) // 2)
    dst_y, dst_x = max(0, (CANVAS_SIZE - height) // 2), max(0, (CANVAS_SIZE - width) // 2)
    copy_h, copy_w = min(height, CANVAS_SIZE), min(width, CANVAS_SIZE)
    canvas[dst_y : dst_y + copy_h, dst_x : dst_x + copy_w] = cell_rgb[
        src_y : src_y + copy_h, src_x : src_x + copy_w, :3
    ]
    return canvas


def centred_crop(canvas: np.ndarray) -> np.ndarray:
    """The smallest centred square of a cell canvas that keeps every non-black pixel (at least
    2 px): `to_canvas` of it gives the canvas back exactly, at a fraction of the pixels to store."""
    filled = brightest_channel(canvas) > 0
    rows, cols = np.flatnonzero(filled.any(axis=1)), np.flatnonzero(filled.any(axis=0))
    centre = CANVAS_SIZE // 2
    if rows.size == 0:
        half = 1
    else:
        half = max(centre - rows[0], rows[-1] + 1 - centre, centre - cols[0], cols[-1] + 1 - centre, 1)
    crop: np.ndarray = canvas[centre - half : centre + half, centre - half : centre + half].copy()
    return crop


def model_input(canvas: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Crop the centre of a cell canvas and resize it to the model's float32 input."""
    canvas = to_canvas(canvas) if canvas.shape[:2] != (CANVAS_SIZE, CANVAS_SIZE) else canvas
    offset = (CANVAS_SIZE - preprocessing.crop_size) // 2
    window = canvas[offset : offset + preprocessing.crop_size, offset : offset + preprocessing.crop_size]
    resized = np.asarray(
        Image.fromarray(np.ascontiguousarray(window)).resize(
            (preprocessing.input_size, preprocessing.input_size), Image.Resampling.BILINEAR
        )
    )
    if preprocessing.colour_target is not None:
        resized = _normalise_colour(resized, preprocessing.colour_target)
    return resized.astype(np.float32)


def brightest_channel(rgb: np.ndarray) -> np.ndarray:
    """Per pixel, the largest of R, G and B (20x faster than NumPy's max over a 3-long axis)."""
    brightest: np.ndarray = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    return brightest


def cell_colour_statistics(canvas: np.ndarray) -> np.ndarray | None:
    """CIELAB mean and standard deviation (6 values) of a canvas's cell pixels, or None."""
    cell = brightest_channel(canvas) > CELL_LEVEL
    if cell.sum() < 2:
        return None
    lab = _rgb2lab(canvas[cell])
    statistics: np.ndarray = np.r_[lab.mean(axis=0), lab.std(axis=0)]
    return statistics


def _normalise_colour(rgb: np.ndarray, target: tuple[float, ...]) -> np.ndarray:
    """Map the cell pixels' CIELAB mean and spread onto `target`; black stays black."""
    from skimage.color import lab2rgb

    cell = brightest_channel(rgb) > CELL_LEVEL
    if cell.sum() < 2:
        return rgb
    lab = _rgb2lab(rgb[cell])
    mean, std = lab.mean(axis=0), np.maximum(lab.std(axis=0), 1e-3)
    lab = (lab - mean) / std * np.asarray(target[3:]) + np.asarray(target[:3])
    lab[:, 0] = np.clip(lab[:, 0], 0, 100)
    out = np.zeros_like(rgb)
    out[cell] = np.clip(np.rint(lab2rgb(lab[None])[0] * 255), 0, 255).astype(np.uint8)
    return out


def _rgb2lab(pixels: np.ndarray) -> np.ndarray:
    """CIELAB of N x 3 uint8 RGB pixels (scikit-image, imported when first needed)."""
    from skimage.color import rgb2lab

    lab: np.ndarray = rgb2lab(pixels[None])[0]
    return lab


def tta_views(batch: np.ndarray) -> list[np.ndarray]:
    """The 8 flips/rotations (dihedral group) of a batch of NHWC images."""
    views = []
    for flipped in (batch, batch[:, :, ::-1]):
        for quarter_turns in range(4):
            views.append(np.ascontiguousarray(np.rot90(flipped, quarter_turns, axes=(1, 2))))
    return views
