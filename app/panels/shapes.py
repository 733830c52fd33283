"""Shapes view: the LSTM unrolled as a diagram with every tensor's shape, and a parameter table.

The diagram's nodes and edges come from ``lstm_viz.shapes.diagram`` and where they go from
``lstm_viz.shapes_layout.layout_diagram``; this file only paints them. The view follows the
model panel live and says what the last config change changed (and what it did not:
batch_first never changes h_0/c_0/h_n/c_n); a newly loaded model is not compared with the one
before it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsTextItem,
    QGraphicsView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lstm_viz import parameter_count, parameter_shapes, shape_facts, tensor_shapes
from lstm_viz.shapes import ShapeDiagram, TensorShape, diagram, layer_node_id, model_shapes
from lstm_viz.shapes_layout import Box, Label, Text, Wire, layout_diagram
from lstm_viz.text.textinput import spec_vocab

from .. import theme
from ..sessions import call_sizes

CHANGED = QColor("#e65100")
CURRENT = QColor("#0072B2")  # the layer and direction shown in the other views
FILL = {"tensor": QColor("#e3f2fd"), "state": QColor("#f3e5f5"), "layer": QColor("#e8f5e9")}
STATE_EDGE = QColor("#8e6c9e")
BOX_INK = QColor("#212121")
FONT_PT = {"box": 9, "label": 8, "note": 9}
# the style flags of a span of text (lstm_viz.shapes_layout.Span) as HTML around it
STYLE_COLOURS = {"states": lambda: "#6a1b9a", "around": lambda: "#37474f",
                 "current": lambda: CURRENT.name(), "warning": lambda: theme.warning().name()}


def _fmt_shape(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _span_html(text: str, style: str) -> str:
    out = html.escape(text)
    flags = style.split()
    if "b" in flags:
        out = f"<b>{out}</b>"
    if "i" in flags:
        out = f"<i>{out}</i>"
    for flag in flags:
        if flag in STYLE_COLOURS:
            out = f"<span style='color:{STYLE_COLOURS[flag]()}'>{out}</span>"
    return out


def _text_html(text: Text) -> str:
    lines = "<br>".join("".join(_span_html(t, s) for t, s in line) for line in text.lines)
    return f"<div style='font-size:{FONT_PT[text.role]}pt'>{lines}</div>"


def _text_item(text: Text, width: float) -> QGraphicsTextItem:
    item = QGraphicsTextItem()
    item.setDefaultTextColor(BOX_INK if text.role == "box" else theme.foreground())
    item.setHtml(_text_html(text))
    item.setTextWidth(width)
    return item


def _measure(text: Text, width: float) -> float:
    """The height Qt sets ``text`` at, wrapped at ``width``."""
    return _text_item(text, width).boundingRect().height()


class Diagram(QGraphicsView):
    """Paints ``lstm_viz.shapes_layout.layout_diagram``: boxes, wires, junctions and labels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setBackgroundBrush(QBrush(theme.background()))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.texts: dict[str, str] = {}
        self.boxes: dict[str, QRectF] = {}
        self.labels: list[QGraphicsTextItem] = []
        self.drawn_edges: list[tuple[str, str]] = []
        self.data: ShapeDiagram | None = None
        self.current = ""  # the box of the layer and direction the views show

    def _box(self, box: Box) -> None:
        r = box.rect
        rect = QRectF(r.x, r.y, r.width, r.height)
        pen = QPen(CURRENT if box.current else CHANGED if box.changed else theme.edge(),
                   3.5 if box.current else 3 if box.changed else 1.3)
        path = QPainterPath()
        path.addRoundedRect(rect, 8, 8)
        item = self.scene().addPath(path, pen, QBrush(FILL[box.node.kind]))
        item.setToolTip(box.node.explanation)
        text = _text_item(box.text, box.text_width)
        text.setPos(r.x + 5, r.y + 3)
        text.setToolTip(f"{box.node.shape.describe()}\n{box.node.explanation}")
        self.scene().addItem(text)
        self.texts[box.id] = text.toPlainText()
        self.boxes[box.id] = rect
        if box.current:
            self.current = box.id

    def _wire(self, wire: Wire) -> None:
        colour = theme.edge() if wire.role == "data" else STATE_EDGE
        pen = QPen(colour, wire.width)
        points = [QPointF(x, y) for x, y in wire.points]
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        item = self.scene().addPath(path, pen)
        if wire.tip:
            item.setToolTip(wire.tip)
        if wire.arrow:
            a, b = points[-2], points[-1]
            d = b - a
            n = max((d.x() ** 2 + d.y() ** 2) ** 0.5, 1e-6)
            ux, uy = d.x() / n, d.y() / n
            head = QPolygonF([b, QPointF(b.x() - 9 * ux + 4 * uy, b.y() - 9 * uy - 4 * ux),
                              QPointF(b.x() - 9 * ux - 4 * uy, b.y() - 9 * uy + 4 * ux)])
            self.scene().addPolygon(head, pen, QBrush(colour))

    def _label(self, label: Label) -> None:
        item = _text_item(label.text, label.width)
        item.setToolTip(label.tip)
        item.setPos(label.x, label.y)
        item.setZValue(5)
        if label.text.role == "label":
            # a ground of the background's colour keeps the label readable where an edge
            # passes under it
            fill = QColor(theme.background())
            fill.setAlpha(225)
            ground = self.scene().addRect(item.sceneBoundingRect(), QPen(Qt.PenStyle.NoPen),
                                          QBrush(fill))
            ground.setZValue(4)
        self.scene().addItem(item)
        self.labels.append(item)

    def draw(self, data: ShapeDiagram, changed: set[str], lengths: Sequence[int] | None = None,
             around: Mapping[str, TensorShape] | None = None, current: str = "") -> None:
        """Paint ``data`` (a ``ShapeDiagram``) as ``layout_diagram`` lays it out."""
        self.scene().clear()
        self.texts, self.boxes, self.labels, self.current = {}, {}, [], ""
        self.data = data
        layout = layout_diagram(data, changed=changed, current=current, around=around,
                                lengths=lengths, measure=_measure)
        self.drawn_edges = list(layout.data_edges)  # the data path as drawn
        for box in layout.boxes.values():
            self._box(box)
        for wire in layout.wires:
            self._wire(wire)
        for x, y in layout.dots:
            self.scene().addEllipse(x - 4, y - 4, 8, 8, QPen(theme.edge()),
                                    QBrush(theme.edge()))
        for label in layout.labels:
            self._label(label)
        self.setSceneRect(self.scene().itemsBoundingRect().adjusted(-10, -10, 10, 10))
        self._fit()

    def _fit(self) -> None:
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.resetTransform()
        scale = min(self.viewport().width() / rect.width(),
                    self.viewport().height() / rect.height(), 1.4)
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()


class ShapesView(QWidget):
    """Diagram + what the last change did + tensor and parameter tables."""

    title = "Shapes"
    area = "view"

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.setObjectName("ShapesView")
        self.ctx = ctx
        self.session = ctx.session
        self.diagram = Diagram()
        self.changes = QLabel()
        self.changes.setObjectName("shape_changes")
        self.changes.setWordWrap(True)
        self.changes.setTextFormat(Qt.TextFormat.RichText)
        self.changes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.changes.setMargin(4)
        self.tensors = QTableWidget(0, 3)
        self.tensors.setObjectName("tensor_table")
        self.tensors.setHorizontalHeaderLabels(["tensor", "shape (dimension = size)", "note"])
        self.params = QTableWidget(0, 3)
        self.params.setObjectName("parameter_table")
        self.params.setHorizontalHeaderLabels(["parameter", "shape", "count"])
        for table in (self.tensors, self.params):
            table.verticalHeader().hide()
            table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
            table.setAlternatingRowColors(True)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.
                                                          ResizeToContents)
            table.horizontalHeader().setStretchLastSection(True)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.changes)
        lay.addWidget(self.tensors, 1)
        bottom.addWidget(left)
        bottom.addWidget(self.params)
        bottom.setSizes([560, 440])
        header = self.params.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.diagram)
        split.addWidget(bottom)
        split.setSizes([430, 270])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._previous = None
        self.changed: set[str] = set()
        self.around: dict = {}
        self.refresh()
        self.ctx.config_changed.connect(self.refresh)
        self.ctx.selection_changed.connect(self._draw_diagram)

    def _current(self):
        batch, seq_len = call_sizes(self.session)
        return self.session.config, batch, seq_len

    def _around(self, cfg, batch, seq_len) -> dict:
        """``model_shapes`` of the call with the session's embedding, packing and head."""
        session, spec = self.session, self.session.input_spec
        vocab_size = None
        if spec.source == "tokens" and spec.params.get("model_path"):  # read through embedding
            try:
                vocab_size = len(spec_vocab(spec))
            except (OSError, ValueError):
                vocab_size = None
        head = getattr(session, "head", None)
        lengths = spec.lengths if batch is not None and spec.lengths \
            and len(spec.lengths) == batch and max(spec.lengths) <= seq_len else None
        try:
            return model_shapes(cfg, batch, seq_len, vocab_size=vocab_size or None,
                                head_out=head.out_features if head is not None else None,
                                lengths=lengths)
        except ValueError:
            return tensor_shapes(cfg, batch, seq_len)

    def refresh(self) -> None:
        cfg, batch, seq_len = self._current()
        ts = tensor_shapes(cfg, batch, seq_len)
        summary = self._what_changed(cfg, ts, {"batch": batch, "seq_len": seq_len})
        self.changed = summary[0]
        self.around = self._around(cfg, batch, seq_len)
        self._draw_diagram()
        facts = "".join(f"<li>{html.escape(f)}</li>" for f in shape_facts(cfg))
        self.changes.setText(summary[1] + f"<ul style='margin:2px'>{facts}</ul>")
        self._fill_tensors(self.around)
        self._fill_params(cfg)
        self._previous = (cfg, ts, {"batch": batch, "seq_len": seq_len},
                          self.session.model_source)

    def _draw_diagram(self) -> None:
        """The diagram of the call, with the layer and direction the views show marked."""
        cfg, batch, seq_len = self._current()
        ctx = self.ctx
        current = layer_node_id(ctx.layer, ctx.direction) \
            if ctx.layer < cfg.num_layers and ctx.direction < cfg.num_directions else ""
        self.diagram.draw(diagram(cfg, batch, seq_len), self.changed,
                          self.session.input_spec.lengths, self.around, current)

    def _what_changed(self, cfg, ts, sizes: dict) -> tuple[set[str], str]:
        if self._previous is None:
            return set(), ""
        old_cfg, old_ts, old_sizes, old_source = self._previous
        if old_source != self.session.model_source:  # another model, not a change of this one
            return set(), ""
        old = {**old_cfg.to_dict(), **old_sizes}
        new = {**cfg.to_dict(), **sizes}
        diffs = [n for n, v in old.items() if new[n] != v]
        changed = {n for n in ts if tuple(ts[n]) != tuple(old_ts.get(n, ()))}
        if not diffs and not changed:
            return set(), ""
        what = ", ".join(f"{n}: {old[n]} → {new[n]}" for n in diffs)
        moved = ", ".join(f"{n} {_fmt_shape(old_ts[n])} → {_fmt_shape(ts[n])}"
                          for n in ts if n in changed)
        same = [n for n in ts if n not in changed]
        text = f"<b>Last change</b> {html.escape(what)}: "
        text += (f"changed {html.escape(moved)}" if moved else "no tensor shape changed")
        if same:
            text += f"; <b>unchanged</b>: {', '.join(same)}"
        if "batch_first" in diffs:
            text += (". batch_first only reorders input and output; the states h_0, c_0, h_n,"
                     " c_n keep (D*num_layers, batch, …).")
        if "num_layers" in diffs or "bidirectional" in diffs or "proj_size" in diffs:
            changed |= {f"layer{k}.{d}" for k in range(cfg.num_layers)
                        for d in ("forward", "reverse")}
        return changed, text

    def _fill_tensors(self, ts) -> None:
        self.tensors.setRowCount(len(ts))
        for row, (name, shape) in enumerate(ts.items()):
            for col, text in enumerate((name, shape.describe(), shape.note)):
                item = QTableWidgetItem(text)
                if col == 0 and name in self.changed:
                    item.setForeground(QBrush(CHANGED))
                self.tensors.setItem(row, col, item)

    def _fill_params(self, cfg) -> None:
        ps = parameter_shapes(cfg)
        self.params.setRowCount(len(ps) + 1)
        for row, (name, shape) in enumerate(ps.items()):
            n = 1
            for s in shape:
                n *= s
            cells = (name, shape.describe(), f"{n:,}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(shape.note)
                if col == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.params.setItem(row, col, item)
        total = QTableWidgetItem(f"{parameter_count(cfg):,}")
        total.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bold = total.font()
        bold.setBold(True)
        total.setFont(bold)
        label = QTableWidgetItem("total")
        label.setFont(bold)
        self.params.setItem(len(ps), 0, label)
        self.params.setItem(len(ps), 1, QTableWidgetItem(""))
        self.params.setItem(len(ps), 2, total)

    def table_rows(self, table: QTableWidget) -> list[list[str]]:
        """The cells of ``table`` as text (for tests and CSV export)."""
        return [[item.text() if (item := table.item(r, c)) else ""
                 for c in range(table.columnCount())] for r in range(table.rowCount())]
