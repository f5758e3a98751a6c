"""The Summary sheet: case, software and model, counts, the blast percentage with its interval."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from app import __version__
from app.core.decision import describe_rule, wilson_interval
from app.core.report.case_data import CaseData
from app.core.report.style import (
    PERCENT_FORMAT,
    PROBABILITY_FORMAT,
    TITLE_FONT,
    calibri,
    excel_time,
    print_setup,
    table_header,
    text_time,
    write_note,
    write_pairs,
    write_section,
)
from app.core.site import SiteProfile
from app.core.store import Case, CaseSummary

CONFIDENCE = 0.95
"""Level of the blast-percentage interval (Wilson score interval)."""
DECISION_SUPPORT_NOTE = (
    "Decision support only. BlastScan flags cells that may be leukemic blasts; it does not make "
    "a diagnosis. Every result must be reviewed and confirmed by a qualified expert (haematologist "
    "or cytologist) before it is used for any clinical decision."
)
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
    case, counts = data.case, data.counts
    unreadable = sum(image.status == "error" for image in data.images)
    blast = _interval(counts.confirmed_blasts, counts.cells)
    sheet.append(["BlastScan case report"])
    sheet["A1"].font = TITLE_FONT
    if case.signed_off:
        sheet.append([f"Signed off by {case.signed_off_by} on {text_time(case.signed_off_at)}"])
        sheet["A2"].font = calibri(bold=True, color="375623")
    else:
        sheet.append(["DRAFT: not signed off; the review may be incomplete"])
        sheet["A2"].font = calibri(bold=True, color="C00000")
    write_note(sheet, DECISION_SUPPORT_NOTE, calibri(bold=True, italic=True))

    write_section(sheet, "Case")
    write_pairs(
        sheet,
        [
            ("Case", case.name),
            ("Case id", case.id),
            ("Sample / patient id", case.sample_id or "not given"),
            ("Operator", case.operator or "not given"),
            ("Case created (UTC)", excel_time(case.created_at)),
            ("Last image classified (UTC)", excel_time(max((image.created_at for image in data.images), default=None))),
            ("Reviewer", case.signed_off_by or "not signed off"),
            ("Signed off (UTC)", excel_time(case.signed_off_at) or "not signed off"),
            ("Report written (UTC)", data.written_at),
        ],
    )
    write_section(sheet, "Software and model")
    write_pairs(
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
    sheet.cell(sheet.max_row, 2).number_format = PROBABILITY_FORMAT
    write_pairs(sheet, [("Image familiarity", _familiarity_text(case))])
    if case.unfamiliar:
        write_note(sheet, UNFAMILIAR_NOTE, calibri(bold=True, color="C00000"))
    write_section(sheet, "Counts")
    write_pairs(
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
    write_section(sheet, "Result")
    table_header(sheet, ["Measure", "Count", "Of", "Share", "95% CI low", "95% CI high"], sheet.max_row + 1)
    _proportion(sheet, "Blast % (confirmed blasts / all cells analysed)", counts.confirmed_blasts, counts.cells, blast)
    _proportion(
        sheet,
        "AI-flagged % (flagged / all cells analysed)",
        counts.flagged,
        counts.cells,
        _interval(counts.flagged, counts.cells),
    )
    _proportion(sheet, "Review completeness (reviewed / review queue)", counts.reviewed, counts.to_review, None)
    sheet.append([])
    write_note(sheet, _blast_sentence(counts, blast), calibri(bold=True))
    write_note(
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
        write_note(
            sheet,
            f"Provisional: {waiting} flagged or uncertain cell(s) have no review decision yet.",
            calibri(bold=True, color="C00000"),
        )
    write_note(
        sheet,
        (
            "Colours on the Cells sheet: red = confirmed blast by the reviewer; orange = flagged by the AI; "
            "yellow = uncertain (inside the decision rule's uncertain band)."
        ),
    )
    for column, width in zip("ABCDEF", (46, 30, 10, 10, 12, 12), strict=True):
        sheet.column_dimensions[column].width = width
    print_setup(sheet, landscape=False)


def _interval(count: int, total: int) -> tuple[float, float] | None:
    """The CONFIDENCE Wilson interval of count / total; None without a total."""
    return wilson_interval(count / total, total, CONFIDENCE) if total > 0 else None


def _blast_sentence(counts: CaseSummary, interval: tuple[float, float] | None) -> str:
    if interval is None:
        return "Blast percentage: not available (no cells were analysed)."
    share = counts.confirmed_blasts / counts.cells
    return (
        f"Blast percentage {share:.1%} ({CONFIDENCE:.0%} CI {interval[0]:.1%} to {interval[1]:.1%}): "
        f"{counts.confirmed_blasts} cell(s) confirmed as blasts by the reviewer "
        f"among {counts.cells} cell(s) analysed."
    )


def _proportion(sheet: Worksheet, label: str, count: int, total: int, interval: tuple[float, float] | None) -> None:
    share = count / total if total else "n/a"
    sheet.append([label, count, total, share, *(interval or ())])
    for column in range(4, 7):
        sheet.cell(sheet.max_row, column).number_format = PERCENT_FORMAT
