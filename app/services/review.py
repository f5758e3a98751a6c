"""Review from any front: a cell found by its image and index, and a case's state in lines of text.

The rules themselves (what sign-off needs, amendment, acknowledging unreadable files) are the
case store's (`app.core.store.review`), so that every front obeys the same ones.
"""

from __future__ import annotations

import os

from app.core.decision import Proportion
from app.core.store import CaseStore, CellRecord


class CellNotFound(LookupError):
    """No cell at the image and index asked for, with a reason for a person."""


def cell_at(store: CaseStore, case_id: int, image: str | os.PathLike[str], index: int) -> CellRecord:
    """Cell `index` of `image` in the case, as the classify CSV names them (image_path, cell_index);
    a relative `image` is taken from the current folder."""
    wanted = {os.fspath(image), os.path.abspath(image)}
    record = next((record for record in store.list_images(case_id) if record.path in wanted), None)
    if record is None:
        raise CellNotFound(f"the case has no image {os.fspath(image)!r} (see image_path in the classify CSV)")
    cells = store.list_cells(case_id, sort="position", image_id=record.id)
    cell = next((cell for cell in cells if cell.index == index), None)
    if cell is None:
        found = f"its cells are 0 to {len(cells) - 1}" if cells else "no cell was found in it"
        raise CellNotFound(f"{record.path} has no cell {index}: {found}")
    return cell


def case_summary(store: CaseStore, case_id: int) -> list[str]:
    """The case as the command line shows it: details, rule, counts, review, blast % once decided, sign-off."""
    from app.core.report.style import text_time  # openpyxl: loaded when a summary is asked for

    check = store.sign_off_check(case_id)
    case, counts = check.case, check.summary
    acknowledged = sum(image.acknowledged_at is not None for image in store.list_errors(case_id))
    lines = [
        f"Case {case.name!r} (id {case.id})",
        f"Sample ID: {case.sample_id or 'not given'}; prepared by: {case.operator or 'not given'}",
        f"Decided by: {case.rule_label}",
        f"Images: {counts.images}, {counts.errors} unreadable ({acknowledged} acknowledged)",
        f"Cells analysed: {counts.cells}: {counts.flagged} flagged, {counts.uncertain} uncertain, "
        f"{counts.normal} normal; AI flag rate {counts.flag_rate.describe()}",
        f"Review: {counts.reviewed} of {counts.to_review} flagged or uncertain cell(s) decided; "
        f"{counts.confirmed_blasts} blast(s), {counts.artefacts} artefact(s) left out of the count, "
        f"{counts.unsure} unsure",
        blast_line(counts.blast_percentage, counts.review_complete),
    ]
    history = store.sign_offs(case_id)
    for number, sign_off in enumerate(history, 1):
        lines.append(f"Sign-off {number}: {sign_off.signed_off_by}, {text_time(sign_off.signed_off_at)}")
        if sign_off.reopened_at:
            lines.append(
                f"Amendment {number}: reopened by {sign_off.reopened_by}, {text_time(sign_off.reopened_at)}; "
                f"reason: {sign_off.reopen_reason}"
            )
    if not case.signed_off:
        lines += ["Ready for sign-off."] if check.allowed else ["Not ready for sign-off:"]
        lines += [f"  - {reason}" for reason in check.reasons]
    return lines


def blast_line(blast_percentage: Proportion, review_complete: bool) -> str:
    """'Blast %: 12.5% (95% CI ...; 3 of 24 cells counted)', or why there is none yet."""
    if not review_complete:
        return "Blast %: not until every flagged or uncertain cell has a final decision and none is unsure"
    return f"Blast %: {blast_percentage.describe()} cells counted (artefacts left out)"
