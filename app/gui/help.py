"""Help: the About text (versions, model, training-data attribution) and the shortcuts table."""

from __future__ import annotations

import html
import platform
from collections.abc import Sequence
from importlib import metadata

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app import __version__
from app.core.model_card import ModelCard

MOUSE_AND_ARROWS = (
    ("Move between cells", "Arrow keys, Home, End, Page Up/Down"),
    ("Zoom a picture", "Mouse wheel over it"),
    ("Fit a picture again", "Double-click it"),
    ("Select a cell in its field", "Click its outline in the source image"),
    ("Start a case", "Drop a folder or images onto the window"),
)


def about_html(card: ModelCard | None) -> str:
    """What this build is: versions, the model and the data it was trained on, and its limits."""
    versions = (
        f"BlastScan {__version__}<br>Python {platform.python_version()}, Qt {qVersion()}, "
        f"PySide6 {PySide6.__version__}, LiteRT {_installed('ai-edge-litert')}"
    )
    if card is None:
        model = "<b>The classifier model is missing</b>: cases can be reviewed but not classified."
    else:
        learned = "".join(f"<li>{html.escape(lab.source)}</li>" for lab in card.training_data.labs if lab.trained_on)
        checked = "".join(
            f"<li>{html.escape(lab.source)}</li>" for lab in card.training_data.labs if not lab.trained_on
        )
        model = (
            f"Model {card.version} ({card.model.architecture}).<br>"
            f"Trained on: {html.escape(card.training_data.source)}:<ul>{learned}</ul>"
            + (f"Evaluated on, never trained on:<ul>{checked}</ul>" if checked else "")
            + "C-NMC 2019: Gupta A., Gupta R. (2019), ALL Challenge dataset of ISBI 2019, "
            "The Cancer Imaging Archive (TCIA), licence CC BY 3.0."
        )
    return (
        f"<h3>BlastScan</h3><p>Flags suspected leukemic blasts in blood-smear images, offline.</p>"
        f"<p>{versions}</p><p>{model}</p>"
        "<p>A decision aid: every flagged and uncertain cell must be reviewed by a qualified person "
        "before a case is signed off. Nothing leaves this computer.</p>"
    )


class ShortcutsDialog(QDialog):
    """Every menu action with its shortcut, then the mouse and arrow keys."""

    def __init__(self, actions: Sequence[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [
            (action.text().replace("&", ""), action.shortcut().toString(QKeySequence.SequenceFormat.NativeText))
            for action in actions
            if not action.shortcut().isEmpty()
        ] + list(MOUSE_AND_ARROWS)
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (text, keys) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(text))
            table.setItem(row, 1, QTableWidgetItem(keys))
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        self.resize(480, 520)


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
