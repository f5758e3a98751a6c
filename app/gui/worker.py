"""Classification off the GUI thread: a QRunnable around `core.pipeline.classify_case`.

The runnable's signals live on a separate QObject (`WorkerSignals`) created on the GUI
thread, so they are delivered there, queued.  Cancelling sets a flag that the pipeline asks
between images; what was stored stays stored, and a later run resumes from it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Signal

from app.core.cells import CellFinder
from app.core.classifier import Classifier, ClassifierError
from app.core.decision import DecisionRule
from app.core.pipeline import classify_case
from app.core.store import CaseStore, StoreError

log = logging.getLogger(__name__)


class WorkerSignals(QObject):
    """What a `ClassifyWorker` reports; `finished` comes last, whatever happened."""

    progress = Signal(int, int, str)
    """done, total, path of the image just stored ('' at the start)."""
    result = Signal(object)
    """The `RunSummary` of a run that ended normally (also when cancelled)."""
    error = Signal(str)
    """A message for a person: the run stopped early."""
    finished = Signal()


class ClassifyWorker(QRunnable):
    """Classifies the images under `paths` into a case; the model is loaded on the pool thread."""

    def __init__(
        self,
        store: CaseStore,
        case_id: int,
        paths: Sequence[str | Path],
        *,
        model_dir: Path | None,
        tta: bool | None,
        input_kind: str | None,
        threshold: float | None = None,
        rule: DecisionRule | None = None,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it: the window keeps it until `finished`
        self.signals = WorkerSignals()
        self.case_id = case_id
        self._store, self._paths = store, list(paths)
        self._model_dir, self._tta, self._threshold, self._rule = model_dir, tta, threshold, rule
        self._input_kind = input_kind
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop after the image in hand."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            classifier = Classifier(self._model_dir, tta=self._tta, rule=self._rule)
            summary = classify_case(
                self._store,
                self.case_id,
                self._paths,
                classifier,
                cell_finder(self._input_kind),
                progress=lambda done, total, path: self.signals.progress.emit(done, total, str(path or "")),
                is_cancelled=self._cancel.is_set,
                threshold=self._threshold,
            )
        except ClassifierError as error:
            self.signals.error.emit(
                f"The blast classifier could not be loaded, so nothing was classified.\n\n{error}\n\n"
                "Reinstall BlastScan to restore the model. Cases classified before can still be reviewed."
            )
        except StoreError as error:
            self.signals.error.emit(f"The case could not be classified: {error}")
        except Exception as error:  # any failure must reach the user, not kill the thread
            log.exception("classification of case %s failed", self.case_id)
            self.signals.error.emit(
                f"Classification stopped unexpectedly: {type(error).__name__}: {error}\n\n"
                "Finished images are kept; open the case again to continue."
            )
        else:
            self.signals.result.emit(summary)
        finally:
            self.signals.finished.emit()


def cell_finder(input_kind: str | None) -> CellFinder:
    """The segmentation for a case's input kind, imported here on the worker's thread.

    Segmentation is slow to import, and the window must open fast.
    """
    from app.core.segmentation import cell_finder as segmentation_cell_finder

    return segmentation_cell_finder(input_kind)
