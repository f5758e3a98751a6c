"""What leaves the app: the per-cell CSV and the case report."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from app.core.files import replaced_atomically
from app.core.store import CaseStore, CellRecord

CSV_HEADER = (
    "image_path",
    "cell_index",
    "x",
    "y",
    "width",
    "height",
    "blast_probability",
    "flagged",
    "status",
    "message",
)
FLAGGED_VALUES = {"flagged": "yes", "uncertain": "uncertain", "normal": "no"}
"""The CSV's `flagged` column for each call of the model card."""
CsvRow = tuple[object, ...]
"""One row of the CSV, in the order of CSV_HEADER."""


def csv_rows(store: CaseStore, case_id: int, images: Sequence[str | os.PathLike[str]]) -> list[CsvRow]:
    """CSV rows for `images` in their order, read back from the case (old results too)."""
    records = {record.path: record for record in store.list_images(case_id)}
    cells_by_image: dict[int, list[CellRecord]] = {}
    for cell in store.list_cells(case_id, sort="position"):
        cells_by_image.setdefault(cell.image_id, []).append(cell)
    rows: list[CsvRow] = []
    for path in images:
        record = records.get(os.fspath(path))
        if record is None:
            continue
        cells = cells_by_image.get(record.id, [])
        if record.status == "error" or not cells:
            message = record.message if record.status == "error" else record.message or "no cell found"
            rows.append((record.path, "", "", "", "", "", "", "", record.status, message))
        rows.extend(
            (
                record.path,
                cell.index,
                *cell.box,
                f"{cell.probability:.4f}",
                FLAGGED_VALUES[cell.call],
                "ok",
                record.message,
            )
            for cell in cells
        )
    return rows


def write_csv(out: Path, rows: Sequence[CsvRow]) -> None:
    """Write the CSV beside `out`, then move it into place (`replaced_atomically`)."""
    with replaced_atomically(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)


def write_report(store: CaseStore, case_id: int, out: Path) -> None:
    """The case's Excel report; raises `ReportError` with a reason a person can act on."""
    from app.core.report import write_report as write_workbook  # openpyxl: loaded when a report is asked for

    write_workbook(store, case_id, out)
