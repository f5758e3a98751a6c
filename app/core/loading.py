"""Safe image loading: any supported file becomes RGB uint8, or an `ImageLoadError` with a reason.

Supported: BMP, TIFF (8 and 16 bit; of a multi-page file the first page), PNG, JPEG, WebP.
Grey, palette, CMYK and 16-bit images are converted to 8-bit RGB; transparency is composited
onto black (the background of a cell canvas); the EXIF orientation is applied.  The image
size claimed by the header is checked before any pixel is decoded (decompression bombs).
Whatever goes wrong with one file is reported as that file's `ImageLoadError`, so a batch
can go on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 80_000_000
"""Largest image (width x height) BlastScan decodes; far above any microscope field image."""

FORMATS = ("BMP", "TIFF", "PNG", "JPEG", "WEBP")
"""Pillow format names of the supported file types (JPEG includes cameras' MPO files)."""

_EXIF_ORIENTATION = 0x0112
_TIFF_BITS_PER_SAMPLE = 258
_HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageLoadError(Exception):
    """A file could not be read as an image; `reason` says why, for a person."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: `rgb` is H x W x 3 uint8; `warnings` are notes worth showing."""

    path: Path
    rgb: np.ndarray
    format: str
    warnings: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def load_image(path: str | Path) -> LoadedImage:
    """Read one image file as RGB uint8, or raise `ImageLoadError` saying why it cannot be."""
    path = Path(path)
    _check_file(path)
    try:
        with Image.open(path, formats=FORMATS) as image:
            return _decode(path, image)
    except ImageLoadError:
        raise
    except UnidentifiedImageError as error:
        raise ImageLoadError(path, "not a supported image: the content is not BMP, TIFF, PNG, JPEG or WebP") from error
    except Image.DecompressionBombError as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size = f"about {int(claimed.group(1)) / 1e6:,.0f} megapixels" if claimed else "too many pixels"
        raise ImageLoadError(path, _too_large(size)) from error
    except PermissionError as error:
        raise ImageLoadError(path, "permission denied: the file cannot be opened") from error
    except MemoryError as error:
        raise ImageLoadError(path, "not enough memory to decode this image") from error
    except Exception as error:  # Pillow's decoders raise many types on damaged files
        raise ImageLoadError(path, _damaged(error)) from error


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise ImageLoadError(path, "file not found") from error
    except OSError as error:
        raise ImageLoadError(path, f"cannot be read: {error.strerror or error}") from error
    if path.is_dir():
        raise ImageLoadError(path, "is a folder, not an image file")
    if size == 0:
        raise ImageLoadError(path, "the file is empty (0 bytes)")


def _decode(path: Path, image: Image.Image) -> LoadedImage:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageLoadError(path, _too_large(f"{width} x {height} pixels ({width * height / 1e6:,.0f} megapixels)"))
    if width == 0 or height == 0:
        raise ImageLoadError(path, f"the header claims an empty image ({width} x {height})")
    notes = []
    pages = getattr(image, "n_frames", 1)
    if pages > 1:
        notes.append(f"the file holds {pages} pages or frames; only the first was read")
    image.load()
    high_bit = _high_bit_pixels(path, image)
    rgb, note = _scale_to_8_bit(high_bit) if high_bit is not None else _to_rgb(image)
    if note:
        notes.append(note)
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    if orientation in _ORIENTATIONS:
        rgb = np.asarray(Image.fromarray(rgb).transpose(_ORIENTATIONS[orientation]))
        notes.append("turned upright as its EXIF orientation tag says")
    return LoadedImage(path=path, rgb=rgb, format=image.format or "unknown", warnings=tuple(notes))


def _high_bit_pixels(path: Path, image: Image.Image) -> np.ndarray | None:
    """H x W x 3 pixels of more than 8 bits, or None for an 8-bit image.

    Pillow keeps 16-bit grey but cuts 16-bit colour TIFF to its high bytes, which leaves
    12-bit camera data nearly black; such pages are read again with tifffile.
    """
    if image.mode in _HIGH_BIT_MODES:
        return np.repeat(np.asarray(image)[:, :, None], 3, axis=2)
    bits = getattr(image, "tag_v2", {}).get(_TIFF_BITS_PER_SAMPLE, 8)
    if image.format != "TIFF" or max(np.atleast_1d(bits)) <= 8:
        return None
    import tifffile  # only for this rare case; a dependency of scikit-image

    pixels = tifffile.imread(path, key=0)
    if pixels.ndim != 3 or pixels.shape[2] < 3:
        raise ImageLoadError(path, f"unsupported TIFF layout {pixels.shape} ({bits} bits)")
    return pixels[:, :, :3]


def _to_rgb(image: Image.Image) -> tuple[np.ndarray, str | None]:
    """8-bit RGB pixels of an 8-bit Pillow image, and a note when transparency was dropped."""
    if image.mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy(), None
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:] / 255.0
        rgb = np.rint(rgba[:, :, :3] * alpha).astype(np.uint8)
        note = "transparent parts shown as black" if (alpha < 1.0).any() else None
        return rgb, note
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy(), None


def _scale_to_8_bit(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Map 16-bit values (or 10/12/14-bit data stored in 16 bits) linearly onto 0..255."""
    values = np.clip(values.astype(np.float64), 0, None)
    peak = float(values.max()) if values.size else 0.0
    bits = next((bits for bits in (8, 10, 12, 14, 16) if peak <= 2**bits - 1), None)
    full_scale = 2**bits - 1 if bits else peak
    scaled = np.rint(np.minimum(values, full_scale) * (255.0 / full_scale)).astype(np.uint8)
    depth = f"{bits}-bit data" if bits else "values beyond 16 bits"
    return scaled, f"high-bit-depth image ({depth}) scaled to 8 bits"


def _too_large(size: str) -> str:
    return (
        f"the header claims {size}, over the {MAX_PIXELS / 1e6:.0f}-megapixel limit; "
        "refused without decoding (damaged file or decompression bomb)"
    )


def _damaged(error: Exception) -> str:
    detail = str(error) or type(error).__name__
    if "truncated" in detail.lower():
        return "the file is truncated: it ends before the image data does"
    return f"the file is damaged and cannot be decoded ({detail})"
