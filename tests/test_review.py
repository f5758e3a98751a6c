"""Review and sign-off in the case store (real SQLite, real files on disk): the sign-off gate and
every reason it gives, artefact and unsure decisions, acknowledged unreadable files, amendment,
threshold overrides, and databases of the schema before."""

import math
import sqlite3

import pytest

from app.core.decision import DecisionRule, wilson_interval
from app.core.store import (
    DB_FILE,
    MIGRATIONS,
    CaseStore,
    CellGroup,
    NewCell,
    SignOffRefused,
    StoreError,
)
from app.core.store.schema import migrate, read_version

RULE = DecisionRule(temperature=1.0, threshold=0.6, uncertain_low=0.45)


def _cells(*probabilities: float) -> list[NewCell]:
    return [NewCell((0, 0, 9, 9), False, b"png", math.log(p / (1 - p)), p, RULE.call(p)) for p in probabilities]


@pytest.fixture
def folder(tmp_path):
    """A smear folder: two images and an unreadable file (discovery goes by extension)."""
    made = tmp_path / "smear"
    made.mkdir()
    for name in ("a.bmp", "b.bmp", "c.png"):
        (made / name).write_bytes(b"BM" if name.endswith(".bmp") else b"not a png")
    return made


@pytest.fixture
def half_done(store, folder):
    """A case of `folder` where a.bmp is classified (flagged, uncertain, normal, flagged), c.png was
    unreadable and b.bmp was never reached (a cancelled batch); no Sample ID."""
    case = store.create_case("smear")
    store.add_sources(case.id, [folder])
    store.set_case_model(case.id, "m1", RULE, RULE.threshold)
    store.add_image_result(
        case.id, folder / "a.bmp", width=9, height=9, model_version="m1", cells=_cells(0.9, 0.5, 0.1, 0.7)
    )
    store.add_image_error(case.id, folder / "c.png", "not a supported image")
    return case.id


def _cell_ids(store: CaseStore, case_id: int) -> list[int]:
    return [cell.id for cell in store.list_cells(case_id, sort="position")]


def test_sign_off_lists_every_reason_until_each_is_resolved(store, folder, half_done):
    case_id = half_done
    check = store.sign_off_check(case_id)
    assert not check.allowed
    assert check.reasons == (
        "1 image file(s) not classified yet (cancelled or added since): b.bmp; classify the case again",
        "1 unreadable file(s) not acknowledged: c.png; acknowledge them, with your name, to sign off without them",
        "3 flagged or uncertain cell(s) still need a review decision",
        "the Sample ID is empty",
    )
    with pytest.raises(SignOffRefused) as refused:
        store.sign_off(case_id, "dr who")
    assert refused.value.reasons == check.reasons and not store.get_case(case_id).signed_off
    assert store.sign_offs(case_id) == []

    store.add_image_result(case_id, folder / "b.bmp", width=9, height=9, model_version="m1", cells=[])
    (acknowledged,) = store.acknowledge_errors(case_id, "ana")
    assert (acknowledged.path, acknowledged.acknowledged_by) == (str(folder / "c.png"), "ana")
    assert acknowledged.acknowledged_at is not None
    flagged, uncertain, _, second_flagged = _cell_ids(store, case_id)
    for cell, decision in ((flagged, "blast"), (uncertain, "unsure"), (second_flagged, "artefact")):
        store.set_decision(cell, decision, "ana")
    assert store.sign_off_check(case_id).reasons == (
        "1 cell(s) decided 'unsure' need a second look: decide blast, normal or artefact",
        "the Sample ID is empty",
    )
    assert [cell.id for cell in store.list_cells(case_id, CellGroup.UNSURE)] == [uncertain]

    store.set_decision(uncertain, "normal", "ben")
    store.update_case(case_id, sample_id="PB-7")
    check = store.sign_off_check(case_id)
    assert check.allowed and check.reasons == ()
    counts = check.summary
    assert (counts.cells, counts.artefacts, counts.counted, counts.confirmed_blasts) == (4, 1, 3, 1)
    assert counts.blast_percentage.share == pytest.approx(1 / 3)
    assert counts.blast_percentage.interval == pytest.approx(wilson_interval(1 / 3, 3))
    assert counts.flag_rate.count == 2 and counts.flag_rate.total == 4
    signed = store.sign_off(case_id, "dr who")
    assert signed.signed_off_by == "dr who"
    assert [(s.signed_off_by, s.signed_off_at) for s in store.sign_offs(case_id)] == [("dr who", signed.signed_off_at)]


def test_unsure_blocks_sign_off_whatever_the_call_and_is_no_final_decision(store, half_done):
    case_id = half_done
    flagged, uncertain, normal, second_flagged = _cell_ids(store, case_id)
    for cell in (flagged, uncertain, second_flagged):
        store.set_decision(cell, "normal", "ana")
    assert store.summary(case_id).review_complete
    store.set_decision(normal, "unsure", "ana")  # a cell the AI called normal, looked at twice
    summary = store.summary(case_id)
    assert (summary.reviewed, summary.to_review, summary.unsure) == (3, 3, 1) and not summary.review_complete
    store.set_decision(flagged, "unsure", "ana")
    summary = store.summary(case_id)
    assert (summary.reviewed, summary.undecided, summary.unsure) == (2, 1, 2)
    assert any(reason.startswith("2 cell(s) decided 'unsure'") for reason in store.sign_off_check(case_id).reasons)


def test_an_unfamiliar_case_needs_every_cell_finally_decided(store, half_done):
    case_id = half_done
    store._database.connection.execute("UPDATE cases SET unfamiliar = 1 WHERE id = ?", (case_id,))
    reasons = store.sign_off_check(case_id).reasons
    assert "4 flagged or uncertain cell(s) still need a review decision (the images are unfamiliar" in " ".join(reasons)


def _signed(store: CaseStore, case_id: int, folder) -> None:
    store.add_image_result(case_id, folder / "b.bmp", width=9, height=9, model_version="m1", cells=[])
    store.acknowledge_errors(case_id, "ana")
    store.update_case(case_id, sample_id="PB-7")
    for cell in _cell_ids(store, case_id):
        store.set_decision(cell, "normal", "ana")
    store.sign_off(case_id, "dr who")


def test_a_signed_case_is_amended_with_a_reason_and_keeps_every_sign_off(store, folder, half_done):
    case_id = half_done
    with pytest.raises(StoreError, match="not signed off: there is nothing to amend"):
        store.amend(case_id, "typo", "dr who")
    _signed(store, case_id, folder)
    assert {label.case_id for label in store.lab_labels()} == {case_id}
    assert store.sign_off_check(case_id).reasons[0].startswith("it is signed off already (by dr who")
    with pytest.raises(StoreError, match="signed off"):
        store.set_decision(_cell_ids(store, case_id)[0], "blast", "ana")
    with pytest.raises(StoreError, match="reason for the amendment must not be empty"):
        store.amend(case_id, "  ", "dr who")

    reopened = store.amend(case_id, "cell 0 is a blast", "dr x")
    assert not reopened.signed_off and reopened.signed_off_by is None
    assert store.lab_labels() == []  # no final label while the case is reopened
    with pytest.raises(StoreError, match="is not signed off"):
        store.amend(case_id, "again", "dr x")
    store.set_decision(_cell_ids(store, case_id)[0], "blast", "dr x")
    again = store.sign_off(case_id, "dr y")
    first, second = store.sign_offs(case_id)
    assert (first.signed_off_by, first.reopened_by, first.reopen_reason) == ("dr who", "dr x", "cell 0 is a blast")
    assert first.signed_off_at <= first.reopened_at <= second.signed_off_at == again.signed_off_at
    assert (second.signed_off_by, second.reopened_by, second.reopen_reason) == ("dr y", None, None)


def test_an_acknowledgement_holds_for_its_file_and_a_new_unreadable_file_needs_its_own(store, folder, half_done):
    case_id = half_done
    store.acknowledge_errors(case_id, "ana")
    store.add_image_error(case_id, folder / "c.png", "still not a supported image")  # a retry fails again
    store.add_image_error(case_id, folder / "d.png", "the file is empty (0 bytes)")
    errors = {image.path.rsplit("/", 1)[-1]: image.acknowledged_by for image in store.list_errors(case_id)}
    assert errors == {"c.png": "ana", "d.png": None}
    assert any(
        reason.startswith("1 unreadable file(s) not acknowledged: d.png")
        for reason in store.sign_off_check(case_id).reasons
    )
    with pytest.raises(StoreError, match="name of who acknowledges"):
        store.acknowledge_errors(case_id, "")


def test_a_threshold_override_is_recorded_with_who_and_named_truthfully(store):
    case = store.create_case("override")
    assert case.rule_label == "not classified yet"
    case = store.set_case_model(case.id, "m1", RULE, RULE.threshold, "ana")
    assert not case.threshold_overridden and case.threshold_set_by is None  # the rule's own: nothing to record
    assert case.rule_label == "model card (no site profile), threshold 0.600"
    case = store.set_case_model(case.id, "m1", RULE, 0.3, "ana")
    assert case.rule_label == (
        "model card, threshold overridden to 0.300 by ana (the rule's own: 0.600; "
        "recall/specificity at this threshold not measured on the card)"
    )
    assert store.set_case_model(case.id, "m1", RULE, 0.3).threshold_set_by == "ana"  # a resumed run keeps it
    profile = DecisionRule(1.0, 0.5, 0.4, name="site profile 2")
    case = store.set_case_model(case.id, "m1", profile, 0.3)
    assert case.rule_label.startswith("site profile 2, threshold overridden to 0.300 by someone not recorded")
    assert case.rule_label.endswith("not measured on the site profile)")
    assert store.set_case_model(case.id, "m1", RULE, RULE.threshold).threshold_set_by is None


def test_a_database_of_schema_4_keeps_its_sign_offs_and_takes_artefact_decisions(data_dir):
    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / DB_FILE, isolation_level=None) as raw:
        migrate(raw, read_version(raw), MIGRATIONS[:4])
        raw.execute(
            "INSERT INTO cases (id, name, created_at, signed_off_by, signed_off_at) "
            "VALUES (1, 'old signed', 't0', 'dr old', '2025-01-02T03:04:05.000+00:00')"
        )
        raw.execute("INSERT INTO cases (id, name, created_at) VALUES (2, 'old open', 't0')")
        raw.execute("INSERT INTO images (id, case_id, path, status, created_at) VALUES (1, 2, '/x.bmp', 'ok', 't0')")
        raw.execute(
            "INSERT INTO cells (id, image_id, idx, x, y, width, height, crop_png) VALUES (1, 1, 0, 0, 0, 9, 9, x'00')"
        )
        raw.execute(
            "INSERT INTO predictions (cell_id, logit, probability, call, model_version, created_at) "
            "VALUES (1, 2.0, 0.88, 'flagged', 'm0', 't0')"
        )
        raw.execute("INSERT INTO decisions VALUES (1, 'unsure', 'ana', 't1')")
    raw.close()
    with CaseStore.open() as store:
        (old,) = store.sign_offs(1)
        assert (old.signed_off_by, old.signed_off_at, old.reopened_at) == (
            "dr old",
            "2025-01-02T03:04:05.000+00:00",
            None,
        )
        assert store.sign_offs(2) == [] and store.get_cell(1).decision == "unsure"
        assert store.set_decision(1, "artefact", "ana") == "unsure"
        assert store.summary(2).artefacts == 1 and store.get_case(2).rule_threshold is None
