"""The open case around the gallery: its editable details, its summary with sign-off, its errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.store import Case, CaseSummary, ImageRecord, SignOff, SignOffCheck
from app.gui.review import local_time
from app.gui.sign_off import describe_sign_offs, html_text

INPUT_KINDS = {None: "Detect per image", "crop": "Single cells on black", "field": "Fields, crops with background"}
"""The case's input kind (store value) and how it is offered."""
SUMMARY_ROWS = {
    "images": ("Images:", "Image files classified, and how many of them could not be read"),
    "cells": ("Cells analysed:", "Cells found, by the AI's call"),
    "flag_rate": ("AI flag rate:", "The share of cells the AI flagged: a screening rate, not a blast percentage"),
    "counted": ("Cells counted:", "The blast % denominator: cells analysed less those decided 'artefact'"),
    "blast_percentage": ("Blast % (confirmed):", "Confirmed blasts of the cells counted, with its 95% interval"),
    "rule": ("Decided by:", "The decision rule and threshold that made the AI's calls"),
}
"""The summary's rows: label and what the number means (a tooltip)."""


class CaseList(QListWidget):
    """Every case, newest first as the store lists them; a click asks to open one."""

    case_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.itemClicked.connect(lambda item: self.case_chosen.emit(item.data(Qt.ItemDataRole.UserRole)))

    def show_cases(self, cases: Sequence[Case], current: int | None) -> None:
        self.clear()
        for case in cases:
            item = QListWidgetItem(
                f"{'✔ ' if case.signed_off else ''}{case.name}\n{case.sample_id or '—'} · {local_time(case.created_at)}"
            )
            item.setToolTip(
                f"Signed off by {case.signed_off_by}, {local_time(case.signed_off_at)}"
                if case.signed_off_at is not None  # (case.signed_off)
                else "Open: review and sign-off pending"
            )
            item.setData(Qt.ItemDataRole.UserRole, case.id)
            self.addItem(item)
        if current is not None:
            self.select(current)

    def select(self, case_id: int) -> None:
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole) == case_id:
                self.setCurrentRow(row)


class FamiliarityBanner(QLabel):
    """Over the gallery of an unfamiliar case: why, and that every cell is to be reviewed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet(
            "background: #fff3cd; color: #5c3c00; border: 1px solid #e0a800; padding: 6px; font-weight: bold;"
        )
        self.hide()

    def show_case(self, case: Case | None) -> None:
        familiarity = case.familiarity if case else None
        self.setVisible(bool(case and case.unfamiliar and familiarity))
        if familiarity is not None and self.isVisible():
            self.setText(
                f"⚠ Unfamiliar images: {familiarity.reason}. The model's recall is not known to hold here, "
                "so the AI calls no cell normal: every cell is in the review queue and needs a decision "
                "before sign-off. Lab › Adapt to This Lab fits the model to this lab's reviewed cells."
            )
            self.setToolTip(familiarity.describe())


class CaseDetails(QGroupBox):
    """Name, sample/patient id, who prepared it and input kind of the open case, edited in place."""

    changed = Signal(str, object)
    """A field of the case (a `CaseStore.update_case` keyword) and its new value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Case", parent)
        self.name, self.sample_id, self.operator = QLineEdit(), QLineEdit(), QLineEdit()
        self.sample_id.setPlaceholderText("sample or patient id")
        self.operator.setPlaceholderText("who prepared the case")
        self.input_kind = QComboBox()
        self.input_kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.input_kind.setMinimumContentsLength(12)
        for value, label in INPUT_KINDS.items():
            self.input_kind.addItem(label, value)
        self.input_kind.setToolTip("How images are turned into cells; applies to images not classified yet.")
        self._case: Case | None = None
        form = QFormLayout(self)
        for label, field in (
            ("Name:", self.name),
            ("Sample ID:", self.sample_id),
            ("Prepared by:", self.operator),
            ("Input:", self.input_kind),
        ):
            form.addRow(label, field)
        for key, field in (("name", self.name), ("sample_id", self.sample_id), ("operator", self.operator)):
            field.editingFinished.connect(lambda key=key, field=field: self._edited(key, field.text().strip() or None))
        self.input_kind.activated.connect(lambda: self._edited("input_kind", self.input_kind.currentData()))

    def show_case(self, case: Case | None) -> None:
        self._case = case
        self.name.setText(case.name if case else "")
        self.sample_id.setText(case.sample_id or "" if case else "")
        self.operator.setText(case.operator or "" if case else "")
        self.input_kind.setCurrentIndex(list(INPUT_KINDS).index(case.input_kind if case else None))
        editable = case is not None and not case.signed_off
        for field in (self.name, self.sample_id, self.operator, self.input_kind):
            field.setEnabled(editable)

    def _edited(self, key: str, value: str | None) -> None:
        if self._case is not None and getattr(self._case, key) != value:
            self.changed.emit(key, value)


class SummaryPanel(QGroupBox):
    """The open case's counts (artefacts apart, the blast % once the review is complete) and its
    sign-off: the button the store's sign-off check enables, every reason it gives, the sign-offs
    and amendments."""

    sign_off_requested = Signal()
    amend_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Summary", parent)
        self.counts = {key: QLabel("–") for key in SUMMARY_ROWS}
        form = QFormLayout()
        for key, (label, tip) in SUMMARY_ROWS.items():
            self.counts[key].setWordWrap(True)
            self.counts[key].setToolTip(tip)
            form.addRow(label, self.counts[key])
        self.review_progress = QProgressBar()
        self.sign_off_button = QPushButton("Sign off case…")
        self.sign_off_button.clicked.connect(self.sign_off_requested)
        self.amend_button = QPushButton("Amend sign-off…")
        self.amend_button.clicked.connect(self.amend_requested)
        self.history, self.status = QLabel(), QLabel()
        for text in (self.history, self.status):
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for widget, stretch in ((self.review_progress, 1), (self.sign_off_button, 0), (self.amend_button, 0)):
            buttons.addWidget(widget, stretch)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.history)
        layout.addWidget(self.status)
        self._busy = False
        self._case_id: int | None = None
        self.show_summary(None, None, busy=False)

    def show_summary(self, case: Case | None, summary: CaseSummary | None, busy: bool) -> None:
        """Show a case's counts; sign-off waits for `show_check` to say the store allows it."""
        self._busy = busy
        self.sign_off_button.setEnabled(False)
        self.amend_button.setVisible(case is not None and case.signed_off)
        if case is not None and case.id != self._case_id:
            self.history.setText("")
            self.history.hide()
            self.status.setText("Checking whether the case can be signed off…")
        self._case_id = case.id if case is not None else None
        if case is None or summary is None:
            for label in self.counts.values():
                label.setText("–")
            self.review_progress.setRange(0, 1)
            self.review_progress.setValue(0)
            self.review_progress.setFormat("no case open")
            self.history.setText("")
            self.status.setText("")
            return
        unreadable = f" ({summary.errors} unreadable)" if summary.errors else ""
        self.counts["images"].setText(f"{summary.images}{unreadable}")
        self.counts["cells"].setText(
            f"{summary.cells}: <span style='color:#d32f2f'>{summary.flagged} flagged</span>, "
            f"<span style='color:#c79100'>{summary.uncertain} uncertain</span>, {summary.normal} normal"
        )
        self.counts["flag_rate"].setText(summary.flag_rate.describe() if summary.cells else "–")
        self.counts["counted"].setText(
            f"{summary.counted} of {summary.cells} analysed ({summary.artefacts} artefact(s) left out)"
        )
        self.counts["blast_percentage"].setText(_blast_percentage(summary))
        self.counts["rule"].setText(case.rule_label)
        self.counts["rule"].setToolTip(f"Model {case.model_version}" if case.model_version else "Not classified yet")
        self.review_progress.setRange(0, max(summary.to_review, 1))
        self.review_progress.setValue(summary.reviewed)
        unsure = f", {summary.unsure} unsure" if summary.unsure else ""
        self.review_progress.setFormat(f"{summary.reviewed} / {summary.to_review} decided{unsure}")
        self.review_progress.setToolTip(
            f"{summary.reviewed} of {summary.to_review} flagged or uncertain cells have a final decision "
            f"(blast, normal or artefact); {summary.unsure} cell(s) are unsure"
        )

    def show_check(self, case: Case, check: SignOffCheck, history: Sequence[SignOff]) -> None:
        """The store's verdict on sign-off, with every reason it refuses, and the case's sign-offs."""
        lines = [html_text(line) for line in describe_sign_offs(history)]
        if case.signed_off and lines:
            lines[-1] = f"✔ <b>{lines[-1]}</b>"
        self.history.setText("<br>".join(lines))
        self.history.setVisible(bool(lines))
        self.sign_off_button.setEnabled(check.allowed and not self._busy)
        if case.signed_off:
            self.status.setText("The case is frozen: Amend sign-off reopens it, with a reason.")
        elif self._busy:
            self.status.setText("Sign-off waits for the classification to finish.")
        elif check.allowed:
            self.status.setText("Ready for sign-off.")
        else:
            reasons = "".join(f"<li>{html_text(reason)}</li>" for reason in check.reasons)
            self.status.setText(f"<b>Not ready for sign-off:</b><ul style='margin: 0'>{reasons}</ul>")


class ErrorsTable(QTableWidget):
    """Files of the case that could not be read, the reason for each, and who acknowledged it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["File", "Reason", "Acknowledged"])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)

    def show_errors(self, errors: Sequence[ImageRecord]) -> None:
        self.setRowCount(len(errors))
        for row, record in enumerate(errors):
            name = QTableWidgetItem(Path(record.path).name)
            name.setToolTip(record.path)
            reason = QTableWidgetItem(record.message)
            reason.setToolTip(record.message)
            acknowledged = QTableWidgetItem(
                f"by {record.acknowledged_by}, {local_time(record.acknowledged_at)}"
                if record.acknowledged_at is not None
                else "not yet"
            )
            for column, item in enumerate((name, reason, acknowledged)):
                self.setItem(row, column, item)
        self.resizeRowsToContents()


class ErrorsPage(QWidget):
    """The Errors filter's page: the unreadable files, and the action that acknowledges them."""

    def __init__(self, acknowledge: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = ErrorsTable()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.acknowledge_button = QToolButton()
        self.acknowledge_button.setDefaultAction(acknowledge)
        self.acknowledge_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar = QHBoxLayout()
        bar.addWidget(self.note, 1)
        bar.addWidget(self.acknowledge_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

    def show_errors(self, errors: Sequence[ImageRecord]) -> int:
        """Show the case's unreadable files; return how many are not acknowledged."""
        self.table.show_errors(errors)
        waiting = sum(record.acknowledged_at is None for record in errors)
        if not errors:
            self.note.setText("Every image file of the case could be read.")
        elif waiting:
            self.note.setText(
                f"{waiting} unreadable file(s) are not acknowledged. They are left out of the case; sign-off "
                "needs someone to acknowledge that, with their name."
            )
        else:
            self.note.setText(f"The {len(errors)} unreadable file(s) are acknowledged and left out of the case.")
        return waiting


def _blast_percentage(summary: CaseSummary) -> str:
    """The confirmed blast %, once every cell to review has a final decision and none is unsure."""
    if not summary.cells:
        return "–"
    if summary.review_complete:
        return f"<b>{summary.blast_percentage.describe()}</b>"
    return "shown once every flagged or uncertain cell has a final decision and none is unsure"
