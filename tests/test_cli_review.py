"""Headless review from the command line: the demo case plus a broken file, classified with the
bundled model into a real case store, reviewed with `decide`, gated by `sign-off`, amended, and
its report read back with openpyxl."""

import csv
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import DEMO_CASE

from app.cli import main

TO_REVIEW = ("yes", "uncertain")
"""The CSV's `flagged` values of the cells that go to review."""


@pytest.fixture
def smear(tmp_path) -> Path:
    folder = tmp_path / "smear"
    shutil.copytree(DEMO_CASE, folder)
    (folder / "broken.png").write_bytes(b"this is not a PNG")
    return folder


def _blastscan(capsys, *args: str) -> tuple[int, str, str]:
    """Run `blastscan args...`; exit code, stdout and stderr."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["status"] == "ok"]


def _summary(path: Path) -> dict[str, tuple]:
    sheet = openpyxl.load_workbook(path)["Summary"]
    return {row[0]: row[1:] for row in sheet.iter_rows(values_only=True) if isinstance(row[0], str)}


def _truth(row: dict[str, str]) -> str:
    return "blast" if row["image_path"].endswith("_all.bmp") else "normal"


def test_a_case_is_signed_off_only_once_reviewed_then_amended_with_both_signatures(smear, tmp_path, capsys):
    data = ("--data-dir", str(tmp_path / "data"))
    cells_csv = tmp_path / "cells.csv"
    code, _, _ = _blastscan(capsys, "classify", str(smear), "--csv", str(cells_csv), "--no-tta", *data)
    assert code == 0
    rows = _rows(cells_csv)
    queue = [row for row in rows if row["flagged"] in TO_REVIEW]
    assert len(rows) == 24 and len(queue) >= 3, "the demo case should give the reviewer something to do"

    code, _, err = _blastscan(capsys, "sign-off", "smear", "--by", "dr.bo", *data)
    assert code == 3
    lines = err.splitlines()
    assert lines[0] == "blastscan: case 'smear' cannot be signed off:"
    assert lines[1:] == [
        "  - 1 unreadable file(s) not acknowledged: broken.png; acknowledge them, with your name, to sign off "
        "without them",
        f"  - {len(queue)} flagged or uncertain cell(s) still need a review decision",
        "  - the Sample ID is empty",
    ]

    def decide(row: dict[str, str], decision: str) -> int:
        image, index = row["image_path"], row["cell_index"]
        return _blastscan(
            capsys, "decide", "smear", decision, "--image", image, "--cell-index", index, "--by", "ana", *data
        )[0]

    unsure, artefact, *rest = queue
    assert decide(unsure, "unsure") == 0 and decide(artefact, "artefact") == 0
    assert all(decide(row, _truth(row)) == 0 for row in rest)
    assert decide(unsure, "maybe") == 2  # argparse: not a decision
    assert (
        _blastscan(
            capsys, "decide", "smear", "blast", "--image", "nowhere.bmp", "--cell-index", "0", "--by", "ana", *data
        )[0]
        == 2
    )
    assert _blastscan(capsys, "case", "smear", "--acknowledge-errors", *data)[0] == 2  # who acknowledges?
    code, out, _ = _blastscan(
        capsys,
        "case",
        "smear",
        "--acknowledge-errors",
        "--by",
        "ana",
        "--sample-id",
        "PB-0042",
        "--prepared-by",
        "tech",
        *data,
    )
    assert code == 0
    assert "Sample ID: PB-0042; prepared by: tech" in out and "1 unreadable (1 acknowledged)" in out
    code, _, err = _blastscan(capsys, "sign-off", "smear", "--by", "dr.bo", *data)
    assert code == 3
    assert err.splitlines()[1:] == [
        "  - 1 cell(s) decided 'unsure' need a second look: decide blast, normal or artefact"
    ]

    assert decide(unsure, _truth(unsure)) == 0
    code, out, _ = _blastscan(capsys, "sign-off", "smear", "--by", "dr.bo", *data)
    assert code == 0 and "Sign-off 1: dr.bo, " in out
    blasts = sum(_truth(row) == "blast" for row in queue if row is not artefact)
    assert "Blast %: " in out and f"; {blasts} of 23) cells counted" in out
    assert decide(unsure, "normal") == 3  # signed off: frozen

    first_report = tmp_path / "first.xlsx"
    assert _blastscan(capsys, "report", "smear", "--xlsx", str(first_report), *data)[0] == 0
    summary = _summary(first_report)
    assert summary["Cells analysed"][0] == 24 and summary["Artefacts (not white cells, left out of the count)"][0] == 1
    assert summary["Cells counted (analysed less artefacts)"][0] == 23
    assert summary["Blast % (confirmed blasts / cells counted)"][:2] == (blasts, 23)
    artefact_name = Path(artefact["image_path"]).name
    assert any(
        label.startswith("Artefacts left out of the count (1): #") and f" {artefact_name} [0]" in label
        for label in summary
    )
    assert summary["Prepared by"][0] == "tech" and summary["Signed off by"][0] == "dr.bo"

    assert _blastscan(capsys, "amend", "smear", "--reason", "", "--by", "dr.x", *data)[0] == 3
    code, out, _ = _blastscan(capsys, "amend", "smear", "--reason", "the artefact is a blast", "--by", "dr.x", *data)
    assert code == 0 and "reopened for amendment by dr.x" in out
    assert decide(artefact, "blast") == 0
    assert _blastscan(capsys, "sign-off", "smear", "--by", "dr.cy", *data)[0] == 0
    amended_report = tmp_path / "amended.xlsx"
    assert _blastscan(capsys, "report", "smear", "--xlsx", str(amended_report), *data)[0] == 0
    summary = _summary(amended_report)
    status = next(label for label in summary if label.startswith("Amended: "))
    assert "signed off again by dr.cy" in status and "first signed off by dr.bo" in status
    assert summary["Sign-off 1"][0].startswith("dr.bo, ")
    assert summary["Amendment 1"][0].startswith("reopened by dr.x, ")
    assert summary["Amendment 1"][0].endswith("reason: the artefact is a blast")
    assert summary["Sign-off 2"][0].startswith("dr.cy, ")
    assert summary["Blast % (confirmed blasts / cells counted)"][:2] == (blasts + 1, 24)
    assert summary["Artefacts (not white cells, left out of the count)"][0] == 0


def test_a_threshold_override_needs_a_name_and_is_shown_with_it(tmp_path, capsys):
    data = ("--data-dir", str(tmp_path / "data"))
    image = sorted(DEMO_CASE.glob("*.bmp"))[0]
    classify = (
        "classify",
        str(image),
        "--csv",
        str(tmp_path / "c.csv"),
        "--case",
        "t",
        "--no-tta",
        "--threshold",
        "0.6",
    )
    assert _blastscan(capsys, *classify, *data)[0] == 2
    code, _, err = _blastscan(capsys, *classify, "--by", "ana", "--sample-id", "S-9", *data)
    label = "model card, threshold overridden to 0.600 by ana ("
    assert code == 0 and label in err and "recall/specificity at this threshold not measured on the card" in err
    code, out, _ = _blastscan(capsys, "case", "t", *data)
    assert code == 0 and f"Decided by: {label}" in out and "Sample ID: S-9" in out
    report = tmp_path / "t.xlsx"
    assert _blastscan(capsys, "report", "t", "--xlsx", str(report), *data)[0] == 0
    assert _summary(report)["Decision rule"][0].startswith(label)
