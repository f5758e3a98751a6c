"""Make the README's screenshots of the desktop app, headless (Qt's offscreen platform).

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots]

Uses a throw-away case database and settings, the bundled model and the demo case:
classifies it, reviews a few cells with the same keys a technician uses, selects a cell and
saves `main_window.png`; then does the same for a whole-field image (`field_view.png`) and for
the demo cells in another stain and magnification (`unfamiliar_case.png`: the banner), and
shows Lab › Adapt to This Lab over a simulated second lab (tests/simulated_lab.py: 12
signed-off cases) with one site profile fitted (`lab_dialog.png`).
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
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from app.core.resources import demo_case_dir  # noqa: E402
from app.core.store import CaseStore  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.settings import Settings, apply_theme  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
FIELDS = SHARED / "fields_taleqani" / "Original"
FIELD_IMAGE = "Pre/WBC-Malignant-Pre-468.jpg"
"""A 224x224 field of a pre-B ALL smear, crowded with blasts."""
SIZE = (1600, 960)
SMALL_SIZE = (1280, 720)


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
            window.identity.set("Dr. L. Moreau")  # the session's reviewer, chosen as a review starts
            window.resize(*SIZE)
            window.show()
            shoot_demo_case(window, app, args.out / "main_window.png")
            shoot_small_screen(window, app, settings, args.out)
            if (FIELDS / FIELD_IMAGE).is_file():
                fields = work / "smear_fields"
                fields.mkdir()
                shutil.copy(FIELDS / FIELD_IMAGE, fields)
                shoot_field_case(window, app, fields, args.out / "field_view.png")
            shoot_unfamiliar_case(window, app, work, args.out / "unfamiliar_case.png")
            window.close()
        if (SHARED / "cnmc").is_dir():
            shoot_lab_dialog(app, settings, work / "lab", args.out / "lab_dialog.png")
    return 0


def shoot_demo_case(window: MainWindow, app: QApplication, out: Path) -> None:
    """The demo case, classified, three cells reviewed with B/B/N, the fourth selected."""
    window.open_paths([demo_case_dir()])
    wait_for_batch(window, app)
    window.header.sample_id.setText("DEMO-0001")
    window.header.sample_id.editingFinished.emit()
    window.gallery.setFocus()
    for key in (Qt.Key.Key_B, Qt.Key.Key_B, Qt.Key.Key_N):
        QTest.keyClick(window.gallery, key)
    save(window, app, out)


def shoot_small_screen(window: MainWindow, app: QApplication, settings: Settings, out: Path) -> None:
    """The same case on a 1280x720 screen, light and dark (issue #17)."""
    window.resize(*SMALL_SIZE)
    for theme in ("light", "dark"):
        apply_theme(app, theme)
        save(window, app, out / f"main_window_1280x720_{theme}.png")
    apply_theme(app, settings.theme)
    window.resize(*SIZE)


def shoot_field_case(window: MainWindow, app: QApplication, folder: Path, out: Path) -> None:
    """A case of one whole-field image in image order, the cell nearest its centre selected."""
    window.open_paths([folder])
    wait_for_batch(window, app)
    window.window_actions.sorts["position"].trigger()
    model = window.model
    image = window.store.list_images(window.case.id)[0]

    def off_centre(row: int) -> float:
        x, y, width, height = model.record(row).box
        return abs(x + width / 2 - image.width / 2) + abs(y + height / 2 - image.height / 2)

    window.gallery.setCurrentIndex(model.index(min(range(model.rowCount()), key=off_centre)))
    window.gallery.setFocus()
    save(window, app, out)


def shoot_unfamiliar_case(window: MainWindow, app: QApplication, work: Path, out: Path) -> None:
    """The demo cells hue-turned and magnified: the familiarity banner, every cell to review."""
    sys.path.insert(0, str(REPO / "tests"))
    from simulated_lab import shifted_copy

    window.open_paths([shifted_copy(demo_case_dir(), work / "other_stain")])
    wait_for_batch(window, app)
    window.gallery.setFocus()
    save(window, app, out)


def shoot_lab_dialog(app: QApplication, settings: Settings, work: Path, out: Path) -> None:
    """The lab dialog after fitting a site profile on a simulated lab's 12 signed-off cases."""
    sys.path.insert(0, str(REPO / "tests"))
    from simulated_lab import classify_and_sign_off, lab_patients, write_lab_images

    from app.core.classifier import Classifier
    from app.gui.lab import LabDialog

    folders = write_lab_images(SHARED, work / "images", lab_patients(SHARED, 6, 6), 12)
    with CaseStore(work / "cases.sqlite3") as store:
        classify_and_sign_off(store, folders, Classifier(tta=False), settings.operator)
        window = MainWindow(store, settings)
        dialog = LabDialog(store, window.site, settings.operator, busy=False, parent=window)
        dialog.show()
        dialog.fit_profile()
        while "Saved" not in dialog.fit_result.text():
            app.processEvents()
            QTest.qWait(50)
        save(dialog, app, out)
        dialog.close()
        window.close()


def wait_for_batch(window: MainWindow, app: QApplication) -> None:
    while window.is_busy():
        app.processEvents()
        QTest.qWait(50)
    QTest.qWait(200)


def save(window: QWidget, app: QApplication, out: Path) -> None:
    app.processEvents()
    QTest.qWait(300)
    if not window.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
