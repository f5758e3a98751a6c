"""The classification batch of the open case: start, progress with a steady ETA, cancel, finish.

One batch runs at a time, on a private one-thread pool (`run_task`); what is stored stays
stored, so a cancelled or interrupted case resumes from where it was.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.core.classifier import ClassifierError
from app.core.pipeline import RunSummary
from app.core.store import StoreError
from app.gui.tasks import BackgroundTask, run_task
from app.services.classification import ClassificationJob


class BatchController(QObject):
    """Runs `ClassificationJob`s one at a time and reports on the GUI thread."""

    progressed = Signal(int, int, str)
    """done, total, and the status text (with the time left once it can be estimated)."""
    stored = Signal()
    """Results of one more image are in the store."""
    failed = Signal(str)
    """A message for a person: the batch stopped early."""
    finished = Signal(object, int)
    """The `RunSummary` (None when the batch failed) and the case id; always comes last."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._window = parent
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.task: BackgroundTask | None = None
        self.case_id: int | None = None
        self._tasks: set[BackgroundTask] = set()
        self._summary: RunSummary | None = None
        self._rate_from: tuple[float, int] | None = None
        self._stopped = False

    @property
    def busy(self) -> bool:
        return self.task is not None

    @property
    def cancelling(self) -> bool:
        return self.task is not None and self.task.cancelled

    def start(self, job: ClassificationJob) -> None:
        """Classify what is not done yet in the job's case."""
        self.case_id, self._summary, self._rate_from = job.case_id, None, None
        task = run_task(
            lambda task: job.run(
                progress=lambda done, total, path: task.report((done, total, str(path or ""))),
                is_cancelled=lambda: task.cancelled,
            ),
            self._done,
            self._failed,
            description="Classification",
            parent=self._window,
            on_progress=self._progress,
            pool=self.pool,
        )
        task.finished.connect(lambda: self._ended(task, job.case_id))
        self.task = task
        self._tasks.add(task)

    def cancel(self) -> None:
        """Stop after the image in hand; what is done stays done."""
        if self.task is not None:
            self.task.cancel()

    def stop_all(self) -> None:
        """Cancel every batch and wait for them (the window is closing)."""
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        self.pool.waitForDone()
        self.task, self._tasks = None, set()

    def _progress(self, value: tuple[int, int, str]) -> None:
        done, total, path = value
        if self._stopped or self.sender() is not self.task:
            return
        now = time.monotonic()
        if self._rate_from is None and path:  # timed from the first stored image on
            self._rate_from = (now, done)
        left = ""
        if self._rate_from is not None and self._rate_from[1] < done < total:
            started, first = self._rate_from
            left = f" · about {_duration((now - started) / (done - first) * (total - done))} left"
        self.progressed.emit(done, total, f"Classifying {done} / {total} images{left}")
        if path:
            self.stored.emit()

    def _done(self, summary: RunSummary) -> None:
        if self.sender() is self.task:
            self._summary = summary

    def _failed(self, error: Exception) -> None:
        if isinstance(error, ClassifierError):
            message = (
                f"The blast classifier could not be loaded, so nothing was classified.\n\n{error}\n\n"
                "Reinstall BlastScan to restore the model. Cases classified before can still be reviewed."
            )
        elif isinstance(error, StoreError):
            message = f"The case could not be classified: {error}"
        else:
            message = (
                f"Classification stopped unexpectedly: {type(error).__name__}: {error}\n\n"
                "Finished images are kept; open the case again to continue."
            )
        self.failed.emit(message)

    def _ended(self, task: BackgroundTask, case_id: int) -> None:
        self._tasks.discard(task)
        if task is self.task and not self._stopped:
            self.task = None
            self.finished.emit(self._summary, case_id)


class BatchStatus(QWidget):
    """The status bar's view of a batch: what it does, how far, and Cancel; hidden when idle."""

    def __init__(self, batch: BatchController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.batch = batch
        self.text = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.text, self.progress_bar, self.cancel_button):
            layout.addWidget(widget)
        batch.progressed.connect(self._progressed)
        batch.finished.connect(self.hide)
        self.hide()

    def started(self, case_name: str) -> None:
        self.text.setText(f"Classifying {case_name}…")
        self.progress_bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.show()

    def cancel(self) -> None:
        """Stop the batch after the image in hand; what is done stays done."""
        if self.batch.busy:
            self.batch.cancel()
            self.text.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _progressed(self, done: int, total: int, text: str) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        if not self.batch.cancelling:
            self.text.setText(text)


def model_missing(card: Path) -> str:
    """Why new images cannot be classified when the bundled model (its `card`) is missing."""
    return (
        f"The blast classifier model is missing ({card}), so new images cannot be classified.\n\n"
        "Reinstall BlastScan to restore it. Cases classified before can still be reviewed."
    )


def run_text(summary: RunSummary) -> str:
    """One line on what a batch did."""
    done = f"{summary.classified} image(s) classified, {summary.cells} cell(s)"
    if summary.skipped:
        done += f"; {summary.skipped} done before"
    if summary.errors:
        done += f"; {summary.errors} unreadable (see Errors)"
    return ("Cancelled: " if summary.cancelled else "Done: ") + done


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{seconds:02d}"
