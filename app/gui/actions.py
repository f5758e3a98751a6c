"""The main window's actions (with their shortcuts) and its menus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoStack
from PySide6.QtWidgets import QFrame, QHBoxLayout, QMainWindow, QScrollArea, QToolButton, QWidget

from app.core.store import CaseSummary

FILTERS = {
    "all": "All",
    "flagged": "Flagged",
    "uncertain": "Uncertain",
    "normal": "Normal",
    "unreviewed": "To review",
    "unsure": "Unsure",
    "reviewed": "Reviewed",
    "errors": "Errors",
}
"""Gallery filters: the store's cell groups, and the case's unreadable files."""
SORTS = {"probability": "Most suspicious first", "position": "Image order"}
DECISION_KEYS = {
    "blast": ("Blast", "B"),
    "normal": ("Normal", "N"),
    "artefact": ("Artefact", "A"),
    "unsure": ("Unsure", "U"),
}
"""Every `Decision`: its name and key.  Artefact: not a white cell (left out of the count);
unsure: a second look is needed (it blocks sign-off)."""


@dataclass(frozen=True)
class WindowActions:
    """Every action of the main window, by what it does."""

    open_folder: QAction
    export: QAction
    settings: QAction
    lab: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    decisions: dict[str, QAction]
    sign_off: QAction
    cancel_batch: QAction
    amend: QAction
    acknowledge: QAction
    reviewer: QAction
    filters: dict[str, QAction]
    sorts: dict[str, QAction]
    about: QAction
    shortcuts: QAction

    def current_filter(self) -> str:
        return next(key for key, action in self.filters.items() if action.isChecked())

    def show_review_queue_first(self, summary: CaseSummary) -> None:
        """Open a case on its review queue ("To review"), or on all cells when nothing waits there."""
        self.filters["unreviewed" if summary.undecided - summary.unsure > 0 else "all"].trigger()

    def show_counts(self, summary: CaseSummary | None, queues: dict[str, int] | None = None) -> None:
        """Each filter's name with the number of cells (or files) it lists: the summary's counts,
        and `queues` for the review queues (To review, Unsure, Reviewed) as the store lists them."""
        counts = (
            {}
            if summary is None
            else {
                "all": summary.cells,
                "flagged": summary.flagged,
                "uncertain": summary.uncertain,
                "normal": summary.normal,
                "errors": summary.errors,
                **(queues or {}),
            }
        )
        for key, action in self.filters.items():
            action.setText(f"{FILTERS[key]} ({counts[key]})" if key in counts else FILTERS[key])


def build_actions(window, undo_stack: QUndoStack) -> WindowActions:
    """The actions, connected to the window's slots of the same meaning."""

    def action(
        text: str, slot: Callable[[], object], shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None
    ) -> QAction:
        made = QAction(text, window)
        if shortcut is not None:
            made.setShortcut(QKeySequence(shortcut))
        made.triggered.connect(lambda _=False: slot())
        return made

    undo = undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence("Ctrl+Z"))
    redo = undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    return WindowActions(
        open_folder=action("&Open Folder…", window.choose_folder, QKeySequence.StandardKey.Open),
        export=action("&Export Report…", window.export_report, "Ctrl+E"),
        settings=action("&Settings…", window.show_settings, "Ctrl+,"),
        lab=action("&Adapt to This Lab…", window.show_lab, "Ctrl+L"),
        quit=action("&Quit", window.close, QKeySequence.StandardKey.Quit),
        undo=undo,
        redo=redo,
        decisions={
            key: action(f"{label} ({letter})", partial(window.decide, key), letter)
            for key, (label, letter) in DECISION_KEYS.items()
        },
        sign_off=action("Sign &Off Case…", window.sign_off, "Ctrl+Shift+S"),
        cancel_batch=action("&Cancel Classification", lambda: window.batch_status.cancel(), "Esc"),
        amend=action("&Amend Sign-off…", window.amend),
        acknowledge=action("Ac&knowledge Unreadable Files", window.acknowledge_errors),
        reviewer=action("Change &Reviewer…", window.identity.choose),
        filters=_choice_actions(window, FILTERS, window.set_filter, "Ctrl+{}"),
        sorts=_choice_actions(window, SORTS, window.set_sort),
        about=action("&About BlastScan", window.show_about),
        shortcuts=action("&Keyboard Shortcuts", window.show_shortcuts, QKeySequence.StandardKey.HelpContents),
    )


def build_menus(window: QMainWindow, actions: WindowActions) -> None:
    menus = window.menuBar()
    file = menus.addMenu("&File")
    file.addActions([actions.open_folder, actions.export, actions.cancel_batch])
    file.addSeparator()
    file.addActions([actions.settings, actions.quit])
    edit = menus.addMenu("&Edit")
    edit.addActions([actions.undo, actions.redo])
    review = menus.addMenu("&Review")
    review.addActions(list(actions.decisions.values()))
    review.addSeparator()
    review.addActions([actions.acknowledge, actions.sign_off, actions.amend])
    review.addSeparator()
    review.addAction(actions.reviewer)
    view = menus.addMenu("&View")
    view.addActions(list(actions.filters.values()))
    view.addSeparator()
    view.addActions(list(actions.sorts.values()))
    menus.addMenu("&Lab").addAction(actions.lab)
    menus.addMenu("&Help").addActions([actions.shortcuts, actions.about])


def filter_bar(actions: WindowActions) -> QHBoxLayout:
    """A button per gallery filter (scrolling sideways when the window is narrow), then the sort menu."""
    buttons = QWidget()
    row = QHBoxLayout(buttons)
    row.setContentsMargins(0, 0, 0, 0)
    for action in actions.filters.values():
        button = QToolButton()
        button.setDefaultAction(action)
        button.setAutoRaise(True)
        row.addWidget(button)
    row.addStretch(1)
    scroller = QScrollArea()
    scroller.setWidget(buttons)
    scroller.setWidgetResizable(True)
    scroller.setFrameShape(QFrame.Shape.NoFrame)
    scroller.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroller.setFixedHeight(buttons.sizeHint().height() + scroller.horizontalScrollBar().sizeHint().height())
    bar = QHBoxLayout()
    bar.addWidget(scroller, 1)
    sort_button = QToolButton()
    sort_button.setText("Sort ▾")
    sort_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    sort_button.setStyleSheet("QToolButton::menu-indicator { image: none; }")
    sort_button.addActions(list(actions.sorts.values()))
    bar.addWidget(sort_button)
    return bar


def _choice_actions(
    window, choices: dict[str, str], slot: Callable[[str], None], shortcut: str | None = None
) -> dict[str, QAction]:
    """Checkable actions, one of which is on (the first at start)."""
    group = QActionGroup(window)
    actions = {}
    for number, (key, text) in enumerate(choices.items(), start=1):
        made = QAction(text, group, checkable=True, checked=number == 1)
        if shortcut:
            made.setShortcut(QKeySequence(shortcut.format(number)))
        made.triggered.connect(lambda _=False, key=key: slot(key))
        actions[key] = made
    return actions
