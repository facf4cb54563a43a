"""The drawn PDF page in the document viewer, with the passage and the quote boxed on it.

:class:`PageView` only displays: a :class:`~assistant.knowledge.pages.PageImage` (drawn by the
core in a worker thread) becomes a pixmap in a scene, and its boxes, given in page points,
become translucent rectangles over it, a light one for the cited passage and a stronger one for
the verbatim quote. Ctrl+wheel asks the viewer to zoom; drawing at the new scale is the viewer's
job, so the page stays sharp at every zoom.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from assistant.knowledge.pages import Box, PageImage

#: The cited passage: a light wash over its lines.
PASSAGE_BOX = QColor(255, 214, 10, 60)
#: The verbatim quote inside it: a stronger yellow, outlined.
QUOTE_BOX = QColor(255, 196, 0, 120)
QUOTE_EDGE = QColor(230, 140, 0, 220)
#: Room around the page in the scene, in pixels.
_MARGIN = 12.0


class PageView(QGraphicsView):
    """Shows one drawn page and the boxes on it.

    Signals:
        zoom_requested(int): +1 to zoom in, -1 to zoom out (Ctrl+wheel).
    """

    zoom_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Page image")
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(self.palette().dark())
        self._pixmap: QGraphicsPixmapItem | None = None
        self._passage: list[QGraphicsRectItem] = []
        self._quote: list[QGraphicsRectItem] = []
        self.image: PageImage | None = None

    def show_image(self, image: PageImage, *, device_pixel_ratio: float = 1.0) -> None:
        """Display ``image`` (its pixels are at ``device_pixel_ratio`` device pixels a pixel)."""
        previous = self.image
        keep = previous is not None and (previous.page, previous.passage, previous.quote) == (
            image.page,
            image.passage,
            image.quote,
        )
        if keep and previous is not None:
            # The same page again (zoom, resize): keep the spot the reader was looking at.
            ratio = image.scale / previous.scale
            anchor = self.mapToScene(self.viewport().rect().center())
        scene = self.scene()
        scene.clear()
        self._passage, self._quote = [], []
        picture = QImage(
            image.pixels,
            image.width_px,
            image.height_px,
            image.stride,
            QImage.Format.Format_RGBA8888,
        ).copy()  # own the pixels: the bytes object may go once this returns
        pixmap = QPixmap.fromImage(picture)
        pixmap.setDevicePixelRatio(device_pixel_ratio)
        self._pixmap = scene.addPixmap(pixmap)
        self._pixmap.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        per_point = image.scale / device_pixel_ratio
        for box in image.passage:
            self._passage.append(self._add_box(box, per_point, PASSAGE_BOX, None))
        for box in image.quote:
            self._quote.append(self._add_box(box, per_point, QUOTE_BOX, QUOTE_EDGE))
        width = image.width_px / device_pixel_ratio
        height = image.height_px / device_pixel_ratio
        scene.setSceneRect(QRectF(-_MARGIN, -_MARGIN, width + 2 * _MARGIN, height + 2 * _MARGIN))
        self.image = image
        if keep:
            self.centerOn(anchor * ratio)
            return
        marks = self._quote or self._passage
        if not marks:
            self.ensureVisible(QRectF(0, 0, 1, 1))
            return
        around = marks[0].rect()
        for item in marks[1:]:
            around = around.united(item.rect())
        view = self.viewport().size()
        fits = around.width() + 80 <= view.width() and around.height() + 160 <= view.height()
        self.ensureVisible(around if fits else marks[0].rect(), 40, 80)

    def _add_box(
        self, box: Box, per_point: float, fill: QColor, edge: QColor | None
    ) -> QGraphicsRectItem:
        rect = QRectF(
            box.left * per_point, box.top * per_point, box.width * per_point, box.height * per_point
        )
        item = self.scene().addRect(
            rect, QPen(edge, 1.0) if edge is not None else QPen(Qt.PenStyle.NoPen), QBrush(fill)
        )
        item.setZValue(1.0)
        return item

    def clear(self) -> None:
        """Show nothing."""
        self.scene().clear()
        self._pixmap = None
        self._passage, self._quote = [], []
        self.image = None

    @property
    def has_page(self) -> bool:
        return self._pixmap is not None

    def passage_rects(self) -> list[QRectF]:
        """The passage's boxes as drawn, in scene pixels."""
        return [item.rect() for item in self._passage]

    def quote_rects(self) -> list[QRectF]:
        """The quote's boxes as drawn, in scene pixels."""
        return [item.rect() for item in self._quote]

    def pixmap(self) -> QPixmap | None:
        """The page as drawn (None before the first page)."""
        return self._pixmap.pixmap() if self._pixmap is not None else None

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt's name
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.zoom_requested.emit(1 if delta > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)
