"""The Summary sheet: case and its sign-offs, software and model, counts, the AI flag rate and,
once every cell to review is decided, the blast percentage with its interval."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from app import __version__
from app.core.decision import Proportion
from app.core.report.case_data import CaseData
from app.core.report.style import (
    PERCENT_FORMAT,
    PROBABILITY_FORMAT,
    TITLE_FONT,
    calibri,
    excel_time,
    file_name,
    print_setup,
    table_header,
    text_time,
    write_note,
    write_pairs,
    write_section,
)
from app.core.site import SiteProfile
from app.core.store import Case, CaseSummary, CellRecord, SignOff

DECISION_SUPPORT_NOTE = (
    "Decision support only. BlastScan flags cells that may be leukemic blasts; it does not make "
    "a diagnosis. Every result must be reviewed and confirmed by a qualified expert (haematologist "
    "or cytologist) before it is used for any clinical decision."
)
BLAST_MEASURE = "Blast % (confirmed blasts / cells counted)"
DENOMINATOR_NOTE = (
    "Denominator: the cells counted, that is every cell analysed except those decided 'artefact' (not a "
    "white cell: a smudge, a cut cell, a doublet, a red-cell clump, a piece of a cell); artefacts stay on the "
    "Cells sheet and in the Audit. Numerator: cells a reviewer decided are blasts. Cells the AI called normal "
    "that no one reviewed count as non-blasts. The interval is the 95% Wilson score interval; it reflects the "
    "number of cells counted, not errors of the AI or of the review."
)
_SIGNED, _DRAFT = "375623", "C00000"
"""Colours of the status line of a signed-off case and of a draft."""
UNFAMILIAR_NOTE = (
    "The images are unlike those the model's recall was measured on, so the AI called no cell "
    "normal: every cell it did not flag is 'uncertain' and in the review queue."
)


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


def write_summary(sheet: Worksheet, data: CaseData) -> None:
    case = data.case
    sheet.append(["BlastScan case report"])
    sheet["A1"].font = TITLE_FONT
    status, colour = _status(case, data.sign_offs)
    sheet.append([status])
    sheet["A2"].font = calibri(bold=True, color=colour)
    write_note(sheet, DECISION_SUPPORT_NOTE, calibri(bold=True, italic=True))

    write_section(sheet, "Case")
    write_pairs(
        sheet,
        [
            ("Case", case.name),
            ("Case id", case.id),
            ("Sample / patient id", case.sample_id or "not given"),
            ("Prepared by", case.operator or "not given"),
            ("Case created (UTC)", excel_time(case.created_at)),
            ("Last image classified (UTC)", excel_time(max((image.created_at for image in data.images), default=None))),
            ("Signed off by", case.signed_off_by or "not signed off"),
            ("Signed off (UTC)", excel_time(case.signed_off_at) or "not signed off"),
            ("Report written (UTC)", data.written_at),
        ],
    )
    if data.sign_offs:
        write_section(sheet, "Sign-offs and amendments")
        write_pairs(sheet, _sign_off_rows(data.sign_offs))
    write_section(sheet, "Software and model")
    write_pairs(
        sheet,
        [
            ("Software", f"BlastScan {__version__}"),
            ("Model version", case.model_version or "not classified yet"),
            ("Decision rule", case.rule_label),
            *(_profile_rows(data.profile) if data.profile else []),
            ("Decision threshold", case.threshold if case.threshold is not None else "not classified yet"),
        ],
    )
    sheet.cell(sheet.max_row, 2).number_format = PROBABILITY_FORMAT
    write_pairs(sheet, [("Image familiarity", _familiarity_text(case))])
    if case.unfamiliar:
        write_note(sheet, UNFAMILIAR_NOTE, calibri(bold=True, color="C00000"))
    _write_counts(sheet, data)
    _write_result(sheet, data)
    for column, width in zip("ABCDEF", (46, 30, 10, 10, 12, 12), strict=True):
        sheet.column_dimensions[column].width = width
    print_setup(sheet, landscape=False)


def _status(case: Case, sign_offs: list[SignOff]) -> tuple[str, str]:
    """The line under the title and its colour: signed off, amended, reopened or draft."""
    amendments = [sign_off for sign_off in sign_offs if sign_off.reopened_at]
    if case.signed_off and amendments:
        first = sign_offs[0]
        return (
            f"Amended: signed off again by {case.signed_off_by} on {text_time(case.signed_off_at)} "
            f"(first signed off by {first.signed_off_by} on {text_time(first.signed_off_at)}; "
            "see Sign-offs and amendments)",
            _SIGNED,
        )
    if case.signed_off:
        return f"Signed off by {case.signed_off_by} on {text_time(case.signed_off_at)}", _SIGNED
    if amendments:
        last = amendments[-1]
        return (
            f"DRAFT: reopened for amendment by {last.reopened_by} on {text_time(last.reopened_at)} "
            f"({last.reopen_reason}); not signed off again yet",
            _DRAFT,
        )
    return "DRAFT: not signed off; the review may be incomplete", _DRAFT


def _sign_off_rows(sign_offs: list[SignOff]) -> list[tuple[str, object]]:
    """Each sign-off with its signature and, when the case was reopened after it, the amendment."""
    rows: list[tuple[str, object]] = []
    for number, sign_off in enumerate(sign_offs, 1):
        rows.append((f"Sign-off {number}", f"{sign_off.signed_off_by}, {text_time(sign_off.signed_off_at)}"))
        if sign_off.reopened_at:
            rows.append(
                (
                    f"Amendment {number}",
                    f"reopened by {sign_off.reopened_by}, {text_time(sign_off.reopened_at)}; "
                    f"reason: {sign_off.reopen_reason}",
                )
            )
    return rows


def _write_counts(sheet: Worksheet, data: CaseData) -> None:
    counts = data.counts
    write_section(sheet, "Counts")
    write_pairs(
        sheet,
        [
            ("Images", counts.images),
            ("Unreadable files (see Errors)", counts.errors),
            ("Unreadable files acknowledged", sum(image.acknowledged_at is not None for image in data.images)),
            ("Cells analysed", counts.cells),
            ("AI-flagged", counts.flagged),
            ("Uncertain", counts.uncertain),
            ("AI: normal", counts.normal),
            ("Review queue (flagged + uncertain)", counts.to_review),
            ("Decided of the queue (blast, normal or artefact)", counts.reviewed),
            ("Confirmed blasts", counts.confirmed_blasts),
            ("Decided normal", data.decided("normal")),
            ("Artefacts (not white cells, left out of the count)", counts.artefacts),
            ("Decided unsure (need a second look)", counts.unsure),
            ("Cells counted (analysed less artefacts)", counts.counted),
        ],
    )


def _write_result(sheet: Worksheet, data: CaseData) -> None:
    counts = data.counts
    write_section(sheet, "Result")
    table_header(sheet, ["Measure", "Count", "Of", "Share", "95% CI low", "95% CI high"], sheet.max_row + 1)
    if counts.review_complete:
        _proportion(sheet, BLAST_MEASURE, counts.blast_percentage)
    else:
        sheet.append([BLAST_MEASURE, f"not until the review is complete ({_undecided(counts)})"])
    _proportion(sheet, "AI flag rate (flagged / cells analysed)", counts.flag_rate)
    completeness = Proportion(counts.reviewed, counts.to_review)
    _proportion(sheet, "Review completeness (decided / review queue)", completeness, with_interval=False)
    sheet.append([])
    write_note(sheet, _blast_sentence(counts), calibri(bold=True))
    write_note(sheet, DENOMINATOR_NOTE)
    if data.artefacts:
        write_note(sheet, f"Artefacts left out of the count ({len(data.artefacts)}): {_cell_names(data.artefacts)}.")
    if not counts.review_complete:
        write_note(sheet, f"Provisional: {_undecided(counts)}.", calibri(bold=True, color=_DRAFT))
    write_note(
        sheet,
        (
            "Colours on the Cells sheet: red = confirmed blast by the reviewer; orange = flagged by the AI; "
            "yellow = uncertain (inside the decision rule's uncertain band)."
        ),
    )


def _undecided(counts: CaseSummary) -> str:
    """'3 flagged or uncertain cell(s) have no final decision yet; 1 cell(s) decided unsure'."""
    parts = []
    if counts.undecided:
        parts.append(f"{counts.undecided} flagged or uncertain cell(s) have no final decision yet")
    if counts.unsure:
        parts.append(f"{counts.unsure} cell(s) decided unsure need a second look")
    return "; ".join(parts)


def _blast_sentence(counts: CaseSummary) -> str:
    flag_rate = (
        f"The AI flag rate, {counts.flag_rate.describe()}, is the share of cells the AI flagged for review, "
        "not a blast percentage."
    )
    if not counts.review_complete:
        return f"Blast percentage: not given until every cell to review has a final decision. {flag_rate}"
    blast = counts.blast_percentage
    if blast.share is None or blast.interval is None:
        return "Blast percentage: not available (no cells were counted)."
    low, high = blast.interval
    return (
        f"Blast percentage {blast.share:.1%} ({blast.confidence:.0%} CI {low:.1%} to {high:.1%}): "
        f"{counts.confirmed_blasts} cell(s) confirmed as blasts by the reviewer among {counts.counted} cell(s) "
        f"counted ({counts.cells} analysed, {counts.artefacts} artefact(s) left out). {flag_rate}"
    )


def _cell_names(cells: list[CellRecord]) -> str:
    """'#12 a.bmp [0], #15 b.bmp [2]': cell id, image file and cell index, as the Cells sheet has them."""
    return ", ".join(f"#{cell.id} {file_name(cell.image_path)} [{cell.index}]" for cell in cells)


def _proportion(sheet: Worksheet, label: str, proportion: Proportion, with_interval: bool = True) -> None:
    share = "n/a" if proportion.share is None else proportion.share
    interval = proportion.interval if with_interval else None
    sheet.append([label, proportion.count, proportion.total, share, *(interval or ())])
    for column in range(4, 7):
        sheet.cell(sheet.max_row, column).number_format = PERCENT_FORMAT
