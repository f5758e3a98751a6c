"""The review pane: the selected cell large, its source image with every cell outlined, and
the undoable review decision that writes through the store.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeGuard

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QUndoCommand,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.loading import ImageLoadError, load_image
from app.core.store import CaseStore, CellRecord, StoreError
from app.gui.gallery import CALL_COLOURS, content_square, describe_cell
from app.gui.tasks import run_task

ZOOM_STEP = 1.25
CONTEXT = 4
"""A field is shown around its selected cell, this many times the cell's size."""
CELL_ID = 0
"""QGraphicsItem data key holding the cell id of an outline."""


class DecisionCommand(QUndoCommand):
    """One review decision on one cell; redo and undo both write through the store."""

    def __init__(
        self,
        store: CaseStore,
        record: CellRecord,
        decision: str,
        reviewer: str,
        on_change: Callable[[int], None],
        on_error: Callable[[str], None],
    ) -> None:
        super().__init__(f"mark cell {record.index + 1} of {Path(record.image_path).name} as {decision}")
        self._store, self._cell_id, self._reviewer = store, record.id, reviewer
        self._decision, self._previous = decision, record.decision
        self._on_change, self._on_error = on_change, on_error

    def redo(self) -> None:
        self._write(self._decision)

    def undo(self) -> None:
        self._write(self._previous)

    def _write(self, decision: str | None) -> None:
        try:
            self._store.set_decision(self._cell_id, decision, self._reviewer)
        except StoreError as error:
            self.setObsolete(True)  # the stack drops a command that could not be applied
            self._on_error(str(error))
            return
        self._on_change(self._cell_id)


class ZoomableView(QGraphicsView):
    """A picture that fits the view until the wheel zooms it; double-click fits it again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#101010"))
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumSize(160, 160)
        self._fitted = True
        self._focus: QRectF | None = None
        self._whole = False
        """Double-click shows the whole picture instead of its focus part (and back)."""

    def show_pixmap(self, pixmap: QPixmap, focus: QRectF | None = None) -> None:
        """Show a picture fitted to the view, or to its `focus` part."""
        scene = self.scene()
        scene.clear()
        scene.addPixmap(pixmap)
        scene.setSceneRect(QRectF(pixmap.rect()))
        self._focus, self._whole = focus, False
        self.fit()

    def show_message(self, text: str) -> None:
        scene = self.scene()
        scene.clear()
        item = scene.addText(text)
        item.setDefaultTextColor(QColor("#bbbbbb"))
        scene.setSceneRect(item.boundingRect())
        self._focus = None
        self.resetTransform()

    def fit(self) -> None:
        self._fitted = True
        shown = self.scene().sceneRect() if self._whole or self._focus is None else self._focus
        self.fitInView(shown, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fitted = False
        self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(ZOOM_STEP ** (event.angleDelta().y() / 120))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._fitted and self._focus is not None:
            self._whole = not self._whole
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()


class FieldView(ZoomableView):
    """The source image with each cell outlined in its call's colour; a click selects a cell."""

    cell_clicked = Signal(int)

    def show_field(self, pixmap: QPixmap, cells: Sequence[CellRecord], selected: int) -> None:
        """The image with its cells: dashed outlines, the selected one solid in a white frame.

        A large image is shown around the selected cell (CONTEXT times its size), so that the
        cell is big enough to judge; double-click shows the whole image and back.
        """
        chosen_box = next((cell.box for cell in cells if cell.id == selected), None)
        self.show_pixmap(pixmap, _context(chosen_box, pixmap.width(), pixmap.height()) if chosen_box else None)
        for cell in cells:
            x, y, width, height = cell.box
            chosen = cell.id == selected
            outline = QGraphicsRectItem(x, y, width, height)
            outline.setPen(
                _cosmetic_pen(
                    CALL_COLOURS[cell.call],
                    3 if chosen else 2,
                    Qt.PenStyle.SolidLine if chosen else Qt.PenStyle.DashLine,
                )
            )
            outline.setBrush(QBrush(Qt.GlobalColor.transparent))  # the inside takes clicks too
            outline.setData(CELL_ID, cell.id)
            outline.setToolTip(describe_cell(cell))
            outline.setCursor(Qt.CursorShape.PointingHandCursor)
            self.scene().addItem(outline)
            if chosen:
                self.scene().addRect(outline.rect().adjusted(-2, -2, 2, 2), _cosmetic_pen(QColor("white"), 1))

    def outlines(self) -> list[QGraphicsRectItem]:
        return [item for item in self.scene().items() if _is_outline(item)]

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hits = [item for item in self.items(event.position().toPoint()) if _is_outline(item)]
        if hits:
            smallest = min(hits, key=lambda item: item.rect().width() * item.rect().height())
            self.cell_clicked.emit(int(smallest.data(CELL_ID)))
            return
        super().mousePressEvent(event)


class ReviewPanel(QWidget):
    """The selected cell as the model saw it, beside its source image, and the decision keys."""

    def __init__(self, decision_actions: Sequence[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell_view = ZoomableView()
        self.field_view = FieldView()
        self.cell_title, self.field_title = QLabel("Cell, as the model saw it"), QLabel("Source image")
        self.info = QLabel("Select a cell in the gallery.")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._source: tuple[str, QPixmap | str] | None = None
        self._showing: tuple[CellRecord, list[CellRecord]] | None = None

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for title, view in ((self.cell_title, self.cell_view), (self.field_title, self.field_view)):
            column = QWidget()
            layout = QVBoxLayout(column)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(title)
            layout.addWidget(view, 1)
            splitter.addWidget(column)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        buttons = QGridLayout()  # two rows of two when the pane is narrow (1280 px screens)
        for number, action in enumerate(decision_actions):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            buttons.addWidget(button, number // 2, number % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.info)
        layout.addLayout(buttons)

    def show_cell(self, record: CellRecord, crop_png: bytes, field_cells: Sequence[CellRecord]) -> None:
        """Show a cell large, and its source image with the cells found in it (decoded off the
        GUI thread the first time: a field image may be large)."""
        square = content_square(Image.open(io.BytesIO(crop_png)))
        self.cell_view.show_pixmap(
            QPixmap.fromImage(QImage.fromData(crop_png)),
            QRectF(QPointF(*square[:2]), QPointF(*square[2:])) if square else None,
        )
        self.info.setText(_details(record))
        self._showing = (record, list(field_cells))
        path = record.image_path
        if self._source is not None and self._source[0] == path:
            self._show_source()
            return
        self.field_view.show_message("Loading the source image…")
        self.field_title.setText(f"Source image: {Path(path).name}")
        run_task(
            lambda _: _decoded_source(path),
            lambda image: self._source_loaded(path, image if isinstance(image, str) else QPixmap.fromImage(image)),
            description="Showing the source image",
            parent=self,
        )

    def clear(self, message: str = "Select a cell in the gallery.") -> None:
        self._showing = None
        self.cell_view.scene().clear()
        self.field_view.scene().clear()
        self.field_title.setText("Source image")
        self.info.setText(message)

    def _source_loaded(self, path: str, source: QPixmap | str) -> None:
        self._source = (path, source)
        if self._showing is not None and self._showing[0].image_path == path:
            self._show_source()

    def _show_source(self) -> None:
        """The source image of the cell shown (the last one decoded is kept), or why it cannot be."""
        assert self._source is not None and self._showing is not None
        record, field_cells = self._showing
        source, name = self._source[1], Path(record.image_path).name
        if isinstance(source, str):
            self.field_view.show_message(source)
            self.field_title.setText(f"Source image: {name} (not available)")
        else:
            self.field_view.show_field(source, field_cells, record.id)
            count = f", {len(field_cells)} cells" if len(field_cells) > 1 else ""
            self.field_title.setText(f"Source image: {name} ({source.width()}×{source.height()}{count})")


def _decoded_source(path: str) -> QImage | str:
    """The source image, or why it cannot be shown."""
    try:
        return _qimage(load_image(path).rgb)
    except ImageLoadError as error:
        return f"The source image cannot be shown:\n{error.reason}"


def _details(record: CellRecord) -> str:
    x, y, width, height = record.box
    lines = [
        f"<b>{record.probability:.1%}</b> blast probability — AI call: "
        f"<b style='color:{CALL_COLOURS[record.call].name()}'>{record.call}</b>",
        f"{Path(record.image_path).name}, cell {record.index + 1}, box {width}×{height} at ({x}, {y})"
        + (" — cut by the image edge" if record.touches_border else ""),
    ]
    if record.decision and record.decided_at is not None:  # (a decision always has its time)
        lines.append(f"Reviewed: <b>{record.decision}</b> by {record.reviewer}, {local_time(record.decided_at)}")
    else:
        lines.append("Not reviewed yet: B blast, N normal, A artefact (not a white cell), U unsure.")
    return "<br>".join(lines)


def _context(box: tuple[int, int, int, int], width: int, height: int) -> QRectF | None:
    """The part of a `width` x `height` image around a cell box to show, or None for all of it."""
    x, y, w, h = box
    side = CONTEXT * max(w, h)
    if side >= 0.6 * max(width, height):
        return None
    left = min(max(0.0, x + w / 2 - side / 2), max(0.0, width - side))
    top = min(max(0.0, y + h / 2 - side / 2), max(0.0, height - side))
    return QRectF(left, top, min(side, width), min(side, height))


def _cosmetic_pen(colour: QColor, width: int, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A pen of the same width on screen at any zoom."""
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)
    return pen


def _is_outline(item: QGraphicsItem) -> TypeGuard[QGraphicsRectItem]:
    """True for a cell's outline (a rectangle that carries its cell's id)."""
    return item.data(CELL_ID) is not None


def local_time(iso: str) -> str:
    """A stored UTC time stamp as local date and time to the minute."""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
