"""Classifying a case: discover -> load -> find cells -> model input -> classify -> store.

Reading, decoding, cell finding and input preparation run ahead in a small thread pool while
the classifier works on the cells already prepared (in batches across images).  Images
finished in the case before are skipped; a file that fails becomes an error row and the
batch goes on.  Progress is reported and the cancel check asked between images; nothing
here knows about Qt.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.cells import CellFinder, whole_image_as_cell
from app.core.classifier import Classifier
from app.core.discovery import discover_images
from app.core.familiarity import Familiarity, FamiliarityGuard, judge
from app.core.loading import ImageLoadError, load_image
from app.core.preprocess import centred_crop
from app.core.store import CaseStore, NewCell

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_FILTER_UP = 2

ProgressCallback = Callable[[int, int, Path | None], None]
"""progress(done, total, current image or None) — `done` counts skipped images too."""


@dataclass(frozen=True)
class RunSummary:
    """What one run did: `total` images found, of which `skipped` were done before."""

    total: int
    skipped: int
    classified: int
    errors: int
    cells: int
    cancelled: bool
    familiarity: Familiarity
    """How familiar the case's cells (all of them, not only this run's) are to the model."""


@dataclass
class _Prepared:
    """One image made ready for the classifier in a pool thread, or its error.

    Only what is needed later is kept (not the decoded image), so that images read ahead
    cost little memory.
    """

    path: Path
    error: str | None = None
    width: int = 0
    height: int = 0
    warnings: tuple[str, ...] = ()
    cells: list[tuple[tuple[int, int, int, int], bool, bytes]] = field(default_factory=list)
    """Box, touches_border and canvas PNG (its `centred_crop`) of each cell found."""
    inputs: np.ndarray | None = None


def classify_case(
    store: CaseStore,
    case_id: int,
    paths: Iterable[str | os.PathLike[str]],
    classifier: Classifier,
    cell_finder: CellFinder = whole_image_as_cell,
    *,
    progress: ProgressCallback | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    threshold: float | None = None,
    threshold_by: str | None = None,
    workers: int = 2,
) -> RunSummary:
    """Classify the images under `paths` into case `case_id` and store every result.

    The case is decided by the classifier's rule (model card or site profile); `threshold`
    overrides the one the case was classified with before under that rule, which defaults
    to the rule's; `threshold_by` is who chose it, recorded when it is not the rule's.  A new
    rule or threshold re-decides the cells already stored in the case.
    """
    images = discover_images(paths)
    todo = [path for path in images if not store.image_done(case_id, path)]
    case = store.get_case(case_id)
    rule = classifier.rule
    if threshold is None:
        kept = case.threshold is not None and case.decision_rule == rule.name
        threshold = case.threshold if kept and case.threshold is not None else rule.threshold
    store.set_case_model(case_id, classifier.version, rule, threshold, threshold_by)

    run = _Run(store, case_id, classifier, threshold, _finder_name(cell_finder), progress, len(images))
    run.done = len(images) - len(todo)
    run.report(None)
    cancelled = False
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="blastscan-read")
    try:
        queue: deque[Future[_Prepared]] = deque()
        pending = iter(todo)
        ahead = classifier.cells_per_batch + workers
        for path in pending:
            queue.append(pool.submit(_prepare, path, cell_finder, classifier))
            if len(queue) >= ahead:
                break
        group: list[_Prepared] = []
        while queue:
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                break
            group.append(queue.popleft().result())
            next_path = next(pending, None)
            if next_path is not None:
                queue.append(pool.submit(_prepare, next_path, cell_finder, classifier))
            if max(len(group), sum(len(item.cells) for item in group)) >= classifier.cells_per_batch:
                run.store_group(group)
                group = []
        run.store_group(group)  # the rest, or what was read before a cancel
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return RunSummary(
        total=len(images),
        skipped=len(images) - len(todo),
        classified=run.classified,
        errors=run.errors,
        cells=run.cells,
        cancelled=cancelled,
        familiarity=assess_familiarity(store, case_id, classifier.version, classifier.rule.name, classifier.guard),
    )


def assess_familiarity(
    store: CaseStore, case_id: int, model_version: str, rule_name: str, guard: FamiliarityGuard | None
) -> Familiarity:
    """Judge how familiar the case's cells are to the model that measured them (`judge`) and
    record it in the case, which sends every unflagged cell to review while it is unfamiliar."""
    distances = np.asarray(store.case_distances(case_id, model_version), dtype=np.float64)
    familiarity = judge(rule_name, guard, distances)
    if store.get_case(case_id).familiarity != familiarity:
        store.set_case_familiarity(case_id, familiarity)
    return familiarity


class _Run:
    """Classifies prepared images in groups, stores them and counts."""

    def __init__(
        self,
        store: CaseStore,
        case_id: int,
        classifier: Classifier,
        threshold: float,
        finder_name: str,
        progress: ProgressCallback | None,
        total: int,
    ) -> None:
        self.store, self.case_id, self.classifier = store, case_id, classifier
        self.threshold, self.finder_name = threshold, finder_name
        self.progress, self.total = progress, total
        self.done = self.classified = self.errors = self.cells = 0

    def report(self, path: Path | None) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, path)

    def store_group(self, group: list[_Prepared]) -> None:
        batches = [item.inputs for item in group if item.inputs is not None]
        predictions = self.classifier.predict(np.concatenate(batches), self.threshold) if batches else []
        first = 0
        for item in group:
            if item.error is not None:
                self.store.add_image_error(self.case_id, item.path, item.error)
                self.errors += 1
            else:
                mine, first = predictions[first : first + len(item.cells)], first + len(item.cells)
                cells = [
                    NewCell(box, touches_border, crop_png, p.logit, p.probability, p.call, p.distances)
                    for (box, touches_border, crop_png), p in zip(item.cells, mine, strict=True)
                ]
                self.store.add_image_result(
                    self.case_id,
                    item.path,
                    width=item.width,
                    height=item.height,
                    cells=cells,
                    model_version=self.classifier.version,
                    message="; ".join(item.warnings),
                    cell_finder=self.finder_name,
                )
                self.classified += 1
                self.cells += len(cells)
            self.done += 1
            self.report(item.path)


def _prepare(path: Path, cell_finder: CellFinder, classifier: Classifier) -> _Prepared:
    """Load, find cells and build model inputs and canvas PNGs (runs in a pool thread)."""
    try:
        image = load_image(path)
    except ImageLoadError as error:
        return _Prepared(path, error=error.reason)
    try:
        cells = cell_finder(image.rgb)
    except Exception as error:  # noqa: BLE001 - one odd image must not stop the batch
        return _Prepared(path, error=f"cell detection failed: {error or type(error).__name__}")
    return _Prepared(
        path,
        width=image.width,
        height=image.height,
        warnings=image.warnings,
        cells=[(cell.box, cell.touches_border, _png(centred_crop(cell.canvas))) for cell in cells],
        inputs=np.stack([classifier.prepare(cell.canvas) for cell in cells]) if cells else None,
    )


def _png(rgb: np.ndarray) -> bytes:
    """Lossless 8-bit RGB PNG of a cell canvas: every row "Up"-filtered (NumPy), deflated with
    zlib's run-length strategy.  A C-NMC canvas takes 2.7 ms and 41 KiB, against Pillow's 6.8
    ms and 48 KiB at zlib level 1 (bench/RESULTS.md); zlib releases the GIL while it works."""
    height, width, _ = rgb.shape
    rows = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(height, 3 * width)
    filtered = np.empty((height, 3 * width + 1), np.uint8)
    filtered[:, 0] = _PNG_FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, no interlace
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", deflate.compress(filtered.data) + deflate.flush())
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _finder_name(cell_finder: CellFinder) -> str:
    return getattr(cell_finder, "__name__", type(cell_finder).__name__)
