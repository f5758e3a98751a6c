"""Building the workbook and writing it to its file, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path

from openpyxl import Workbook

from app import __version__
from app.core.files import FolderNotWritable, replaced_atomically
from app.core.report.case_data import CaseData
from app.core.report.sheets import write_audit, write_cells, write_chart, write_errors, write_gallery
from app.core.report.summary import write_summary
from app.core.store import CaseStore


class ReportError(RuntimeError):
    """The report could not be written, with a reason for a person; nothing older was lost."""


def write_report(store: CaseStore, case_id: int, path: str | os.PathLike[str]) -> Path:
    """Write the report workbook of case `case_id` to `path` atomically; return the path."""
    target = Path(path)
    _check_target(target)
    _save_atomically(build_workbook(store, case_id), target)
    return target


def build_workbook(store: CaseStore, case_id: int) -> Workbook:
    """The report workbook of a case, in memory."""
    data = CaseData.read(store, case_id)
    workbook = Workbook()
    workbook.properties.title = f"BlastScan case report: {data.case.name}"
    workbook.properties.creator = f"BlastScan {__version__}"
    workbook.remove(workbook.active)
    for name, write in (
        ("Summary", write_summary),
        ("Cells", write_cells),
        ("Gallery", write_gallery),
        ("Chart", write_chart),
        ("Errors", write_errors),
        ("Audit", write_audit),
    ):
        write(workbook.create_sheet(name), data)
    return workbook


def _check_target(target: Path) -> None:
    """Refuse targets that cannot work before building anything."""
    if target.is_dir():
        raise ReportError(f"{target} is a folder; give a file name ending in .xlsx")
    if not target.parent.is_dir():
        raise ReportError(f"the folder for the report does not exist: {target.parent}")
    if target.exists() and not os.access(target, os.W_OK):
        raise ReportError(f"the report {target} is write-protected; choose another name or unprotect it")


def _save_atomically(workbook: Workbook, target: Path) -> None:
    """Save through `replaced_atomically`; a system error becomes a `ReportError` that says what to do."""
    try:
        with replaced_atomically(target, "wb") as handle:
            workbook.save(handle)
    except FolderNotWritable as error:
        raise ReportError(f"cannot write in {target.parent}: {_reason(error)}; is the folder read-only?") from error
    except OSError as error:
        kept = " An older report there is unchanged." if target.exists() else ""
        if isinstance(error, PermissionError):
            raise ReportError(
                f"cannot replace {target}: it is open in another program (close it in Excel) "
                f"or not writable ({_reason(error)}).{kept}"
            ) from error
        raise ReportError(f"could not write the report {target}: {_reason(error)}.{kept}") from error


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
