"""The case report workbook: a real case (demo images, bundled model, SQLite) exported and read back."""

import math
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import openpyxl
import pytest
from conftest import DEMO_CASE, REPO
from openpyxl.workbook.workbook import Workbook
from PIL import Image

from app import __version__
from app.cli import main
from app.core.pipeline import classify_case
from app.core.report import ReportError, write_report

Z_95 = 1.959963984540054
REVIEWER = "dr.bo"


@pytest.fixture
def images(tmp_path) -> Path:
    """The demo case's cells, an unreadable file and an all-black image (no cell)."""
    folder = tmp_path / "images"
    shutil.copytree(DEMO_CASE, folder)
    (folder / "broken.png").write_bytes(b"this is not a PNG")
    Image.new("RGB", (64, 64)).save(folder / "black.bmp")
    return folder


@pytest.fixture
def outbox(tmp_path) -> Path:
    """An empty folder for reports (the data folder is elsewhere in tmp_path)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def reviewed(store, images, classifier):
    """A classified demo case whose review queue is decided by the file's label.

    One decision is changed (unsure, then final) and one cell the AI did not flag is
    confirmed as a blast, so the audit and the gallery have more than the obvious.
    """
    case = store.create_case("Demo review", sample_id="PB-0042", operator="ana")
    classify_case(store, case.id, [images], classifier)
    queue = store.list_cells(case.id, "to_review", sort="position")
    assert queue, "the demo case should give the reviewer something to do"
    store.set_decision(queue[0].id, "unsure", "first.look")
    for cell in queue:
        store.set_decision(cell.id, "blast" if cell.image_path.endswith("_all.bmp") else "normal", REVIEWER)
    unflagged = [cell for cell in store.list_cells(case.id) if cell.call != "flagged" and cell.decision != "blast"]
    assert unflagged, "the demo case should have cells the AI did not flag"
    store.set_decision(unflagged[-1].id, "blast", REVIEWER)
    return case.id


def _summary(sheet) -> dict[str, tuple]:
    """Summary rows by their label in column A."""
    return {row[0]: row[1:] for row in sheet.iter_rows(values_only=True) if isinstance(row[0], str)}


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson interval as the roots of (p_hat - p)^2 = z^2 p (1 - p) / n."""
    p_hat, a = k / n, 1 + Z_95**2 / n
    b, c = -(2 * p_hat + Z_95**2 / n), p_hat**2
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)


def test_signed_off_report_matches_the_store(store, reviewed, classifier, tmp_path):
    store.acknowledge_errors(reviewed, REVIEWER)
    case = store.sign_off(reviewed, REVIEWER)
    cells = {cell.id: cell for cell in store.list_cells(case.id)}
    blasts = sum(cell.decision == "blast" for cell in cells.values())
    flagged = sum(cell.call == "flagged" for cell in cells.values())
    uncertain = sum(cell.call == "uncertain" for cell in cells.values())
    out = write_report(store, case.id, tmp_path / "report.xlsx")
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Summary", "Cells", "Gallery", "Chart", "Errors", "Audit"]

    summary = _summary(book["Summary"])
    assert summary["Case"][0] == "Demo review" and summary["Sample / patient id"][0] == "PB-0042"
    assert summary["Prepared by"][0] == "ana" and summary["Signed off by"][0] == REVIEWER
    assert summary["Sign-off 1"][0].startswith(f"{REVIEWER}, ") and "Amendment 1" not in summary
    assert summary["Signed off (UTC)"][0] == _utc(case.signed_off_at)
    assert summary["Software"][0] == f"BlastScan {__version__}"
    assert summary["Model version"][0] == classifier.version
    assert summary["Decision threshold"][0] == pytest.approx(classifier.card.threshold)
    assert summary["Decision rule"][0] == f"model card (no site profile), threshold {classifier.card.threshold:.3f}"
    assert summary["Images"][0] == 26 and summary["Unreadable files (see Errors)"][0] == 1
    assert (summary["Cells analysed"][0], summary["AI-flagged"][0], summary["Uncertain"][0]) == (24, flagged, uncertain)
    assert summary["Confirmed blasts"][0] == blasts
    count, total, share, low, high = summary["Blast % (confirmed blasts / cells counted)"][:5]
    assert (count, total) == (blasts, 24) and share == pytest.approx(blasts / 24)
    assert (low, high) == pytest.approx(_wilson(blasts, 24), abs=1e-9)
    assert summary["Review completeness (decided / review queue)"][:3] == (flagged + uncertain, flagged + uncertain, 1)
    assert summary["AI flag rate (flagged / cells analysed)"][:3] == (flagged, 24, pytest.approx(flagged / 24))
    assert any("Decision support only" in label and "expert" in label for label in summary)
    assert not any(label.startswith("Provisional") for label in summary)

    sheet = book["Cells"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:M25"
    header, *rows = sheet.iter_rows(values_only=True)
    assert header[:3] == ("Cell id", "Image file", "Cell index") and len(rows) == 24
    for row in rows:
        cell = cells[row[0]]
        decided = cell.decided_at and _utc(cell.decided_at)
        assert row[1:7] + row[8:12] == (
            Path(cell.image_path).name,
            cell.index,
            *cell.box,
            cell.call,
            cell.decision,
            cell.reviewer,
            decided,
        )
        assert row[7] == pytest.approx(cell.probability, rel=1e-12)  # Excel keeps 15 digits
    assert {sheet.cell(row, 8).number_format for row in range(2, 26)} == {"0.000"}
    rules = [rule.formula[0] for ranges in sheet.conditional_formatting for rule in ranges.rules]
    assert rules == ['$J2="blast"', '$I2="flagged"', '$I2="uncertain"']

    shown = [cell for cell in cells.values() if cell.call == "flagged" or cell.decision == "blast"]
    assert len(shown) > flagged  # the confirmed cell the AI did not flag is there too
    gallery = book["Gallery"]
    assert len(gallery._images) == len(shown)
    captions = [value for row in gallery.iter_rows(min_row=4, values_only=True) for value in row if value]
    assert sorted(int(text.split()[0][1:]) for text in captions) == sorted(cell.id for cell in shown)
    for cell in shown:
        assert any(f"#{cell.id} " in text and f"p = {cell.probability:.3f}" in text for text in captions)

    chart = book["Chart"]
    assert len(chart._charts) == 2
    assert sum(chart.cell(row, 2).value for row in range(2, 12)) == 24

    errors = list(book["Errors"].iter_rows(min_row=2, values_only=True))
    by_file = {row[0]: row for row in errors}
    assert set(by_file) == {"broken.png", "black.bmp"}
    assert by_file["broken.png"][1] == "unreadable"
    assert by_file["broken.png"][2] == store.list_errors(case.id)[0].message != ""
    assert by_file["broken.png"][4] == REVIEWER and isinstance(by_file["broken.png"][5], datetime)
    assert by_file["black.bmp"][1] == "no cell found"

    history = store.decision_history(case.id)
    audit = list(book["Audit"].iter_rows(min_row=2, values_only=True))
    assert [(row[1], row[4], row[5], row[6]) for row in audit] == [
        (change.cell_id, change.old or "no decision", change.new, change.reviewer) for change in history
    ]
    assert ("unsure", "first.look") in [(row[5], row[6]) for row in audit]
    assert len(audit) == len(history) == flagged + uncertain + 2


def test_draft_report_says_not_signed_off_and_provisional(store, reviewed, tmp_path):
    store.set_decision(store.list_cells(reviewed, "to_review")[0].id, None, REVIEWER)
    summary = _summary(openpyxl.load_workbook(write_report(store, reviewed, tmp_path / "r.xlsx"))["Summary"])
    assert summary["Signed off by"][0] == summary["Signed off (UTC)"][0] == "not signed off"
    assert summary["DRAFT: not signed off; the review may be incomplete"] == (None,) * 5
    assert any(label.startswith("Provisional: 1 flagged or uncertain") for label in summary)
    reviewed_count, queue = summary["Review completeness (decided / review queue)"][:2]
    assert reviewed_count == queue - 1
    assert summary["Blast % (confirmed blasts / cells counted)"][0].startswith("not until the review is complete")


def test_empty_case_has_no_interval_and_no_rows(store, tmp_path):
    case = store.create_case("empty")
    book = openpyxl.load_workbook(write_report(store, case.id, tmp_path / "empty.xlsx"))
    summary = _summary(book["Summary"])
    assert summary["Blast % (confirmed blasts / cells counted)"][:5] == (0, 0, "n/a", None, None)
    assert book["Cells"]["A2"].value == "No cells were found in this case."
    assert not book["Gallery"]._images and len(book["Chart"]._charts) == 2


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("bug")])
def test_failure_mid_write_leaves_the_older_report_intact(store, outbox, monkeypatch, failure):
    case = store.create_case("atomic")
    out = write_report(store, case.id, outbox / "report.xlsx")
    before = out.read_bytes()

    def half_save(self, handle):
        handle.write(b"PK\x03\x04 half a zip")
        raise failure

    monkeypatch.setattr(Workbook, "save", half_save)
    with pytest.raises(ReportError if isinstance(failure, OSError) else RuntimeError) as raised:
        write_report(store, case.id, out)
    if isinstance(failure, OSError):
        message = str(raised.value)
        assert "No space left on device" in message and "older report there is unchanged" in message
    assert out.read_bytes() == before
    assert [path.name for path in outbox.iterdir()] == ["report.xlsx"]  # no temporary file left


def test_a_locked_target_gives_a_clear_message(store, outbox, monkeypatch):
    case = store.create_case("locked")
    out = write_report(store, case.id, outbox / "report.xlsx")
    before = out.read_bytes()

    def refuse(source, target):  # what Windows does while Excel has the file open
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ReportError, match="open in another program"):
        write_report(store, case.id, out)
    assert out.read_bytes() == before and [path.name for path in outbox.iterdir()] == ["report.xlsx"]


def test_missing_folder_or_a_folder_as_target_is_refused(store, tmp_path):
    case = store.create_case("nowhere")
    with pytest.raises(ReportError, match="folder for the report does not exist"):
        write_report(store, case.id, tmp_path / "no such folder" / "report.xlsx")
    with pytest.raises(ReportError, match="is a folder"):
        write_report(store, case.id, tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_and_file_are_refused(store, tmp_path):
    case = store.create_case("read-only")
    folder = tmp_path / "locked"
    folder.mkdir()
    old = write_report(store, case.id, folder / "old.xlsx")
    old.chmod(0o444)
    try:
        with pytest.raises(ReportError, match="write-protected"):
            write_report(store, case.id, old)
        folder.chmod(0o555)
        with pytest.raises(ReportError, match="is the folder read-only"):
            write_report(store, case.id, folder / "new.xlsx")
    finally:
        folder.chmod(0o755)
    assert sorted(path.name for path in folder.iterdir()) == ["old.xlsx"]


def test_cli_report_by_name_or_id_and_classify_with_xlsx(store, reviewed, images, tmp_path, capsys):
    out = tmp_path / "by-name.xlsx"
    assert main(["report", "Demo review", "--xlsx", str(out)]) == 0
    assert "Report of case 'Demo review'" in capsys.readouterr().err
    assert _summary(openpyxl.load_workbook(out)["Summary"])["Case"][0] == "Demo review"
    assert main(["report", str(reviewed), "--xlsx", str(tmp_path / "by-id.xlsx")]) == 0
    assert main(["report", "no such case", "--xlsx", str(tmp_path / "x.xlsx")]) == 2
    assert "no case with the name or id" in capsys.readouterr().err
    assert main(["report", "Demo review", "--xlsx", str(tmp_path / "missing" / "x.xlsx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "Demo review", "--xlsx", str(out), "--data-dir", str(tmp_path / "empty")]) == 2

    few = [str(images / name) for name in ("UID_16_1_3_all.bmp", "UID_H6_2_1_hem.bmp", "broken.png")]
    csv_out, xlsx_out = tmp_path / "batch.csv", tmp_path / "batch.xlsx"
    args = ["classify", *few, "--csv", str(csv_out), "--xlsx", str(xlsx_out), "--case", "cli", "--no-tta"]
    assert main(args) == 0
    assert f"Report: {xlsx_out}" in capsys.readouterr().err
    book = openpyxl.load_workbook(xlsx_out)
    assert book["Cells"].max_row == 3 and book["Errors"]["A2"].value == "broken.png"
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == 4
    assert main(["classify", *few, "--csv", str(csv_out), "--xlsx", str(tmp_path / "no" / "x.xlsx")]) == 2


def test_importing_the_report_does_not_load_litert():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, app.core.report; print('ai_edge_litert' in sys.modules)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
