"""The review policy a case store receives, its string choices as enums, and lab labels in one query."""

import math

import pytest

from app.core.decision import DecisionRule
from app.core.store import (
    REVIEW_POLICY,
    Call,
    CaseStore,
    CellGroup,
    Decision,
    InputKind,
    NewCell,
    ReviewPolicy,
    StoreError,
)

RULE = DecisionRule(temperature=1.0, threshold=0.6, uncertain_low=0.45)


def _classified_case(store: CaseStore, name: str, probabilities: list[float]) -> list[int]:
    """A case of one image whose cells get `probabilities` and the calls of RULE; its cell ids by position."""
    case = store.create_case(name, sample_id=f"S-{name}")
    store.set_case_model(case.id, "m1", RULE, RULE.threshold)
    cells = [NewCell((0, 0, 9, 9), False, b"png", math.log(p / (1 - p)), p, RULE.call(p)) for p in probabilities]
    store.add_image_result(case.id, f"/{name}.bmp", width=9, height=9, cells=cells, model_version="m1")
    return [cell.id for cell in store.list_cells(case.id, sort="position")]


def test_choices_are_the_stored_strings_and_records_compare_with_plain_strings(store):
    assert [call.value for call in Call] == ["flagged", "uncertain", "normal"]
    assert f"{Call.FLAGGED}" == str(Call.FLAGGED) == "flagged" and {"flagged": 1}[Call.FLAGGED] == 1
    case = store.create_case("typed", input_kind="crop")
    assert case.input_kind is InputKind.CROP and case.input_kind == "crop"
    cells = _classified_case(store, "calls", [0.9, 0.5, 0.1])
    store.set_decision(cells[0], Decision.BLAST, "ana")
    cell = store.get_cell(cells[0])
    assert (cell.call, cell.decision) == ("flagged", "blast") and cell.call is Call.FLAGGED
    raw = store._database.connection.execute("SELECT typeof(decision), decision FROM decisions").fetchone()
    assert tuple(raw) == ("text", "blast")
    assert [cell.id for cell in store.list_cells(store.find_case("calls").id, CellGroup.REVIEWED)] == [cells[0]]
    with pytest.raises(StoreError, match="unknown sort 'random'; expected one of probability, position"):
        store.list_cells(case.id, sort="random")


def test_the_policy_decides_what_goes_to_review_and_what_sign_off_waits_for(data_dir):
    flagged_only = ReviewPolicy(review_calls=(Call.FLAGGED,))
    with CaseStore.open(policy=flagged_only) as store:
        cells = _classified_case(store, "lenient", [0.9, 0.5, 0.1])
        case_id = store.find_case("lenient").id
        assert [cell.id for cell in store.list_cells(case_id, "to_review")] == [cells[0]]
        assert store.summary(case_id).to_review == 1
        with pytest.raises(StoreError, match="1 flagged cell"):
            store.sign_off(case_id, "dr who")
        store.set_decision(cells[0], "blast", "ana")
        assert store.sign_off(case_id, "dr who").signed_off  # the uncertain cell waits for no one
    with CaseStore.open() as store:  # the same database under BlastScan's policy
        assert store.policy == REVIEW_POLICY
        assert store.summary(case_id).to_review == 2


def test_stored_cells_are_decided_again_only_when_a_classified_case_changes_rule_or_threshold(store):
    case = store.create_case("rules")
    assert not REVIEW_POLICY.needs_redeciding(case, RULE, RULE.threshold)  # first classification
    case = store.set_case_model(case.id, "m1", RULE, RULE.threshold)
    assert not REVIEW_POLICY.needs_redeciding(case, RULE, RULE.threshold)
    assert REVIEW_POLICY.needs_redeciding(case, RULE, 0.3)
    assert REVIEW_POLICY.needs_redeciding(case, DecisionRule(1.0, 0.6, 0.45, name="site profile"), 0.6)
    decided = REVIEW_POLICY.redecide(RULE, 0.6, [0.0, 5.0])
    assert [call for _, call in decided] == [Call.UNCERTAIN, Call.FLAGGED]
    assert [probability for probability, _ in decided] == pytest.approx([0.5, 1 / (1 + math.exp(-5.0))])


def test_lab_labels_come_from_signed_off_cases_in_one_query(store):
    first = _classified_case(store, "first", [0.9, 0.5, 0.1])
    second = _classified_case(store, "second", [0.8, 0.2])
    still_open = _classified_case(store, "open", [0.9])
    for cell, decision in zip(first, ["blast", "artefact", "normal"]):
        store.set_decision(cell, decision, "ana")
    for cell, decision in zip([*second, *still_open], ["normal", "blast", "blast"]):
        store.set_decision(cell, decision, "ana")
    for name in ("first", "second"):
        store.sign_off(store.find_case(name).id, "dr who")
    connection = store._database.connection
    connection.execute(
        "INSERT INTO predictions (cell_id, logit, probability, call, model_version, created_at) "
        "VALUES (?, 7.0, 0.999, 'flagged', 'm2', 'now')",
        (second[1],),
    )  # a newer prediction
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    labels = store.lab_labels()
    connection.set_trace_callback(None)
    assert len(statements) == 1
    case_ids = {name: store.find_case(name).id for name in ("first", "second")}
    assert [(label.case_id, label.cell_id, label.is_blast, label.model_version) for label in labels] == [
        (case_ids["first"], first[0], True, "m1"),
        (case_ids["first"], first[2], False, "m1"),
        (case_ids["second"], second[0], False, "m1"),
        (case_ids["second"], second[1], True, "m2"),
    ]
    assert labels[0].logit == pytest.approx(math.log(9)) and labels[-1].logit == 7.0
