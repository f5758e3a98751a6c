"""User settings (QSettings, organisation "BlastScan"), the dialog that edits them, and themes.

Threshold and test-time augmentation are stored only when the user overrides them; None
means "as the model card says", so a new model brings its own defaults.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from app.core.decision import DecisionRule
from app.core.model_card import ModelCard

ORGANISATION = "BlastScan"
APPLICATION = "BlastScan"
THEMES = {"light": "Light", "dark": "Dark"}
RECENT_REVIEWERS = 8
"""Reviewer names remembered for the next sessions' choice."""


class Settings:
    """Typed access to the app's QSettings."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.qsettings = store if store is not None else QSettings(ORGANISATION, APPLICATION)

    @property
    def operator(self) -> str:
        """The user's name: the 'Prepared by' of new cases, and who set a threshold override when no
        reviewer is chosen yet.  Never the reviewer of a decision or a sign-off."""
        return str(self.qsettings.value("operator", "") or "").strip()

    @operator.setter
    def operator(self, name: str) -> None:
        self.qsettings.setValue("operator", name.strip())

    @property
    def recent_reviewers(self) -> list[str]:
        """Names that reviewed on this computer, latest first: offered when a review starts (the
        reviewer of a session is never kept: see `app.gui.identity`)."""
        value = self.qsettings.value("recent_reviewers")
        names = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
        return [str(name).strip() for name in names if str(name).strip()][:RECENT_REVIEWERS]

    def remember_reviewer(self, name: str) -> None:
        """Put `name` first in `recent_reviewers` (keeping RECENT_REVIEWERS names)."""
        names = [name.strip()] + [known for known in self.recent_reviewers if known != name.strip()]
        self.qsettings.setValue("recent_reviewers", names[:RECENT_REVIEWERS])
        self.qsettings.sync()

    @property
    def threshold(self) -> float | None:
        """The decision threshold for new cases; None: the model card's."""
        value = self.qsettings.value("threshold")
        return None if value in (None, "") else float(value)

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        self._set_or_remove("threshold", value)

    @property
    def tta(self) -> bool | None:
        """Test-time augmentation on or off; None: the model card's default."""
        value = self.qsettings.value("tta")
        return None if value in (None, "") else str(value).lower() in ("true", "1")

    @tta.setter
    def tta(self, value: bool | None) -> None:
        self._set_or_remove("tta", value)

    @property
    def theme(self) -> str:
        value = str(self.qsettings.value("theme", "light"))
        return value if value in THEMES else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        self.qsettings.setValue("theme", value)

    @property
    def last_case_id(self) -> int | None:
        """The case open when the app was last used (reopened at start)."""
        value = self.qsettings.value("last_case_id")
        return None if value in (None, "") else int(value)

    @last_case_id.setter
    def last_case_id(self, value: int | None) -> None:
        self._set_or_remove("last_case_id", value)

    @property
    def last_folder(self) -> str:
        """Where Open Folder starts: the folder opened last, else the home folder."""
        return str(self.qsettings.value("last_folder", "") or Path.home())

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self.qsettings.setValue("last_folder", value)

    def _set_or_remove(self, key: str, value: object) -> None:
        if value is None:
            self.qsettings.remove(key)
        else:
            self.qsettings.setValue(key, value)
        self.qsettings.sync()


class SettingsDialog(QDialog):
    """Edits your name, threshold, test-time augmentation and theme; `apply()` saves them."""

    def __init__(
        self,
        settings: Settings,
        card: ModelCard | None,
        parent: QWidget | None = None,
        rule: DecisionRule | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings, self.card = settings, card
        self.rule = rule or (card.rule if card else None)
        """The rule in use (model card or site profile): its threshold is the default."""
        self.operator = QLineEdit(settings.operator)
        self.operator.setPlaceholderText("'Prepared by' of new cases")
        self.operator.setToolTip(
            "The reviewer who decides and signs off is chosen at the first decision of each session "
            "(Reviewer, in the status bar)."
        )
        self.threshold = QDoubleSpinBox(decimals=3, minimum=0.001, maximum=0.999, singleStep=0.01)
        self.tta = QCheckBox("Average the 8 flips and rotations of each cell (slower, steadier)")
        self.theme = QComboBox()
        for key, label in THEMES.items():
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(list(THEMES).index(settings.theme))

        form = QFormLayout(self)
        form.addRow("Your name:", self.operator)
        form.addRow("Blast threshold:", self.threshold)
        if card is None or self.rule is None:  # (a card always brings a rule)
            self.threshold.setEnabled(False)
            self.tta.setEnabled(False)
            form.addRow("", QLabel("The model is missing: its defaults are unknown."))
        else:
            threshold = settings.threshold if settings.threshold is not None else self.rule.threshold
            self.threshold.setValue(threshold)
            self.tta.setChecked(settings.tta if settings.tta is not None else card.tta)
            note = QLabel(
                f"Default of the rule in use ({self.rule.name}): {self.rule.threshold:.3f}. Applies to new "
                "cases; a case keeps the threshold it was classified with."
            )
            note.setWordWrap(True)
            form.addRow("", note)
        form.addRow("Test-time augmentation:", self.tta)
        form.addRow("Theme:", self.theme)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.accepted.connect(self.apply)

    def apply(self) -> None:
        """Save the dialog's values; values equal to the defaults (rule, card) are stored as 'default'."""
        self.settings.operator = self.operator.text()
        self.settings.theme = self.theme.currentData()
        if self.card is not None and self.rule is not None:
            threshold = round(self.threshold.value(), 3)
            self.settings.threshold = None if threshold == round(self.rule.threshold, 3) else threshold
            self.settings.tta = None if self.tta.isChecked() == self.card.tta else self.tta.isChecked()


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion style with a light (the style's own) or dark palette."""
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    if theme == "dark":
        roles = {
            QPalette.ColorRole.Window: "#2b2b2b",
            QPalette.ColorRole.WindowText: "#e6e6e6",
            QPalette.ColorRole.Base: "#1e1e1e",
            QPalette.ColorRole.AlternateBase: "#2f2f2f",
            QPalette.ColorRole.Text: "#e6e6e6",
            QPalette.ColorRole.Button: "#353535",
            QPalette.ColorRole.ButtonText: "#e6e6e6",
            QPalette.ColorRole.ToolTipBase: "#353535",
            QPalette.ColorRole.ToolTipText: "#e6e6e6",
            QPalette.ColorRole.Highlight: "#3d7fd6",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.PlaceholderText: "#8a8a8a",
            QPalette.ColorRole.Link: "#7fb2ff",
        }
        for role, colour in roles.items():
            palette.setColor(role, QColor(colour))
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    app.setPalette(palette)
