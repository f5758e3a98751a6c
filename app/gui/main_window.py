"""The main window: case list, the open case (gallery, review, summary), the background batch.

Every question goes to the `CaseStore`; every computation to `app.core`.  One batch runs at
a time on a private one-thread pool; opening another case pauses the running one, and a
case resumes (without redoing finished images) whenever it is opened again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QMimeData,
    QModelIndex,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.classifier import CARD_FILE
from app.core.discovery import discover_images
from app.core.model_card import ModelCardError
from app.core.pipeline import RunSummary
from app.core.resources import models_dir
from app.core.site import ActiveSetup, SiteError, SiteLibrary
from app.core.store import Case, CaseStore, StoreError
from app.gui.case_panel import CaseDetails, ErrorsTable, SummaryPanel
from app.gui.gallery import CellListModel, GalleryView
from app.gui.help import ShortcutsDialog, about_html
from app.gui.lab import LabDialog
from app.gui.review import DecisionCommand, ReviewPanel, local_time
from app.gui.settings import Settings, SettingsDialog, apply_theme
from app.gui.worker import ClassifyWorker

FILTERS = {
    "all": "All",
    "flagged": "Flagged",
    "uncertain": "Uncertain",
    "normal": "Normal",
    "unreviewed": "To review",
    "reviewed": "Reviewed",
    "errors": "Errors",
}
"""Gallery filters: the store's cell groups, and the case's unreadable files."""
SORTS = {"probability": "Most suspicious first", "position": "Image order"}
DECISION_KEYS = {"blast": ("Blast", "B"), "normal": ("Normal", "N"), "unsure": ("Unsure", "U")}
REFRESH_MS = 400
"""While a batch runs, the gallery catches up with the store at most this often."""

_WELCOME, _GALLERY, _ERRORS = range(3)


class MainWindow(QMainWindow):
    """BlastScan's one window; `store` and `settings` are the caller's (closed by it)."""

    batch_finished = Signal(object)
    """A batch ended: its `RunSummary`, or None when it failed."""

    def __init__(self, store: CaseStore, settings: Settings, model_dir: Path | None = None) -> None:
        super().__init__()
        self.store, self.settings = store, settings
        self.model_dir = model_dir if model_dir is not None else models_dir()
        self.site = SiteLibrary(store.path.parent, bundled_models=self.model_dir)
        self.setup = self._active_setup()
        self.card = self.setup.model.card if self.setup else None
        self.case: Case | None = None
        self.worker: ClassifyWorker | None = None
        self._workers: set[ClassifyWorker] = set()
        self._batch_summary: RunSummary | None = None
        self._eta_start: tuple[float, int] | None = None
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.undo_stack = QUndoStack(self)
        self.model = CellListModel(store, self)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._catch_up)

        self.setWindowTitle("BlastScan")
        self.setAcceptDrops(True)
        self._build_actions()
        self._build_widgets()
        self._build_menus()
        self._reload_case_list()
        self._show_case_state()
        self.resize(QSize(1600, 960))

    # Opening cases

    def open_paths(self, paths: Sequence[str | Path]) -> Case | None:
        """Start a case on folders or images, or reopen the case made from the same ones."""
        sources = [Path(path).expanduser().resolve() for path in paths]
        if not discover_images(sources):
            self._message(
                QMessageBox.Icon.Warning, "No images", "No images were found in:\n" + "\n".join(map(str, sources))
            )
            return None
        case = self.store.find_case_by_sources(sources)
        threshold = None
        if case is None:
            case = self.store.create_case(
                self._unique_name(_case_name(sources)), operator=self.settings.operator or None
            )
            self.store.add_sources(case.id, sources)
            threshold = self.settings.threshold
            self._reload_case_list()
        self.open_case(case.id, threshold)
        return self.case

    def open_case(self, case_id: int, threshold: float | None = None) -> None:
        """Show a case as it was left, and classify what is not done yet (if not signed off)."""
        if self.worker is not None and self.worker.case_id != case_id:
            self.cancel_batch()
            self.statusBar().showMessage(
                "The previous case's classification is paused; it goes on when that case is opened again.", 8000
            )
        self.case = self.store.get_case(case_id)
        self.settings.last_case_id = case_id
        self.undo_stack.clear()
        self.model.load(case_id)
        self._select_case_in_list(case_id)
        self._show_case_state()
        self._select_row(0)
        self.gallery.setFocus()
        if not self.case.signed_off and (self.worker is None or self.worker.case_id != case_id):
            self._start_batch(self.case, threshold)

    def open_last_case(self) -> None:
        """Reopen the case that was open when the app was last closed, if it still exists."""
        case_id = self.settings.last_case_id
        if case_id is not None and any(case.id == case_id for case in self.store.list_cases()):
            self.open_case(case_id)

    def _case_clicked(self, item: QListWidgetItem) -> None:
        case_id = item.data(Qt.ItemDataRole.UserRole)
        if self.case is None or self.case.id != case_id:
            self.open_case(case_id)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of smear images")
        if folder:
            self.open_paths([folder])

    # The batch

    def _start_batch(self, case: Case, threshold: float | None) -> None:
        sources = self.store.list_sources(case.id)
        if not sources:
            return
        if self.card is None:
            self._message(
                QMessageBox.Icon.Critical,
                "Model missing",
                f"The blast classifier model is missing ({self.model_dir / CARD_FILE}), so new images "
                "cannot be classified.\n\nReinstall BlastScan to restore it. Cases classified before "
                "can still be reviewed.",
            )
            return
        try:
            setup = self.site.setup_for(case)
        except SiteError as error:
            self._store_refused(str(error))
            return
        worker = ClassifyWorker(
            self.store,
            case.id,
            sources,
            model_dir=setup.model.folder,
            tta=self.settings.tta,
            input_kind=case.input_kind,
            threshold=threshold,
            rule=setup.rule,
        )
        worker.signals.progress.connect(self._on_progress)
        worker.signals.result.connect(self._on_result)
        worker.signals.error.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        self.worker, self._batch_summary, self._eta_start = worker, None, None
        self._workers.add(worker)
        self.progress_text.setText(f"Classifying {case.name}…")
        self.progress_bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        for widget in (self.progress_text, self.progress_bar, self.cancel_button):
            widget.show()
        self.pool.start(worker)
        self._show_summary()

    def cancel_batch(self) -> None:
        """Stop the running batch after the image in hand; what is done stays done."""
        if self.worker is not None:
            self.worker.cancel()
            self.progress_text.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def is_busy(self) -> bool:
        return self.worker is not None

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, path: str) -> None:
        if not self._from_current_worker():
            return
        now = time.monotonic()
        if self._eta_start is None and path:  # the rate is timed from the first stored image on
            self._eta_start = (now, done)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        eta = ""
        if self._eta_start is not None and self._eta_start[1] < done < total:
            started, first = self._eta_start
            eta = f" · about {_duration((now - started) / (done - first) * (total - done))} left"
        if not self.worker.cancelled:
            self.progress_text.setText(f"Classifying {done} / {total} images{eta}")
        if path and not self._refresh_timer.isActive():
            self._refresh_timer.start()

    @Slot(object)
    def _on_result(self, summary: RunSummary) -> None:
        if self._from_current_worker():
            self._batch_summary = summary

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._message(QMessageBox.Icon.Critical, "Classification stopped", message)

    @Slot()
    def _on_finished(self) -> None:
        finished = next(worker for worker in self._workers if worker.signals is self.sender())
        self._workers.discard(finished)
        if finished is not self.worker:
            return
        self.worker = None
        for widget in (self.progress_text, self.progress_bar, self.cancel_button):
            widget.hide()
        summary = self._batch_summary
        if summary is not None:
            self.statusBar().showMessage(_run_text(summary), 15000)
        if self.case is not None and self.case.id == finished.case_id:
            self.case = self.store.get_case(self.case.id)
            self._catch_up()
        self.batch_finished.emit(summary)

    def _from_current_worker(self) -> bool:
        return self.worker is not None and self.sender() is self.worker.signals

    def _catch_up(self) -> None:
        """Bring gallery, errors and summary up to date with the store (streaming results)."""
        if self.case is None:
            return
        had_cells = self.model.rowCount() > 0
        self.model.refresh()
        if not had_cells:
            self._select_row(0)
        self.errors.show_errors(self.store.list_errors(self.case.id))
        self._show_summary()

    # Review

    def decide(self, decision: str) -> None:
        """Record a decision on the current cell (undoable), then move to the next cell."""
        index = self.gallery.currentIndex()
        if self.case is None or self.case.signed_off or not index.isValid():
            return
        reviewer = self._reviewer()
        if reviewer is None:
            return
        record = self.model.record(index.row())
        if record.decision != decision:
            self.undo_stack.push(
                DecisionCommand(self.store, record, decision, reviewer, self._decision_changed, self._store_refused)
            )
        self._select_row(index.row() + 1)

    def sign_off(self) -> None:
        """Sign the case off as the operator, once the store agrees every review is done."""
        if self.case is None:
            return
        reviewer = self._reviewer()
        if reviewer is None:
            return
        answer = QMessageBox.question(
            self,
            "Sign off case",
            f"Sign off case “{self.case.name}” as {reviewer}?\n\nAfter sign-off the case can no longer be changed.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.case = self.store.sign_off(self.case.id, reviewer)
        except StoreError as error:
            self._store_refused(str(error))
            return
        self.undo_stack.clear()
        self._reload_case_list()
        self._show_case_state()

    def _decision_changed(self, cell_id: int) -> None:
        self.model.update_cell(cell_id)
        row = self.model.row_of(cell_id)
        if row is not None:
            if self.gallery.currentIndex().row() == row:
                self._show_current()
            else:
                self._select_row(row)
        self._show_summary()

    def _reviewer(self) -> str | None:
        """The operator from the settings; asked for (and kept) the first time."""
        if self.settings.operator:
            return self.settings.operator
        name, ok = QInputDialog.getText(self, "Operator", "Your name, recorded with every review decision:")
        if not ok or not name.strip():
            return None
        self.settings.operator = name
        return self.settings.operator

    def _select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            self.gallery.setCurrentIndex(self.model.index(row))
            self.gallery.scrollTo(self.model.index(row))

    def _show_current(self, current: QModelIndex | None = None) -> None:
        index = current if current is not None else self.gallery.currentIndex()
        if not index.isValid() or self.case is None:
            self.review.clear()
            return
        record = self.model.record(index.row())
        field = self.store.list_cells(self.case.id, sort="position", image_id=record.image_id)
        self.review.show_cell(record, self.store.cell_crop(record.id), field)

    def _select_cell(self, cell_id: int) -> None:
        """Select a cell clicked in its field, showing all cells if the filter hides it."""
        if self.model.row_of(cell_id) is None:
            self.filter_actions["all"].trigger()
        row = self.model.row_of(cell_id)
        if row is not None:
            self._select_row(row)

    # Filters, case details, export

    def _set_filter(self, key: str) -> None:
        if key == "errors":
            self.pages.setCurrentIndex(_ERRORS)
            return
        self.pages.setCurrentIndex(_GALLERY if self.case is not None else _WELCOME)
        self.model.load(self.case.id if self.case else None, group=key)
        self._select_row(0)

    def _set_sort(self, key: str) -> None:
        current = self.gallery.currentIndex()
        cell_id = self.model.record(current.row()).id if current.isValid() else None
        self.model.load(self.case.id if self.case else None, sort=key)
        row = self.model.row_of(cell_id) if cell_id is not None else None
        self._select_row(row or 0)

    def _edit_case(self, key: str, value: str | None) -> None:
        if self.case is None:
            return
        try:
            self.case = self.store.update_case(self.case.id, **{key: value})
        except StoreError as error:
            self._store_refused(str(error))
        self.header.show_case(self.case)
        self._reload_case_list()

    def export_report(self) -> None:
        """Write the case's Excel report with `app.core.report.write_report`."""
        if self.case is None:
            return
        try:
            from app.core.report import write_report
        except ModuleNotFoundError as error:
            if error.name != "app.core.report":
                raise
            self._message(QMessageBox.Icon.Warning, "Export report", "The report writer is not part of this build yet.")
            return
        sources = self.store.list_sources(self.case.id)
        folder = Path(sources[0]).parent if sources else Path.home()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export report", str(folder / f"{self.case.name}.xlsx"), "Excel workbook (*.xlsx)"
        )
        if not path:
            return
        try:
            write_report(self.store, self.case.id, Path(path))
        except Exception as error:  # noqa: BLE001 - a failed export is reported, the app goes on
            self._message(QMessageBox.Icon.Critical, "Export report", f"The report could not be written:\n{error}")
            return
        self.statusBar().showMessage(f"Report saved: {path}", 15000)

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.card, self, self.setup.rule if self.setup else None)
        dialog.accepted.connect(lambda: apply_theme(QApplication.instance(), self.settings.theme))
        dialog.open()

    def show_lab(self) -> None:
        """The lab adaptation dialog: labels, site profiles, models, and what is in use."""
        if self.setup is None:
            self._store_refused("The bundled model is missing, so there is nothing to adapt.")
            return
        dialog = LabDialog(self.store, self.site, self.settings.operator or "unknown operator", self.is_busy(), self)
        dialog.setup_changed.connect(self._setup_changed)
        dialog.open()

    def _setup_changed(self, setup: ActiveSetup, changed: list[str]) -> None:
        """Show the new setup; a threshold override from Settings belonged to the old rule, so it goes."""
        self.setup, self.card = setup, setup.model.card
        self.setup_button.setText(setup.describe())
        override = self.settings.threshold
        self.settings.threshold = None
        if self.case is not None and self.case.name in changed:
            self.case = self.store.get_case(self.case.id)
            self.model.refresh()
            self._show_case_state()
        cleared = (
            f" Your threshold {override:.3f} from Settings was for the previous rule: new cases use "
            f"{setup.rule.threshold:.3f}."
            if override is not None
            else ""
        )
        self.statusBar().showMessage(
            f"Now in use: {setup.describe()}. Re-decided open cases: {', '.join(changed) or 'none'}.{cleared}", 20000
        )

    def _active_setup(self) -> ActiveSetup | None:
        try:
            return self.site.active()
        except ModelCardError:
            return None

    def show_about(self) -> None:
        self._message(QMessageBox.Icon.Information, "About BlastScan", about_html(self.card))

    def show_shortcuts(self) -> None:
        ShortcutsDialog([action for menu in self.menuBar().actions() for action in menu.menu().actions()], self).show()

    # Window events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the batch (finished images are kept) and wait for it before closing.

        Its last reports, still queued, are dropped: the caller may close the store next.
        """
        for worker in self._workers:
            worker.cancel()
        self.pool.waitForDone()
        self._refresh_timer.stop()
        QCoreApplication.removePostedEvents(self, QEvent.Type.MetaCall)
        self.worker = None
        self._workers.clear()
        super().closeEvent(event)

    # Building and refreshing

    def _build_actions(self) -> None:
        def action(text: str, slot, shortcut: QKeySequence | str | None = None) -> QAction:
            made = QAction(text, self)
            if shortcut is not None:
                made.setShortcut(QKeySequence(shortcut))
            made.triggered.connect(slot)
            return made

        self.open_action = action("&Open Folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self.export_action = action("&Export Report…", self.export_report, "Ctrl+E")
        self.settings_action = action("&Settings…", self.show_settings, "Ctrl+,")
        self.lab_action = action("&Adapt to This Lab…", self.show_lab, "Ctrl+L")
        self.quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.decision_actions = {
            key: action(f"{label} ({letter})", lambda _=False, key=key: self.decide(key), letter)
            for key, (label, letter) in DECISION_KEYS.items()
        }
        self.sign_off_action = action("Sign &Off Case…", self.sign_off)
        self.filter_actions = self._choice_actions(FILTERS, self._set_filter, "Ctrl+{}")
        self.sort_actions = self._choice_actions(SORTS, self._set_sort)
        self.about_action = action("&About BlastScan", self.show_about)
        self.shortcuts_action = action(
            "&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents
        )

    def _choice_actions(self, choices: dict[str, str], slot, shortcut: str | None = None) -> dict[str, QAction]:
        """Checkable actions, one of which is on (the first at start)."""
        group = QActionGroup(self)
        actions = {}
        for number, (key, text) in enumerate(choices.items(), start=1):
            made = QAction(text, group, checkable=True, checked=number == 1)
            if shortcut:
                made.setShortcut(QKeySequence(shortcut.format(number)))
            made.triggered.connect(lambda _=False, key=key: slot(key))
            actions[key] = made
        return actions

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file = menus.addMenu("&File")
        file.addActions([self.open_action, self.export_action])
        file.addSeparator()
        file.addActions([self.settings_action, self.quit_action])
        edit = menus.addMenu("&Edit")
        edit.addActions([self.undo_action, self.redo_action])
        review = menus.addMenu("&Review")
        review.addActions(list(self.decision_actions.values()))
        review.addSeparator()
        review.addAction(self.sign_off_action)
        view = menus.addMenu("&View")
        view.addActions(list(self.filter_actions.values()))
        view.addSeparator()
        view.addActions(list(self.sort_actions.values()))
        lab = menus.addMenu("&Lab")
        lab.addAction(self.lab_action)
        help_menu = menus.addMenu("&Help")
        help_menu.addActions([self.shortcuts_action, self.about_action])

    def _build_widgets(self) -> None:
        self.cases = QListWidget()
        self.cases.setWordWrap(True)
        self.cases.itemClicked.connect(self._case_clicked)
        self.header = CaseDetails()
        self.header.changed.connect(self._edit_case)
        left = _column(QLabel("<b>Cases</b>"), (self.cases, 1), self.header)

        filter_bar = QHBoxLayout()
        for action in self.filter_actions.values():
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            filter_bar.addWidget(button)
        filter_bar.addStretch(1)
        sort_button = QToolButton()
        sort_button.setText("Sort ▾")
        sort_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        sort_button.setStyleSheet("QToolButton::menu-indicator { image: none; }")
        sort_button.addActions(list(self.sort_actions.values()))
        filter_bar.addWidget(sort_button)
        self.gallery = GalleryView()
        self.gallery.setModel(self.model)
        self.gallery.selectionModel().currentChanged.connect(lambda current, _: self._show_current(current))
        self.errors = ErrorsTable()
        welcome = QLabel("Drop a folder of smear images here,\nor use File › Open Folder (Ctrl+O).")
        welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        welcome.setStyleSheet("font-size: 16px; color: palette(mid);")
        self.pages = QStackedWidget()
        for page in (welcome, self.gallery, self.errors):
            self.pages.addWidget(page)
        self.familiarity_banner = QLabel()
        self.familiarity_banner.setWordWrap(True)
        self.familiarity_banner.setStyleSheet(
            "background: #fff3cd; color: #5c3c00; border: 1px solid #e0a800; padding: 6px; font-weight: bold;"
        )
        self.familiarity_banner.hide()
        middle = _column(self.familiarity_banner, filter_bar, (self.pages, 1))

        self.review = ReviewPanel(list(self.decision_actions.values()))
        self.review.field_view.cell_clicked.connect(self._select_cell)
        self.summary = SummaryPanel()
        self.summary.sign_off_requested.connect(self.sign_off)
        right = _column((self.review, 1), self.summary)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (left, middle, right):
            splitter.addWidget(widget)
        splitter.setSizes([260, 700, 640])
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        self.setCentralWidget(splitter)

        self.progress_text = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_batch)
        for widget in (self.progress_text, self.progress_bar, self.cancel_button):
            self.statusBar().addPermanentWidget(widget)
            widget.hide()
        self.setup_button = QPushButton(self.setup.describe() if self.setup else "")
        self.setup_button.setFlat(True)
        self.setup_button.setToolTip("The model and decision rule that classify new cells: click to adapt to this lab")
        self.setup_button.clicked.connect(self.show_lab)
        self.statusBar().addPermanentWidget(self.setup_button)
        if self.card is None:
            self.setup_button.hide()
            warning = QLabel("⚠ Model missing: classification is unavailable")
            warning.setStyleSheet("color: #d32f2f; font-weight: bold;")
            self.statusBar().addPermanentWidget(warning)

    def _show_case_state(self) -> None:
        """Header, filters, errors, summary and the enabled actions for the open case."""
        case = self.case
        self.header.show_case(case)
        self.errors.show_errors(self.store.list_errors(case.id) if case else [])
        checked = next(key for key, action in self.filter_actions.items() if action.isChecked())
        self.pages.setCurrentIndex(_WELCOME if case is None else _ERRORS if checked == "errors" else _GALLERY)
        self.setWindowTitle(f"BlastScan — {case.name}" if case else "BlastScan")
        open_case = case is not None and not case.signed_off
        for action in self.decision_actions.values():
            action.setEnabled(open_case)
        self.export_action.setEnabled(case is not None)
        self.review.clear(
            "Signed off: decisions can no longer change."
            if case and case.signed_off
            else "Select a cell in the gallery."
        )
        self._show_current()
        self._show_summary()

    def _show_summary(self) -> None:
        self._show_familiarity()
        summary = self.store.summary(self.case.id) if self.case else None
        busy = self.worker is not None and self.case is not None and self.worker.case_id == self.case.id
        self.summary.show_summary(self.case, summary, busy)
        self.sign_off_action.setEnabled(self.summary.sign_off_button.isEnabled())
        counts = (
            {}
            if summary is None
            else {
                "all": summary.cells,
                "flagged": summary.flagged,
                "uncertain": summary.uncertain,
                "normal": summary.normal,
                "unreviewed": summary.to_review - summary.reviewed,
                "errors": summary.errors,
            }
        )
        for key, action in self.filter_actions.items():
            action.setText(f"{FILTERS[key]} ({counts[key]})" if key in counts else FILTERS[key])

    def _show_familiarity(self) -> None:
        """The banner of an unfamiliar case: why, and that every cell is to be reviewed."""
        familiarity = self.case.familiarity if self.case else None
        self.familiarity_banner.setVisible(bool(self.case and self.case.unfamiliar and familiarity))
        if self.familiarity_banner.isVisible():
            self.familiarity_banner.setText(
                f"⚠ Unfamiliar images: {familiarity.reason}. The model's recall is not known to hold here, "
                "so the AI calls no cell normal: every cell is in the review queue and needs a decision "
                "before sign-off. Lab › Adapt to This Lab fits the model to this lab's reviewed cells."
            )
            self.familiarity_banner.setToolTip(familiarity.describe())

    def _reload_case_list(self) -> None:
        self.cases.clear()
        for case in self.store.list_cases():
            item = QListWidgetItem(
                f"{'✔ ' if case.signed_off else ''}{case.name}\n{case.sample_id or '—'} · {local_time(case.created_at)}"
            )
            item.setToolTip(
                f"Signed off by {case.signed_off_by}, {local_time(case.signed_off_at)}"
                if case.signed_off
                else "Open: review and sign-off pending"
            )
            item.setData(Qt.ItemDataRole.UserRole, case.id)
            self.cases.addItem(item)
        if self.case is not None:
            self._select_case_in_list(self.case.id)

    def _select_case_in_list(self, case_id: int) -> None:
        for row in range(self.cases.count()):
            if self.cases.item(row).data(Qt.ItemDataRole.UserRole) == case_id:
                self.cases.setCurrentRow(row)

    def _unique_name(self, base: str) -> str:
        name, number = base, 1
        while self.store.find_case(name) is not None:
            number += 1
            name = f"{base} ({number})"
        return name

    def _store_refused(self, message: str) -> None:
        self._message(QMessageBox.Icon.Warning, "Not possible", message)

    def _message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        """A window-modal message that does not block the event loop (workers keep reporting)."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box


def _case_name(sources: Sequence[Path]) -> str:
    """A case is named after the folder dropped (or the folder of the images dropped)."""
    first = sources[0]
    return first.name if first.is_dir() else first.parent.name or first.name


def _local_paths(mime: QMimeData) -> list[str]:
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{seconds:02d}"


def _run_text(summary: RunSummary) -> str:
    done = f"{summary.classified} image(s) classified, {summary.cells} cell(s)"
    if summary.skipped:
        done += f"; {summary.skipped} done before"
    if summary.errors:
        done += f"; {summary.errors} unreadable (see Errors)"
    return ("Cancelled: " if summary.cancelled else "Done: ") + done


def _column(*parts) -> QWidget:
    """A widget stacking widgets and layouts; (part, stretch) pairs stretch."""
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(4, 4, 4, 4)
    for part in parts:
        part, stretch = part if isinstance(part, tuple) else (part, 0)
        if isinstance(part, QWidget):
            layout.addWidget(part, stretch)
        else:
            layout.addLayout(part, stretch)
    return column
