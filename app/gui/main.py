"""Starting the desktop app: `run(paths)` opens the window (on a case when paths are given)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app import __version__
from app.core.resources import resources_dir
from app.core.store import CaseStore, StoreError, data_dir
from app.gui.main_window import MainWindow
from app.gui.settings import APPLICATION, ORGANISATION, Settings, apply_theme
from app.gui.tasks import show_message
from app.logs import log_path, start_logging

log = logging.getLogger(__name__)


def run(paths: Sequence[str | Path]) -> int:
    """Open BlastScan; with `paths`, start (or reopen) the case of those folders or images.

    Without paths the case open last time is reopened.  Returns the exit code.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)  # (instance() is typed as the QCoreApplication)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "blastscan.png")))
    settings = Settings()
    apply_theme(app, settings.theme)
    start_logging(data_dir())
    try:
        store = CaseStore.open()
    except StoreError as error:
        QMessageBox.critical(None, "BlastScan", f"The case database cannot be opened:\n{error}")
        return 1
    previous_hook, sys.excepthook = sys.excepthook, _show_unexpected_error
    try:
        with store:
            window = MainWindow(store, settings)
            window.show()
            if paths:
                window.open_paths(paths)
            else:
                window.open_last_case()
            return app.exec()
    finally:
        sys.excepthook = previous_hook


def _show_unexpected_error(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """An error no code handled (a bug): logged with its traceback and told, and the app goes on."""
    log.critical("unexpected error", exc_info=(kind, error, trace))
    where = log_path()
    show_message(
        QApplication.activeWindow(),
        QMessageBox.Icon.Critical,
        "BlastScan",
        f"Something went wrong: {type(error).__name__}: {error}\n\nYour decisions are saved as you make them."
        + (f" Details are in {where}." if where else ""),
    )
