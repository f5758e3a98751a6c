"""Image discovery: which files under the given paths are (meant to be) images, in stable order.

Rules:
- A file named explicitly is always returned, whatever it holds, so that a wrong or missing
  file becomes a per-file error instead of vanishing silently.
- Inside folders (searched recursively) a file is returned when its extension is an image
  extension (case-insensitive) *or* its first bytes are those of a supported image format.
  So a text file named ``x.png`` is returned (and fails to load with a clear reason), and an
  image saved without extension is still found; other files are ignored.
- Hidden files and folders (a leading dot, or the Windows hidden attribute) inside folders
  are skipped; symbolic links are followed, but a folder is never entered twice (no loops)
  and a file reached twice is returned once.
- Order: the arguments' order; within a folder, entries by natural name order
  (``img2`` before ``img10``), files before sub-folders.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".bmp", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".webp"})
"""Extensions (lower case) of the image formats BlastScan reads."""

_SIGNATURES = (
    (0, b"BM"),  # BMP
    (0, b"II*\x00"),  # TIFF, little-endian
    (0, b"MM\x00*"),  # TIFF, big-endian
    (0, b"II+\x00"),  # BigTIFF, little-endian
    (0, b"MM\x00+"),  # BigTIFF, big-endian
    (0, b"\x89PNG\r\n\x1a\n"),  # PNG
    (0, b"\xff\xd8\xff"),  # JPEG
    (8, b"WEBP"),  # WebP (after "RIFF" and the chunk size)
)
_SIGNATURE_BYTES = 12


def discover_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Absolute paths of the image files named by or found under `paths` (see module doc)."""
    found: list[Path] = []
    seen_files: set[Path] = set()
    seen_dirs: set[Path] = set()
    for given in paths:
        path = Path(os.path.abspath(given))
        for candidate in _walk(path, seen_dirs) if path.is_dir() else [path]:
            key = _real(candidate)
            if key not in seen_files:
                seen_files.add(key)
                found.append(candidate)
    return found


def looks_like_image(path: Path) -> bool:
    """True when the file starts with the signature of a supported image format."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SIGNATURE_BYTES)
    except OSError:
        return False
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _SIGNATURES)


def _walk(folder: Path, seen_dirs: set[Path]) -> Iterable[Path]:
    real = _real(folder)
    if real in seen_dirs:
        return
    seen_dirs.add(real)
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: _natural_key(entry.name))
    except OSError:
        return
    folders = []
    for entry in entries:
        if _is_hidden(entry):
            continue
        try:
            is_dir = entry.is_dir()
            is_file = entry.is_file()
        except OSError:
            continue
        path = Path(entry.path)
        if is_dir:
            folders.append(path)
        elif is_file and (path.suffix.lower() in IMAGE_EXTENSIONS or looks_like_image(path)):
            yield path
    for sub in folders:
        yield from _walk(sub, seen_dirs)


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    try:
        attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    except OSError:
        return False
    return bool(attributes & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _natural_key(name: str) -> tuple[tuple[int | str, ...], str]:
    parts = re.split(r"(\d+)", name.casefold())  # text, digits, text, ...: odd items are numbers
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts)), name
