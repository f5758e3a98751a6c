"""Who is reviewing: chosen when a review starts, shown in the status bar, never kept.

The reviewer of a session lives only in memory: a new window (a new launch) asks again, from
the recent names (`Settings.recent_reviewers`, latest first) or a new one, so that nobody
decides or signs under the name the previous user left behind.  Only the list of recent
names is kept.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QToolButton, QWidget

from app.gui.settings import Settings

ASK_TITLE = "Who is reviewing?"
ASK_LABEL = "Your name, recorded with every decision, acknowledgement and sign-off of this session:"


class ReviewerIdentity(QObject):
    """The reviewer of this session (`name`, None until chosen); `changed` carries a new one."""

    changed = Signal(str)

    def __init__(self, settings: Settings, parent: QWidget) -> None:
        super().__init__(parent)
        self.settings, self._window = settings, parent
        self.name: str | None = None

    def current(self) -> str | None:
        """The session's reviewer, asked for the first time; None when the user cancels."""
        return self.name or self.choose()

    def choose(self) -> str | None:
        """Ask who is reviewing (a recent name, or a new one typed in); None when cancelled."""
        recent = self.settings.recent_reviewers
        if self.name:
            recent = [self.name] + [name for name in recent if name != self.name]
        name, ok = QInputDialog.getItem(self._window, ASK_TITLE, ASK_LABEL, recent, 0, True)
        if not ok or not name.strip():
            return None
        self.set(name)
        return self.name

    def set(self, name: str) -> None:
        """Make `name` the session's reviewer (and the first of the recent names)."""
        self.name = name.strip()
        self.settings.remember_reviewer(self.name)
        self.changed.emit(self.name)


class ReviewerButton(QToolButton):
    """'Reviewer: NAME' in the status bar; a click changes who is reviewing."""

    def __init__(self, identity: ReviewerIdentity, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoRaise(True)
        self.setToolTip("Who decides and signs off in this session; click to change. Asked again at each launch.")
        self.clicked.connect(identity.choose)
        identity.changed.connect(self._show)
        self._show(identity.name)

    def _show(self, name: str | None) -> None:
        self.setText(f"Reviewer: {name}" if name else "Reviewer: not chosen")
