"""The familiarity check: the bundled model says when a case is unlike its training data, and
then calls no cell normal (CLI, store, CSV, report, sign-off)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_CASE, MODELS
from openpyxl import load_workbook
from PIL import Image
from simulated_lab import shifted_copy

from app.cli import main as cli_main
from app.core.decision import DecisionRule
from app.core.familiarity import Familiarity
from app.core.pipeline import classify_case
from app.core.store import CaseStore, StoreError


@pytest.fixture(scope="module")
def shifted_demo(tmp_path_factory) -> Path:
    return shifted_copy(DEMO_CASE, tmp_path_factory.mktemp("shifted") / "demo_shifted")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _summary_value(workbook: Path, label: str) -> str:
    sheet = load_workbook(workbook)["Summary"]
    values = [row[1] for row in sheet.iter_rows(values_only=True) if row[0] == label]
    assert len(values) == 1, f"{label!r} rows: {values}"
    return str(values[0])


def test_the_bundled_model_measures_every_cell(classifier):
    assert classifier.guard is not None, "the bundled model card has a familiarity reference"
    canvases = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(DEMO_CASE.glob("*.bmp"))[:4]]
    predictions = classifier.classify(canvases)
    assert all(p.distances is not None and len(p.distances) == classifier.guard.width for p in predictions)
    assert all(np.isfinite(p.distances).all() and min(p.distances) >= 0 for p in predictions)


def test_the_demo_case_is_familiar_and_prints_no_warning(tmp_path, data_dir, capsys):
    report = tmp_path / "demo.xlsx"
    assert (
        cli_main(
            ["classify", str(DEMO_CASE), "--csv", str(tmp_path / "demo.csv"), "--case", "demo", "--xlsx", str(report)]
        )
        == 0
    )
    assert "warning: unfamiliar images" not in capsys.readouterr().err
    assert _summary_value(report, "Image familiarity").startswith("familiar")
    rows = _rows(tmp_path / "demo.csv")
    assert {row["flagged"] for row in rows} >= {"yes", "no"}, "a familiar case keeps the model's normal calls"


def test_shifted_cells_are_unfamiliar_and_nothing_is_called_normal(shifted_demo, tmp_path, data_dir, capsys):
    report = tmp_path / "shifted.xlsx"
    assert (
        cli_main(
            [
                "classify",
                str(shifted_demo),
                "--csv",
                str(tmp_path / "shifted.csv"),
                "--case",
                "shifted",
                "--xlsx",
                str(report),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if line.startswith("warning: unfamiliar images:")]
    assert len(warning) == 1 and "review" in warning[0]
    rows = _rows(tmp_path / "shifted.csv")
    assert len(rows) == 24 and "no" not in {row["flagged"] for row in rows}
    assert _summary_value(report, "Image familiarity").startswith("unfamiliar")
    with CaseStore.open() as store:
        case = store.find_case("shifted")
        assert case.unfamiliar and case.familiarity.familiar is False
        summary = store.summary(case.id)
        assert summary.normal == 0 and summary.to_review == summary.cells == 24


def test_an_unfamiliar_case_needs_every_cell_decided_before_sign_off(store, classifier):
    case = store.create_case("mixed")
    canvases = sorted(DEMO_CASE.glob("*.bmp"))
    classify_case(store, case.id, canvases, classifier)
    model_normal = [cell for cell in store.list_cells(case.id) if cell.call == "normal"]
    assert model_normal, "the demo case has cells the model calls normal"
    store.set_case_familiarity(
        case.id,
        Familiarity(
            False,
            {"features": 1.5, "colour": 0.5, "size": 0.5},
            24,
            "the cells look unlike the cells the model learned from",
        ),
    )
    assert {cell.call for cell in store.list_cells(case.id)} <= {"flagged", "uncertain"}
    for cell in store.list_cells(case.id, "flagged") + store.list_cells(case.id, "uncertain")[:-1]:
        store.set_decision(cell.id, "blast", "tester")
    with pytest.raises(StoreError, match="1 flagged or uncertain"):
        store.sign_off(case.id, "tester")
    store.set_case_familiarity(
        case.id, Familiarity(True, {"features": 0.5, "colour": 0.5, "size": 0.5}, 24, "within the training labs")
    )
    assert [cell.id for cell in store.list_cells(case.id, "normal")] == [cell.id for cell in model_normal]


def test_a_site_profile_decides_without_the_check(store):
    from app.core.classifier import Classifier

    card = Classifier(MODELS, tta=False).card
    profiled = Classifier(
        MODELS,
        tta=False,
        rule=DecisionRule(card.temperature, card.threshold, card.uncertain_low, name="site profile 1"),
    )
    case = store.create_case("profiled")
    summary = classify_case(store, case.id, sorted(DEMO_CASE.glob("*.bmp"))[:3], profiled)
    assert summary.familiarity.familiar is None and "site profile" in summary.familiarity.reason
    assert not store.get_case(case.id).unfamiliar
