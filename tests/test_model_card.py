"""The model card's schema: a version-1 card (the one bundled before schema versions) read typed and
migrated, the bundled card, writing, refusals."""

import json
import re
from dataclasses import replace

import pytest
from conftest import MODELS, REPO

from app.core.model_card import (
    CARD_FILE,
    SCHEMA_VERSION,
    LabCells,
    LabEvaluation,
    ModelCard,
    ModelCardError,
    ModelRates,
    Speed,
    migrated,
)

VERSION_1_CARD = REPO / "tests" / "data" / "model_card_v1.json"
"""The card bundled with model 0.1.0+20261201.58ba652d, written before cards had a schema version."""


@pytest.fixture(scope="module")
def bundled_json() -> dict:
    """A version-1 card, as bundled before schema versions (its model's files are the bundled ones' kind)."""
    return json.loads(VERSION_1_CARD.read_text(encoding="utf-8"))


def test_the_bundled_card_is_the_current_schema_and_round_trips():
    written = json.loads((MODELS / CARD_FILE).read_text(encoding="utf-8"))
    card = ModelCard.load(MODELS / CARD_FILE)
    assert written["schema_version"] == card.schema_version == SCHEMA_VERSION
    assert json.loads(json.dumps(card.to_dict())) == written
    assert card.familiarity_guard(MODELS) is not None and card.speed is not None


def _rates(version: str) -> ModelRates:
    return ModelRates(version, 0.8, 0.2, 0.95, (0.9, 0.98), 0.5, (0.4, 0.6))


def test_a_version_1_card_loads_typed(bundled_json):
    card = ModelCard.load(VERSION_1_CARD)
    decision = bundled_json["decision"]
    assert "schema_version" not in bundled_json and card.schema_version == SCHEMA_VERSION
    assert card.version == bundled_json["version"] and card.created == bundled_json["created"]
    assert (card.threshold, card.temperature, card.tta) == (decision["threshold"], decision["temperature"], True)
    assert [card.uncertain_low, card.threshold] == decision["uncertain_band"]
    assert card.decision.target_recall == decision["target_recall"]
    assert card.decision.tta_comparison.used and card.decision.threshold_rule == decision["threshold_rule"]
    assert card.preprocessing.input_size == bundled_json["preprocessing"]["input_size"]
    assert card.model.architecture == bundled_json["model"]["architecture"]
    assert card.model.files.familiarity == card.familiarity.reference_file
    assert card.training_data.source == bundled_json["training_data"]["source"]
    assert card.training_data.held_out_groups["cnmc"] == tuple(bundled_json["training_data"]["held_out_groups"]["cnmc"])
    assert [lab.lab for lab in card.training_data.labs] == [lab["lab"] for lab in bundled_json["training_data"]["labs"]]
    assert card.training.leave_out == () and card.training.settings["epochs"] == bundled_json["training"]["epochs"]
    metrics = bundled_json["metrics"]
    assert (card.metrics.auroc, card.metrics.recall, card.metrics.specificity) == (
        metrics["auroc"],
        metrics["recall"],
        metrics["specificity"],
    )
    assert card.metrics.basis == metrics["basis"] and card.metrics.details == {"ece": metrics["ece"]}
    assert card.familiarity.labs == ("cnmc", "taleqani")
    assert card.familiarity.evaluation["jiangxi"].unfamiliar == 1.0
    assert card.speed.pipeline_cells_per_s == bundled_json["speed"]["pipeline_cells_per_s"]
    assert card.validation == bundled_json["validation"] and card.lab_evaluation is None
    assert card.familiarity_guard(MODELS) is not None


def test_version_1_migrates_by_moving_keys_only(bundled_json):
    current = json.loads(json.dumps(ModelCard.from_dict(bundled_json).to_dict()))
    assert migrated(bundled_json) == current and "schema_version" not in bundled_json
    moved = {"metrics", "training_data", "training"}
    assert {key: value for key, value in current.items() if key not in moved | {"schema_version"}} == {
        key: value for key, value in bundled_json.items() if key not in moved
    }
    for section, apart in (("metrics", "details"), ("training_data", "details"), ("training", "settings")):
        details = current[section].pop(apart)
        assert {**current[section], **details} == bundled_json[section]


def test_a_retrained_lab_models_version_1_card_keeps_its_scope_as_basis(bundled_json):
    version_1 = {
        **bundled_json,
        "metrics": {"scope": "this lab's cells", "auroc": 0.8, "recall": 0.9, "specificity": 0.7, "ece": 0.1},
    }
    metrics = ModelCard.from_dict(version_1).metrics
    assert (metrics.basis, metrics.details) == ("this lab's cells", {"ece": 0.1})


def test_a_written_card_reads_back_the_same(tmp_path):
    card = replace(
        ModelCard.load(MODELS / CARD_FILE),
        lab_evaluation=LabEvaluation("folds of cases", LabCells(60, 70, 8), 5, _rates("old"), _rates("new")),
        speed=Speed("bench/throughput.py", "2026-12-01T04:43+00:00", 2, True, 68.0, 52.1, 0.767),
    )
    card.write(tmp_path / CARD_FILE)
    written = json.loads((tmp_path / CARD_FILE).read_text(encoding="utf-8"))
    assert written["schema_version"] == SCHEMA_VERSION and written == json.loads(json.dumps(card.to_dict()))
    assert ModelCard.load(tmp_path / CARD_FILE) == card
    assert [path.name for path in tmp_path.iterdir()] == [CARD_FILE]


@pytest.mark.parametrize("schema_version", [SCHEMA_VERSION + 1, 0, "2"])
def test_a_card_of_an_unknown_schema_is_refused(tmp_path, bundled_json, schema_version):
    (tmp_path / CARD_FILE).write_text(json.dumps({**bundled_json, "schema_version": schema_version}))
    with pytest.raises(ModelCardError, match="schema version"):
        ModelCard.load(tmp_path / CARD_FILE)


def test_a_card_without_a_section_the_app_reads_is_refused(tmp_path, bundled_json):
    (tmp_path / CARD_FILE).write_text(json.dumps({key: v for key, v in bundled_json.items() if key != "metrics"}))
    with pytest.raises(ModelCardError, match="not valid"):
        ModelCard.load(tmp_path / CARD_FILE)


def test_nothing_reaches_past_the_typed_card():
    raw_reads = re.compile(r"card\.raw\b|\.card\[")
    for folder in ("app", "bench", "training"):
        for source in (REPO / folder).rglob("*.py"):
            assert not raw_reads.search(source.read_text(encoding="utf-8")), source
