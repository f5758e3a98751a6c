"""Sign-off in the app: the gate the store's check opens, the sign-off and amendment dialogs, and
the acknowledgement of unreadable files.

The rules are the case store's (`app.core.store.review`): the app shows what
`CaseStore.sign_off_check` says and calls `sign_off`, `amend` and `acknowledge_errors`.  The
check reads the case's folders and counts its queues, so it runs off the GUI thread
(`ReviewGate`), once after changes that come close together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.store import Case, CaseStore, CellGroup, SignOff, SignOffCheck, SignOffRefused, StoreError
from app.gui.review import local_time
from app.gui.tasks import run_task, show_message

log = logging.getLogger(__name__)

CHECK_DELAY_MS = 200
"""Changes closer together than this make one sign-off check."""
QUEUES = (CellGroup.UNREVIEWED, CellGroup.UNSURE, CellGroup.REVIEWED)
"""The filters whose counts come with the check (the others are the case summary's)."""


@dataclass(frozen=True)
class ReviewState:
    """A case's sign-off check, its sign-offs and amendments, and the cells its review queues list."""

    check: SignOffCheck
    history: list[SignOff]
    queues: dict[str, int]

    @property
    def case_id(self) -> int:
        return self.check.case.id


def read_review_state(store: CaseStore, case_id: int) -> ReviewState:
    """The case's `ReviewState` (slow on a large case: run it off the GUI thread)."""
    queues = {group.value: len(store.list_cells(case_id, group)) for group in QUEUES}
    return ReviewState(store.sign_off_check(case_id), store.sign_offs(case_id), queues)


class ReviewGate(QObject):
    """Reads the open case's `ReviewState` on a private one-thread pool after each change and
    hands it over with `checked` (None when no case is open)."""

    checked = Signal(object)

    def __init__(self, store: CaseStore, parent: QWidget) -> None:
        super().__init__(parent)
        self.store, self._window = store, parent
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.state: ReviewState | None = None
        """The last state read (of the case open then)."""
        self._case_id: int | None = None
        self._running = self._again = self._closed = False
        self._timer = QTimer(self, singleShot=True, interval=CHECK_DELAY_MS)
        self._timer.timeout.connect(self._read)

    @property
    def settled(self) -> bool:
        """No check waits or runs: `state` is the open case's as of its last change."""
        return not self._timer.isActive() and not self._running

    def queues(self, case_id: int) -> dict[str, int] | None:
        """The review queues' counts last read for `case_id` (None: none read for it)."""
        return self.state.queues if self.state is not None and self.state.case_id == case_id else None

    def refresh(self, case_id: int | None) -> None:
        """The open case (or which case is open) changed: check it again shortly."""
        self._case_id = case_id
        self._timer.start()

    def close(self) -> None:
        """Stop checking and wait for a check under way (the store may close next)."""
        self._closed = True
        self._timer.stop()
        self.pool.waitForDone()

    def _read(self) -> None:
        if self._running:
            self._again = True
            return
        if self._case_id is None:
            self.state = None
            self.checked.emit(None)
            return
        self._running = True
        case_id = self._case_id
        run_task(
            lambda _: read_review_state(self.store, case_id),
            self._done,
            self._failed,
            description="Checking the case for sign-off",
            parent=self._window,
            pool=self.pool,
        )

    def _done(self, state: ReviewState) -> None:
        self._running = False
        if self._closed:
            return
        if self._again or state.case_id != self._case_id:
            self._again = False
            self._read()
            return
        self.state = state
        self.checked.emit(state)

    def _failed(self, error: Exception) -> None:
        self._running = False
        if not self._closed:
            show_message(self._window, QMessageBox.Icon.Critical, "Sign-off check", f"The check failed:\n{error}")


class SignOffDialog(QDialog):
    """What a sign-off signs (the counts, the blast % with its interval) and who signs: the
    reviewer confirms their name before the button signs; Cancel is the default button."""

    def __init__(
        self, check: SignOffCheck, reviewer: str, history: Sequence[SignOff], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign off case")
        case, summary = check.case, check.summary
        intro = _wrapped(f"You are signing off case <b>{html_text(case.name)}</b> with these results:")
        form = QFormLayout()
        for label, value in (
            ("Sample ID:", html_text(case.sample_id or "")),
            ("Prepared by:", html_text(case.operator or "not given")),
            ("Decided by:", html_text(case.rule_label)),
            ("Cells analysed:", str(summary.cells)),
            ("Artefacts:", f"{summary.artefacts} (not white cells: left out of the count)"),
            ("Cells counted:", f"{summary.counted} (cells analysed less artefacts: the blast % denominator)"),
            ("Confirmed blasts:", str(summary.confirmed_blasts)),
            ("Blast %:", f"<b>{summary.blast_percentage.describe()}</b>"),
            ("Unreadable files:", f"{summary.errors}, acknowledged and left out" if summary.errors else "none"),
        ):
            form.addRow(label, _wrapped(value))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        if history:
            layout.addWidget(_wrapped("<b>Amended case.</b> " + html_text(" ".join(describe_sign_offs(history)))))
        layout.addWidget(
            _wrapped(
                "After sign-off the case is frozen: decisions no longer change, and reopening it takes an "
                "amendment with a reason. Both signatures stay in the audit."
            )
        )
        self.signing_as = _wrapped(
            f"Signing as: <b>{html_text(reviewer)}</b>. Not you? Cancel, and change the reviewer in the status bar."
        )
        self.confirm = QCheckBox(f"I am {reviewer}, and I have reviewed this case")
        self.buttons = QDialogButtonBox()
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.sign_button = QPushButton(f"Sign off as {reviewer}")
        self.buttons.addButton(self.sign_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.sign_button.setAutoDefault(False)
        self.sign_button.setEnabled(False)
        self.cancel_button.setDefault(True)
        self.confirm.toggled.connect(self.sign_button.setEnabled)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for widget in (self.signing_as, self.confirm, self.buttons):
            layout.addWidget(widget)
        self.setMinimumWidth(560)


class AmendDialog(QDialog):
    """Reopens a signed-off case: a reason is required, and the reviewer's name goes with it."""

    def __init__(self, case: Case, reviewer: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Amend sign-off")
        signed = f"by {case.signed_off_by}, {local_time(case.signed_off_at)}" if case.signed_off_at else ""
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("Why the case is reopened (required)")
        self.reason.setTabChangesFocus(True)
        self.buttons = QDialogButtonBox()
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.reopen_button = QPushButton(f"Reopen as {reviewer}")
        self.buttons.addButton(self.reopen_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.reopen_button.setAutoDefault(False)
        self.reopen_button.setEnabled(False)
        self.cancel_button.setDefault(True)
        self.reason.textChanged.connect(lambda: self.reopen_button.setEnabled(bool(self.reason_text)))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _wrapped(
                f"Case <b>{html_text(case.name)}</b> was signed off {html_text(signed)}. Amending reopens it for "
                "changes; the sign-off stays in the audit with your reason, your name and the time, and the "
                "case needs a new sign-off."
            )
        )
        layout.addWidget(QLabel("Reason:"))
        layout.addWidget(self.reason)
        layout.addWidget(_wrapped(f"Amending as: <b>{html_text(reviewer)}</b>"))
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)

    @property
    def reason_text(self) -> str:
        return self.reason.toPlainText().strip()


class SignOffFlow(QObject):
    """Sign-off, amendment and acknowledgement through the store; `changed` hands over the case
    after each, and a refusal is shown with every reason."""

    changed = Signal(object)

    def __init__(self, store: CaseStore, parent: QWidget) -> None:
        super().__init__(parent)
        self.store, self._window = store, parent

    def sign_off(self, case_id: int, reviewer: str) -> None:
        """Check the case (off the GUI thread), ask the reviewer to confirm, then sign."""
        run_task(
            lambda _: (self.store.sign_off_check(case_id), self.store.sign_offs(case_id)),
            lambda result: self._confirm(reviewer, *result),
            description="Checking the case for sign-off",
            parent=self._window,
        )

    def amend(self, case: Case, reviewer: str) -> None:
        dialog = AmendDialog(case, reviewer, self._window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            self.changed.emit(self.store.amend(case.id, dialog.reason_text, reviewer))
        except StoreError as error:
            self._refused("Amendment", str(error))

    def acknowledge(self, case_id: int, reviewer: str) -> None:
        """Record that `reviewer` accepts the case's unreadable files being left out."""
        try:
            self.store.acknowledge_errors(case_id, reviewer)
        except StoreError as error:
            self._refused("Unreadable files", str(error))
            return
        self.changed.emit(self.store.get_case(case_id))

    def _confirm(self, reviewer: str, check: SignOffCheck, history: list[SignOff]) -> None:
        if not check.allowed:
            self._refused("Not ready for sign-off", _reasons_text(check.reasons))
            return
        if SignOffDialog(check, reviewer, history, self._window).exec() != QDialog.DialogCode.Accepted:
            return
        case_id = check.case.id
        run_task(
            lambda _: self.store.sign_off(case_id, reviewer),
            self.changed.emit,
            self._sign_off_failed,
            description="Signing off",
            parent=self._window,
        )

    def _sign_off_failed(self, error: Exception) -> None:
        if isinstance(error, SignOffRefused):
            self._refused("Not ready for sign-off", _reasons_text(error.reasons))
        elif isinstance(error, StoreError):
            self._refused("Sign-off", str(error))
        else:
            log.error("sign-off failed", exc_info=error)
            show_message(self._window, QMessageBox.Icon.Critical, "Sign-off", f"Sign-off failed:\n{error}")

    def _refused(self, title: str, text: str) -> None:
        show_message(self._window, QMessageBox.Icon.Warning, title, text)


def describe_sign_offs(history: Sequence[SignOff]) -> list[str]:
    """Each sign-off and the amendment that reopened it, as sentences, oldest first."""
    lines = []
    for sign_off in history:
        lines.append(f"Signed off by {sign_off.signed_off_by}, {local_time(sign_off.signed_off_at)}.")
        if sign_off.reopened_at is not None:
            lines.append(
                f"Reopened by {sign_off.reopened_by}, {local_time(sign_off.reopened_at)}: {sign_off.reopen_reason}"
            )
    return lines


def html_text(text: str) -> str:
    """`text` for rich text: its <, > and & escaped (quotes read as they are)."""
    return escape(text, quote=False)


def _reasons_text(reasons: Sequence[str]) -> str:
    return "The case cannot be signed off yet:\n" + "\n".join(f"• {reason}" for reason in reasons)


def _wrapped(html: str) -> QLabel:
    """A word-wrapped label of rich text (what comes from people is escaped by the caller)."""
    label = QLabel(html)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    return label
