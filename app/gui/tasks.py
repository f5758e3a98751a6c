"""The one way the GUI runs work off its thread: `run_task(work, on_done, on_error)`.

`work(task)` runs on a `QThreadPool` thread and may call `task.report(value)` and ask
`task.cancelled`; its result, its progress and its failure come back to the GUI thread as
queued signals of the `BackgroundTask` (a QObject made on the GUI thread).  A failure nobody
handles is logged with its traceback and shown in a dialog: it never vanishes on a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)

Work = Callable[["BackgroundTask"], Any]


class BackgroundTask(QObject):
    """A piece of work on the pool: its signals arrive on the GUI thread; `finished` comes last."""

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    """The exception the work raised."""
    finished = Signal()

    def __init__(self, work: Work, description: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.description = description
        self._work = work
        self._cancel = threading.Event()
        self.runnable = _Runnable(self)

    def report(self, value: object) -> None:
        """Send progress to the GUI thread (called by the work)."""
        self.progressed.emit(value)

    def cancel(self) -> None:
        """Ask the work to stop; it decides where (it reads `cancelled`)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _run(self) -> None:
        try:
            result = self._work(self)
        except Exception as error:  # handed to the GUI thread: shown or handled there, never lost
            log.error("%s failed", self.description, exc_info=error)
            self.failed.emit(error)
        else:
            self.succeeded.emit(result)
        finally:
            self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, task: BackgroundTask) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it, through the task
        self.task = task

    def run(self) -> None:
        self.task._run()


_running: set[BackgroundTask] = set()
"""Tasks on a pool thread: kept alive here until they finish."""


def run_task(
    work: Work,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    *,
    description: str,
    parent: QWidget,
    on_progress: Callable[[Any], None] | None = None,
    pool: QThreadPool | None = None,
) -> BackgroundTask:
    """Run `work(task)` on `pool` (the global one by default).

    `on_done(result)` and `on_error(exception)` run on the GUI thread; without `on_error`, a
    failure is shown to the user in a dialog over `parent` titled after `description`.
    """
    task = BackgroundTask(work, description)
    if on_progress is not None:
        task.progressed.connect(on_progress)
    if on_done is not None:
        task.succeeded.connect(on_done)
    task.failed.connect(on_error if on_error is not None else lambda error: show_error(parent, description, error))
    task.finished.connect(lambda: _running.discard(task))
    _running.add(task)
    (pool or QThreadPool.globalInstance()).start(task.runnable)
    return task


def show_error(parent: QWidget | None, what: str, error: BaseException | str) -> QMessageBox:
    """Tell the user that `what` failed, and why."""
    reason = error if isinstance(error, str) else str(error) or type(error).__name__
    return show_message(parent, QMessageBox.Icon.Critical, what, f"{what} failed:\n{reason}")


def show_message(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
    """A window-modal message that does not block the event loop (tasks keep reporting)."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
