"""The main window: case list, the open case (gallery, review, summary), the background batch.

Layout and wiring only: use cases come from `app.services`, background work from
`app.gui.tasks` (the batch through `BatchController`), actions and menus from
`app.gui.actions`, the reviewer of the session from `app.gui.identity`, the sign-off gate,
sign-off and amendment (the store's rules) from `app.gui.sign_off`.  Opening another case
pauses the running batch; a case resumes (without redoing finished images) whenever it is
opened again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
)

from app.core.discovery import discover_images
from app.core.model_card import CARD_FILE, ModelCardError
from app.core.pipeline import RunSummary
from app.core.resources import models_dir
from app.core.site import ActiveSetup, SiteError, SiteLibrary
from app.core.store import Case, CaseStore, StoreError
from app.gui.actions import WindowActions, build_actions, build_menus, filter_bar
from app.gui.batch import BatchController, BatchStatus, model_missing, run_text
from app.gui.case_panel import CaseDetails, CaseList, ErrorsPage, FamiliarityBanner, SummaryPanel
from app.gui.export import export_report
from app.gui.gallery import CellListModel, GalleryView
from app.gui.help import ShortcutsDialog, about_html
from app.gui.identity import ReviewerButton, ReviewerIdentity
from app.gui.lab import LabDialog, SetupButton, setup_change_message
from app.gui.review import DecisionCommand, ReviewPanel
from app.gui.settings import Settings, SettingsDialog, apply_theme
from app.gui.sign_off import ReviewGate, ReviewState, SignOffFlow
from app.gui.tasks import show_message
from app.gui.widgets import accept_as_copy, column, local_paths
from app.services.cases import case_for_sources
from app.services.classification import ClassificationJob

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
        try:
            self.setup: ActiveSetup | None = self.site.active()
        except ModelCardError:
            self.setup = None
        self.card = self.setup.model.card if self.setup else None
        self.case: Case | None = None
        self.batch = BatchController(self)
        self.batch.stored.connect(self._catch_up_soon)
        self.batch.failed.connect(lambda message: self._message(QMessageBox.Icon.Critical, "Classification", message))
        self.batch.finished.connect(self._on_batch_finished)
        self.undo_stack = QUndoStack(self)
        self.model = CellListModel(store, self)
        self.identity = ReviewerIdentity(settings, self)  # who reviews: in memory only, asked when a review starts
        self.gate = ReviewGate(store, self)
        self.gate.checked.connect(self._show_check)
        self.sign_offs = SignOffFlow(store, self)
        self.sign_offs.changed.connect(self._case_changed)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._catch_up)

        self.setWindowTitle("BlastScan")
        self.setAcceptDrops(True)
        self.window_actions: WindowActions = build_actions(self, self.undo_stack)
        self._build_widgets()
        build_menus(self, self.window_actions)
        self._reload_case_list()
        self._show_case_state()
        self.resize(QSize(1600, 960))

    # Opening cases

    def open_paths(self, paths: Sequence[str | Path]) -> Case | None:
        """Start a case on folders or images, or reopen the case made from the same ones."""
        if not discover_images(paths):
            self._message(
                QMessageBox.Icon.Warning, "No images", "No images were found in:\n" + "\n".join(map(str, paths))
            )
            return None
        case = case_for_sources(self.store, paths, operator=self.settings.operator or None)
        self._reload_case_list()
        self.open_case(case.id, self.settings.threshold if case.model_version is None else None)
        return self.case

    def open_case(self, case_id: int, threshold: float | None = None) -> None:
        """Show a case as it was left, and classify what is not done yet (if not signed off)."""
        if self.batch.busy and self.batch.case_id != case_id:
            self.batch.cancel()
            self.statusBar().showMessage(
                "The previous case's classification is paused; it goes on when that case is opened again.", 8000
            )
        self.case = self.store.get_case(case_id)
        self.settings.last_case_id = case_id
        self.undo_stack.clear()
        self.cases.select(case_id)
        self.window_actions.show_review_queue_first(self.store.summary(case_id))  # loads and selects the top
        self._show_case_state()
        self.gallery.setFocus()
        if not self.case.signed_off and not (self.batch.busy and self.batch.case_id == case_id):
            self._start_batch(self.case, threshold)

    def open_last_case(self) -> None:
        """Reopen the case that was open when the app was last closed, if it still exists."""
        case_id = self.settings.last_case_id
        if case_id is not None and any(case.id == case_id for case in self.store.list_cases()):
            self.open_case(case_id)

    def choose_folder(self) -> None:
        if folder := QFileDialog.getExistingDirectory(self, "Open a folder of smear images", self.settings.last_folder):
            self.settings.last_folder = str(Path(folder).parent)
            self.open_paths([folder])

    # The batch

    def is_busy(self) -> bool:
        return self.batch.busy

    def _start_batch(self, case: Case, threshold: float | None) -> None:
        if not self.store.list_sources(case.id):
            return
        if self.card is None:
            self._message(QMessageBox.Icon.Critical, "Model missing", model_missing(self.model_dir / CARD_FILE))
            return
        try:
            job = ClassificationJob.for_case(
                self.store,
                case.id,
                bundled_models=self.model_dir,
                tta=self.settings.tta,
                threshold=threshold,
                threshold_by=self.identity.name or self.settings.operator or None,
            )
        except SiteError as error:
            self._store_refused(str(error))
            return
        self.batch.start(job)
        self.batch_status.started(case.name)
        self._show_summary()

    def _on_batch_finished(self, summary: RunSummary | None, case_id: int) -> None:
        if summary is not None:
            self.statusBar().showMessage(run_text(summary), 15000)
        if self.case is not None and self.case.id == case_id:
            self.case = self.store.get_case(case_id)
            if summary is not None and not summary.cancelled:  # a finished case: the top of its queue
                self.window_actions.show_review_queue_first(self.store.summary(case_id))
            self._catch_up()
        self.batch_finished.emit(summary)

    def _catch_up_soon(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _catch_up(self) -> None:
        """Bring gallery, errors and summary up to date with the store (streaming results)."""
        if self.case is None:
            return
        had_cells = self.model.rowCount() > 0
        self.model.refresh()
        if not had_cells:
            self._select_row(0)
        self._show_errors()
        self._show_summary()

    # Review

    def decide(self, decision: str) -> None:
        """Record a decision on the current cell (undoable), then move to the next cell."""
        index = self.gallery.currentIndex()
        open_case = self.case is not None and not self.case.signed_off
        if not open_case or not index.isValid() or not (reviewer := self.identity.current()):
            return
        record = self.model.record(index.row())
        if record.decision != decision:
            self.undo_stack.push(
                DecisionCommand(self.store, record, decision, reviewer, self._decision_changed, self._store_refused)
            )
        self._select_row(index.row() + 1)

    def sign_off(self) -> None:
        """Sign the case off: the store checks it, then the reviewer confirms the counts and who they are."""
        if self.case is not None and (reviewer := self.identity.current()):
            self.sign_offs.sign_off(self.case.id, reviewer)

    def amend(self) -> None:
        """Reopen the signed-off case, with a reason and the reviewer's name."""
        if self.case is not None and self.case.signed_off and (reviewer := self.identity.current()):
            self.sign_offs.amend(self.case, reviewer)

    def acknowledge_errors(self) -> None:
        """Record, with the reviewer's name, that the unreadable files are left out of the case."""
        if self.case is not None and (reviewer := self.identity.current()):
            self.sign_offs.acknowledge(self.case.id, reviewer)

    def _case_changed(self, case: Case) -> None:
        """A sign-off, an amendment or an acknowledgement changed a case."""
        if self.case is not None and self.case.id == case.id:
            self.case = case
            if case.signed_off:
                self.undo_stack.clear()
            self._show_case_state()
        self._reload_case_list()

    def _decision_changed(self, cell_id: int) -> None:
        self.model.update_cell(cell_id)
        row = self.model.row_of(cell_id)
        if row is not None:
            if self.gallery.currentIndex().row() == row:
                self._show_current()
            else:
                self._select_row(row)
        self._show_summary()

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
            self.window_actions.filters["all"].trigger()
        row = self.model.row_of(cell_id)
        if row is not None:
            self._select_row(row)

    # Filters, case details, export, dialogs

    def set_filter(self, key: str) -> None:
        if key == "errors":
            self.pages.setCurrentIndex(_ERRORS)
            return
        self.pages.setCurrentIndex(_GALLERY if self.case is not None else _WELCOME)
        self.model.load(self.case.id if self.case else None, group=key)
        self._select_row(0)

    def set_sort(self, key: str) -> None:
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
        self._show_summary()  # (the Sample ID is needed for sign-off)

    def export_report(self) -> None:
        """Write the case's Excel report, off the GUI thread."""
        if self.case is not None:
            export_report(self, self.store, self.case)

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.card, self, self.setup.rule if self.setup else None)
        dialog.accepted.connect(lambda: apply_theme(cast(QApplication, QApplication.instance()), self.settings.theme))
        dialog.open()

    def show_lab(self) -> None:
        """The lab adaptation dialog: labels, site profiles, models, and what is in use."""
        if self.setup is None:
            self._store_refused("The bundled model is missing, so there is nothing to adapt.")
            return
        name = self.identity.name or self.settings.operator or "unknown operator"
        dialog = LabDialog(self.store, self.site, name, self.is_busy(), self)
        dialog.setup_changed.connect(self._setup_changed)
        dialog.open()

    def _setup_changed(self, setup: ActiveSetup, changed: list[str]) -> None:
        """Show the new setup; a threshold override from Settings belonged to the old rule, so it goes."""
        self.setup, self.card = setup, setup.model.card
        self.setup_button.show_setup(setup)
        override, self.settings.threshold = self.settings.threshold, None
        if self.case is not None and self.case.name in changed:
            self.case = self.store.get_case(self.case.id)
            self.model.refresh()
            self._show_case_state()
        self.statusBar().showMessage(setup_change_message(setup, changed, override), 20000)

    def show_about(self) -> None:
        self._message(QMessageBox.Icon.Information, "About BlastScan", about_html(self.card))

    def show_shortcuts(self) -> None:
        ShortcutsDialog(
            [action for menu in self.menuBar().actions() for action in cast(QMenu, menu.menu()).actions()], self
        ).show()

    # Window events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            accept_as_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if paths := local_paths(event.mimeData()):
            accept_as_copy(event)
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the batch (finished images are kept) and wait for it before closing.

        Its last reports, still queued, are dropped: the caller may close the store next.
        """
        self.batch.stop_all()
        self.gate.close()
        self._refresh_timer.stop()
        for receiver in (self, self.batch):
            QCoreApplication.removePostedEvents(receiver, QEvent.Type.MetaCall)
        super().closeEvent(event)

    # Building and refreshing

    def _build_widgets(self) -> None:
        self.cases = CaseList()
        self.cases.case_chosen.connect(self._case_chosen)
        self.header = CaseDetails()
        self.header.changed.connect(self._edit_case)
        left = column(QLabel("<b>Cases</b>"), (self.cases, 1), self.header)

        self.gallery = GalleryView()
        self.gallery.setModel(self.model)
        self.gallery.selectionModel().currentChanged.connect(lambda current, _: self._show_current(current))
        self.errors = ErrorsPage(self.window_actions.acknowledge)
        welcome = QLabel("Drop a folder of smear images here,\nor use File › Open Folder (Ctrl+O).")
        welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        welcome.setStyleSheet("font-size: 16px; color: palette(mid);")
        self.pages = QStackedWidget()
        for page in (welcome, self.gallery, self.errors):
            self.pages.addWidget(page)
        self.familiarity_banner = FamiliarityBanner()
        middle = column(self.familiarity_banner, filter_bar(self.window_actions), (self.pages, 1))

        self.review = ReviewPanel(list(self.window_actions.decisions.values()))
        self.review.field_view.cell_clicked.connect(self._select_cell)
        self.summary = SummaryPanel()
        self.summary.sign_off_requested.connect(self.sign_off)
        self.summary.amend_requested.connect(self.amend)
        right = column((self.review, 1), self.summary)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (left, middle, right):
            splitter.addWidget(widget)
        splitter.setSizes([260, 700, 640])
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        self.setCentralWidget(splitter)

        self.batch_status, self.setup_button = BatchStatus(self.batch), SetupButton(self.setup)
        self.setup_button.clicked.connect(self.show_lab)
        for widget in (self.batch_status, self.setup_button, ReviewerButton(self.identity)):
            self.statusBar().addPermanentWidget(widget)

    def _show_case_state(self) -> None:
        """Header, filters, errors, summary and the enabled actions for the open case."""
        case = self.case
        self.header.show_case(case)
        self._show_errors()
        checked = self.window_actions.current_filter()
        self.pages.setCurrentIndex(_WELCOME if case is None else _ERRORS if checked == "errors" else _GALLERY)
        self.setWindowTitle(f"BlastScan — {case.name}" if case else "BlastScan")
        open_case = case is not None and not case.signed_off
        for action in self.window_actions.decisions.values():
            action.setEnabled(open_case)
        self.window_actions.export.setEnabled(case is not None)
        self.window_actions.amend.setEnabled(case is not None and case.signed_off)
        self.review.clear(
            "Signed off: decisions can no longer change (Review › Amend Sign-off reopens the case)."
            if case and case.signed_off
            else "Select a cell in the gallery."
        )
        self._show_current()
        self._show_summary()

    def _show_summary(self) -> None:
        self.familiarity_banner.show_case(self.case)
        summary = self.store.summary(self.case.id) if self.case else None
        busy = self.batch.busy and self.case is not None and self.batch.case_id == self.case.id
        self.summary.show_summary(self.case, summary, busy)  # sign-off off until the check of this state
        self.window_actions.sign_off.setEnabled(False)
        self.window_actions.show_counts(summary, self.gate.queues(self.case.id) if self.case else None)
        self.gate.refresh(self.case.id if self.case else None)

    def _show_check(self, state: ReviewState | None) -> None:
        """The store's sign-off check of the open case: the sign-off button, its reasons, the queues."""
        if state is not None and self.case is not None and state.case_id == self.case.id:
            self.summary.show_check(self.case, state.check, state.history)
            self.window_actions.sign_off.setEnabled(self.summary.sign_off_button.isEnabled())
            self.window_actions.show_counts(state.check.summary, state.queues)

    def _show_errors(self) -> None:
        waiting = self.errors.show_errors(self.store.list_errors(self.case.id) if self.case else [])
        self.window_actions.acknowledge.setEnabled(self.case is not None and not self.case.signed_off and waiting > 0)

    def _case_chosen(self, case_id: int) -> None:
        if self.case is None or self.case.id != case_id:
            self.open_case(case_id)
        elif not self.case.signed_off and not self.batch.busy:  # the open case again: classify what is left
            self._start_batch(self.case, None)

    def _reload_case_list(self) -> None:
        self.cases.show_cases(self.store.list_cases(), self.case.id if self.case else None)

    def _store_refused(self, message: str) -> None:
        self._message(QMessageBox.Icon.Warning, "Not possible", message)

    def _message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        return show_message(self, icon, title, text)
