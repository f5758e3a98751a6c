"""Adapt to this lab: fit site profiles from reviewed cells, compare and choose profiles and models.

A thin view over `app.core.site` and `app.core.recalibration`.  Fitting runs on the thread
pool; a new profile or model is only ever used after the technician chooses it here, and
the model card is always one click away.  While a batch runs nothing can be switched (the
running batch would otherwise decide part of a case the old way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.recalibration import (
    MINIMUM_BLASTS,
    MINIMUM_CASES,
    MINIMUM_NORMALS,
    LabelSet,
    Recalibration,
    RecalibrationRefused,
)
from app.core.site import BUNDLED, ActiveSetup, ModelChoice, SiteLibrary, SiteProfile
from app.core.store import CaseStore
from app.gui.tasks import run_task
from app.services import lab as lab_service

PROFILE_COLUMNS = (
    "Rule",
    "Created (UTC)",
    "By",
    "Threshold",
    "Before, on this lab's labels",
    "After, case-grouped cross-validation",
)
MODEL_COLUMNS = (
    "Model",
    "Source",
    "Threshold",
    "Card AUROC",
    "Card recall / specificity",
    "This lab, held out: current → retrained",
)


class LabDialog(QDialog):
    """The lab's labels, its site profiles and models, and the one in use."""

    setup_changed = Signal(object, list)
    """The new `ActiveSetup` and the names of the open cases re-decided by it."""

    def __init__(
        self, store: CaseStore, library: SiteLibrary, operator: str, busy: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adapt to this lab")
        self.store, self.library, self.operator, self.busy = store, library, operator, busy
        self.in_use = QLabel()
        self.labels_text = QLabel(wordWrap=True)
        self.target = QDoubleSpinBox(decimals=2, minimum=0.5, maximum=0.99, singleStep=0.01)
        self.fit_button = QPushButton("Fit a new site profile")
        self.fit_button.clicked.connect(self.fit_profile)
        self.fit_result = QLabel(wordWrap=True)
        self.profiles = _table(PROFILE_COLUMNS)
        self.models = _table(MODEL_COLUMNS)
        self.use_profile_button = QPushButton("Use selected rule")
        self.use_profile_button.clicked.connect(self.use_selected_profile)
        self.use_model_button = QPushButton("Use selected model")
        self.use_model_button.clicked.connect(self.use_selected_model)
        self.back_button = QPushButton("Back to the bundled model and its card")
        self.back_button.setToolTip("One click back to how BlastScan was shipped")
        self.back_button.clicked.connect(lambda: self._switch(BUNDLED, None))

        fit_row = QHBoxLayout()
        fit_row.addWidget(QLabel("Target blast recall:"))
        fit_row.addWidget(self.target)
        fit_row.addWidget(self.fit_button)
        fit_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.in_use)
        layout.addWidget(_group("This lab's labels", self.labels_text, fit_row, self.fit_result))
        layout.addWidget(_group("Decision rules for the model in use", self.profiles, self.use_profile_button))
        layout.addWidget(_group("Models", self.models, self.use_model_button))
        layout.addWidget(self.back_button)
        if busy:
            layout.addWidget(QLabel("A classification is running: wait for it or cancel it to switch."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        screen = self.screen().availableGeometry()  # within the screen: 1280x720 is common on lab PCs
        self.resize(min(1320, screen.width() - 40), min(660, screen.height() - 40))
        self.refresh()
        self.target.setValue(self._setup.model.card.decision.target_recall)

    @property
    def _setup(self) -> ActiveSetup:
        return self.library.active()

    def refresh(self) -> None:
        """Show the active setup, the labels, the rules of its model and every model."""
        setup = self._setup
        self.in_use.setText(f"<b>In use:</b> {setup.describe()}" + (f" — {setup.note}" if setup.note else ""))
        labels = self._labels(setup)
        self.labels_text.setText(
            f"Reviewed cells of signed-off cases, classified by model {setup.model.card.version}: "
            f"<b>{labels.blasts}</b> confirmed blasts and <b>{labels.normals}</b> confirmed normal cells "
            f"from <b>{labels.cases}</b> cases. A site profile needs at least "
            f"{MINIMUM_BLASTS}, {MINIMUM_NORMALS} and {MINIMUM_CASES}. Only cells "
            "someone decided count: decide some cells called normal too, or recall looks better than it is."
        )
        rules: list[SiteProfile | None] = [None] + [
            p for p in self.library.profiles() if p.model_version == setup.model.card.version
        ]
        _fill(
            self.profiles,
            [_profile_row(profile, setup) for profile in rules],
            rules,
            [profile == setup.profile for profile in rules],
        )
        models = self.library.models()
        _fill(
            self.models,
            [_model_row(model) for model in models],
            models,
            [model.key == setup.model.key for model in models],
        )
        for button in (self.use_profile_button, self.use_model_button):
            button.setEnabled(not self.busy)
        self.back_button.setEnabled(not self.busy and (not setup.model.bundled or setup.profile is not None))

    def fit_profile(self) -> None:
        """Fit on the pool; the result is saved as a new profile, not used until chosen."""
        self.fit_button.setEnabled(False)
        self.fit_result.setText("Fitting…")
        setup, labels, target = self._setup, self._labels(self._setup), self.target.value()
        run_task(
            lambda _: lab_service.fit_profile(labels, setup, target),
            self._fitted,
            self._fit_failed,
            description="Fitting a site profile",
            parent=self,
        )

    def use_selected_profile(self) -> None:
        row = self.profiles.currentRow()
        if row < 0:
            return
        profile = _payload(self.profiles, row)
        self._switch(self._setup.model.key, None if profile is None else profile.number)

    def use_selected_model(self) -> None:
        row = self.models.currentRow()
        if row < 0:
            return
        self._switch(_payload(self.models, row).key, None)

    def _fitted(self, result: Recalibration) -> None:
        setup = self._setup
        profile = lab_service.save_profile(self.library, setup, result, self.operator)
        self.fit_button.setEnabled(True)
        self.fit_result.setText(
            f"Saved <b>{profile.name}</b>, not in use until you choose it below. On this lab's cells, "
            f"{setup.rule.name}: {result.before.describe()}; {profile.name} (case-grouped "
            f"{result.folds}-fold): {result.after.describe()}."
            + "".join(f"<br><span style='color:#c77700'>⚠ {warning}</span>" for warning in result.warnings)
        )
        self.refresh()

    def _fit_failed(self, error: Exception) -> None:
        """A refusal (too few labels...) is said in place; anything else also as an error."""
        self.fit_button.setEnabled(True)
        reason = str(error) if isinstance(error, RecalibrationRefused) else f"Fitting failed: {error}"
        self.fit_result.setText(f"<span style='color:#d32f2f'>{reason}</span>")

    def _switch(self, model_key: str, profile_number: int | None) -> None:
        current = self._setup
        if (model_key, profile_number) == (current.model.key, current.profile.number if current.profile else None):
            return
        answer = QMessageBox.question(
            self,
            "Change what classifies",
            "New cells will be decided by the chosen model and rule, and the open cases classified with "
            "that model are re-decided from their stored model outputs. Review decisions are kept; "
            "signed-off cases keep the numbers they were signed with. You can switch back at any time.\n\n"
            "Go ahead?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        for button in (self.use_profile_button, self.use_model_button, self.back_button):
            button.setEnabled(False)
        run_task(
            lambda _: lab_service.switch_setup(self.store, self.library, model_key, profile_number, self.operator),
            self._switched,
            description="Changing what classifies",
            parent=self,
        )

    def _switched(self, result: tuple[ActiveSetup, list[str]]) -> None:
        self.refresh()
        self.setup_changed.emit(*result)

    def _labels(self, setup: ActiveSetup) -> LabelSet:
        return lab_service.lab_labels(self.store, setup)


class SetupButton(QPushButton):
    """The status bar's note of what classifies new cells (a click opens the lab dialog), or
    that the model is missing."""

    def __init__(self, setup: ActiveSetup | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFlat(True)
        self.setToolTip("The model and decision rule that classify new cells: click to adapt to this lab")
        if setup is None:
            self.setText("⚠ Model missing: classification is unavailable")
            self.setStyleSheet("color: #d32f2f; font-weight: bold;")
            self.setEnabled(False)
        else:
            self.show_setup(setup)

    def show_setup(self, setup: ActiveSetup) -> None:
        self.setText(setup.describe())


def setup_change_message(setup: ActiveSetup, changed: list[str], override: float | None) -> str:
    """What changed when a new setup was chosen (and that a Settings threshold was dropped)."""
    cleared = (
        f" Your threshold {override:.3f} from Settings was for the previous rule: new cases use "
        f"{setup.rule.threshold:.3f}."
        if override is not None
        else ""
    )
    return f"Now in use: {setup.describe()}. Re-decided open cases: {', '.join(changed) or 'none'}.{cleared}"


def _profile_row(profile: SiteProfile | None, setup: ActiveSetup) -> list[str]:
    if profile is None:
        card = setup.model.card
        return ["model card", card.created[:10], "training", f"{card.threshold:.3f}", "—", "—"]
    return [
        profile.name,
        profile.created_at[:16].replace("T", " "),
        profile.created_by,
        f"{profile.rule.threshold:.3f}",
        profile.before.describe(),
        profile.after.describe(),
    ]


def _model_row(model: ModelChoice) -> list[str]:
    metrics, lab = model.card.metrics, model.card.lab_evaluation
    compared = (
        "—"
        if not lab
        else " → ".join(
            f"AUROC {side.auroc:.2f}, recall {side.recall:.2f}, spec. {side.specificity:.2f}"
            for side in (lab.current, lab.retrained)
        )
    )
    return [
        model.card.version,
        "bundled" if model.bundled else "retrained on this lab",
        f"{model.card.threshold:.3f}",
        f"{metrics.auroc:.3f}",
        f"{metrics.recall:.2f} / {metrics.specificity:.2f}",
        compared,
    ]


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]], payloads: Sequence[object], in_use: list[bool]) -> None:
    """Rows of text; column 0 carries the payload; the row in use is bold and selected."""
    table.setRowCount(len(rows))
    for row, (texts, payload, used) in enumerate(zip(rows, payloads, in_use, strict=True)):
        for column, text in enumerate(texts):
            item = QTableWidgetItem(("● " if used and column == 0 else "") + text)
            font = item.font()
            font.setBold(used)
            item.setFont(font)
            table.setItem(row, column, item)
            if column == 0:
                item.setData(Qt.ItemDataRole.UserRole, payload)
        if used:
            table.selectRow(row)
    table.resizeColumnsToContents()


def _payload(table: QTableWidget, row: int) -> Any:
    """What `_fill` keeps in the first cell of a row (None for a row without one)."""
    item = table.item(row, 0)
    return None if item is None else item.data(Qt.ItemDataRole.UserRole)


def _group(title: str, *parts) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for part in parts:
        if isinstance(part, QWidget):
            layout.addWidget(part)
        else:
            layout.addLayout(part)
    return box
