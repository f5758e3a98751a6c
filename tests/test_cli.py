"""The `blastscan` command: classify to CSV, exit codes, progress, GUI hand-off, `python -m app`."""

import csv
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import ERRORS, VALID
from conftest import DEMO_CASE, MODELS, REPO
from PIL import Image

from app import __version__
from app.cli import main
from app.core.classifier import Classifier
from app.core.store import CaseStore
from app.services.export import CSV_HEADER

HEADER = "image_path,cell_index,x,y,width,height,blast_probability,flagged,status,message"


def _read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_classify_writes_one_row_per_cell_and_error_rows(corpus, tmp_path, data_dir, capsys):
    out = tmp_path / "results.csv"
    assert main(["classify", str(corpus), "--csv", str(out), "--case", "corpus", "--no-tta"]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[0] == HEADER == ",".join(CSV_HEADER)
    rows = _read(out)
    by_name = {Path(row["image_path"]).relative_to(corpus).as_posix(): row for row in rows}
    assert len(rows) == len(by_name) == len(ERRORS) + len(VALID)
    for name, phrase in ERRORS.items():
        row = by_name[name]
        assert row["status"] == "error" and phrase in row["message"]
        assert row["cell_index"] == row["x"] == row["blast_probability"] == row["flagged"] == ""
    tiny = by_name.pop("one pixel.png")  # read, but too small to hold a cell
    assert tiny["status"] == "ok" and tiny["cell_index"] == "" and tiny["message"] == "no cell found"
    for name in set(VALID) - {"one pixel.png"}:
        row = by_name[name]
        assert row["status"] == "ok" and row["cell_index"] == "0"
        assert 0.0 <= float(row["blast_probability"]) <= 1.0 and row["flagged"] in ("yes", "no", "uncertain")
        assert int(row["width"]) > 0 and int(row["height"]) > 0
    err = capsys.readouterr().err
    assert f"{len(ERRORS) + len(VALID)}/{len(ERRORS) + len(VALID)}" in err  # the progress bar finished
    assert "CSV:" in err


def test_rerun_of_a_case_reuses_results_and_replaces_the_csv_atomically(corpus, tmp_path, data_dir, capsys):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "results.csv"
    images = [str(corpus / "grey.png"), str(corpus / "cmyk.jpg")]
    args = ["classify", *images, "--csv", str(out), "--case", "again", "--no-tta"]
    assert main(args) == 0
    first = out.read_bytes()
    assert main(args) == 0
    assert "2 done before" in capsys.readouterr().err
    assert out.read_bytes() == first
    assert [path.name for path in out.parent.iterdir()] == ["results.csv"]  # no temporary file left
    with CaseStore.open() as store:
        assert len(store.list_cells(store.find_case("again").id)) == 2


def test_data_dir_option_and_threshold(corpus, tmp_path):
    out, folder = tmp_path / "out.csv", tmp_path / "elsewhere"
    assert (
        main(
            [
                "classify",
                str(corpus / "grey.png"),
                "--csv",
                str(out),
                "--case",
                "t",
                "--threshold",
                "0.999",
                "--by",
                "ana",
                "--no-tta",
                "--data-dir",
                str(folder),
            ]
        )
        == 0
    )
    with CaseStore.open(folder) as store:
        assert store.find_case("t").threshold == 0.999
    assert _read(out)[0]["flagged"] in ("no", "uncertain")


def test_no_readable_input_exits_2_but_still_reports(corpus, tmp_path, data_dir):
    out = tmp_path / "bad.csv"
    assert main(["classify", str(corpus / "notes.png"), str(corpus / "zero bytes.jpg"), "--csv", str(out)]) == 2
    assert [row["status"] for row in _read(out)] == ["error", "error"]
    assert main(["classify", str(corpus / "empty folder"), "--csv", str(out)]) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["classify", "x.png"],  # no --csv
        ["classify", "--csv", "out.csv"],  # no path
        ["classify", "x.png", "--csv", "out.csv", "--threshold", "1.5"],
        ["classify", "x.png", "--csv", "out.csv", "--threshold", "high"],
        ["classify", "x.png", "--csv", "/no/such/folder/out.csv"],
        ["--frobnicate"],
    ],
)
def test_usage_errors_exit_2(args, data_dir, capsys):
    assert main(args) == 2
    assert capsys.readouterr().err


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    assert "classify" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"blastscan {__version__}"


def test_no_command_opens_the_gui_with_the_paths(monkeypatch, tmp_path):
    opened = []
    fake = types.ModuleType("app.gui.main")
    fake.run = lambda paths: opened.append(paths) or 0
    monkeypatch.setitem(sys.modules, "app.gui.main", fake)
    (tmp_path / "a.bmp").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    paths = [str(tmp_path / "a.bmp"), str(tmp_path / "folder")]
    assert main([]) == 0 and main(paths) == 0
    assert [[str(path) for path in paths] for paths in opened] == [[], paths]


def test_a_mistyped_command_is_one_line_not_a_window(monkeypatch, capsys):
    fake = types.ModuleType("app.gui.main")
    fake.run = lambda paths: pytest.fail("the desktop app must not open")
    monkeypatch.setitem(sys.modules, "app.gui.main", fake)
    assert main(["sign-of", "CASE"]) == 2
    assert capsys.readouterr().err == (
        "blastscan: no such command, file or folder: 'sign-of'; did you mean 'blastscan sign-off'?\n"
    )


def test_without_a_display_the_app_says_so_instead_of_aborting(monkeypatch, capsys):
    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main([]) == 2
    assert "no display to open the desktop app on" in capsys.readouterr().err


def test_without_the_gui_a_clear_message_and_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "app.gui.main", None)  # makes the import fail
    assert main([]) == 2
    assert "blastscan classify" in capsys.readouterr().err


def test_python_m_app_runs_the_cli_without_tensorflow_or_qt():
    done = subprocess.run([sys.executable, "-m", "app", "--version"], cwd=REPO, capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, f"blastscan {__version__}")
    probe = (
        "import sys, app.cli, app.core.pipeline, app.core.store; "
        "print(sorted(m for m in ('tensorflow', 'PySide6') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_tta_option_overrides_the_model_card(tmp_path, data_dir, classifier):
    image = DEMO_CASE / "UID_16_1_3_all.bmp"
    canvas = np.asarray(Image.open(image))
    probabilities = {}
    for flag in ("--tta", "--no-tta"):
        out = tmp_path / f"{flag.strip('-')}.csv"
        assert main(["classify", str(image), "--csv", str(out), "--case", flag.strip("-"), flag]) == 0
        probabilities[flag] = float(_read(out)[0]["blast_probability"])
    assert probabilities["--no-tta"] == pytest.approx(classifier.classify([canvas])[0].probability, abs=1e-4)
    with_tta = Classifier(MODELS, tta=True).classify([canvas])[0].probability
    assert probabilities["--tta"] == pytest.approx(with_tta, abs=1e-4)
    assert probabilities["--tta"] != pytest.approx(probabilities["--no-tta"], abs=1e-4)


def test_field_images_give_one_row_per_detected_cell(shared_data, tmp_path, data_dir):
    field = sorted((shared_data / "fields_taleqani" / "Original" / "Pre").iterdir())[0]
    width, height = Image.open(field).size
    out = tmp_path / "field.csv"
    assert main(["classify", str(field), "--csv", str(out), "--case", "field", "--no-tta"]) == 0
    rows = _read(out)
    assert len(rows) > 1 and [row["cell_index"] for row in rows] == [str(i) for i in range(len(rows))]
    boxes = {(int(r["x"]), int(r["y"]), int(r["width"]), int(r["height"])) for r in rows}
    assert len(boxes) == len(rows)
    for x, y, w, h in boxes:
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height and w < width

    as_crop = tmp_path / "crop.csv"
    assert (
        main(["classify", str(field), "--csv", str(as_crop), "--case", "as crop", "--input-kind", "crop", "--no-tta"])
        == 0
    )
    assert len(_read(as_crop)) == 1


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """`blastscan lab | head -1`: the reader leaves early; no traceback, exit 0."""
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    done = subprocess.run(
        [sys.executable, "-m", "app", "lab", "--data-dir", str(tmp_path)],
        cwd=REPO,
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader.stdin.close()
    reader.wait()
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
