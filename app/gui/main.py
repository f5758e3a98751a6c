"""Starting the desktop app: `run(paths)` opens the window (on a case when paths are given)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app import __version__
from app.core.resources import resources_dir
from app.core.store import CaseStore, StoreError
from app.gui.main_window import MainWindow
from app.gui.settings import APPLICATION, ORGANISATION, Settings, apply_theme


def run(paths: Sequence[str | Path]) -> int:
    """Open BlastScan; with `paths`, start (or reopen) the case of those folders or images.

    Without paths the case open last time is reopened.  Returns the exit code.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "blastscan.png")))
    settings = Settings()
    apply_theme(app, settings.theme)
    try:
        store = CaseStore.open()
    except StoreError as error:
        QMessageBox.critical(None, "BlastScan", f"The case database cannot be opened:\n{error}")
        return 1
    with store:
        window = MainWindow(store, settings)
        window.show()
        if paths:
            window.open_paths(paths)
        else:
            window.open_last_case()
        return app.exec()
