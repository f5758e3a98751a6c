"""Classify a case: the model and rule of the lab's setup, the case's cell finder, the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.pipeline import ProgressCallback, RunSummary, classify_case
from app.core.site import ActiveSetup, SiteLibrary
from app.core.store import CaseStore


@dataclass(frozen=True)
class ClassificationJob:
    """One run over a case's images, prepared cheaply; `run` loads the model and does the work
    (call it off the GUI thread)."""

    store: CaseStore
    case_id: int
    images: tuple[str | Path, ...]
    setup: ActiveSetup
    input_kind: str | None
    tta: bool | None = None
    threshold: float | None = None
    threads: int | None = None
    threshold_by: str | None = None
    """Who chose `threshold` (recorded with the case when it overrides the rule's)."""

    @classmethod
    def for_case(
        cls,
        store: CaseStore,
        case_id: int,
        images: tuple[str | Path, ...] | None = None,
        *,
        bundled_models: Path | None = None,
        tta: bool | None = None,
        threshold: float | None = None,
        threads: int | None = None,
        threshold_by: str | None = None,
    ) -> ClassificationJob:
        """The job for a case: its sources unless `images` are given, and the setup it continues
        with (`SiteLibrary.setup_for`; raises `SiteError` when that model is gone)."""
        case = store.get_case(case_id)
        setup = SiteLibrary(store.path.parent, bundled_models=bundled_models).setup_for(case)
        paths = tuple(store.list_sources(case_id)) if images is None else images
        return cls(store, case_id, paths, setup, case.input_kind, tta, threshold, threads, threshold_by)

    def run(
        self, progress: ProgressCallback | None = None, is_cancelled: Callable[[], bool] | None = None
    ) -> RunSummary:
        """Classify what is not done yet; raises `ClassifierError` or `StoreError`."""
        from app.core.classifier import Classifier  # LiteRT: imported when work starts, not at app start
        from app.core.segmentation import cell_finder

        classifier = Classifier(self.setup.model.folder, tta=self.tta, num_threads=self.threads, rule=self.setup.rule)
        return classify_case(
            self.store,
            self.case_id,
            self.images,
            classifier,
            cell_finder(self.input_kind),
            progress=progress,
            is_cancelled=is_cancelled,
            threshold=self.threshold,
            threshold_by=self.threshold_by,
        )
