"""A corpus of awkward input files, generated from one real C-NMC cell, with what each should do."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

SAMPLE_CELL = "cnmc/all/UID_11_10_1_all.webp"
"""The real cell (from the shared data) the valid files are made of."""

ERRORS = {
    "truncated.bmp": "truncated",
    "zero bytes.jpg": "empty (0 bytes)",
    "notes.png": "not a supported image",
    "claims 30000x30000.png": "900 megapixels",
    "damaged.jpg": "damaged",
    "really a gif.png": "not a supported image",
}
"""File name -> phrase its load error must contain."""

VALID = {
    "deep 16-bit.tif": "scaled to 8 bits",
    "grey 16-bit.png": "scaled to 8 bits",
    "cmyk.jpg": None,
    "camera with preview.jpg": None,  # MPO: JPEG plus a preview picture
    "one pixel.png": None,
    "ünïcödé  cell · 細胞.png": None,
    "CAPITALS.BMP": None,
    "two pages.tif": "only the first was read",
    "palette with transparency.png": "transparent parts",
    "grey.png": None,
    "sideways.jpg": "EXIF orientation",
    "nested/deeper/cell.webp": None,
}
"""File name -> phrase one of its load warnings must contain (None: no check)."""

IGNORED = ("empty folder/readme.txt", ".hidden.png", ".hidden folder/cell.png", "notes.txt")
"""Files discovery must skip."""


def make_corpus(folder: Path, cell: np.ndarray) -> None:
    """Write ERRORS, VALID and IGNORED files into `folder`; `cell` is 450x450x3 uint8."""
    for name in (*ERRORS, *VALID, *IGNORED):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(cell)
    bmp = _encode(image, "BMP")
    (folder / "truncated.bmp").write_bytes(bmp[: len(bmp) // 2])
    (folder / "zero bytes.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("this is not a picture\n", encoding="utf-8")
    (folder / "claims 30000x30000.png").write_bytes(png_header_only(30000, 30000))
    jpeg = _encode(image, "JPEG")
    (folder / "damaged.jpg").write_bytes(jpeg[:300] + bytes(range(256)) * 20)
    image.save(folder / "really a gif.png", format="GIF")

    tifffile.imwrite(folder / "deep 16-bit.tif", cell.astype(np.uint16) * 16)  # 12-bit data
    Image.fromarray(cell[:, :, 1].astype(np.uint16) * 257).save(folder / "grey 16-bit.png")
    image.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    image.save(folder / "camera with preview.jpg", format="MPO", save_all=True, append_images=[image.resize((90, 90))])
    Image.new("RGB", (1, 1), (200, 120, 220)).save(folder / "one pixel.png")
    image.save(folder / "ünïcödé  cell · 細胞.png")
    image.save(folder / "CAPITALS.BMP", format="BMP")
    image.save(folder / "two pages.tif", save_all=True, append_images=[image.rotate(90)])
    image.convert("P").save(folder / "palette with transparency.png", transparency=0)
    image.convert("L").save(folder / "grey.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to view
    image.crop((0, 0, 450, 300)).save(folder / "sideways.jpg", exif=exif.tobytes(), quality=95)
    image.save(folder / "nested/deeper/cell.webp", lossless=True)

    (folder / "empty folder/readme.txt").write_text("no images here", encoding="utf-8")
    image.save(folder / ".hidden.png")
    image.save(folder / ".hidden folder/cell.png")
    (folder / "notes.txt").write_text("not an image and not named like one", encoding="utf-8")


def _encode(image: Image.Image, file_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=file_format)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
