"""Helpers shared by the benches: where things are, the C-NMC sample, timing, and running the
pipeline (whole, the model alone, or stage by stage).

Importing this module puts the repository on `sys.path`, so a bench run as
`.venv/bin/python bench/NAME.py` imports `app` from this checkout.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CNMC = DATA / "cnmc"
FIELDS = DATA / "fields_taleqani" / "Original"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.core.classifier import Classifier  # noqa: E402
from app.core.loading import load_image  # noqa: E402
from app.core.pipeline import _png, classify_case  # noqa: E402
from app.core.segmentation import find_cells  # noqa: E402
from app.core.store import CaseStore, NewCell  # noqa: E402

STAGES = ("read + decode", "find cells", "model input", "canvas PNG", "store write", "model")


def cnmc_cells(count: int) -> list[Path]:
    """`count` C-NMC cells in a fixed order, blasts and normal cells alternating."""
    blasts, normal = sorted((CNMC / "all").glob("*.webp")), sorted((CNMC / "hem").glob("*.webp"))
    mixed = [path for pair in zip(blasts, normal, strict=False) for path in pair] + blasts[len(normal) :]
    if count > len(mixed):
        raise SystemExit(f"only {len(mixed)} C-NMC cells in {CNMC}")
    return mixed[:count]


def warm_page_cache(paths: list[Path]) -> None:
    """Read every file once, so that timed runs read from memory, not the disk."""
    for path in paths:
        path.read_bytes()


def timed(run: Callable[..., object], *args: object) -> float:
    """Wall-clock seconds of one call `run(*args)`."""
    start = time.perf_counter()
    run(*args)
    return time.perf_counter() - start


def median_and_spread(values: list[float]) -> str:
    """'median (min-max, n runs)' of a list of figures, for printing."""
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g}, {len(values)} runs)"


def run_pipeline(classifier: Classifier, paths: list[Path]) -> tuple[float, int]:
    """Seconds `classify_case` (desktop app's cell finder) takes for `paths` into a new case of
    a fresh temporary store, and the number of cells it stored."""
    with (
        tempfile.TemporaryDirectory(prefix="blastscan-bench-") as folder,
        CaseStore(Path(folder) / "cases.sqlite3") as store,
    ):
        case = store.create_case("bench")
        seconds = timed(classify_case, store, case.id, paths, classifier, find_cells)
        return seconds, store.summary(case.id).cells


def model_only(classifier: Classifier, inputs: np.ndarray) -> None:
    """Predict model inputs held in memory, in the pipeline's groups of `cells_per_batch` cells."""
    step = classifier.cells_per_batch
    for start in range(0, len(inputs), step):
        classifier.predict(inputs[start : start + step])


def stage_costs(classifier: Classifier, paths: list[Path]) -> tuple[dict[str, float], int]:
    """Milliseconds per image of each pipeline stage run one after another on one thread (the
    model on its own threads, in the pipeline's batches), and the number of cells found."""
    totals = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        totals[name] += time.perf_counter() - start

    inputs = []
    with (
        tempfile.TemporaryDirectory(prefix="blastscan-bench-") as folder,
        CaseStore(Path(folder) / "cases.sqlite3") as store,
    ):
        case_id = store.create_case("bench").id
        for path in paths:
            with stage("read + decode"):
                image = load_image(path)
            with stage("find cells"):
                cells = find_cells(image.rgb)
            with stage("model input"):
                inputs += [classifier.prepare(cell.canvas) for cell in cells]
            with stage("canvas PNG"):
                pngs = [_png(cell.canvas) for cell in cells]
            new = [
                NewCell(cell.box, cell.touches_border, png, 0.0, 0.5, "uncertain")
                for cell, png in zip(cells, pngs, strict=True)
            ]
            with stage("store write"):
                store.add_image_result(
                    case_id,
                    path,
                    width=image.width,
                    height=image.height,
                    cells=new,
                    model_version=classifier.version,
                    message="",
                    cell_finder="find_cells",
                )
    if inputs:
        with stage("model"):
            model_only(classifier, np.stack(inputs))
    return {name: 1000 * seconds / len(paths) for name, seconds in totals.items()}, len(inputs)
