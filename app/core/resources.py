"""Where the bundled files are: `models/` and `resources/`, from a checkout or a frozen app.

From source they sit at the repository root (two levels above this package); in a
PyInstaller bundle they must be added as data under the same names (``models`` and
``resources``), and are found under ``sys._MEIPASS``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def bundle_root() -> Path:
    """The folder holding `models/` and `resources/`."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root)
    return Path(__file__).resolve().parents[2]


def models_dir() -> Path:
    """The bundled model folder (`blast_classifier.tflite`, `model_card.json`)."""
    return bundle_root() / "models"


def resources_dir() -> Path:
    """The bundled resources folder (icons; samples only in a source checkout)."""
    return bundle_root() / "resources"


def demo_case_dir() -> Path:
    """The demo case of a source checkout (24 C-NMC cells as 24-bit BMP); the packaged app
    leaves it out to stay small."""
    return resources_dir() / "samples" / "demo_case"
