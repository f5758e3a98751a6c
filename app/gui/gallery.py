"""The cell gallery: a list model over the store's cell records, lazy thumbnails, tile painting.

`CellListModel` holds the records of one case, group and sort (no pixels); thumbnails are
decoded from the stored cell canvases only when a tile is painted, on pool threads (the tile
shows black until its thumbnail arrives, so scrolling never waits for decoding), and kept in
a small LRU cache.  Tiles have one fixed size, so the icon-mode view lays out 10,000 cells at
once.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator

from PIL import Image
from PySide6.QtCore import (
    Q_ARG,
    QAbstractListModel,
    QMetaObject,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Slot,
)
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.core.store import CaseStore, CellRecord

CALL_COLOURS = {"flagged": QColor("#d32f2f"), "uncertain": QColor("#f9a825"), "normal": QColor("#43a047")}
"""Tile border and field outline by the model's call."""
DECISION_COLOURS = {
    "blast": QColor("#b71c1c"),
    "normal": QColor("#2e7d32"),
    "artefact": QColor("#616161"),
    "unsure": QColor("#6d4c9f"),
}
DECISION_LETTERS = {"blast": "B", "normal": "N", "artefact": "A", "unsure": "?"}
"""Badge of a reviewer decision (every `Decision`): the letter of its key ('?' for unsure)."""

RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
"""The row's `CellRecord`."""

THUMBNAIL = 100
TILE = QSize(THUMBNAIL + 16, THUMBNAIL + 16)
BLACK_LEVEL = 12
"""Canvas pixels at most this bright are the black background (cropped off thumbnails)."""
THUMBNAIL_REPAINT_MS = 50
"""While thumbnails are arriving, tiles are repainted at most this often (all at once)."""


class ThumbnailCache(QObject):
    """Square thumbnails of cell canvases, read and decoded on pool threads the first time they
    are asked for, newest request first, once the paint that asked is done; least recently used
    go first.  `on_ready(cell_id)` is called on the GUI thread when one arrives.

    No Qt signal is emitted per thumbnail: PySide6 6.12 loses a reference to True on every
    `emit` (bench/RESULTS.md), so results come back through `QMetaObject.invokeMethod`.
    """

    def __init__(
        self, store: CaseStore, on_ready: Callable[[int], None], capacity: int = 1500, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.store, self.capacity, self._on_ready = store, capacity, on_ready
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._decoding: dict[int, _DecodeThumbnail] = {}
        self._asked: list[_DecodeThumbnail] = []
        self._requests = itertools.count()
        self._pool = QThreadPool(self)
        self._start_timer = QTimer(self, singleShot=True, interval=0)
        self._start_timer.timeout.connect(self._start_asked)

    def __len__(self) -> int:
        return len(self._pixmaps)

    @property
    def pending(self) -> int:
        """Thumbnails asked for and not decoded yet."""
        return len(self._decoding)

    def get(self, cell_id: int) -> QPixmap:
        """The cell's thumbnail; a null pixmap while it is being decoded (asked for now, if it was
        not) and for a damaged canvas."""
        pixmap = self._pixmaps.get(cell_id)
        if pixmap is not None:
            self._pixmaps.move_to_end(cell_id)
            return pixmap
        if cell_id not in self._decoding:
            job = _DecodeThumbnail(self, cell_id)
            self._decoding[cell_id] = job
            self._asked.append(job)
            if not self._start_timer.isActive():
                self._start_timer.start()
        return QPixmap()

    def clear(self) -> None:
        """Forget every thumbnail; decoding that has not started is dropped."""
        for job in self._asked:
            del self._decoding[job.cell_id]
        self._asked.clear()
        for cell_id, job in list(self._decoding.items()):
            if self._pool.tryTake(job):
                del self._decoding[cell_id]
        self._pixmaps.clear()

    def _start_asked(self) -> None:
        """Start the decoding asked for by the paint just done (started during it, the pool
        threads would slow it down: the GIL)."""
        for job in self._asked:
            self._pool.start(job, next(self._requests))  # a higher priority runs first: the newest tiles
        self._asked.clear()

    @Slot(int, QImage)
    def arrived(self, cell_id: int, image: QImage) -> None:
        """A decoded thumbnail (a null image for a damaged canvas), from a pool thread."""
        if self._decoding.pop(cell_id, None) is None:
            return
        self._pixmaps[cell_id] = QPixmap.fromImage(image)
        if len(self._pixmaps) > self.capacity:
            self._pixmaps.popitem(last=False)
        self._on_ready(cell_id)


class _DecodeThumbnail(QRunnable):
    """Reads one cell canvas from the store and decodes its thumbnail on a pool thread, then hands
    it to the cache, which keeps this job until then (so Python owns it)."""

    def __init__(self, cache: ThumbnailCache, cell_id: int) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.cache, self.cell_id = cache, cell_id

    def run(self) -> None:
        try:
            image = cell_thumbnail(self.cache.store.cell_crop(self.cell_id), THUMBNAIL)
        except Exception:  # noqa: BLE001 - a damaged canvas or a cell gone paints as an empty tile
            image = QImage()
        with contextlib.suppress(RuntimeError):  # the gallery was closed meanwhile
            QMetaObject.invokeMethod(
                self.cache,
                "arrived",
                Qt.ConnectionType.QueuedConnection,
                Q_ARG(int, self.cell_id),
                Q_ARG(QImage, image),
            )


def cell_thumbnail(png: bytes, size: int) -> QImage:
    """The cell of a canvas PNG, cut to its `content_square`, at `size` x `size` px."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    square = content_square(image)
    if square is not None:
        image = image.crop(square)
    image = image.resize((size, size), Image.Resampling.BILINEAR)
    return QImage(image.tobytes(), size, size, 3 * size, QImage.Format.Format_RGB888).copy()


def content_square(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The square (left, top, right, bottom) around the non-black part of a cell canvas, with a
    margin; None for an all-black canvas."""
    box = image.convert("L").point(lambda value: 255 if value > BLACK_LEVEL else 0).getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    half = int(max(right - left, bottom - top) * 0.55)
    centre_x, centre_y = (left + right) // 2, (top + bottom) // 2
    return centre_x - half, centre_y - half, centre_x + half, centre_y + half


class CellListModel(QAbstractListModel):
    """The cells of one case in one group and sort, as the store lists them."""

    def __init__(self, store: CaseStore, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.thumbnails = ThumbnailCache(store, self._thumbnail_arrived, parent=self)
        self._arrived: set[int] = set()
        self._repaint_timer = QTimer(self, singleShot=True, interval=THUMBNAIL_REPAINT_MS)
        self._repaint_timer.timeout.connect(self._repaint_arrived)
        self.case_id: int | None = None
        self.group, self.cell_sort = "all", "probability"  # (`sort` is a virtual of the model)
        self._records: list[CellRecord] = []
        self._rows: dict[int, int] = {}

    def load(self, case_id: int | None, group: str | None = None, sort: str | None = None) -> None:
        """Show another case, group or sort (a reset)."""
        self.beginResetModel()
        if case_id != self.case_id:
            self.thumbnails.clear()
        self.case_id = case_id
        self.group = group or self.group
        self.cell_sort = sort or self.cell_sort
        self._set_records(self._query())
        self.endResetModel()

    def refresh(self) -> None:
        """Catch up with the store without a reset: cells that left are removed, new ones inserted.

        The store's sorts are by values a cell never changes, so the cells that stay keep their
        order and removals then insertions are enough; selection and scrolling survive.
        """
        fresh = self._query()
        keep = {record.id for record in fresh}
        for first, last in reversed(list(_runs([row for row, r in enumerate(self._records) if r.id not in keep]))):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._records[first : last + 1]
            self.endRemoveRows()
        old = {record.id for record in self._records}
        for first, last in _runs([row for row, record in enumerate(fresh) if record.id not in old]):
            self.beginInsertRows(QModelIndex(), first, last)
            self._records[first:first] = fresh[first : last + 1]
            self.endInsertRows()
        self._set_records(fresh)
        if self._records:
            self.dataChanged.emit(self.index(0), self.index(len(self._records) - 1))

    def update_cell(self, cell_id: int) -> None:
        """Re-read one cell (after a decision); it stays in place even if it left the group."""
        row = self._rows.get(cell_id)
        if row is None:
            return
        self._records[row] = self.store.get_cell(cell_id)
        self.dataChanged.emit(self.index(row), self.index(row))

    def row_of(self, cell_id: int) -> int | None:
        return self._rows.get(cell_id)

    def record(self, row: int) -> CellRecord:
        return self._records[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self._records[index.row()]
        if role == RECORD_ROLE:
            return record
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{record.probability:.0%}"
        if role == Qt.ItemDataRole.DecorationRole:  # never None: PySide6 6.12 then loses a reference to None
            return self.thumbnails.get(record.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            return describe_cell(record)
        return None

    def _thumbnail_arrived(self, cell_id: int) -> None:
        self._arrived.add(cell_id)
        if not self.thumbnails.pending:
            self._repaint_arrived()
        elif not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _repaint_arrived(self) -> None:
        """One `dataChanged` over the rows whose thumbnails arrived since the last one."""
        self._repaint_timer.stop()
        rows = [self._rows[cell_id] for cell_id in self._arrived if cell_id in self._rows]
        self._arrived.clear()
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), [Qt.ItemDataRole.DecorationRole])

    def _query(self) -> list[CellRecord]:
        return [] if self.case_id is None else self.store.list_cells(self.case_id, self.group, self.cell_sort)

    def _set_records(self, records: list[CellRecord]) -> None:
        self._records = records
        self._rows = {record.id: row for row, record in enumerate(records)}


def describe_cell(record: CellRecord) -> str:
    """One line about a cell for people: where it is, the model's call, the decision."""
    name = record.image_path.rsplit("/", 1)[-1]
    text = f"{name}, cell {record.index + 1}: blast probability {record.probability:.1%}, {record.call}"
    if record.decision:
        text += f"; reviewed: {record.decision} by {record.reviewer}"
    return text


class CellDelegate(QStyledItemDelegate):
    """Paints a tile: thumbnail framed in the call's colour, probability, decision badge."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return TILE

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        record: CellRecord = index.data(RECORD_ROLE)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        tile = option.rect.adjusted(2, 2, -2, -2)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        image = QRect(0, 0, THUMBNAIL, THUMBNAIL)
        image.moveCenter(tile.center())
        pixmap: QPixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if not pixmap.isNull():
            painter.drawPixmap(image, pixmap)
        else:
            painter.fillRect(image, Qt.GlobalColor.black)
        painter.setPen(QPen(CALL_COLOURS[record.call], 4))
        painter.drawRect(image.adjusted(-2, -2, 1, 1))
        self._probability(painter, image, record)
        if record.decision:
            self._badge(painter, image, record.decision)
        painter.restore()

    @staticmethod
    def _probability(painter: QPainter, image: QRect, record: CellRecord) -> None:
        strip = QRect(image.left(), image.bottom() - 17, image.width(), 18)
        painter.fillRect(strip, QColor(0, 0, 0, 170))
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(12)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(
            strip.adjusted(4, 0, -4, 0),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            f"{record.probability:.0%}",
        )
        font.setPixelSize(10)
        painter.setFont(font)
        painter.setPen(CALL_COLOURS[record.call].lighter(130))
        painter.drawText(
            strip.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, record.call
        )

    @staticmethod
    def _badge(painter: QPainter, image: QRect, decision: str) -> None:
        badge = QRect(image.right() - 25, image.top() + 3, 22, 22)
        painter.setPen(QPen(QColor("white"), 2))
        painter.setBrush(DECISION_COLOURS[decision])
        painter.drawEllipse(badge)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(13)
        painter.setFont(font)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, DECISION_LETTERS[decision])


class GalleryView(QListView):
    """An icon-mode list of uniform tiles, laid out in batches (fast for 10,000 cells)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setGridSize(TILE)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setItemDelegate(CellDelegate(self))
        self.setMouseTracking(True)


def _runs(rows: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs (first, last) of ascending row numbers."""
    start: int | None = None
    previous = 0  # read only once `start` is set
    for row in rows:
        if start is None:
            start = previous = row
        elif row == previous + 1:
            previous = row
        else:
            yield start, previous
            start = previous = row
    if start is not None:
        yield start, previous
