"""A view as a figure: its plots, diagrams, tables and text drawn with a QPainter onto any
device (SVG, PDF, an image), with a caption, and without what only makes sense on screen.

A figure is not a screenshot: the graphics scenes are rendered themselves (no scroll bars, no
tooltips), tables are drawn with every cell's whole text (no elided cells), text areas with
their whole document, and buttons, spin boxes and hover hints are left out. Everything keeps
its place in the view; a table or text that needs more room than it had on screen pushes what
is below it down.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PySide6 import QtGui
from PySide6.QtCore import QModelIndex, QPoint, QRect, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QScrollBar,
    QTableView,
    QTextEdit,
    QWidget,
)

MAX_TABLE_ROWS = 60
CAPTION_GAP = 6.0
_SKIPPED = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QScrollBar)


@dataclass
class _Part:
    """One piece of the figure: where it sat in the view, and how tall it wants to be."""

    rect: QRectF  # in the view's coordinates, as on screen
    height: float  # the height it draws at (>= rect's when it needs more room)
    widget: QWidget

    def draw(self, painter: QPainter, rect: QRectF) -> None:
        raise NotImplementedError

    def has_content(self) -> bool:
        return True


class _Scene(_Part):
    """A QGraphicsView's scene (pyqtgraph plots, the shapes diagram): what the view shows (of
    a view partly scrolled out of sight, the part on screen: ``visible``, in its coordinates)."""

    visible: QRect | None = None

    def draw(self, painter: QPainter, rect: QRectF) -> None:
        view = self.widget
        assert isinstance(view, QGraphicsView)
        shown = view.viewport().rect() if self.visible is None else self.visible
        source = view.mapToScene(shown).boundingRect()
        view.scene().render(painter, rect, source, Qt.AspectRatioMode.IgnoreAspectRatio)

    def has_content(self) -> bool:
        view = self.widget
        assert isinstance(view, QGraphicsView)
        return bool(view.scene() is not None and view.scene().items())


class _Document(_Part):
    """A text document drawn whole; scaled down only if it is wider than its place."""

    def __init__(self, rect: QRectF, widget: QWidget, doc: QTextDocument):
        self.doc = doc
        self.scale = min(1.0, rect.width() / max(1.0, doc.idealWidth()))
        super().__init__(rect, max(rect.height() if isinstance(widget, (QTextEdit,
                                                                         QPlainTextEdit))
                                   else 0.0, doc.size().height() * self.scale), widget)

    def draw(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.translate(rect.topLeft())
        painter.scale(self.scale, self.scale)
        self.doc.drawContents(painter)
        painter.restore()

    def has_content(self) -> bool:
        return not self.doc.isEmpty() and isinstance(self.widget, (QTextEdit, QPlainTextEdit))


class _Table(_Part):
    """A table with every cell's whole text; at most MAX_TABLE_ROWS rows from the first one on
    screen, then a line saying how many more there are."""

    def __init__(self, rect: QRectF, widget: QAbstractItemView):
        self.font = QFont(widget.font())
        self.bold = QFont(self.font)
        self.bold.setBold(True)
        model = widget.model()
        table = isinstance(widget, QTableView)
        columns = [c for c in range(model.columnCount(QModelIndex()))
                   if not widget.isColumnHidden(c)] if isinstance(widget, QTableView) else [0]
        first = max(0, widget.rowAt(0)) if hasattr(widget, "rowAt") else 0
        rows = list(range(first, min(model.rowCount(QModelIndex()), first + MAX_TABLE_ROWS)))
        self.more = model.rowCount(QModelIndex()) - len(rows)
        self.header = [str(model.headerData(c, Qt.Orientation.Horizontal) or "") if table
                       else "" for c in columns]
        self.cells = [[_text(model.index(r, c).data()) for c in columns] for r in rows]
        fm, fb = QFontMetricsF(self.font), QFontMetricsF(self.bold)
        self.row_h = fm.height() + 6
        self.widths = [max([fb.horizontalAdvance(h)] + [fm.horizontalAdvance(row[k])
                                                         for row in self.cells]) + 14
                       for k, h in enumerate(self.header)]
        natural = sum(self.widths)
        self.wrap = -1  # the column whose text wraps, when the table is too wide
        if natural > rect.width() and self.widths:
            k = max(range(len(self.widths)), key=lambda c: self.widths[c])
            room = rect.width() - (natural - self.widths[k])
            if room >= max(80.0, fb.horizontalAdvance(self.header[k]) + 14 if self.header
                           else 80.0):
                self.widths[k], self.wrap, natural = room, k, rect.width()
        # a narrow table is spread over its place, a wide one is scaled down to fit it
        self.scale = min(1.0, rect.width() / max(1.0, natural))
        if natural < rect.width():
            extra = (rect.width() - natural) / max(1, len(self.widths))
            self.widths = [w + extra for w in self.widths]
        if not table:  # a list: its items only
            self.header = []
        rows_all = [self.header, *self.cells] if self.header else self.cells
        self.heights = [self._row_height(row, fm) for row in rows_all]
        extra_line = self.row_h if self.more else 0.0
        super().__init__(rect, (sum(self.heights) + extra_line) * self.scale, widget)

    def _row_height(self, row: list[str], fm: QFontMetricsF) -> float:
        if self.wrap < 0 or self.wrap >= len(row):
            return self.row_h
        box = fm.boundingRect(QRectF(0, 0, self.widths[self.wrap] - 10, 1e6),
                              int(Qt.TextFlag.TextWordWrap), row[self.wrap])
        return max(self.row_h, box.height() + 6)

    def draw(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.translate(rect.topLeft())
        painter.scale(self.scale, self.scale)
        grid = QPen(QColor("#cfd8dc"), 0.8)
        width = sum(self.widths)
        y = 0.0
        rows = [self.header, *self.cells] if self.header else self.cells
        for k, (row, height) in enumerate(zip(rows, self.heights)):
            header = k == 0 and bool(self.header)
            painter.setFont(self.bold if header else self.font)
            if header:
                painter.fillRect(QRectF(0, 0, width, height), QColor("#eceff1"))
            x = 0.0
            for c, (w, text) in enumerate(zip(self.widths, row)):
                painter.setPen(QColor("#212121"))
                flags = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
                if c == self.wrap:
                    flags |= Qt.TextFlag.TextWordWrap
                painter.drawText(QRectF(x + 7, y, w - 10, height), flags, text)
                x += w
            y += height
            painter.setPen(grid)
            painter.drawLine(0, int(y), int(width), int(y))
        if self.more:
            painter.setFont(self.font)
            painter.setPen(QColor("#616161"))
            painter.drawText(QRectF(7, y, width, self.row_h), Qt.AlignmentFlag.AlignVCenter,
                             f"… {self.more} more rows (all of them in the CSV export)")
        painter.restore()

    def has_content(self) -> bool:
        return bool(self.cells)


def _text(value) -> str:
    return "" if value is None else str(value)


def _is_hint(label: QLabel, view: QWidget) -> bool:
    """A line that only makes sense on screen: the hover reading, 'click ...' hints."""
    if label is getattr(view, "hover", None) or label.objectName().endswith("hover"):
        return True
    text = label.text().lower()
    return "hover" in text or text.startswith("click")


def _beside_controls(label: QLabel, view: QWidget) -> bool:
    """Whether ``label`` names a control in its row ("focus unit" [spin box]): the control is
    left out of a figure, so its name is too (the view's caption stays)."""
    parent = label.parentWidget()
    if label is getattr(view, "caption", None) or parent is None \
            or label.property("figure_title"):  # a track's title beside its buttons
        return False
    layout = parent.layout()

    def row_of(lay):
        if lay is None:
            return None
        for k in range(lay.count()):
            item = lay.itemAt(k)
            if item.widget() is label:
                return lay
            found = row_of(item.layout())
            if found is not None:
                return found
        return None

    row = row_of(layout)
    if row is None:
        return False
    return any(isinstance(row.itemAt(k).widget(), _SKIPPED) for k in range(row.count()))


def _label_document(label: QLabel, width: float) -> QTextDocument:
    doc = QTextDocument()
    doc.setDocumentMargin(1)
    doc.setDefaultFont(label.font())
    text = label.text()
    rich = label.textFormat() == Qt.TextFormat.RichText or (
        label.textFormat() == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(text))
    if rich:
        doc.setHtml(text)
    else:
        doc.setPlainText(text)
    doc.setTextWidth(width if label.wordWrap() else -1)
    return doc


def _parts(view: QWidget) -> list[_Part]:
    parts: list[_Part] = []

    def rect_of(w: QWidget) -> QRectF:
        return QRectF(w.mapTo(view, QPoint(0, 0)), QSizeF(w.size()))

    def walk(widget: QWidget, clip: QRectF | None = None) -> None:
        direct = Qt.FindChildOption.FindDirectChildrenOnly
        for child in widget.findChildren(QWidget, options=direct):
            if not child.isVisibleTo(view) or isinstance(child, _SKIPPED):
                continue
            whole = rect_of(child)
            # inside a scroll area (the timeline's tracks): only what is scrolled into view
            rect = whole if clip is None else whole.intersected(clip)
            if rect.width() < 2 or rect.height() < 2:
                continue
            if isinstance(child, QScrollArea):
                walk(child, rect_of(child.viewport()) if clip is None
                     else rect_of(child.viewport()).intersected(clip))
            elif isinstance(child, QGraphicsView):
                part = _Scene(rect, rect.height(), child)
                if rect != whole:
                    part.visible = rect.translated(-whole.topLeft()).toAlignedRect()
                parts.append(part)
            elif isinstance(child, QAbstractItemView) and child.model() is not None:
                parts.append(_Table(rect, child))
            elif isinstance(child, (QPlainTextEdit, QTextEdit)):
                doc = child.document().clone()
                doc.setDefaultFont(child.font())
                wraps = not isinstance(child, QPlainTextEdit) and \
                    child.lineWrapMode() != QTextEdit.LineWrapMode.NoWrap
                doc.setTextWidth(rect.width() if wraps else -1)
                parts.append(_Document(rect, child, doc))
            elif isinstance(child, QLabel):
                if child.text() and not _is_hint(child, view) and \
                        not _beside_controls(child, view):
                    parts.append(_Document(rect, child, _label_document(child, rect.width())))
            else:
                walk(child, clip)

    walk(view)
    return parts


def _layout(parts: list[_Part]) -> list[QRectF]:
    """Where each part draws: its place in the view, moved down by the extra height of every
    part above it that it sits under."""
    out = []
    for p in parts:
        shift = 0.0
        for q in parts:
            grows = q.height - q.rect.height()
            below = q.rect.bottom() <= p.rect.top() + 0.5
            overlaps = q.rect.left() < p.rect.right() and p.rect.left() < q.rect.right()
            if q is not p and grows > 0 and below and overlaps:
                shift += grows
        out.append(QRectF(p.rect.left(), p.rect.top() + shift, p.rect.width(),
                          max(p.height, p.rect.height() if isinstance(p, _Scene) else p.height)))
    return out


class Figure:
    """A view laid out for print: its parts and a caption below them."""

    def __init__(self, view: QWidget, caption: str = ""):
        self.view = view
        self.parts = _parts(view)
        self.rects = _layout(self.parts)
        width = float(max(view.width(), 200))
        self.caption = caption_document(caption, view.font(), width)
        bottom = max([r.bottom() for r in self.rects] + [0.0])
        self.caption_top = bottom + CAPTION_GAP
        cap_h = self.caption.size().height() if caption else 0.0
        self.size = QSizeF(width, self.caption_top + cap_h)

    def has_content(self) -> bool:
        """Whether any plot, diagram, table or text area has something in it."""
        return any(p.has_content() for p in self.parts if not isinstance(p, _Document)
                   or isinstance(p.widget, (QTextEdit, QPlainTextEdit)))

    def paint(self, painter: QPainter) -> None:
        """Draw the figure at (0, 0), ``size`` large, on a white background."""
        painter.fillRect(QRectF(0, 0, self.size.width(), self.size.height()), QColor("white"))
        painter.setRenderHints(QPainter.RenderHint.Antialiasing
                               | QPainter.RenderHint.TextAntialiasing)
        scenes = [p.widget.scene() for p in self.parts if isinstance(p.widget, QGraphicsView)]
        with scaled_with_the_figure(scenes):
            for part, rect in zip(self.parts, self.rects):
                painter.save()
                painter.setClipRect(rect.adjusted(-1, -1, 1, 1))
                part.draw(painter, rect)
                painter.restore()
        draw_caption(painter, self.caption, self.caption_top, self.size.width())


def caption_document(text: str, font: QFont, width: float) -> QTextDocument:
    """A figure's caption: ``text`` a little smaller than ``font``, wrapped at ``width``."""
    doc = QTextDocument()
    doc.setDocumentMargin(4)
    small = QFont(font)
    small.setPointSizeF(max(8.0, small.pointSizeF() * 0.95))
    doc.setDefaultFont(small)
    doc.setPlainText(text)
    doc.setTextWidth(width)
    return doc


def draw_caption(painter: QPainter, caption: QTextDocument, top: float, width: float) -> None:
    """``caption`` under a thin rule at ``top``, ``width`` wide (nothing when it is empty)."""
    if caption.isEmpty():
        return
    painter.save()
    painter.setPen(QPen(QColor("#9e9e9e"), 0.8))
    painter.drawLine(0, int(top), int(width), int(top))
    painter.translate(0, top)
    caption.drawContents(painter)
    painter.restore()


@contextmanager
def scaled_with_the_figure(scenes: Iterable[QGraphicsScene | None]) -> Iterator[None]:
    """While painting: the items that keep their size on screen whatever the zoom
    (pyqtgraph's legends) scale with the figure like everything else, so a PNG at 2x has
    legends twice as large, not half the size of the text beside them."""
    flag = QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
    changed: list[QGraphicsItem] = []
    try:
        for scene in scenes:
            for item in scene.items() if scene is not None else ():
                if item.flags() & flag:
                    item.setFlag(flag, False)
                    changed.append(item)
        yield
    finally:
        for item in changed:
            item.setFlag(flag, True)
