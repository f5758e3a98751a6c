"""The case store on real SQLite: schema, cases, results, review, history, sign-off, threads."""

import math
import sqlite3
import threading

import pytest

from app.core.decision import DecisionRule
from app.core.store import DB_FILE, MIGRATIONS, CaseStore, NewCell, StoreError
from app.core.store import data_dir as resolve_data_dir


def _cell(probability: float, call: str) -> NewCell:
    """A cell whose logit gives `probability` at temperature 1."""
    return NewCell(
        box=(1, 2, 30, 40),
        touches_border=False,
        crop_png=b"\x89PNG-bytes",
        logit=math.log(probability / (1 - probability)),
        probability=probability,
        call=call,
    )


def _case_with_cells(store: CaseStore, name: str = "case") -> tuple[int, list[int]]:
    """A case with one image of four cells (flagged, uncertain, normal, flagged) and one error."""
    case = store.create_case(name, sample_id="S-1", operator="ana")
    store.add_image_result(
        case.id,
        "/data/a.bmp",
        width=450,
        height=450,
        model_version="m1",
        cell_finder="whole_image_as_cell",
        cells=[_cell(0.9, "flagged"), _cell(0.5, "uncertain"), _cell(0.1, "normal"), _cell(0.7, "flagged")],
    )
    store.add_image_error(case.id, "/data/b.png", "the file is empty (0 bytes)")
    return case.id, [cell.id for cell in store.list_cells(case.id, sort="position")]


def test_data_folder_comes_from_option_env_or_user_folder(data_dir, tmp_path, monkeypatch):
    assert resolve_data_dir(tmp_path / "other") == tmp_path / "other"
    assert resolve_data_dir(None) == data_dir  # the fixture sets BLASTSCAN_DATA_DIR
    monkeypatch.delenv("BLASTSCAN_DATA_DIR")
    assert resolve_data_dir(None).name == "BlastScan"


def test_database_is_created_wal_with_foreign_keys_and_current_schema(store, data_dir):
    assert store.path == data_dir / DB_FILE and store.path.is_file()
    assert store.schema_version() == len(MIGRATIONS)
    raw = sqlite3.connect(store.path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError):  # our connection enforces foreign keys
        store._database.connection.execute(
            "INSERT INTO images (case_id, path, status, created_at) VALUES (999, 'x', 'ok', 'now')"
        )


def test_reopening_keeps_data_and_a_newer_schema_is_refused(data_dir):
    with CaseStore.open() as store:
        store.create_case("kept")
    with CaseStore.open() as store:
        assert [case.name for case in store.list_cases()] == ["kept"]
    with sqlite3.connect(data_dir / DB_FILE) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer BlastScan"):
        CaseStore.open()


def test_not_a_database_gives_a_clear_error(tmp_path):
    (tmp_path / DB_FILE).write_text("garbage" * 100)
    with pytest.raises(StoreError, match="cannot open the case database"):
        CaseStore.open(tmp_path)


def test_cases_create_find_update_and_unique_names(store):
    first = store.create_case("Patient 1", sample_id="S1", operator="ana", input_kind="crop")
    store.create_case("Patient 2")
    assert store.find_case("Patient 1") == first and store.find_case("nobody") is None
    assert [case.name for case in store.list_cases()] == ["Patient 2", "Patient 1"]
    with pytest.raises(StoreError, match="exists already"):
        store.create_case("Patient 2")
    updated = store.update_case(first.id, operator="ben", input_kind="field")
    assert (updated.operator, updated.input_kind, updated.sample_id) == ("ben", "field", "S1")
    with pytest.raises(StoreError, match="exists already"):
        store.update_case(first.id, name="Patient 2")
    with pytest.raises(StoreError, match="cannot change"):
        store.update_case(first.id, signed_off_by="me")
    with pytest.raises(StoreError, match="input kind"):
        store.update_case(first.id, input_kind="smear")


def test_image_results_done_flags_and_errors_retried(store):
    case_id, cells = _case_with_cells(store)
    assert store.image_done(case_id, "/data/a.bmp")
    assert not store.image_done(case_id, "/data/b.png")  # errors are retried on a re-run
    assert [image.path for image in store.list_errors(case_id)] == ["/data/b.png"]
    with pytest.raises(StoreError, match="already classified"):
        store.add_image_result(case_id, "/data/a.bmp", width=1, height=1, cells=[], model_version="m1")
    store.add_image_result(case_id, "/data/b.png", width=9, height=9, cells=[], model_version="m1")
    assert store.list_errors(case_id) == [] and len(store.list_images(case_id)) == 2
    assert store.cell_crop(cells[0]) == b"\x89PNG-bytes"


def test_a_failing_image_write_leaves_nothing_behind(store):
    case = store.create_case("atomic")
    with pytest.raises(StoreError, match="unknown call"):
        store.add_image_result(
            case.id, "/x.png", width=1, height=1, model_version="m", cells=[_cell(0.9, "flagged"), _cell(0.9, "maybe")]
        )
    assert store.list_images(case.id) == [] and store.list_cells(case.id) == []


def test_cell_filters_and_sorting(store):
    case_id, cells = _case_with_cells(store)
    by_probability = store.list_cells(case_id)
    assert [cell.probability for cell in by_probability] == [0.9, 0.7, 0.5, 0.1]
    assert [cell.index for cell in store.list_cells(case_id, sort="position")] == [0, 1, 2, 3]
    assert {cell.probability for cell in store.list_cells(case_id, "flagged")} == {0.9, 0.7}
    assert [cell.probability for cell in store.list_cells(case_id, "to_review")] == [0.9, 0.7, 0.5]
    store.set_decision(cells[0], "blast", "ana")
    assert [cell.id for cell in store.list_cells(case_id, "reviewed")] == [cells[0]]
    assert [cell.probability for cell in store.list_cells(case_id, "unreviewed")] == [0.7, 0.5]
    with pytest.raises(StoreError, match="unknown group"):
        store.list_cells(case_id, "errors")


def test_decisions_return_previous_for_undo_and_keep_history(store):
    case_id, cells = _case_with_cells(store)
    assert store.set_decision(cells[0], "blast", "ana") is None
    assert store.set_decision(cells[0], "normal", "ben") == "blast"
    assert store.set_decision(cells[0], "normal", "ben") == "normal"  # no change, no history row
    assert store.set_decision(cells[0], "blast", "ben") == "normal"  # an undo writes back
    assert store.set_decision(cells[0], None, "ben") == "blast"  # undo of the first decision
    history = store.decision_history(case_id)
    assert [(change.old, change.new, change.reviewer) for change in history] == [
        (None, "blast", "ana"),
        ("blast", "normal", "ben"),
        ("normal", "blast", "ben"),
        ("blast", None, "ben"),
    ]
    assert store.get_cell(cells[0]).decision is None
    store.set_decision(cells[1], "unsure", "ana")
    assert [change.cell_id for change in store.decision_history(case_id, cells[1])] == [cells[1]]
    with pytest.raises(StoreError, match="unknown decision"):
        store.set_decision(cells[1], "maybe", "ana")
    with pytest.raises(StoreError, match="reviewer"):
        store.set_decision(cells[1], "blast", "  ")


def test_summary_counts(store):
    case_id, cells = _case_with_cells(store)
    store.set_decision(cells[0], "blast", "ana")
    store.set_decision(cells[2], "blast", "ana")  # a normal call overruled
    summary = store.summary(case_id)
    assert (summary.images, summary.errors, summary.cells) == (2, 1, 4)
    assert (summary.flagged, summary.uncertain, summary.normal) == (2, 1, 1)
    assert (summary.reviewed, summary.to_review, summary.confirmed_blasts) == (1, 3, 2)


def test_sign_off_needs_every_flagged_and_uncertain_cell_reviewed_then_freezes(store):
    case_id, cells = _case_with_cells(store)
    store.acknowledge_errors(case_id, "ana")
    store.set_decision(cells[0], "blast", "ana")
    with pytest.raises(StoreError, match="2 flagged or uncertain"):
        store.sign_off(case_id, "dr who")
    store.set_decision(cells[1], "artefact", "ana")
    store.set_decision(cells[3], "normal", "ana")
    signed = store.sign_off(case_id, "dr who")
    assert signed.signed_off and signed.signed_off_by == "dr who"
    for change in (
        lambda: store.set_decision(cells[0], "normal", "ana"),
        lambda: store.update_case(case_id, operator="x"),
        lambda: store.add_image_error(case_id, "/data/c.png", "late"),
        lambda: store.sign_off(case_id, "again"),
    ):
        with pytest.raises(StoreError, match="signed off"):
            change()


def _commit_sync_levels(store: CaseStore, write) -> list[str]:
    """The `PRAGMA synchronous` level in force at each COMMIT that `write()` makes."""
    level = {1: "NORMAL", 2: "FULL"}[store._database.connection.execute("PRAGMA synchronous").fetchone()[0]]
    statements: list[str] = []
    store._database.connection.set_trace_callback(statements.append)
    try:
        write()
    finally:
        store._database.connection.set_trace_callback(None)
    levels = []
    for statement in statements:
        if statement.startswith("PRAGMA synchronous = "):
            level = statement.rsplit(" ", 1)[1]
        elif statement == "COMMIT":
            levels.append(level)
    return levels


def test_review_work_is_synced_to_disk_and_classification_results_are_not_waited_for(store):
    case_id, cells = _case_with_cells(store)

    def add_result() -> None:
        store.add_image_result(case_id, "/data/c.bmp", width=9, height=9, cells=[], model_version="m1")

    assert _commit_sync_levels(store, add_result) == ["NORMAL"]
    assert _commit_sync_levels(store, lambda: store.add_image_error(case_id, "/data/d.png", "bad")) == ["NORMAL"]
    with pytest.raises(StoreError, match="already classified"):  # a failed write leaves the connection FULL
        add_result()
    for review in (
        lambda: store.set_decision(cells[0], "blast", "ana"),
        lambda: store.set_decision(cells[0], None, "ana"),
        lambda: store.update_case(case_id, operator="ben"),
        lambda: [store.set_decision(cell, "normal", "ana") for cell in cells],
        lambda: store.acknowledge_errors(case_id, "ana"),
        lambda: store.sign_off(case_id, "dr who"),
        lambda: store.amend(case_id, "wrong slide", "dr who"),
    ):
        levels = _commit_sync_levels(store, review)
        assert levels and set(levels) == {"FULL"}


def test_a_new_rule_or_threshold_re_decides_stored_cells_from_their_logits(store):
    case_id, cells = _case_with_cells(store)
    store.set_decision(cells[0], "blast", "ana")
    card = DecisionRule(temperature=1.0, threshold=0.6, uncertain_low=0.45)
    store.set_case_model(case_id, "m1", card, 0.6)
    store.set_case_model(case_id, "m1", card, 0.3)
    assert store.get_case(case_id).threshold == 0.3
    assert sorted(cell.call for cell in store.list_cells(case_id)) == ["flagged", "flagged", "flagged", "normal"]
    site = DecisionRule(temperature=2.0, threshold=0.55, uncertain_low=0.5, bias=0.1, name="site profile 1")
    case = store.set_case_model(case_id, "m1", site, site.threshold)
    assert (case.decision_rule, case.threshold) == ("site profile 1", 0.55)
    by_position = store.list_cells(case_id, sort="position")
    expected = site.probabilities([math.log(p / (1 - p)) for p in (0.9, 0.5, 0.1, 0.7)])
    assert [cell.probability for cell in by_position] == pytest.approx(expected)
    assert [cell.call for cell in by_position] == [site.call(p) for p in expected]
    store.set_case_model(case_id, "m1", card, 0.6)  # back: the same numbers as before, nothing lost
    assert [cell.probability for cell in store.list_cells(case_id, sort="position")] == pytest.approx(
        [0.9, 0.5, 0.1, 0.7]
    )
    assert store.get_cell(cells[0]).decision == "blast"


def test_writes_from_many_threads(store):
    case = store.create_case("threads")
    failures = []

    def work(worker: int) -> None:
        try:
            for index in range(10):
                store.add_image_result(
                    case.id,
                    f"/w{worker}/{index}.png",
                    width=1,
                    height=1,
                    model_version="m",
                    cells=[_cell(0.5, "uncertain")],
                )
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert store.summary(case.id).cells == 40


def test_case_sources_are_kept_and_find_the_case_again(store, tmp_path):
    first = store.create_case("smear")
    store.add_sources(first.id, ["/data/smear", "/data/extra.bmp"])
    store.add_sources(first.id, ["/data/smear"])  # again: no duplicate
    second = store.create_case("smear (2)")
    store.add_sources(second.id, ["/data/smear"])
    assert store.list_sources(first.id) == ["/data/smear", "/data/extra.bmp"]
    assert store.find_case_by_sources(["/data/extra.bmp", "/data/smear"]) == store.get_case(first.id)
    assert store.find_case_by_sources(["/data/smear"]) == store.get_case(second.id)
    assert store.find_case_by_sources(["/data/other"]) is None
    folder = tmp_path / "signed"
    folder.mkdir()
    (folder / "a.bmp").write_bytes(b"BM")
    signed = store.create_case("signed", sample_id="S-2")
    store.add_sources(signed.id, [folder])
    store.add_image_result(signed.id, folder / "a.bmp", width=1, height=1, cells=[], model_version="m1")
    store.sign_off(signed.id, "ana")
    with pytest.raises(StoreError, match="signed off"):
        store.add_sources(signed.id, ["/data/more"])


def test_cells_of_one_image(store):
    case_id, cells = _case_with_cells(store)
    other = store.add_image_result(
        case_id, "/data/c.bmp", width=9, height=9, model_version="m1", cells=[_cell(0.95, "flagged")]
    )
    assert [cell.image_id for cell in store.list_cells(case_id, image_id=other.id)] == [other.id]
    first_image = store.list_cells(case_id, sort="position", image_id=store.get_cell(cells[0]).image_id)
    assert [cell.id for cell in first_image] == cells


def test_a_schema_1_database_is_upgraded_in_place(data_dir):
    with CaseStore.open() as store:
        case = store.create_case("old")
    with sqlite3.connect(data_dir / DB_FILE) as raw:
        raw.execute("DROP TABLE case_sources")
        raw.execute("DROP TABLE acknowledged_errors")
        raw.execute("DROP TABLE sign_offs")
        for table, column in (
            ("cases", "decision_rule"),
            ("cases", "familiarity"),
            ("cases", "unfamiliar"),
            ("cases", "rule_threshold"),
            ("cases", "threshold_set_by"),
            ("predictions", "distances"),
        ):
            raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        raw.execute("UPDATE schema_version SET version = 1")
    with CaseStore.open() as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.get_case(case.id).decision_rule is None
        store.add_sources(case.id, ["/data/x"])
        assert store.list_sources(case.id) == ["/data/x"]
