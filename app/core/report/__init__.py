"""The case report: the Excel workbook that leaves the lab, written from the case store.

Sheets: Summary (case, sign-offs and amendments, software and rule, counts with artefacts
apart, AI flag rate, blast % with a Wilson interval once every cell to review is decided),
Cells (one row per cell), Gallery (thumbnails of flagged and confirmed cells), Chart
(native Excel bar charts), Errors (files that gave no cells) and Audit (every decision
change).  The file is written atomically (`app.core.files`): a temporary file beside the
target, fsynced, then renamed over it, so a failure never leaves a half-written report or
harms an older one.
"""

from app.core.report.writer import ReportError, build_workbook, write_report

__all__ = ["ReportError", "build_workbook", "write_report"]
