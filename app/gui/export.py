"""Export the open case's Excel report: where to (a save dialog), then written off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMainWindow

from app.core.store import Case, CaseStore
from app.gui.tasks import run_task
from app.services import export


def export_report(window: QMainWindow, store: CaseStore, case: Case) -> None:
    """Ask where to write the case's report (beside its images by default), then write it on a
    pool thread; the status bar says when it is saved, a dialog why it failed."""
    sources = store.list_sources(case.id)
    folder = Path(sources[0]).parent if sources else Path.home()
    path, _ = QFileDialog.getSaveFileName(
        window, "Export report", str(folder / f"{case.name}.xlsx"), "Excel workbook (*.xlsx)"
    )
    if not path:
        return
    case_id = case.id
    window.statusBar().showMessage(f"Writing the report: {path}…")
    run_task(
        lambda _: export.write_report(store, case_id, Path(path)),
        lambda _: window.statusBar().showMessage(f"Report saved: {path}", 15000),
        description="Exporting the report",
        parent=window,
    )
