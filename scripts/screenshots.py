"""Make the README's screenshots of the desktop app, headless (Qt's offscreen platform).

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots]

Uses a throw-away case database and settings, the bundled model and the demo case:
classifies it, reviews a few cells with the same keys a technician uses, selects a cell and
saves `main_window.png`; then does the same for whole-field images (`field_view.png`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.core.resources import demo_case_dir  # noqa: E402
from app.core.store import CaseStore  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.settings import Settings, apply_theme  # noqa: E402

FIELDS = REPO.parent / "shared" / "data" / "fields_taleqani" / "Original"
FIELD_IMAGES = ("Pre/WBC-Malignant-Pre-468.jpg", "Benign/WBC-Benign-440.jpg")
"""Field images for the field screenshot (the first one is shown)."""
SIZE = (1600, 960)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="blastscan-shots-") as temporary:
        work = Path(temporary)
        settings = Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
        settings.operator = "A. Technician"
        apply_theme(app, settings.theme)
        with CaseStore(work / "cases.sqlite3") as store:
            window = MainWindow(store, settings)
            window.resize(*SIZE)
            window.show()
            shoot_demo_case(window, app, args.out / "main_window.png")
            fields = work / "smear_fields"
            fields.mkdir()
            for name in FIELD_IMAGES:
                if (FIELDS / name).is_file():
                    shutil.copy(FIELDS / name, fields / Path(name).name)
            if any(fields.iterdir()):
                shoot_field_case(window, app, fields, args.out / "field_view.png")
            window.close()
    return 0


def shoot_demo_case(window: MainWindow, app: QApplication, out: Path) -> None:
    """The demo case, classified, three cells reviewed with B/N/U, the fourth selected."""
    window.open_paths([demo_case_dir()])
    wait_for_batch(window, app)
    window.header.sample_id.setText("DEMO-0001")
    window.header.sample_id.editingFinished.emit()
    window.gallery.setFocus()
    for key in (Qt.Key.Key_B, Qt.Key.Key_B, Qt.Key.Key_N):
        QTest.keyClick(window.gallery, key)
    save(window, app, out)


def shoot_field_case(window: MainWindow, app: QApplication, folder: Path, out: Path) -> None:
    """A case of whole-field images, a cell of the first field selected."""
    window.open_paths([folder])
    wait_for_batch(window, app)
    window.filter_actions["all"].trigger()
    window.sort_actions["position"].trigger()
    window.gallery.setFocus()
    QTest.keyClick(window.gallery, Qt.Key.Key_Right)
    save(window, app, out)


def wait_for_batch(window: MainWindow, app: QApplication) -> None:
    while window.is_busy():
        app.processEvents()
        QTest.qWait(50)
    QTest.qWait(200)


def save(window: MainWindow, app: QApplication, out: Path) -> None:
    app.processEvents()
    QTest.qWait(300)
    if not window.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
