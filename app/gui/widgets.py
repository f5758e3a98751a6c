"""Small layout helpers shared by the windows."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


def column(*parts) -> QWidget:
    """A widget stacking widgets and layouts; (part, stretch) pairs stretch."""
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(4, 4, 4, 4)
    for part in parts:
        part, stretch = part if isinstance(part, tuple) else (part, 0)
        if isinstance(part, QWidget):
            layout.addWidget(part, stretch)
        else:
            layout.addLayout(part, stretch)
    return column


def accept_as_copy(event: QDropEvent) -> None:
    """Take a drop as a copy: a file manager deletes the source of a drop taken as a move."""
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders of a drag and drop."""
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []
