"""The Cells, Errors and Audit tables, the Gallery of suspicious cells and the Chart sheet."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable

from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from PIL import Image, UnidentifiedImageError

from app.core.report.case_data import CaseData
from app.core.report.style import (
    DATE_FORMAT,
    PROBABILITY_FORMAT,
    SECTION_FONT,
    WRAP,
    Column,
    calibri,
    excel_time,
    file_name,
    print_setup,
    table_header,
    write_table,
)
from app.core.store import CALLS, DECISIONS, CellRecord

THUMBNAIL_PX = 128
GALLERY_COLUMNS = 6
HISTOGRAM_BINS = 10
NO_DECISION = "no decision"
_CONFIRMED = ("FFC7CE", "9C0006")
"""Fill and font colour of a cell confirmed as a blast (in Cells and Gallery)."""
_FLAGGED = ("FCE4D6", "833C0B")
_UNCERTAIN = ("FFF2CC", "7F6000")


_CELL_COLUMNS = (
    Column("Cell id", 8),
    Column("Image file", 26),
    Column("Cell index", 8, centred=True),
    Column("Box x", 8),
    Column("Box y", 8),
    Column("Box width", 8),
    Column("Box height", 8),
    Column("Blast probability", 11, PROBABILITY_FORMAT),
    Column("AI call", 11, centred=True),
    Column("Reviewer decision", 11, centred=True),
    Column("Reviewer", 14),
    Column("Decided (UTC)", 19, DATE_FORMAT),
    Column("Image path", 60),
)


def write_cells(sheet: Worksheet, data: CaseData) -> None:
    count = write_table(
        sheet,
        _CELL_COLUMNS,
        (
            (
                cell.id,
                file_name(cell.image_path),
                cell.index,
                *cell.box,
                cell.probability,
                cell.call,
                cell.decision,
                cell.reviewer,
                excel_time(cell.decided_at),
                cell.image_path,
            )
            for cell in data.cells
        ),
        "No cells were found in this case.",
    )
    # The image path (last column) stays in the file but off paper, where rows must stay legible.
    sheet.print_area = f"A1:{get_column_letter(len(_CELL_COLUMNS) - 1)}{sheet.max_row}"
    if count:
        letters = {column.header: get_column_letter(index) for index, column in enumerate(_CELL_COLUMNS, 1)}
        call, decision = letters["AI call"], letters["Reviewer decision"]
        rows = f"A2:{get_column_letter(len(_CELL_COLUMNS))}{count + 1}"
        rules = (
            (f'${decision}2="blast"', _CONFIRMED),
            (f'${call}2="flagged"', _FLAGGED),
            (f'${call}2="uncertain"', _UNCERTAIN),
        )
        for formula, (fill, font) in rules:
            sheet.conditional_formatting.add(
                rows,
                FormulaRule(
                    formula=[formula],
                    stopIfTrue=True,
                    fill=PatternFill("solid", fgColor=fill, bgColor=fill),
                    font=Font(color=font),
                ),
            )


def write_errors(sheet: Worksheet, data: CaseData) -> None:
    with_cells = {cell.image_id for cell in data.cells}
    problems = [
        (image, "unreadable" if image.status == "error" else "no cell found")
        for image in data.images
        if image.status == "error" or image.id not in with_cells
    ]
    write_table(
        sheet,
        (
            Column("Image file", 28),
            Column("Problem", 14),
            Column("Reason", 60),
            Column("Recorded (UTC)", 19, DATE_FORMAT),
            Column("Acknowledged by", 14),
            Column("Acknowledged (UTC)", 19, DATE_FORMAT),
            Column("Image path", 60),
        ),
        (
            (
                file_name(image.path),
                problem,
                image.message or problem,
                excel_time(image.created_at),
                image.acknowledged_by,
                excel_time(image.acknowledged_at),
                image.path,
            )
            for image, problem in problems
        ),
        "Every file was read and gave at least one cell.",
    )
    for (cell,) in sheet.iter_rows(min_row=2, min_col=3, max_col=3):
        cell.alignment = Alignment(wrap_text=True)  # long reasons wrap; the row keeps one baseline


def write_audit(sheet: Worksheet, data: CaseData) -> None:
    cells = {cell.id: cell for cell in data.cells}
    write_table(
        sheet,
        (
            Column("Change", 8),
            Column("Cell id", 8),
            Column("Image file", 26),
            Column("Cell index", 8),
            Column("Old decision", 12),
            Column("New decision", 12),
            Column("Reviewer", 14),
            Column("Changed (UTC)", 19, DATE_FORMAT),
        ),
        (
            (
                change.id,
                change.cell_id,
                file_name(cells[change.cell_id].image_path),
                cells[change.cell_id].index,
                change.old or NO_DECISION,
                change.new or NO_DECISION,
                change.reviewer,
                excel_time(change.changed_at),
            )
            for change in data.store.decision_history(data.case.id)
        ),
        "No review decisions were recorded.",
    )


# Gallery


def gallery_cells(cells: Iterable[CellRecord]) -> list[CellRecord]:
    """The cells the gallery shows: flagged by the AI or confirmed as blasts; most suspicious first."""
    chosen = [cell for cell in cells if cell.call == "flagged" or cell.decision == "blast"]
    return sorted(chosen, key=lambda cell: -cell.probability)


def write_gallery(sheet: Worksheet, data: CaseData) -> None:
    shown = gallery_cells(data.cells)
    sheet.append([f"Cells flagged by the AI or confirmed as blasts: {len(shown)}, most suspicious first"])
    sheet["A1"].font = SECTION_FONT
    sheet.append(
        [
            "Caption: cell id, image file and cell index; blast probability; "
            "AI call -> reviewer decision. Red caption: confirmed blast."
        ]
    )
    column_width = 20
    for column in range(1, GALLERY_COLUMNS + 1):
        sheet.column_dimensions[get_column_letter(column)].width = column_width
    for position, cell in enumerate(shown):
        row, column = 4 + 2 * (position // GALLERY_COLUMNS), 1 + position % GALLERY_COLUMNS
        sheet.row_dimensions[row].height = THUMBNAIL_PX * 0.75 + 6  # points; the picture plus a margin
        sheet.row_dimensions[row + 1].height = 45
        picture = _thumbnail(data.store.cell_crop(cell.id))
        anchor = f"{get_column_letter(column)}{row}"
        if picture is None:
            sheet[anchor] = "picture unavailable"
        else:
            sheet.add_image(picture, anchor)
        caption = sheet.cell(row + 1, column, _caption(cell))
        caption.alignment = WRAP
        confirmed = cell.decision == "blast"
        caption.font = calibri(size=8, bold=confirmed, color=_CONFIRMED[1] if confirmed else None)
    print_setup(sheet, landscape=False)


def _caption(cell: CellRecord) -> str:
    outcome = f"{cell.call} -> {cell.decision}" if cell.decision else f"{cell.call}, {NO_DECISION}"
    return f"#{cell.id} {file_name(cell.image_path)} [{cell.index}]\np = {cell.probability:.3f}\n{outcome}"


def _thumbnail(png: bytes) -> SheetImage | None:
    """A small PNG picture of a stored cell canvas, or None when the canvas cannot be read."""
    try:
        with Image.open(io.BytesIO(png)) as source:
            picture = source.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    image = SheetImage(buffer)
    image.width, image.height = picture.size
    return image


# Chart


_DECISION_COLOURS = {
    "blast": "C00000",
    "normal": "70AD47",
    "artefact": "7F6084",
    "unsure": "FFC000",
    NO_DECISION: "A6A6A6",
}


def probability_histogram(cells: Iterable[CellRecord], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Cells per probability bin of equal width over 0..1 (1.0 falls in the last bin)."""
    counts = [0] * bins
    for cell in cells:
        counts[min(int(cell.probability * bins), bins - 1)] += 1
    return counts


def write_chart(sheet: Worksheet, data: CaseData) -> None:
    table_header(sheet, ["Blast probability", "Cells"], 1)
    for index, count in enumerate(probability_histogram(data.cells)):
        sheet.append([f"{index / HISTOGRAM_BINS:.1f}-{(index + 1) / HISTOGRAM_BINS:.1f}", count])
    histogram = _bar_chart("Cells by blast probability", "Blast probability", "Cells")
    histogram.add_data(Reference(sheet, min_col=2, min_row=1, max_row=HISTOGRAM_BINS + 1), titles_from_data=True)
    histogram.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=HISTOGRAM_BINS + 1))
    histogram.legend = None
    histogram.gapWidth = 10
    histogram.series[0].graphicalProperties.solidFill = "4472C4"
    if data.case.threshold is not None:
        note = f"Threshold {data.case.threshold:.3f}: cells at or above it are flagged."
        sheet.cell(HISTOGRAM_BINS + 3, 1, note)
    sheet.add_chart(histogram, "H1")

    first = HISTOGRAM_BINS + 5
    decisions = (*DECISIONS, NO_DECISION)
    by_call: Counter[tuple[str, str]] = Counter((cell.call, cell.decision or NO_DECISION) for cell in data.cells)
    table_header(sheet, ["AI call", *decisions], first)
    for offset, call in enumerate(CALLS, 1):
        sheet.cell(first + offset, 1, call)
        for column, decision in enumerate(decisions, 2):
            sheet.cell(first + offset, column, by_call[call, decision])
    counts = _bar_chart("Cells by AI call and reviewer decision", "AI call", "Cells")
    counts.grouping, counts.overlap = "stacked", 100
    last = first + len(CALLS)
    counts.add_data(
        Reference(sheet, min_col=2, max_col=1 + len(decisions), min_row=first, max_row=last), titles_from_data=True
    )
    counts.set_categories(Reference(sheet, min_col=1, min_row=first + 1, max_row=last))
    for series, decision in zip(counts.series, decisions, strict=True):
        series.graphicalProperties.solidFill = _DECISION_COLOURS[decision]
    sheet.add_chart(counts, "H18")
    for letter, width in zip("ABCDE", (18, 8, 8, 8, 11), strict=True):
        sheet.column_dimensions[letter].width = width
    print_setup(sheet, landscape=True)


def _bar_chart(title: str, x_title: str, y_title: str) -> BarChart:
    chart = BarChart()
    chart.type, chart.title, chart.width, chart.height = "col", title, 18, 8
    chart.x_axis.title, chart.y_axis.title = x_title, y_title
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl 3.1 hides axes in Excel otherwise
    chart.y_axis.majorGridlines = None
    return chart
