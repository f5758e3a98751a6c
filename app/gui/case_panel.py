"""The open case around the gallery: its editable details, its summary with sign-off, its errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.core.decision import describe_rule
from app.core.store import Case, CaseSummary, ImageRecord
from app.gui.review import local_time

INPUT_KINDS = {None: "Detect per image", "crop": "Single cells on black", "field": "Fields, crops with background"}
"""The case's input kind (store value) and how it is offered."""


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
                if case.signed_off
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
    """Name, sample/patient id, operator and input kind of the open case, edited in place."""

    changed = Signal(str, object)
    """A field of the case (a `CaseStore.update_case` keyword) and its new value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Case", parent)
        self.name, self.sample_id, self.operator = QLineEdit(), QLineEdit(), QLineEdit()
        self.sample_id.setPlaceholderText("sample or patient id")
        self.operator.setPlaceholderText("who prepared the case")
        self.input_kind = QComboBox()
        for value, label in INPUT_KINDS.items():
            self.input_kind.addItem(label, value)
        self.input_kind.setToolTip("How images are turned into cells; applies to images not classified yet.")
        self._case: Case | None = None
        form = QFormLayout(self)
        for label, field in (
            ("Name:", self.name),
            ("Sample ID:", self.sample_id),
            ("Operator:", self.operator),
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
    """Counts, blast percentages, review progress and the sign-off button of the open case."""

    sign_off_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Summary", parent)
        self.counts = {key: QLabel("–") for key in ("images", "cells", "calls", "ai_blasts", "confirmed", "rule")}
        self.counts["rule"].setWordWrap(True)
        self.review_progress = QProgressBar()
        self.sign_off_button = QPushButton("Sign off case…")
        self.sign_off_button.clicked.connect(self.sign_off_requested)
        self.status = QLabel()
        self.status.setWordWrap(True)
        grid = QGridLayout(self)
        for number, (label, key) in enumerate(
            (
                ("Images:", "images"),
                ("Cells:", "cells"),
                ("AI calls:", "calls"),
                ("Blasts (AI):", "ai_blasts"),
                ("Blasts (confirmed):", "confirmed"),
                ("Decided by:", "rule"),
            )
        ):
            row, column = number % 3, 2 * (number // 3)
            grid.addWidget(QLabel(label), row, column)
            grid.addWidget(self.counts[key], row, column + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 2)
        grid.addWidget(self.review_progress, 3, 0, 1, 3)
        grid.addWidget(self.sign_off_button, 3, 3)
        grid.addWidget(self.status, 4, 0, 1, 4)
        self.show_summary(None, None, busy=False)

    def show_summary(self, case: Case | None, summary: CaseSummary | None, busy: bool) -> None:
        """Show a case's numbers; sign-off is offered once every flagged and uncertain cell is reviewed."""
        if case is None or summary is None:
            for label in self.counts.values():
                label.setText("–")
            self.review_progress.setRange(0, 1)
            self.review_progress.setValue(0)
            self.review_progress.setFormat("no case open")
            self.sign_off_button.setEnabled(False)
            self.status.setText("")
            return
        unreadable = f" ({summary.errors} unreadable)" if summary.errors else ""
        self.counts["images"].setText(f"{summary.images}{unreadable}")
        self.counts["cells"].setText(str(summary.cells))
        self.counts["calls"].setText(
            f"<span style='color:#d32f2f'>{summary.flagged} flagged</span>, "
            f"<span style='color:#c79100'>{summary.uncertain} uncertain</span>, {summary.normal} normal"
        )
        self.counts["ai_blasts"].setText(_percent(summary.flagged, summary.cells))
        self.counts["confirmed"].setText(_percent(summary.confirmed_blasts, summary.cells))
        classified = case.model_version is not None
        self.counts["rule"].setText(
            f"{describe_rule(case.decision_rule)}, threshold {case.threshold:.3f}" if classified else "–"
        )
        self.counts["rule"].setToolTip(f"Model {case.model_version}" if classified else "")
        self.review_progress.setRange(0, max(summary.to_review, 1))
        self.review_progress.setValue(summary.reviewed)
        self.review_progress.setFormat(f"{summary.reviewed} / {summary.to_review} reviewed")
        self.review_progress.setToolTip(
            f"{summary.reviewed} of {summary.to_review} flagged or uncertain cells reviewed"
        )
        waiting = summary.to_review - summary.reviewed
        self.sign_off_button.setEnabled(not case.signed_off and not busy and waiting == 0 and summary.images > 0)
        if case.signed_off:
            self.status.setText(f"✔ Signed off by <b>{case.signed_off_by}</b>, {local_time(case.signed_off_at)}.")
        elif busy:
            self.status.setText("Sign-off waits for the classification to finish.")
        elif waiting:
            self.status.setText(f"{waiting} flagged or uncertain cell(s) still need a decision before sign-off.")
        else:
            self.status.setText("Every flagged and uncertain cell is reviewed: ready for sign-off.")


class ErrorsTable(QTableWidget):
    """Files of the case that could not be read, with the reason for each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["File", "Reason"])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
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
            self.setItem(row, 0, name)
            self.setItem(row, 1, reason)
        self.resizeRowsToContents()


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part} of {whole})" if whole else "–"
