"""The case report: the Excel workbook that leaves the lab, written from the case store.

Sheets: Summary (case, software, counts, blast % with a Wilson interval, sign-off),
Cells (one row per cell), Gallery (thumbnails of flagged and confirmed cells), Chart
(native Excel bar charts), Errors (files that gave no cells) and Audit (every decision
change).  The file is written atomically: a temporary file beside the target, fsynced, then
renamed over it, so a failure never leaves a half-written report or harms an older one.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePath
from statistics import NormalDist

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from PIL import Image, UnidentifiedImageError

from app import __version__
from app.core.decision import describe_rule
from app.core.site import SiteLibrary, SiteProfile
from app.core.store import CALLS, DECISIONS, Case, CaseStore, CaseSummary, CellRecord, ImageRecord

CONFIDENCE = 0.95
"""Level of the blast-percentage interval (Wilson score interval)."""
DECISION_SUPPORT_NOTE = (
    "Decision support only. BlastScan flags cells that may be leukemic blasts; it does not make "
    "a diagnosis. Every result must be reviewed and confirmed by a qualified expert (haematologist "
    "or cytologist) before it is used for any clinical decision."
)
THUMBNAIL_PX = 128
GALLERY_COLUMNS = 6
HISTOGRAM_BINS = 10
NO_DECISION = "no decision"


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
    data = _CaseData.read(store, case_id)
    workbook = Workbook()
    workbook.properties.title = f"BlastScan case report: {data.case.name}"
    workbook.properties.creator = f"BlastScan {__version__}"
    workbook.remove(workbook.active)
    for name, write in (
        ("Summary", _write_summary),
        ("Cells", _write_cells),
        ("Gallery", _write_gallery),
        ("Chart", _write_chart),
        ("Errors", _write_errors),
        ("Audit", _write_audit),
    ):
        write(workbook.create_sheet(name), data)
    return workbook


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion; None without trials."""
    if trials <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    scale = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / scale
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


# Reading the case


@dataclass(frozen=True)
class _CaseData:
    """Everything the sheets show, read from the store once."""

    case: Case
    counts: CaseSummary
    images: list[ImageRecord]
    cells: list[CellRecord]
    """In image order, then cell index."""
    store: CaseStore
    written_at: datetime
    profile: SiteProfile | None
    """The site profile that decided the case, when one did and its file is still there."""

    @classmethod
    def read(cls, store: CaseStore, case_id: int) -> _CaseData:
        case = store.get_case(case_id)
        return cls(
            case=case,
            profile=SiteLibrary(store.path.parent).profile_of(case),
            counts=store.summary(case_id),
            images=store.list_images(case_id),
            cells=store.list_cells(case_id, sort="position"),
            store=store,
            written_at=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
        )

    def decided(self, decision: str) -> int:
        return sum(cell.decision == decision for cell in self.cells)


# Summary


def _profile_rows(profile: SiteProfile) -> list[tuple[str, str]]:
    """Where a site profile comes from and what it reached on this lab's cells."""
    after = profile.after
    return [
        (
            "Site profile fitted",
            f"{profile.created_at[:10]} by {profile.created_by}, target recall {profile.target_recall:.2f}",
        ),
        ("Site profile labels", f"{after.blasts} blasts, {after.normals} normal cells, {after.cases} cases"),
        (
            "Site profile recall (cross-validated)",
            f"{after.recall:.2f} (95% CI {after.recall_interval[0]:.2f}-{after.recall_interval[1]:.2f})",
        ),
        (
            "Site profile specificity (cross-validated)",
            f"{after.specificity:.2f} (95% CI {after.specificity_interval[0]:.2f}-{after.specificity_interval[1]:.2f})",
        ),
    ]


UNFAMILIAR_NOTE = (
    "The images are unlike those the model's recall was measured on, so the AI called no cell "
    "normal: every cell it did not flag is 'uncertain' and in the review queue."
)


def _familiarity_text(case: Case) -> str:
    """'familiar (...)' / 'unfamiliar: ...' / 'not checked: ...', or why there is no verdict."""
    familiarity = case.familiarity
    if familiarity is None:
        return (
            "not checked: classified before BlastScan checked familiarity"
            if case.model_version
            else "not classified yet"
        )
    return familiarity.describe()


def _font(size: float = 11, **style: object) -> Font:
    """A font with its name: without one LibreOffice falls back to a serif face."""
    return Font(name="Calibri", size=size, **style)


_TITLE_FONT = _font(size=16, bold=True)
_SECTION_FONT = _font(size=12, bold=True, color="1F4E78")
_HEADER_FONT = _font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="8EA9DB"))
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTRED = Alignment(horizontal="center")
_DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
_PERCENT_FORMAT = "0.0%"
_PROBABILITY_FORMAT = "0.000"
_CONFIRMED = ("FFC7CE", "9C0006")
"""Fill and font colour of a cell confirmed as a blast (in Cells and Gallery)."""
_FLAGGED = ("FCE4D6", "833C0B")
_UNCERTAIN = ("FFF2CC", "7F6000")


def _write_summary(sheet: Worksheet, data: _CaseData) -> None:
    case, counts = data.case, data.counts
    unreadable = sum(image.status == "error" for image in data.images)
    blast = wilson_interval(counts.confirmed_blasts, counts.cells)
    sheet.append(["BlastScan case report"])
    sheet["A1"].font = _TITLE_FONT
    if case.signed_off:
        sheet.append([f"Signed off by {case.signed_off_by} on {_text_time(case.signed_off_at)}"])
        sheet["A2"].font = _font(bold=True, color="375623")
    else:
        sheet.append(["DRAFT: not signed off; the review may be incomplete"])
        sheet["A2"].font = _font(bold=True, color="C00000")
    _note(sheet, DECISION_SUPPORT_NOTE, _font(bold=True, italic=True))

    _section(sheet, "Case")
    _pairs(
        sheet,
        [
            ("Case", case.name),
            ("Case id", case.id),
            ("Sample / patient id", case.sample_id or "not given"),
            ("Operator", case.operator or "not given"),
            ("Case created (UTC)", _time(case.created_at)),
            ("Last image classified (UTC)", _time(max((image.created_at for image in data.images), default=None))),
            ("Reviewer", case.signed_off_by or "not signed off"),
            ("Signed off (UTC)", _time(case.signed_off_at) or "not signed off"),
            ("Report written (UTC)", data.written_at),
        ],
    )
    _section(sheet, "Software and model")
    _pairs(
        sheet,
        [
            ("Software", f"BlastScan {__version__}"),
            ("Model version", case.model_version or "not classified yet"),
            (
                "Decision rule (site profile)",
                describe_rule(case.decision_rule) if case.model_version else "not classified yet",
            ),
            *(_profile_rows(data.profile) if data.profile else []),
            ("Decision threshold", case.threshold if case.threshold is not None else "not classified yet"),
        ],
    )
    sheet.cell(sheet.max_row, 2).number_format = _PROBABILITY_FORMAT
    _pairs(sheet, [("Image familiarity", _familiarity_text(case))])
    if case.unfamiliar:
        _note(sheet, UNFAMILIAR_NOTE, _font(bold=True, color="C00000"))
    _section(sheet, "Counts")
    _pairs(
        sheet,
        [
            ("Images", len(data.images)),
            ("Unreadable files (see Errors)", unreadable),
            ("Cells analysed", counts.cells),
            ("AI-flagged", counts.flagged),
            ("Uncertain", counts.uncertain),
            ("AI: normal", counts.normal),
            ("Review queue (flagged + uncertain)", counts.to_review),
            ("Reviewed of the queue", counts.reviewed),
            ("Confirmed blasts", counts.confirmed_blasts),
            ("Decided normal", data.decided("normal")),
            ("Decided unsure", data.decided("unsure")),
        ],
    )
    _section(sheet, "Result")
    _table_header(sheet, ["Measure", "Count", "Of", "Share", "95% CI low", "95% CI high"], sheet.max_row + 1)
    _proportion(sheet, "Blast % (confirmed blasts / all cells analysed)", counts.confirmed_blasts, counts.cells, blast)
    _proportion(
        sheet,
        "AI-flagged % (flagged / all cells analysed)",
        counts.flagged,
        counts.cells,
        wilson_interval(counts.flagged, counts.cells),
    )
    _proportion(sheet, "Review completeness (reviewed / review queue)", counts.reviewed, counts.to_review, None)
    sheet.append([])
    _note(sheet, _blast_sentence(counts, blast), _font(bold=True))
    _note(
        sheet,
        (
            "Denominator: every cell analysed in the case. Numerator: cells a reviewer decided are blasts. "
            "Cells the AI called normal that no one reviewed, and cells decided 'unsure', count as non-blasts. "
            f"The interval is the {CONFIDENCE:.0%} Wilson score interval; it reflects the number of cells "
            "counted, not errors of the AI or of the review."
        ),
    )
    waiting = counts.to_review - counts.reviewed
    if waiting:
        _note(
            sheet,
            f"Provisional: {waiting} flagged or uncertain cell(s) have no review decision yet.",
            _font(bold=True, color="C00000"),
        )
    _note(
        sheet,
        (
            "Colours on the Cells sheet: red = confirmed blast by the reviewer; orange = flagged by the AI; "
            "yellow = uncertain (inside the decision rule's uncertain band)."
        ),
    )
    for column, width in zip("ABCDEF", (46, 30, 10, 10, 12, 12), strict=True):
        sheet.column_dimensions[column].width = width
    _print_setup(sheet, landscape=False)


def _blast_sentence(counts: CaseSummary, interval: tuple[float, float] | None) -> str:
    if interval is None:
        return "Blast percentage: not available (no cells were analysed)."
    share = counts.confirmed_blasts / counts.cells
    return (
        f"Blast percentage {share:.1%} ({CONFIDENCE:.0%} CI {interval[0]:.1%} to {interval[1]:.1%}): "
        f"{counts.confirmed_blasts} cell(s) confirmed as blasts by the reviewer "
        f"among {counts.cells} cell(s) analysed."
    )


def _section(sheet: Worksheet, title: str) -> None:
    sheet.append([])
    sheet.append([title])
    sheet.cell(sheet.max_row, 1).font = _SECTION_FONT


def _pairs(sheet: Worksheet, pairs: Iterable[tuple[str, object]]) -> None:
    for label, value in pairs:
        sheet.append([label, value])
        cell = sheet.cell(sheet.max_row, 2)
        cell.alignment = Alignment(horizontal="left")
        if isinstance(value, datetime):
            cell.number_format = _DATE_FORMAT


def _proportion(sheet: Worksheet, label: str, count: int, total: int, interval: tuple[float, float] | None) -> None:
    share = count / total if total else "n/a"
    sheet.append([label, count, total, share, *(interval or ())])
    for column in range(4, 7):
        sheet.cell(sheet.max_row, column).number_format = _PERCENT_FORMAT


def _note(sheet: Worksheet, text: str, font: Font | None = None) -> None:
    """A paragraph across the summary's columns."""
    sheet.append([text])
    row = sheet.max_row
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=6)
    cell = sheet.cell(row, 1)
    cell.alignment = _WRAP
    if font is not None:
        cell.font = font
    sheet.row_dimensions[row].height = 15 * math.ceil(len(text) / 105 + 0.2)


# Tables: Cells, Errors, Audit


@dataclass(frozen=True)
class _Column:
    header: str
    width: float
    number_format: str | None = None
    centred: bool = False


def _write_table(sheet: Worksheet, columns: Sequence[_Column], rows: Iterable[Sequence[object]], empty: str) -> int:
    """A table with frozen header, autofilter, widths and formats; return its row count."""
    _table_header(sheet, [column.header for column in columns], 1)
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
    _print_setup(sheet, landscape=True)
    return count


def _table_header(sheet: Worksheet, headers: Sequence[str], row: int) -> None:
    for column, header in enumerate(headers, 1):
        cell = sheet.cell(row, column, header)
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    sheet.row_dimensions[row].height = 30


_CELL_COLUMNS = (
    _Column("Cell id", 8),
    _Column("Image file", 26),
    _Column("Cell index", 8, centred=True),
    _Column("Box x", 8),
    _Column("Box y", 8),
    _Column("Box width", 8),
    _Column("Box height", 8),
    _Column("Blast probability", 11, _PROBABILITY_FORMAT),
    _Column("AI call", 11, centred=True),
    _Column("Reviewer decision", 11, centred=True),
    _Column("Reviewer", 14),
    _Column("Decided (UTC)", 19, _DATE_FORMAT),
    _Column("Image path", 60),
)


def _write_cells(sheet: Worksheet, data: _CaseData) -> None:
    count = _write_table(
        sheet,
        _CELL_COLUMNS,
        (
            (
                cell.id,
                _file_name(cell.image_path),
                cell.index,
                *cell.box,
                cell.probability,
                cell.call,
                cell.decision,
                cell.reviewer,
                _time(cell.decided_at),
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


def _write_errors(sheet: Worksheet, data: _CaseData) -> None:
    with_cells = {cell.image_id for cell in data.cells}
    problems = [
        (image, "unreadable" if image.status == "error" else "no cell found")
        for image in data.images
        if image.status == "error" or image.id not in with_cells
    ]
    _write_table(
        sheet,
        (
            _Column("Image file", 28),
            _Column("Problem", 14),
            _Column("Reason", 60),
            _Column("Recorded (UTC)", 19, _DATE_FORMAT),
            _Column("Image path", 60),
        ),
        (
            (_file_name(image.path), problem, image.message or problem, _time(image.created_at), image.path)
            for image, problem in problems
        ),
        "Every file was read and gave at least one cell.",
    )
    for (cell,) in sheet.iter_rows(min_row=2, min_col=3, max_col=3):
        cell.alignment = Alignment(wrap_text=True)  # long reasons wrap; the row keeps one baseline


def _write_audit(sheet: Worksheet, data: _CaseData) -> None:
    cells = {cell.id: cell for cell in data.cells}
    _write_table(
        sheet,
        (
            _Column("Change", 8),
            _Column("Cell id", 8),
            _Column("Image file", 26),
            _Column("Cell index", 8),
            _Column("Old decision", 12),
            _Column("New decision", 12),
            _Column("Reviewer", 14),
            _Column("Changed (UTC)", 19, _DATE_FORMAT),
        ),
        (
            (
                change.id,
                change.cell_id,
                _file_name(cells[change.cell_id].image_path),
                cells[change.cell_id].index,
                change.old or NO_DECISION,
                change.new or NO_DECISION,
                change.reviewer,
                _time(change.changed_at),
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


def _write_gallery(sheet: Worksheet, data: _CaseData) -> None:
    shown = gallery_cells(data.cells)
    sheet.append([f"Cells flagged by the AI or confirmed as blasts: {len(shown)}, most suspicious first"])
    sheet["A1"].font = _SECTION_FONT
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
        caption.alignment = _WRAP
        confirmed = cell.decision == "blast"
        caption.font = _font(size=8, bold=confirmed, color=_CONFIRMED[1] if confirmed else None)
    _print_setup(sheet, landscape=False)


def _caption(cell: CellRecord) -> str:
    outcome = f"{cell.call} -> {cell.decision}" if cell.decision else f"{cell.call}, {NO_DECISION}"
    return f"#{cell.id} {_file_name(cell.image_path)} [{cell.index}]\np = {cell.probability:.3f}\n{outcome}"


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


_DECISION_COLOURS = {"blast": "C00000", "normal": "70AD47", "unsure": "FFC000", NO_DECISION: "A6A6A6"}


def probability_histogram(cells: Iterable[CellRecord], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Cells per probability bin of equal width over 0..1 (1.0 falls in the last bin)."""
    counts = [0] * bins
    for cell in cells:
        counts[min(int(cell.probability * bins), bins - 1)] += 1
    return counts


def _write_chart(sheet: Worksheet, data: _CaseData) -> None:
    _table_header(sheet, ["Blast probability", "Cells"], 1)
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
    by_call = Counter((cell.call, cell.decision or NO_DECISION) for cell in data.cells)
    _table_header(sheet, ["AI call", *decisions], first)
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
    for column, width in zip("ABCDE", (18, 8, 8, 8, 11), strict=True):
        sheet.column_dimensions[column].width = width
    _print_setup(sheet, landscape=True)


def _bar_chart(title: str, x_title: str, y_title: str) -> BarChart:
    chart = BarChart()
    chart.type, chart.title, chart.width, chart.height = "col", title, 18, 8
    chart.x_axis.title, chart.y_axis.title = x_title, y_title
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl 3.1 hides axes in Excel otherwise
    chart.y_axis.majorGridlines = None
    return chart


# Writing the file


def _check_target(target: Path) -> None:
    """Refuse targets that cannot work before building anything."""
    if target.is_dir():
        raise ReportError(f"{target} is a folder; give a file name ending in .xlsx")
    if not target.parent.is_dir():
        raise ReportError(f"the folder for the report does not exist: {target.parent}")
    if target.exists() and not os.access(target, os.W_OK):
        raise ReportError(f"the report {target} is write-protected; choose another name or unprotect it")


def _save_atomically(workbook: Workbook, target: Path) -> None:
    """Save to a temporary file beside `target`, fsync, then rename it over `target`."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise ReportError(f"cannot write in {target.parent}: {_reason(error)}; is the folder read-only?") from error
    try:
        with os.fdopen(descriptor, "wb") as handle:
            workbook.save(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is meant to be shared
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        kept = " An older report there is unchanged." if target.exists() else ""
        if isinstance(error, PermissionError):
            raise ReportError(
                f"cannot replace {target}: it is open in another program (close it in Excel) "
                f"or not writable ({_reason(error)}).{kept}"
            ) from error
        if isinstance(error, OSError):
            raise ReportError(f"could not write the report {target}: {_reason(error)}.{kept}") from error
        raise


# Small helpers


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _time(text: str | None) -> datetime | None:
    """A stored ISO timestamp as a naive UTC datetime (Excel has no time zones)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _text_time(text: str | None) -> str:
    moment = _time(text)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else ""


def _file_name(path: str) -> str:
    return PurePath(path).name


def _print_setup(sheet: Worksheet, *, landscape: bool) -> None:
    """A4, fit to the page width, so that a printout or PDF shows whole rows."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
