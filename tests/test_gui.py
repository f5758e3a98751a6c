"""The desktop app, headless (pytest-qt, offscreen): real model, real SQLite, real keys."""

import html
import io
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import DEMO_CASE
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QLabel, QMessageBox, QTableWidget, QToolButton

from app.core.store import CaseStore, NewCell
from app.gui.gallery import DECISION_COLOURS, DECISION_LETTERS, RECORD_ROLE, THUMBNAIL
from app.gui.help import ShortcutsDialog, about_html
from app.gui.identity import ReviewerButton
from app.gui.lab import LabDialog
from app.gui.main_window import MainWindow
from app.gui.settings import Settings, SettingsDialog, apply_theme
from app.gui.sign_off import AmendDialog, SignOffDialog

BATCH_TIMEOUT_MS = 120_000
FIELD_IMAGE = "fields_taleqani/Original/Pre/WBC-Malignant-Pre-468.jpg"
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Private settings: the user's name ('Prepared by' of new cases), no test-time augmentation (fast)."""
    made = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    made.operator = "Ana"
    made.tta = False
    return made


@pytest.fixture(autouse=True)
def no_unexpected_dialogs(monkeypatch):
    """A modal dialog nobody answers would hang a headless test: each test that expects one says so."""

    def unexpected(*args, **kwargs):
        pytest.fail(f"unexpected modal dialog: {args[1:3]}")

    monkeypatch.setattr(QInputDialog, "getItem", unexpected)
    monkeypatch.setattr(QInputDialog, "getText", unexpected)
    monkeypatch.setattr(SignOffDialog, "exec", unexpected)
    monkeypatch.setattr(AmendDialog, "exec", unexpected)


@pytest.fixture
def make_window(qtbot, store, settings):
    """A shown main window over a store (the test's unless given), its reviewer chosen (as the
    first decision asks) unless `reviewer=None`; closed after the test."""

    def make(over: CaseStore = store, reviewer: str | None = "Ana", **options) -> MainWindow:
        window = MainWindow(over, settings, **options)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        if reviewer is not None:
            window.identity.set(reviewer)
        return window

    return make


@pytest.fixture
def smear(tmp_path):
    """A folder of 3 blast and 3 normal demo cells and one broken file."""
    folder = tmp_path / "smear_42"
    folder.mkdir()
    for pattern in ("*_all.bmp", "*_hem.bmp"):
        for path in sorted(DEMO_CASE.glob(pattern))[:3]:
            shutil.copy(path, folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    return folder


def drop(window: MainWindow, paths) -> None:
    """Drop files or folders onto the window as the desktop would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    event = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)
    assert event.isAccepted()


def classify(qtbot, window: MainWindow, start):
    """Run `start()` (which starts a batch) and return the batch's RunSummary."""
    with qtbot.waitSignal(window.batch_finished, timeout=BATCH_TIMEOUT_MS) as finished:
        start()
    return finished.args[0]


def settled(qtbot, window: MainWindow) -> None:
    """Wait for the sign-off check of the open case's latest state (it runs off the GUI thread)."""
    qtbot.waitUntil(lambda: window.gate.settled)


def set_sample_id(window: MainWindow, sample_id: str) -> None:
    window.header.sample_id.setText(sample_id)
    window.header.sample_id.editingFinished.emit()


def review_queue(qtbot, window: MainWindow, key=Qt.Key.Key_N) -> int:
    """Decide every cell of the 'To review' filter with one key; return how many there were."""
    window.window_actions.filters["unreviewed"].trigger()
    count = window.model.rowCount()
    window.gallery.setFocus()
    for _ in range(count):
        qtbot.keyClick(window.gallery, key)
    assert all(window.model.record(row).decision for row in range(count)), QApplication.activeWindow()
    return count


def signing(qtbot, check=None):
    """A stand-in for `SignOffDialog.exec`: it checks what the reviewer sees, ticks the box, signs."""

    def exec_(dialog: SignOffDialog) -> int:
        assert dialog.cancel_button.isDefault() and not dialog.sign_button.isEnabled()
        if check is not None:
            check(dialog)
        dialog.confirm.setChecked(True)
        qtbot.mouseClick(dialog.sign_button, Qt.MouseButton.LeftButton)
        return dialog.result()

    return exec_


def sign_off(qtbot, window: MainWindow) -> None:
    """Press the sign-off shortcut and wait until the case is signed (the check runs off the GUI thread)."""
    with qtbot.waitSignal(window.sign_offs.changed, timeout=20_000):
        qtbot.keyClick(window.gallery, Qt.Key.Key_S, CTRL | Qt.KeyboardModifier.ShiftModifier)


def messages(window: MainWindow) -> list[str]:
    return [box.text() for box in window.findChildren(QMessageBox) if box.isVisible()]


def close_messages(window: MainWindow) -> None:
    """Close the window's messages, and give it back the keyboard (as the desktop does)."""
    for box in window.findChildren(QMessageBox):
        box.close()
    window.activateWindow()
    QApplication.processEvents()


def test_drop_classify_review_with_keys_undo_and_reopen(qtbot, make_window, store, smear):
    window = make_window()
    summary = classify(qtbot, window, lambda: drop(window, [smear]))
    assert (summary.classified, summary.errors, summary.cells, summary.cancelled) == (6, 1, 6, False)
    case = store.find_case("smear_42")
    assert window.case == store.get_case(case.id) and store.list_sources(case.id) == [str(smear)]
    queue = store.summary(case.id).to_review
    assert window.window_actions.current_filter() == "unreviewed" and window.model.rowCount() == queue < 6
    assert window.gallery.currentIndex().row() == 0  # a finished case opens on the top of its review queue
    window.window_actions.filters["all"].trigger()
    assert window.model.rowCount() == 6 and window.errors.table.rowCount() == 1
    assert window.errors.table.item(0, 0).text() == "broken.png" and window.errors.table.item(0, 1).text()
    assert window.errors.table.item(0, 2).text() == "not yet"
    probabilities = [window.model.record(row).probability for row in range(6)]
    assert probabilities == sorted(probabilities, reverse=True)  # most suspicious first

    window.header.sample_id.setText("S-0042")
    window.header.sample_id.editingFinished.emit()
    cells = [window.model.record(row).id for row in range(3)]
    window.gallery.setFocus()
    assert window.gallery.currentIndex().row() == 0
    for key in (Qt.Key.Key_B, Qt.Key.Key_N, Qt.Key.Key_U):
        qtbot.keyClick(window.gallery, key)
    assert [store.get_cell(cell).decision for cell in cells] == ["blast", "normal", "unsure"]
    assert {store.get_cell(cell).reviewer for cell in cells} == {"Ana"}
    assert window.gallery.currentIndex().row() == 3  # each decision moved on
    assert window.model.index(0).data(RECORD_ROLE).decision == "blast"  # the tile shows it

    qtbot.keyClick(window.gallery, Qt.Key.Key_Z, CTRL)
    assert store.get_cell(cells[2]).decision is None
    assert window.gallery.currentIndex().row() == 2  # undo shows the cell it changed
    qtbot.keyClick(window.gallery, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert store.get_cell(cells[2]).decision == "unsure"
    qtbot.keyClick(window.gallery, Qt.Key.Key_Z, CTRL)
    history = [change.new for change in store.decision_history(case.id)]
    assert history == ["blast", "normal", "unsure", None, "unsure", None]
    qtbot.keyClick(window.gallery, Qt.Key.Key_Left)
    assert window.gallery.currentIndex().row() == 1
    assert "PySide6.QtNetwork" not in sys.modules  # offline: nothing here can reach a network
    window.close()

    with CaseStore.open() as restarted:  # a new connection, as after quitting the app
        again = make_window(restarted)
        resumed = classify(qtbot, again, again.open_last_case)
        assert (resumed.skipped, resumed.classified) == (6, 0)  # nothing classified twice
        assert again.case.id == case.id and again.header.sample_id.text() == "S-0042"
        again.window_actions.filters["all"].trigger()
        decisions = {again.model.record(row).id: again.model.record(row).decision for row in range(6)}
        assert [decisions[cell] for cell in cells] == ["blast", "normal", None]
        assert again.summary.review_progress.value() == 2
        classify(qtbot, again, lambda: drop(again, [smear]))  # the same folder again reopens its case
        assert [c.name for c in restarted.list_cases()] == ["smear_42"]
        again.close()


def test_sign_off_needs_every_reason_cleared_then_the_reviewer_confirms_the_counts(
    qtbot, make_window, store, smear, monkeypatch
):
    window = make_window()
    classify(qtbot, window, lambda: window.open_paths([smear]))
    case_id = window.case.id
    to_review = store.summary(case_id).to_review
    assert to_review > 0
    settled(qtbot, window)
    assert not window.summary.sign_off_button.isEnabled() and not window.window_actions.sign_off.isEnabled()
    status = window.summary.status.text()
    assert "Not ready for sign-off" in status and "still need a review decision" in status
    assert "unreadable file(s) not acknowledged: broken.png" in status and "Sample ID is empty" in status
    window.sign_off()  # the menu item is disabled; asked anyway, the store refuses with every reason
    qtbot.waitUntil(lambda: bool(messages(window)))
    assert any("still need a review decision" in text and "Sample ID" in text for text in messages(window))
    assert not store.get_case(case_id).signed_off
    close_messages(window)

    assert review_queue(qtbot, window) == to_review
    set_sample_id(window, "S-0042")
    settled(qtbot, window)
    assert window.summary.status.text().count("<li>") == 1  # only the unreadable file is left
    window.window_actions.filters["errors"].trigger()
    assert window.pages.currentWidget() is window.errors and window.errors.acknowledge_button.isEnabled()
    qtbot.mouseClick(window.errors.acknowledge_button, Qt.MouseButton.LeftButton)
    (error,) = store.list_errors(case_id)
    assert error.acknowledged_by == "Ana" and window.errors.table.item(0, 2).text().startswith("by Ana, ")
    assert not window.errors.acknowledge_button.isEnabled() and "acknowledged" in window.errors.note.text()
    settled(qtbot, window)
    assert window.summary.sign_off_button.isEnabled() and window.window_actions.sign_off.isEnabled()
    assert "Ready for sign-off" in window.summary.status.text()
    counts = store.summary(case_id)
    assert counts.blast_percentage.describe() in window.summary.counts["blast_percentage"].text()

    def sees_the_counts(dialog: SignOffDialog) -> None:
        text = " ".join(label.text() for label in dialog.findChildren(QLabel))
        assert counts.blast_percentage.describe() in text and "Signing as: <b>Ana</b>" in text
        assert dialog.confirm.text() == "I am Ana, and I have reviewed this case"
        dialog.confirm.setChecked(True)
        assert dialog.sign_button.isEnabled()
        dialog.confirm.setChecked(False)

    monkeypatch.setattr(SignOffDialog, "exec", lambda dialog: dialog.reject() or dialog.result())
    window.sign_off()  # Cancel: nothing is signed
    qtbot.wait(200)
    assert not store.get_case(case_id).signed_off
    monkeypatch.setattr(SignOffDialog, "exec", signing(qtbot, sees_the_counts))
    window.gallery.setFocus()
    sign_off(qtbot, window)
    case = store.get_case(case_id)
    assert case.signed_off and case.signed_off_by == "Ana"
    assert not window.window_actions.decisions["blast"].isEnabled() and not window.header.name.isEnabled()
    assert window.window_actions.amend.isEnabled() and window.summary.amend_button.isVisible()
    settled(qtbot, window)
    assert "✔ <b>Signed off by Ana, " in window.summary.history.text()
    assert not window.summary.sign_off_button.isEnabled() and "frozen" in window.summary.status.text()
    qtbot.keyClick(window.gallery, Qt.Key.Key_B)
    assert store.summary(case_id).confirmed_blasts == counts.confirmed_blasts  # a signed-off case no longer changes


def test_a_cancelled_partly_classified_case_cannot_be_signed_off(qtbot, make_window, store):
    window = make_window()

    def start_and_cancel_after_first_results() -> None:
        window.open_paths([DEMO_CASE])
        task = window.batch.task
        task.progressed.connect(lambda progress: progress[2] and task.cancel(), Qt.ConnectionType.DirectConnection)

    first = classify(qtbot, window, start_and_cancel_after_first_results)
    total = len(list(DEMO_CASE.glob("*.bmp")))
    assert first.cancelled and 0 < first.classified < total
    case_id = window.case.id
    review_queue(qtbot, window)
    set_sample_id(window, "S-7")
    summary = store.summary(case_id)
    assert summary.review_complete and summary.errors == 0  # every classified cell is decided...
    settled(qtbot, window)
    assert not window.summary.sign_off_button.isEnabled() and not window.window_actions.sign_off.isEnabled()
    missing = total - first.classified
    assert f"{missing} image file(s) not classified yet (cancelled or added since)" in window.summary.status.text()
    assert len(store.sign_off_check(case_id).reasons) == window.summary.status.text().count("<li>") == 1

    item = window.cases.item(0)  # choosing the open case again classifies the rest
    rest = classify(qtbot, window, lambda: window.cases.itemClicked.emit(item))
    assert (rest.skipped, rest.classified) == (first.classified, missing)
    review_queue(qtbot, window)
    settled(qtbot, window)
    assert window.summary.sign_off_button.isEnabled() and "Ready for sign-off" in window.summary.status.text()


def test_unsure_cells_are_a_queue_of_their_own_and_block_sign_off(qtbot, make_window, store, smear, monkeypatch):
    window = make_window()
    classify(qtbot, window, lambda: window.open_paths([smear]))
    case_id = window.case.id
    store.acknowledge_errors(case_id, "Ana")
    set_sample_id(window, "S-1")
    window.window_actions.filters["unreviewed"].trigger()
    to_review = window.model.rowCount()
    assert to_review >= 2
    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_U)
    unsure = window.model.record(0).id
    for _ in range(to_review - 1):
        qtbot.keyClick(window.gallery, Qt.Key.Key_N)
    assert store.get_cell(unsure).decision == "unsure"
    settled(qtbot, window)
    filters = window.window_actions.filters
    assert filters["unsure"].text() == "Unsure (1)" and filters["unreviewed"].text() == "To review (0)"
    assert filters["reviewed"].text() == f"Reviewed ({to_review})"
    assert not window.summary.sign_off_button.isEnabled()
    assert "1 cell(s) decided 'unsure' need a second look" in window.summary.status.text()
    assert "shown once every flagged or uncertain cell" in window.summary.counts["blast_percentage"].text()
    for key in ("unreviewed", "unsure", "reviewed"):  # each count is what its filter lists
        filters[key].trigger()
        assert filters[key].text().endswith(f"({window.model.rowCount()})")
    filters["unsure"].trigger()
    assert [window.model.record(row).id for row in range(window.model.rowCount())] == [unsure]

    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_B)  # the second look
    settled(qtbot, window)
    assert filters["unsure"].text() == "Unsure (0)" and window.summary.sign_off_button.isEnabled()
    assert "%" in window.summary.counts["blast_percentage"].text()


def test_artefacts_leave_the_count_and_every_decision_has_a_badge(qtbot, make_window, store, smear, tmp_path):
    from app.cli import main as cli_main

    assert set(DECISION_COLOURS) == set(DECISION_LETTERS) == {"blast", "normal", "artefact", "unsure"}
    window = make_window()
    classify(qtbot, window, lambda: window.open_paths([smear]))
    case_id = window.case.id
    window.window_actions.filters["all"].trigger()
    window.gallery.setFocus()
    first = window.model.record(0)
    qtbot.keyClick(window.gallery, Qt.Key.Key_A)
    assert store.get_cell(first.id).decision == "artefact" and store.get_cell(first.id).reviewer == "Ana"
    assert window.summary.counts["counted"].text() == "5 of 6 analysed (1 artefact(s) left out)"
    last = window.model.record(5)  # decided from the command line: the app shows it too
    code = cli_main(
        ["decide", str(case_id), "artefact", "--image", last.image_path, "--cell-index", str(last.index), "--by", "Bo"]
    )
    assert code == 0
    window._catch_up()
    assert window.summary.counts["counted"].text() == "4 of 6 analysed (2 artefact(s) left out)"
    window.window_actions.filters["reviewed"].trigger()
    assert {window.model.record(row).decision for row in range(window.model.rowCount())} == {"artefact"}
    window.gallery.viewport().grab()  # paints the artefact badges (a KeyError before)
    assert "artefact" in window.model.index(0).data(Qt.ItemDataRole.ToolTipRole)

    store.acknowledge_errors(case_id, "Ana")
    set_sample_id(window, "S-2")
    review_queue(qtbot, window, Qt.Key.Key_B)
    summary = store.summary(case_id)
    assert summary.review_complete and summary.counted == 4
    assert f"of {summary.counted})" in window.summary.counts["blast_percentage"].text()


def test_the_command_line_and_the_app_open_the_same_case_for_the_same_folder(
    qtbot, make_window, store, smear, tmp_path
):
    from app.cli import main as cli_main

    assert cli_main(["classify", str(smear), "--csv", str(tmp_path / "cells.csv"), "--no-tta"]) == 0
    (case,) = store.list_cases()
    window = make_window()
    summary = classify(qtbot, window, lambda: window.open_paths([smear]))
    assert window.case.id == case.id and len(store.list_cases()) == 1
    assert (summary.skipped, summary.classified) == (6, 0)  # the 6 cells read by the CLI are not read again


def test_cancel_then_resume_after_restart_does_no_work_twice(qtbot, make_window, store):
    window = make_window()

    def start_and_cancel_after_first_results() -> None:
        window.open_paths([DEMO_CASE])
        task = window.batch.task  # cancel from the task's own thread: exactly after its first stored group
        task.progressed.connect(lambda progress: progress[2] and task.cancel(), Qt.ConnectionType.DirectConnection)

    first = classify(qtbot, window, start_and_cancel_after_first_results)
    total = len(list(DEMO_CASE.glob("*.bmp")))
    assert first.cancelled and 0 < first.classified < total
    case_id = window.case.id
    kept = {image.path: image.id for image in store.list_images(case_id)}
    kept_cells = {cell.id for cell in store.list_cells(case_id)}
    assert len(kept) == first.classified and not window.batch_status.progress_bar.isVisible()
    window.close()

    with CaseStore.open() as restarted:
        again = make_window(restarted)
        second = classify(qtbot, again, again.open_last_case)
        assert (second.skipped, second.classified, second.cancelled) == (
            first.classified,
            total - first.classified,
            False,
        )
        images = restarted.list_images(case_id)
        assert len(images) == total and len({image.path for image in images}) == total
        assert {image.path: image.id for image in images if image.path in kept} == kept  # not redone
        assert kept_cells <= {cell.id for cell in restarted.list_cells(case_id)}
        again.window_actions.filters["all"].trigger()
        assert again.model.rowCount() == total
        again.close()


def test_closing_mid_batch_waits_for_the_worker_and_keeps_what_was_stored(qtbot, make_window, store):
    window = make_window()
    window.open_paths([DEMO_CASE])
    assert (
        window.is_busy()
        and window.batch_status.progress_bar.isVisible()
        and window.batch_status.cancel_button.isVisible()
    )
    window.close()
    assert window.batch.pool.activeThreadCount() == 0
    for image in store.list_images(window.case.id):  # every stored image is whole
        assert len(store.list_cells(window.case.id, image_id=image.id)) == 1


def test_a_failing_worker_shows_a_message_and_the_app_stays_usable(qtbot, make_window, store, smear, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("app.services.classification.classify_case", boom)
    window = make_window()
    assert classify(qtbot, window, lambda: window.open_paths([smear])) is None
    assert any("disk on fire" in text for text in messages(window))
    assert not window.is_busy() and not window.batch_status.progress_bar.isVisible()
    close_messages(window)
    monkeypatch.undo()
    summary = classify(qtbot, window, lambda: window.open_paths([smear]))  # the same case, now it works
    assert summary.classified == 6 and len(store.list_cases()) == 1


def test_a_missing_model_is_explained(qtbot, make_window, store, smear, tmp_path):
    window = make_window(model_dir=tmp_path / "no-model")
    window.open_paths([smear])
    assert not window.is_busy()
    assert any("model is missing" in text for text in messages(window))
    assert "model is missing" in about_html(window.card)


def test_field_image_cells_are_outlined_and_a_click_selects_one(qtbot, make_window, shared_data, tmp_path):
    folder = tmp_path / "field"
    folder.mkdir()
    shutil.copy(shared_data / FIELD_IMAGE, folder)
    window = make_window()
    summary = classify(qtbot, window, lambda: window.open_paths([folder]))
    assert summary.cells > 5 and window.model.rowCount() == summary.cells
    qtbot.waitUntil(lambda: len(window.review.field_view.outlines()) == summary.cells)  # decoded off the GUI thread
    outlines = window.review.field_view.outlines()
    selected = window.model.record(window.gallery.currentIndex().row()).id
    other = min(
        (item for item in outlines if item.data(0) != selected),
        key=lambda item: item.rect().width() * item.rect().height(),
    )
    view, other_id = window.review.field_view, other.data(0)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(other.sceneBoundingRect().center())
    )
    assert window.model.record(window.gallery.currentIndex().row()).id == other_id
    solid = [item.data(0) for item in view.outlines() if item.pen().style() == Qt.PenStyle.SolidLine]
    assert solid == [other_id]  # the field now marks the clicked cell


def test_a_case_of_10000_cells_opens_and_decodes_only_visible_thumbnails_off_the_gui_thread(qtbot, make_window, store):
    """Lazy thumbnails (how fast it opens and scrolls is measured by bench/app_startup.py)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 60, 160)).save(buffer, format="PNG")
    case = store.create_case("big")
    for image in range(100):
        cells = [
            NewCell((cell, 0, 10, 10), False, buffer.getvalue(), 0.0, (image * 100 + cell) / 10_000, "normal")
            for cell in range(100)
        ]
        cells[0] = NewCell((0, 0, 10, 10), False, b"\x89PNG damaged", 0.0, image / 100, "normal")
        store.add_image_result(case.id, f"/nowhere/{image}.bmp", width=999, height=99, cells=cells, model_version="t")
    window = make_window()
    window.open_case(case.id)
    QApplication.processEvents()
    assert window.model.rowCount() == 10_000
    window.gallery.scrollToBottom()
    thumbnails = window.model.thumbnails
    with qtbot.waitSignal(window.model.dataChanged) as changed:
        window.gallery.viewport().grab()  # paints black tiles and asks for their thumbnails
        assert thumbnails.pending > 0 and len(thumbnails) == 0
    qtbot.waitUntil(lambda: thumbnails.pending == 0)
    assert 0 < len(thumbnails) < 500
    decoded = changed.args[0].data(Qt.ItemDataRole.DecorationRole)
    damaged = changed.args[0].data(RECORD_ROLE).index == 0
    assert decoded.isNull() if damaged else decoded.width() == THUMBNAIL
    last = window.model.index(window.model.rowCount() - 1)  # probability 0: image 0's damaged cell
    assert last.data(RECORD_ROLE).index == 0
    last.data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: thumbnails.pending == 0)
    assert last.data(Qt.ItemDataRole.DecorationRole).isNull() and thumbnails.pending == 0  # empty, not retried
    window.model.index(5_000).data(Qt.ItemDataRole.DecorationRole)
    assert thumbnails.pending == 1
    window.model.load(None)  # another case: decoding not started is dropped, none is left waiting
    qtbot.waitUntil(lambda: thumbnails.pending == 0)
    qtbot.waitUntil(lambda: "not available" in window.review.field_title.text())  # a missing source: said, not fatal


def test_settings_dialog_defaults_to_the_model_card_and_saves(qtbot, make_window, settings):
    window = make_window()
    settings.threshold = settings.tta = None
    dialog = SettingsDialog(settings, window.card)
    assert dialog.threshold.value() == pytest.approx(window.card.threshold, abs=1e-3)
    assert dialog.tta.isChecked() == window.card.tta
    dialog.operator.setText("  Bo  ")
    dialog.threshold.setValue(0.5)
    dialog.tta.setChecked(not window.card.tta)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.accept()
    reread = Settings(QSettings(settings.qsettings.fileName(), QSettings.Format.IniFormat))
    assert (reread.operator, reread.threshold, reread.tta, reread.theme) == ("Bo", 0.5, not window.card.tta, "dark")
    apply_theme(QApplication.instance(), "dark")
    assert QApplication.instance().palette().window().color().lightness() < 80
    apply_theme(QApplication.instance(), "light")


def test_the_reviewer_is_chosen_at_the_first_decision_and_never_carried_to_the_next_launch(
    qtbot, make_window, store, settings, smear, monkeypatch
):
    settings.remember_reviewer("Bo")
    settings.remember_reviewer("Ana")
    window = make_window(reviewer=None)
    reviewer_button = window.statusBar().findChild(ReviewerButton)
    assert reviewer_button.text() == "Reviewer: not chosen"
    classify(qtbot, window, lambda: window.open_paths([smear]))
    offered = []

    def choose(parent, title, label, items, current, editable):
        offered.append((list(items), current, editable))
        return "Bo", True

    monkeypatch.setattr(QInputDialog, "getItem", choose)
    window.gallery.setFocus()
    qtbot.keyClick(window.gallery, Qt.Key.Key_B)
    qtbot.keyClick(window.gallery, Qt.Key.Key_N)
    assert offered == [(["Ana", "Bo"], 0, True)]  # asked once, recent names first, a new name allowed
    assert {store.get_cell(window.model.record(row).id).reviewer for row in (0, 1)} == {"Bo"}
    assert reviewer_button.text() == "Reviewer: Bo" and settings.recent_reviewers == ["Bo", "Ana"]
    monkeypatch.setattr(QInputDialog, "getItem", lambda *args: ("  Cy ", True))
    qtbot.mouseClick(reviewer_button, Qt.MouseButton.LeftButton)  # change who is reviewing
    assert reviewer_button.text() == "Reviewer: Cy" and settings.recent_reviewers == ["Cy", "Bo", "Ana"]
    window.close()

    again = make_window(reviewer=None)  # a new launch with the same settings
    assert again.identity.name is None
    assert again.statusBar().findChild(ReviewerButton).text() == "Reviewer: not chosen"
    classify(qtbot, again, lambda: again.open_paths([smear]))
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *args: asked.append(args[3]) or ("", False))
    again.window_actions.filters["all"].trigger()
    again.gallery.setFocus()
    again.gallery.setCurrentIndex(again.model.index(2))
    qtbot.keyClick(again.gallery, Qt.Key.Key_B)
    assert asked == [["Cy", "Bo", "Ana"]]  # asked again, not reused silently; cancelled: nothing recorded
    assert store.get_cell(again.model.record(2).id).decision is None and again.identity.name is None


def test_a_threshold_override_names_who_set_it(qtbot, make_window, store, settings, smear):
    settings.threshold = 0.5
    window = make_window(reviewer="Bo")
    classify(qtbot, window, lambda: window.open_paths([smear]))
    case = store.get_case(window.case.id)
    assert case.threshold == 0.5 and case.threshold_set_by == "Bo"
    assert window.summary.counts["rule"].text() == case.rule_label
    assert "threshold overridden to 0.500 by Bo" in case.rule_label
    assert window.header.operator.text() == "Ana"  # 'Prepared by': the name in Settings


def test_an_amendment_needs_a_reason_and_the_case_keeps_both_signatures(qtbot, make_window, store, smear, monkeypatch):
    window = make_window()
    classify(qtbot, window, lambda: window.open_paths([smear]))
    case_id = window.case.id
    store.acknowledge_errors(case_id, "Ana")
    set_sample_id(window, "S-3")
    review_queue(qtbot, window)
    settled(qtbot, window)
    monkeypatch.setattr(SignOffDialog, "exec", signing(qtbot))
    sign_off(qtbot, window)
    assert store.get_case(case_id).signed_off

    def cancels_without_reason(dialog: AmendDialog) -> int:
        assert dialog.cancel_button.isDefault() and not dialog.reopen_button.isEnabled()
        dialog.reason.setPlainText("   ")
        assert not dialog.reopen_button.isEnabled()  # a reason is required
        dialog.reject()
        return dialog.result()

    monkeypatch.setattr(AmendDialog, "exec", cancels_without_reason)
    window.window_actions.amend.trigger()
    assert store.get_case(case_id).signed_off

    def gives_a_reason(dialog: AmendDialog) -> int:
        dialog.reason.setPlainText("cell 3 is a smudge")
        assert dialog.reopen_button.isEnabled() and dialog.reopen_button.text() == "Reopen as Ana"
        qtbot.mouseClick(dialog.reopen_button, Qt.MouseButton.LeftButton)
        return dialog.result()

    monkeypatch.setattr(AmendDialog, "exec", gives_a_reason)
    qtbot.mouseClick(window.summary.amend_button, Qt.MouseButton.LeftButton)
    case = store.get_case(case_id)
    assert not case.signed_off and window.window_actions.decisions["artefact"].isEnabled()
    assert not window.window_actions.amend.isEnabled()
    settled(qtbot, window)
    history = window.summary.history.text()
    assert "Signed off by Ana, " in history and "Reopened by Ana, " in history and "cell 3 is a smudge" in history

    window.identity.set("Bo")  # another reviewer signs the amended case
    window.gallery.setFocus()
    window.window_actions.filters["reviewed"].trigger()
    qtbot.keyClick(window.gallery, Qt.Key.Key_A)

    def sees_the_amendment(dialog: SignOffDialog) -> None:
        text = " ".join(label.text() for label in dialog.findChildren(QLabel))
        assert "Amended case." in text and "cell 3 is a smudge" in text and "Signing as: <b>Bo</b>" in text

    settled(qtbot, window)
    monkeypatch.setattr(SignOffDialog, "exec", signing(qtbot, sees_the_amendment))
    sign_off(qtbot, window)
    signatures = store.sign_offs(case_id)
    assert [entry.signed_off_by for entry in signatures] == ["Ana", "Bo"]
    assert signatures[0].reopened_by == "Ana" and signatures[0].reopen_reason == "cell 3 is a smudge"
    settled(qtbot, window)
    history = window.summary.history.text()
    assert "Signed off by Ana, " in history and "Reopened by Ana" in history and "✔ <b>Signed off by Bo, " in history
    assert store.summary(case_id).artefacts == 1


def test_export_report_is_written_off_the_gui_thread_and_a_failure_is_shown(
    qtbot, make_window, store, smear, tmp_path, monkeypatch
):
    window = make_window()
    classify(qtbot, window, lambda: window.open_paths([smear]))
    target = tmp_path / "out.xlsx"
    monkeypatch.setattr("app.gui.main_window.QFileDialog.getSaveFileName", lambda *args, **kwargs: (str(target), ""))
    qtbot.keyClick(window.gallery, Qt.Key.Key_E, CTRL)
    qtbot.waitUntil(lambda: "Report saved" in window.statusBar().currentMessage())
    assert zipfile.is_zipfile(target) and not messages(window)

    missing = tmp_path / "no such folder" / "out.xlsx"
    monkeypatch.setattr("app.gui.main_window.QFileDialog.getSaveFileName", lambda *args, **kwargs: (str(missing), ""))
    window.window_actions.export.trigger()
    qtbot.waitUntil(lambda: bool(messages(window)))
    assert any("failed" in text and "no such folder" in text for text in messages(window))
    assert not missing.exists()


def test_help_names_versions_training_data_and_every_shortcut(make_window):
    window = make_window()
    text = about_html(window.card)
    assert "BlastScan" in text and "PySide6" in text and "C-NMC 2019" in text and "CC BY 3.0" in text
    for lab in window.card.training_data.labs:  # every data set of the card, with its licence, from the card
        assert html.escape(lab.source) in text
    assert "CC BY 4.0" in text and text.index("Jiangxi") > text.index("never trained on")
    table = ShortcutsDialog(
        window.menuBar().actions()[0].menu().actions() + list(window.window_actions.decisions.values()), window
    ).findChild(QTableWidget)
    rows = {table.item(row, 0).text(): table.item(row, 1).text() for row in range(table.rowCount())}
    assert rows["Blast (B)"] == "B" and rows["Open Folder…"] == "Ctrl+O" and rows["Export Report…"] == "Ctrl+E"


def test_lab_dialog_fits_a_profile_then_switches_to_it_and_back(qtbot, make_window, lab_copy, monkeypatch):
    lab_store, _, _ = lab_copy
    window = make_window(lab_store)
    window.settings.threshold = 0.5  # an override made for the model card's rule
    assert "rule: model card" in window.setup_button.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    dialog = LabDialog(lab_store, window.site, "Ana", busy=False, parent=window)
    dialog.setup_changed.connect(window._setup_changed)
    qtbot.addWidget(dialog)
    assert (
        "<b>72</b> confirmed blasts and <b>72</b> confirmed normal cells from <b>12</b> cases"
        in dialog.labels_text.text()
    )
    assert dialog.profiles.rowCount() == 1 and dialog.models.rowCount() == 1
    qtbot.mouseClick(dialog.fit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved" in dialog.fit_result.text(), timeout=30_000)
    assert "not in use until you choose it" in dialog.fit_result.text()
    assert dialog.profiles.rowCount() == 2 and window.site.active().profile is None
    assert dialog.profiles.item(0, 0).text().startswith("● model card")

    dialog.profiles.selectRow(1)
    with qtbot.waitSignal(dialog.setup_changed) as changed:
        qtbot.mouseClick(dialog.use_profile_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].profile.number == 1
    assert "rule: site profile 1" in window.setup_button.text() and "site profile 1" in dialog.in_use.text()
    assert window.settings.threshold is None  # new cases take the profile's threshold
    assert "Your threshold 0.500 from Settings was for the previous rule" in window.statusBar().currentMessage()
    assert dialog.profiles.item(1, 0).text().startswith("● site profile 1")
    dialog.profiles.selectRow(0)
    with qtbot.waitSignal(dialog.setup_changed):
        qtbot.mouseClick(dialog.use_profile_button, Qt.MouseButton.LeftButton)
    assert "rule: model card" in window.setup_button.text() and not dialog.back_button.isEnabled()
    dialog.profiles.selectRow(1)
    with qtbot.waitSignal(dialog.setup_changed):  # switching (re-deciding open cases) runs off the GUI thread
        qtbot.mouseClick(dialog.use_profile_button, Qt.MouseButton.LeftButton)
    assert dialog.back_button.isEnabled()
    with qtbot.waitSignal(dialog.setup_changed):  # back to the shipped setup: one click (and a yes)
        qtbot.mouseClick(dialog.back_button, Qt.MouseButton.LeftButton)
    assert "rule: model card" in window.setup_button.text()
    assert [entry["profile"] for entry in window.site.history()] == [1, None, 1, None]


def test_lab_dialog_refuses_to_fit_with_too_few_labels_and_to_switch_while_busy(qtbot, make_window, store):
    window = make_window(store)
    dialog = LabDialog(store, window.site, "Ana", busy=True, parent=window)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.fit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "not enough reviewed cells" in dialog.fit_result.text(), timeout=10_000)
    assert "0 confirmed blasts (need 50)" in dialog.fit_result.text() and window.site.profiles() == []
    assert not dialog.use_profile_button.isEnabled() and not dialog.use_model_button.isEnabled()


def test_a_large_field_is_shown_around_the_selected_cell_and_double_click_shows_all(qtbot):
    from PySide6.QtGui import QPixmap

    from app.core.store import CellRecord
    from app.gui.review import FieldView

    view = FieldView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    qtbot.waitExposed(view)
    cells = [CellRecord(7, 1, "field.png", 0, (1200, 900, 80, 80), False, 1.0, 0.7, "flagged", "m", None, None, None)]
    pixmap = QPixmap(2592, 1944)
    view.show_field(pixmap, cells, selected=7)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(1240, 940) and shown.width() < 500  # around the cell, not the 2592 px field
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton)
    assert view.mapToScene(view.viewport().rect()).boundingRect().width() >= 2500
    view.show_field(
        QPixmap(224, 224),
        [CellRecord(8, 1, "small.png", 0, (80, 80, 60, 60), False, 1.0, 0.7, "flagged", "m", None, None, None)],
        selected=8,
    )
    assert view.mapToScene(view.viewport().rect()).boundingRect().width() >= 220  # small field: all of it


def test_the_installed_pyside6_keeps_references_to_true_and_none(qtbot):
    """PySide6 6.12.0 on Python 3.11 drops a reference to True per signal emit and to None per
    call returning None; a long batch then aborts the app ("Fatal Python error: bool_dealloc")."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        ticked = Signal(int)

    emitter = Emitter()
    view = QTableWidget(1, 1)
    qtbot.addWidget(view)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for number in range(200):
        emitter.ticked.emit(number)
        view.setCurrentCell(0, 0)  # returns None
    lost = before[0] - sys.getrefcount(True), before[1] - sys.getrefcount(None)
    assert max(lost) < 50, f"references lost to True, None: {lost} (200 expected with the bug)"


def test_an_unfamiliar_case_shows_a_banner_and_queues_every_cell(qtbot, make_window, store, tmp_path):
    from simulated_lab import shifted_copy

    familiar = make_window()
    classify(qtbot, familiar, lambda: drop(familiar, [DEMO_CASE]))
    assert familiar.familiarity_banner.isHidden()
    shifted = shifted_copy(DEMO_CASE, tmp_path / "other_stain")
    classify(qtbot, familiar, lambda: drop(familiar, [shifted]))
    assert familiar.familiarity_banner.isVisible()
    assert "Unfamiliar images" in familiar.familiarity_banner.text()
    summary = store.summary(familiar.case.id)
    assert summary.to_review == summary.cells == 24 and summary.normal == 0
    settled(qtbot, familiar)
    assert familiar.window_actions.filters["unreviewed"].text().endswith("(24)")


def test_the_main_window_fits_a_1280x720_screen(qtbot, make_window, smear):
    window = make_window()
    classify(qtbot, window, lambda: window.open_paths([smear]))
    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 720
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() == 1280 and window.height() == 720)
    for action in window.window_actions.decisions.values():  # every review key is on screen, not clipped
        (button,) = [b for b in window.review.findChildren(QToolButton) if b.defaultAction() is action]
        assert button.isVisible() and button.width() >= button.minimumSizeHint().width()
    assert window.summary.isVisible() and window.summary.height() >= window.summary.minimumSizeHint().height()


def test_a_drop_is_taken_as_a_copy_esc_cancels_the_batch_and_open_starts_in_the_last_folder(
    qtbot, make_window, smear, monkeypatch
):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(DEMO_CASE))])
    any_action = Qt.DropAction.MoveAction | Qt.DropAction.CopyAction | Qt.DropAction.LinkAction
    move = QDropEvent(QPointF(20, 20), any_action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    assert move.proposedAction() == Qt.DropAction.MoveAction  # as a file manager proposes with Shift held

    def drop_and_press_esc() -> None:
        window.dropEvent(move)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
        qtbot.keyClick(window.gallery, Qt.Key.Key_Escape)

    summary = classify(qtbot, window, drop_and_press_esc)
    assert move.isAccepted() and move.dropAction() == Qt.DropAction.CopyAction  # a move would delete the source
    assert summary.cancelled and summary.classified < len(list(DEMO_CASE.glob("*.bmp")))

    started_in = []

    def choose(parent, caption, folder):
        started_in.append(folder)
        return str(smear)

    monkeypatch.setattr("app.gui.main_window.QFileDialog.getExistingDirectory", choose)
    classify(qtbot, window, window.choose_folder)
    window.choose_folder()
    assert started_in[0] == str(Path.home()) and started_in[1] == str(smear.parent)


def test_the_lab_dialog_opens_within_the_screen(qtbot, make_window, store):
    window = make_window()
    dialog = LabDialog(store, window.site, "Ana", busy=False, parent=window)
    qtbot.addWidget(dialog)
    screen = dialog.screen().availableGeometry()
    assert dialog.width() <= screen.width() and dialog.height() <= screen.height()
    assert dialog.minimumSizeHint().width() <= 1280 and dialog.minimumSizeHint().height() <= 720
