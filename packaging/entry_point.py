"""Entry point of the frozen app (build.spec): the same as the `blastscan` command.

With a command (`classify`, `report`, `--help`, ...) it runs the command line; otherwise it
opens the desktop app, on the images or folders given (see app/cli.py).

Two diagnostics, read from the environment and ignored when unset; tests/test_packaging.py
uses them, and support can use them on an installed copy:

BLASTSCAN_QUIT_AFTER_MS=N
    The desktop app quits by itself N ms after its event loop starts, and writes the
    visible top-level windows to stderr first (`blastscan: smoke test: visible windows:
    MainWindow 'BlastScan'`).  With QT_QPA_PLATFORM=offscreen this is a start-up test
    that needs no display.

BLASTSCAN_SELF_CHECK=1
    Instead of the app, check the installation: print one JSON object with the versions
    of the bundled components, where the model and resources were found, and, for each
    image path given, the cells the segmentation finds (box, SHA-256 of the cell canvas)
    and their blast probability without test-time augmentation, and ("qt_icu") what Qt
    gets from ICU (collation, codecs, case mapping, time-zone names; build.spec trims ICU's data).  Exit code 0 when the
    model loaded; 1 otherwise.  `python packaging/entry_point.py` does the same from
    source, so the two can be compared.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    if os.environ.get("BLASTSCAN_SELF_CHECK"):
        return self_check(argv)
    from app.cli import COMMANDS
    from app.cli import main as cli_main

    quit_after = os.environ.get("BLASTSCAN_QUIT_AFTER_MS")
    opens_gui = not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-"))
    if quit_after and opens_gui:
        _quit_after(int(quit_after))
    return cli_main(argv)


def _quit_after(milliseconds: int) -> None:
    """Make the QApplication that `app.gui.main.run` will use, with a timer that quits it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])

    def quit_now() -> None:
        windows = [
            f"{type(widget).__name__} {widget.windowTitle()!r}"
            for widget in app.topLevelWidgets()
            if widget.isVisible()
        ]
        if sys.stderr is not None:  # None in the windowed Windows executable
            print("blastscan: smoke test: visible windows: " + ", ".join(windows), file=sys.stderr, flush=True)
        app.quit()

    QTimer.singleShot(milliseconds, quit_now)


def self_check(paths: list[str]) -> int:
    import hashlib
    import json
    import platform
    from importlib import metadata

    import numpy
    import PIL
    import PySide6
    import scipy
    import skimage
    from PySide6.QtCore import qVersion

    from app import __version__
    from app.core.classifier import Classifier, ClassifierError
    from app.core.loading import ImageLoadError, load_image
    from app.core.resources import models_dir, resources_dir
    from app.core.segmentation import find_cells

    try:  # as Help > About reads it: from the distribution's metadata
        litert = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        litert = "not installed"

    report: dict = {
        "blastscan": __version__,
        "frozen": bool(getattr(sys, "frozen", False)),
        "python": platform.python_version(),
        "qt": qVersion(),
        "pyside6": PySide6.__version__,
        "versions": {
            "ai-edge-litert": litert,
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "scikit-image": skimage.__version__,
            "pillow": PIL.__version__,
        },
        "models_dir": str(models_dir()),
        "resources_dir": str(resources_dir()),
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "images": {},
    }
    try:
        classifier = Classifier(tta=False)
    except ClassifierError as error:
        report["model_error"] = str(error)
        classifier = None
    for path in paths:
        try:
            cells = find_cells(load_image(path).rgb)
        except ImageLoadError as error:
            report["images"][path] = {"error": str(error)}
            continue
        probabilities = (
            [float(p.probability) for p in classifier.classify([cell.canvas for cell in cells])]
            if classifier and cells
            else []
        )
        report["images"][path] = {
            "cells": [
                {
                    "box": list(cell.box),
                    "canvas_sha256": hashlib.sha256(cell.canvas.tobytes()).hexdigest(),
                    "probability": probability,
                }
                for cell, probability in zip(cells, probabilities or [None] * len(cells))
            ],
        }
    report["qt_icu"] = _qt_icu_probe()
    report["tensorflow_loaded"] = "tensorflow" in sys.modules
    print(json.dumps(report, indent=1))
    return 0 if classifier is not None else 1


def _qt_icu_probe() -> dict:
    """What Qt Core asks ICU for (collation, text codecs, locale case mapping, time-zone names),
    on a few locales: build.spec trims ICU's data, and the frozen app must answer as the source."""
    import functools

    from PySide6.QtCore import QCollator, QLocale, QStringDecoder, QStringEncoder, QTimeZone

    words = ["Äpfel", "apfel", "Zebra", "öl", "Ol", "ch", "cz", "hz", "ñu", "nu", "résumé", "resume", "日本", "Ωmega"]
    probe: dict = {"collation": {}, "case": {}, "codecs": {}, "time_zones": {}}
    for name in ("en_US", "de_DE", "sv_SE", "cs_CZ", "es_ES", "ja_JP", "zh_CN"):
        probe["collation"][name] = sorted(words, key=functools.cmp_to_key(QCollator(QLocale(name)).compare))
    for name in ("tr_TR", "lt_LT", "el_GR", "de_DE"):
        probe["case"][name] = [QLocale(name).toUpper("istanbul ßiı"), QLocale(name).toLower("İSTANBUL ΣΑΣ")]
    probe["codecs"]["available"] = len(QStringEncoder.availableCodecs())
    for name in ("Shift_JIS", "EUC-KR", "GB18030", "Big5", "ISO-8859-15", "windows-1252", "KOI8-R", "IBM037"):
        probe["codecs"][name] = [QStringDecoder(name).isValid(), QStringEncoder(name).name()]
    for zone in ("Europe/Berlin", "America/New_York", "Asia/Tokyo"):
        time_zone = QTimeZone(zone.encode())
        probe["time_zones"][zone] = [
            time_zone.displayName(kind, QTimeZone.NameType.LongName, QLocale(name))
            for kind in (QTimeZone.TimeType.StandardTime, QTimeZone.TimeType.DaylightTime)
            for name in ("en_US", "de_DE", "ja_JP")
        ] + [time_zone.displayName(QTimeZone.TimeType.DaylightTime, QTimeZone.NameType.ShortName, QLocale("en_US"))]
    return probe


if __name__ == "__main__":
    sys.exit(main())
