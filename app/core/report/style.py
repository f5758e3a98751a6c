"""How the report's sheets look: fonts, formats, tables, paragraphs and print set-up."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet


def calibri(size: float = 11, **style: object) -> Font:
    """A font with its name: without one LibreOffice falls back to a serif face."""
    return Font(name="Calibri", size=size, **style)


TITLE_FONT = calibri(size=16, bold=True)
SECTION_FONT = calibri(size=12, bold=True, color="1F4E78")
_HEADER_FONT = calibri(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="8EA9DB"))
WRAP = Alignment(wrap_text=True, vertical="top")
_CENTRED = Alignment(horizontal="center")
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
PERCENT_FORMAT = "0.0%"
PROBABILITY_FORMAT = "0.000"


def write_section(sheet: Worksheet, title: str) -> None:
    sheet.append([])
    sheet.append([title])
    sheet.cell(sheet.max_row, 1).font = SECTION_FONT


def write_pairs(sheet: Worksheet, pairs: Iterable[tuple[str, object]]) -> None:
    for label, value in pairs:
        sheet.append([label, value])
        cell = sheet.cell(sheet.max_row, 2)
        cell.alignment = Alignment(horizontal="left")
        if isinstance(value, datetime):
            cell.number_format = DATE_FORMAT


def write_note(sheet: Worksheet, text: str, font: Font | None = None) -> None:
    """A paragraph across the summary's columns."""
    sheet.append([text])
    row = sheet.max_row
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=6)
    cell = sheet.cell(row, 1)
    cell.alignment = WRAP
    if font is not None:
        cell.font = font
    sheet.row_dimensions[row].height = 15 * math.ceil(len(text) / 105 + 0.2)


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    number_format: str | None = None
    centred: bool = False


def write_table(sheet: Worksheet, columns: Sequence[Column], rows: Iterable[Sequence[object]], empty: str) -> int:
    """A table with frozen header, autofilter, widths and formats; return its row count."""
    table_header(sheet, [column.header for column in columns], 1)
    count = 0
    for row in rows:
        sheet.append(list(row))
        count += 1
    if not count:
        sheet.append([empty])
    for index, column in enumerate(columns, 1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.number_format or column.centred:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = column.number_format or cell.number_format
                if column.centred:
                    cell.alignment = _CENTRED
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(2, count + 1)}"
    sheet.print_title_rows = "1:1"
    print_setup(sheet, landscape=True)
    return count


def table_header(sheet: Worksheet, headers: Sequence[str], row: int) -> None:
    for column, header in enumerate(headers, 1):
        cell = sheet.cell(row, column, header)
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    sheet.row_dimensions[row].height = 30


def excel_time(text: str | None) -> datetime | None:
    """A stored ISO timestamp as a naive UTC datetime (Excel has no time zones)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def text_time(text: str | None) -> str:
    moment = excel_time(text)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else ""


def file_name(path: str) -> str:
    return PurePath(path).name


def print_setup(sheet: Worksheet, *, landscape: bool) -> None:
    """A4, fit to the page width, so that a printout or PDF shows whole rows."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
