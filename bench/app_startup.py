"""Desktop app: launch to first painted window, memory with a 10,000-cell case, scrolling the gallery.

Run: .venv/bin/python bench/app_startup.py [--cells 10000] [--distinct 300] [--repeats 5]

Each figure comes from a fresh app process started as `blastscan` is (`app.cli.main([])`),
headless (QT_QPA_PLATFORM=offscreen), with its own settings (XDG_CONFIG_HOME) and case store
(BLASTSCAN_DATA_DIR) in a temporary folder.  The child process installs an event filter on
the application before calling `main`; the first paint event of the main window (or a widget
in it) posts a zero timer, and when that fires (the paint is done) the child prints a line.
Launch time = from just before the parent starts the child to that line reaching the parent:
interpreter start, imports, store, window, first paint.  One warm-up launch is not counted
(cold disk cache); the median of `--repeats` launches is reported.

- empty: a first start on an empty store (the welcome page).
- case: reopening (as the last case) a case of `--cells` cells: `--distinct` real C-NMC
  crops classified by the real pipeline, then stored again and again under file names that
  are symbolic links to those crops (one image per cell, as C-NMC crops come).  In this run
  the child waits until the gallery's layout is complete, scrolls it down by one page
  (`pageStep` of the vertical scroll bar, the viewport's height) and repaints the viewport
  at once (`repaint`, which paints every visible tile; thumbnails not yet cached are asked
  for and decoded on pool threads).  Per page: "scroll" = setValue + repaint (the time the
  GUI thread is blocked by the scroll itself); "filled" = from the scroll until every
  thumbnail asked for has arrived and its tile is repainted, the event loop running
  meanwhile; "GUI CPU" = the GUI thread's CPU time (`time.thread_time`) over that whole
  span.  10 pages in a row, median.  Peak memory is the child's VmHWM (peak resident set)
  at the end, after the 10 pages; RSS is VmRSS then.  The child then leaves at once
  (`os._exit`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGES = 10


def child(case_id: int | None) -> None:
    """In the app process: hook the first paint, start the app, measure, quit."""
    from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    if case_id is not None:
        QSettings("BlastScan", "BlastScan").setValue("last_case_id", case_id)

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if (
                not self.seen
                and event.type() == QEvent.Type.Paint
                and watched.isWidgetType()
                and isinstance(watched.window(), QMainWindow)
            ):
                self.seen = True
                QTimer.singleShot(0, lambda: painted(watched.window()))
            return False

    def painted(window: QMainWindow) -> None:
        print("painted", flush=True)
        figures = gallery_figures(app, window) if case_id is not None else {}
        print(json.dumps(figures | memory()), flush=True)
        os._exit(0)  # teardown is not measured (and once crashed in PySide6's finalisation: RESULTS.md)

    hook = FirstPaint()
    app.installEventFilter(hook)
    from app.cli import main

    sys.exit(main([]))


def gallery_figures(app, window) -> dict:
    """Wait for the gallery's layout, then scroll PAGES pages and read the memory figures."""
    from PySide6.QtCore import QEventLoop

    gallery, thumbnails = window.gallery, window.model.thumbnails
    bar = gallery.verticalScrollBar()
    settled, last, deadline = 0, -1, time.monotonic() + 60
    while settled < 10 and time.monotonic() < deadline:  # batched layout: until the range stays put
        app.processEvents()
        time.sleep(0.02)
        settled, last = (settled + 1, last) if bar.maximum() == last else (0, bar.maximum())
    scroll, filled, gui_cpu, decoded = [], [], [], []
    for _ in range(PAGES):
        cached = len(thumbnails)
        start, start_cpu = time.perf_counter(), time.thread_time()
        bar.setValue(bar.value() + bar.pageStep())
        gallery.viewport().repaint()
        scroll.append(time.perf_counter() - start)
        while thumbnails.pending:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        app.processEvents()  # the repaint the last arrivals asked for
        filled.append(time.perf_counter() - start)
        gui_cpu.append(time.thread_time() - start_cpu)
        decoded.append(len(thumbnails) - cached)
    viewport = gallery.viewport().size()
    return {
        "rows": window.model.rowCount(),
        "viewport": [viewport.width(), viewport.height()],
        "scroll_seconds": scroll,
        "filled_seconds": filled,
        "gui_cpu_seconds": gui_cpu,
        "thumbnails_per_page": decoded,
    }


def memory() -> dict[str, float]:
    """This process's resident set now and at its peak (VmRSS, VmHWM), in MiB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": int(status["VmRSS"].split()[0]) / 1024, "peak_mib": int(status["VmHWM"].split()[0]) / 1024}


def launch(folder: Path, case_id: int | None) -> tuple[float, dict]:
    """Start the app in a child process; seconds to its first paint, and its other figures."""
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(folder / "config"),
        BLASTSCAN_DATA_DIR=str(folder / "data"),
    )
    command = [sys.executable, __file__, "--child", "" if case_id is None else str(case_id)]
    start = time.perf_counter()
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True) as process,
    ):
        first = process.stdout.readline()
        seconds = time.perf_counter() - start
        rest = process.stdout.read()
        if first.strip() != "painted" or process.wait() != 0:
            errors.seek(0)
            raise SystemExit(
                f"the app did not start as expected (exit {process.returncode}):\n{first}{rest}{errors.read()}"
            )
    return seconds, json.loads(rest)


def build_case(folder: Path, cells: int, distinct: int) -> int:
    """A case of `cells` cells in the store of `folder`/data (see the module doc); its id."""
    from _common import Classifier, cnmc_cells  # first: puts the repository on sys.path

    from app.core.pipeline import classify_case
    from app.core.store import CaseStore, NewCell

    links = folder / "cells"
    links.mkdir()
    crops = cnmc_cells(distinct)
    with CaseStore.open(folder / "data") as store:
        classifier = Classifier()
        source = store.create_case("real crops")
        classify_case(store, source.id, crops, classifier)
        real = [(cell, store.cell_crop(cell.id)) for cell in store.list_cells(source.id, sort="position")]
        case = store.create_case(f"{cells} cells")
        store.set_case_model(case.id, classifier.version, classifier.rule, classifier.rule.threshold)
        for n in range(cells):
            cell, png = real[n % len(real)]
            link = links / f"cell_{n:05d}.webp"
            link.symlink_to(crops[n % len(crops)])
            store.add_image_result(
                case.id,
                link,
                width=450,
                height=450,
                model_version=classifier.version,
                cell_finder="find_cells",
                cells=[NewCell(cell.box, False, png, cell.logit, cell.probability, cell.call)],
            )
        return case.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000, help="cells in the case")
    parser.add_argument("--distinct", type=int, default=300, help="real C-NMC crops the case is made of")
    parser.add_argument("--repeats", type=int, default=5, help="launches of each kind (median reported)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(int(args.child) if args.child else None)
        return
    with tempfile.TemporaryDirectory(prefix="blastscan-app-") as empty_folder:
        empty = [launch(Path(empty_folder), None) for _ in range(args.repeats + 1)][1:]
    with tempfile.TemporaryDirectory(prefix="blastscan-app-") as case_folder:
        start = time.perf_counter()
        case_id = build_case(Path(case_folder), args.cells, args.distinct)
        print(f"built a case of {args.cells} cells from {args.distinct} crops in {time.perf_counter() - start:.0f} s")
        runs = [launch(Path(case_folder), case_id) for _ in range(args.repeats + 1)][1:]
    launches = [seconds for seconds, _ in runs]
    figures = [figure for _, figure in runs]
    per_page = statistics.median(n for figure in figures for n in figure["thumbnails_per_page"])
    empty_launches = [seconds for seconds, _ in empty]
    print(
        f"launch to first painted window, empty store: {statistics.median(empty_launches):.2f} s "
        f"(min {min(empty_launches):.2f}, max {max(empty_launches):.2f}, {len(empty)} launches); "
        f"peak RSS {statistics.median(f['peak_mib'] for _, f in empty):.0f} MiB"
    )
    print(
        f"launch to first painted window, reopening the {figures[0]['rows']}-cell case: "
        f"{statistics.median(launches):.2f} s (min {min(launches):.2f}, max {max(launches):.2f})"
    )
    print(
        f"one page of the gallery ({figures[0]['viewport'][0]}x{figures[0]['viewport'][1]} px viewport, "
        f"{per_page:.0f} new thumbnails a page, {PAGES * len(figures)} pages), median and max:"
    )
    for key, name in (("scroll_seconds", "scroll"), ("filled_seconds", "filled"), ("gui_cpu_seconds", "GUI CPU")):
        pages = [seconds for figure in figures for seconds in figure[key]]
        print(f"  {name:8s} {1000 * statistics.median(pages):5.0f} ms, max {1000 * max(pages):.0f} ms")
    peak, rss = (statistics.median(figure[key] for figure in figures) for key in ("peak_mib", "rss_mib"))
    print(f"memory with the case open, after {PAGES} pages: peak RSS {peak:.0f} MiB, RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
