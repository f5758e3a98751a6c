"""The log file in the data folder: unexpected errors of the CLI and of background work end up there."""

import logging

from conftest import DEMO_CASE
from PySide6.QtWidgets import QMessageBox, QWidget

from app.cli import EXIT_FAILED, main
from app.gui.tasks import run_task
from app.logs import LOG_FILE, log_path, start_logging


def test_an_unexpected_cli_error_is_one_line_for_the_user_and_a_traceback_in_the_log(
    data_dir, tmp_path, monkeypatch, capsys
):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("app.services.classification.classify_case", boom)
    code = main(["classify", str(DEMO_CASE), "--csv", str(tmp_path / "cells.csv"), "--no-tta"])
    error = capsys.readouterr().err
    assert code == EXIT_FAILED and "Traceback" not in error
    assert f"unexpected error: RuntimeError: disk on fire (details in {data_dir / LOG_FILE})" in error
    logged = (data_dir / LOG_FILE).read_text(encoding="utf-8")
    assert "Traceback" in logged and "RuntimeError: disk on fire" in logged


def test_a_failing_background_task_is_shown_and_logged(qtbot, tmp_path):
    assert start_logging(tmp_path) == tmp_path / LOG_FILE == log_path()
    parent = QWidget()
    qtbot.addWidget(parent)
    run_task(lambda _: 1 / 0, description="Dividing", parent=parent)
    qtbot.waitUntil(lambda: bool(parent.findChildren(QMessageBox)))
    (box,) = parent.findChildren(QMessageBox)
    assert box.text() == "Dividing failed:\ndivision by zero"
    for handler in logging.getLogger("app").handlers:
        handler.flush()
    logged = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    assert "Dividing failed" in logged and "ZeroDivisionError" in logged


def test_logging_to_a_folder_that_cannot_be_written_leaves_the_app_running(tmp_path):
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    assert start_logging(blocked) is None
