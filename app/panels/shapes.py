"""Shapes view: the LSTM unrolled as a diagram with every tensor's shape, and a parameter table.

It follows the model panel live and says what the last change changed (and what it did not:
batch_first never changes h_0/c_0/h_n/c_n).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
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

from .. import theme
from ..sessions import call_sizes

BOX_W, BOX_H, GAP_X, GAP_Y = 230.0, 104.0, 70.0, 26.0
MAX_LAYERS_DRAWN = 6
CHANGED = QColor("#e65100")
FILL = {"tensor": QColor("#e3f2fd"), "state": QColor("#f3e5f5"), "cell": QColor("#e8f5e9")}
EDGE = QColor("#455a64")


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _dims_html(shape) -> str:
    """'(seq_len=10, batch=3, ...)' with sizes in bold."""
    parts = []
    for d in shape.dims:
        formula = f" = {d.formula}" if d.formula and d.formula != str(d.size) else ""
        parts.append(f"{html.escape(d.name)}<b>={d.size}</b>{html.escape(formula)}")
    return "(" + ", ".join(parts) + ")"


class Diagram(QGraphicsView):
    """The unrolled network: input -> every layer and direction -> output, h_n, c_n."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setBackgroundBrush(QBrush(theme.background()))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.texts: dict[str, str] = {}

    def _box(self, key: str, x: float, y: float, title: str, body: str, kind: str,
             changed: bool, w: float = BOX_W, h: float = BOX_H) -> QRectF:
        text = QGraphicsTextItem()
        text.setDefaultTextColor(QColor("#212121"))
        text.setHtml(f"<div style='font-size:10pt'><b>{html.escape(title)}</b><br>{body}</div>")
        text.setTextWidth(w - 10)
        # the box grows to its text, so a long note never spills into the box below
        rect = QRectF(x, y, w, max(h, text.boundingRect().height() + 6))
        pen = QPen(CHANGED if changed else EDGE, 3 if changed else 1.3)
        path = QPainterPath()
        path.addRoundedRect(rect, 8, 8)
        self.scene().addPath(path, pen, QBrush(FILL[kind]))
        text.setPos(x + 5, y + 3)
        self.scene().addItem(text)
        self.texts[key] = text.toPlainText()
        return rect

    def _arrow(self, a: QPointF, b: QPointF, label: str = "") -> None:
        pen = QPen(theme.edge(), 1.4)
        self.scene().addLine(a.x(), a.y(), b.x(), b.y(), pen)
        direction = b - a
        length = max((direction.x() ** 2 + direction.y() ** 2) ** 0.5, 1e-6)
        ux, uy = direction.x() / length, direction.y() / length
        head = QPolygonF([b, QPointF(b.x() - 9 * ux + 4 * uy, b.y() - 9 * uy - 4 * ux),
                          QPointF(b.x() - 9 * ux - 4 * uy, b.y() - 9 * uy + 4 * ux)])
        self.scene().addPolygon(head, pen, QBrush(theme.edge()))
        if label:
            t = self.scene().addText(label, QFont("", 8))
            t.setDefaultTextColor(theme.muted())
            t.setPos((a.x() + b.x()) / 2 - t.boundingRect().width() / 2,
                     (a.y() + b.y()) / 2 - 18)

    def draw(self, cfg, batch: int, seq_len: int, changed: set[str], lengths=None) -> None:
        self.scene().clear()
        self.texts = {}
        ts = tensor_shapes(cfg, batch, seq_len)
        L, D = cfg.num_layers, cfg.num_directions
        drawn = min(L, MAX_LAYERS_DRAWN)
        col = BOX_W + GAP_X
        rows_h = D * BOX_H + (D - 1) * GAP_Y
        top = 0.0
        mid = top + rows_h / 2
        packed = ""
        if lengths and len(set(lengths)) > 1:
            packed = (f"<br><i>packed: lengths {', '.join(str(n) for n in lengths)}</i>")
        inp = self._box("input", 0, mid - BOX_H / 2, "input", _dims_html(ts["input"]) + packed,
                        "tensor", "input" in changed)
        state_y = top + rows_h + GAP_Y
        sh = 66.0  # state boxes: three short lines
        h0 = self._box("h_0", 0, state_y, "h_0 (zeros)", _dims_html(ts["h_0"]), "state",
                       "h_0" in changed, h=sh)
        self._box("c_0", 0, h0.bottom() + 8, "c_0 (zeros)", _dims_html(ts["c_0"]), "state",
                  "c_0" in changed, h=sh)
        prev_rects = [inp]
        layer_in = f"({seq_len}, {batch}, {cfg.input_size})"
        for k in range(drawn):
            layer = k if k < drawn - 1 or drawn == L else L - 1
            x = col * (k + 1)
            rects = []
            for d in range(D):
                y = top + d * (BOX_H + GAP_Y)
                name = "forward" if d == 0 else "reverse"
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = cfg.layer_input_size(layer)
                body = ("reads t = T−1 … 0<br>" if d else "reads t = 0 … T−1<br>") + (
                        f"gates i,f,g,o: 4×H = 4×{cfg.hidden_size}<br>"
                        f"weight_ih{sfx}: ({4 * cfg.hidden_size}, {in_size})<br>"
                        f"c_t: {cfg.hidden_size}, h_t: {cfg.h_out}"
                        + (f" (W_hr: {cfg.hidden_size}→{cfg.proj_size})" if cfg.proj_size
                           else ""))
                key = f"layer{layer}_{'rev' if d else 'fwd'}"
                rects.append(self._box(key, x, y, f"layer {layer} · {name}", body, "cell",
                                       key in changed))
            label = layer_in if k == 0 else f"({seq_len}, {batch}, {D}×{cfg.h_out})"
            for r in rects:
                src = prev_rects[0] if len(prev_rects) == 1 else prev_rects[rects.index(r)]
                self._arrow(QPointF(src.right(), src.center().y()),
                            QPointF(r.left(), r.center().y()),
                            label if r is rects[0] else "")
            if k == drawn - 2 and drawn < L:
                t = self.scene().addText(f"… {L - drawn} more layer(s) …", QFont("", 9))
                t.setDefaultTextColor(theme.foreground())
                t.setPos(x + BOX_W + 4, top + rows_h + 4)
            prev_rects = rects
        x_out = col * (drawn + 1)
        out_label = "batch_first: (batch, seq_len, …)" if cfg.batch_first else ""
        out = self._box("output", x_out, mid - BOX_H / 2, "output",
                        _dims_html(ts["output"]) + "<br><i>last layer's h_t, every t</i>",
                        "tensor", "output" in changed)
        for r in prev_rects:
            self._arrow(QPointF(r.right(), r.center().y()),
                        QPointF(out.left(), out.center().y()), out_label if r is
                        prev_rects[0] else "")
        where = "each sequence's last valid t" + ("; reverse: t = 0" if D == 2 else "")
        hn = self._box("h_n", x_out, state_y, "h_n", _dims_html(ts["h_n"])
                       + f"<br><i>{where}</i>", "state", "h_n" in changed, h=sh + 14)
        self._box("c_n", x_out, hn.bottom() + 8, "c_n", _dims_html(ts["c_n"]), "state",
                  "c_n" in changed, h=sh)
        last = prev_rects[-1]
        self._arrow(QPointF(last.center().x(), last.bottom()),
                    QPointF(hn.left(), hn.center().y()), "final step of each layer/direction")
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

    def resizeEvent(self, event):  # noqa: N802 - Qt override
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
        split.setSizes([390, 270])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._previous = None
        self.changed: set[str] = set()
        self.refresh()
        self.ctx.config_changed.connect(self.refresh)

    def _current(self):
        batch, seq_len = call_sizes(self.session)
        return self.session.config, batch, seq_len

    def refresh(self) -> None:
        cfg, batch, seq_len = self._current()
        ts = tensor_shapes(cfg, batch, seq_len)
        summary = self._what_changed(cfg, ts, {"batch": batch, "seq_len": seq_len})
        self.changed = summary[0]
        self.diagram.draw(cfg, batch, seq_len, self.changed, self.session.input_spec.lengths)
        facts = "".join(f"<li>{html.escape(f)}</li>" for f in shape_facts(cfg))
        self.changes.setText(summary[1] + f"<ul style='margin:2px'>{facts}</ul>")
        self._fill_tensors(ts)
        self._fill_params(cfg)
        self._previous = (cfg, ts, {"batch": batch, "seq_len": seq_len})

    def _what_changed(self, cfg, ts, sizes: dict) -> tuple[set[str], str]:
        if self._previous is None:
            return set(), ""
        old_cfg, old_ts, old_sizes = self._previous
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
            changed |= {f"layer{k}_{d}" for k in range(cfg.num_layers) for d in ("fwd", "rev")}
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
        return [[table.item(r, c).text() if table.item(r, c) else ""
                 for c in range(table.columnCount())] for r in range(table.rowCount())]
