"""Shapes view: the LSTM unrolled as a diagram with every tensor's shape, and a parameter table.

The diagram's nodes and edges come from ``lstm_viz.shapes.diagram``; this file only lays them
out. The view follows the model panel live and says what the last config change changed (and
what it did not: batch_first never changes h_0/c_0/h_n/c_n); a newly loaded model is not
compared with the one before it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF
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
from lstm_viz.shapes import diagram, layer_node_id, model_shapes
from lstm_viz.textinput import spec_vocab

from .. import theme
from ..sessions import call_sizes

BOX_W, GAP_X, GAP_Y, BUS = 158.0, 126.0, 40.0, 30.0
LABEL_W = GAP_X - 24.0  # clear of the state lanes 6 px beside each column
MAX_LAYERS_DRAWN = 6
CHANGED = QColor("#e65100")
CURRENT = QColor("#0072B2")  # the layer and direction shown in the other views
FILL = {"tensor": QColor("#e3f2fd"), "state": QColor("#f3e5f5"), "layer": QColor("#e8f5e9")}
STATE_EDGE = QColor("#8e6c9e")


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _dims_html(shape) -> str:
    """'(seq_len=10, batch=3, ...)' with sizes in bold."""
    parts = []
    for d in shape.dims:
        formula = f" = {d.formula}" if d.formula and d.formula != str(d.size) else ""
        parts.append(f"{html.escape(d.name)}<b>={d.size}</b>{html.escape(formula)}")
    return "(" + ", ".join(parts) + ")"


def _drawn_layers(num_layers: int) -> list[int]:
    """The layers drawn: all, or the first few and the last one of a deep stack."""
    if num_layers <= MAX_LAYERS_DRAWN:
        return list(range(num_layers))
    return [*range(MAX_LAYERS_DRAWN - 1), num_layers - 1]


class Diagram(QGraphicsView):
    """Lays out ``lstm_viz.shapes.diagram``: input, h_0 and c_0 on the left and above, every
    layer and direction in columns, output, h_n and c_n on the right and below."""

    def __init__(self, parent=None):
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
        self.data = None
        self.current = ""  # the box of the layer and direction the views show

    # ----- pieces -----------------------------------------------------------------------
    def _box(self, key: str, x: float, y: float, node, body: str, changed: bool,
             w: float = BOX_W, centred: bool = False, current: bool = False) -> QRectF:
        """A box at (x, y) (its centre at y when ``centred``) that grows to its text;
        ``current``: the layer and direction the other views show, outlined and marked."""
        text = QGraphicsTextItem()
        text.setDefaultTextColor(QColor("#212121"))
        mark = f"<br><span style='color:{CURRENT.name()}'>◀ shown in the views</span>" \
            if current else ""
        text.setHtml(f"<div style='font-size:9pt'><b>{html.escape(node.title)}</b>{mark}<br>"
                     f"{body}</div>")
        text.setTextWidth(w - 10)
        height = text.boundingRect().height() + 6
        y = y - height / 2 if centred else y
        rect = QRectF(x, y, w, height)
        pen = QPen(CURRENT if current else CHANGED if changed else theme.edge(),
                   3.5 if current else 3 if changed else 1.3)
        path = QPainterPath()
        path.addRoundedRect(rect, 8, 8)
        item = self.scene().addPath(path, pen, QBrush(FILL[node.kind]))
        item.setToolTip(node.explanation)
        text.setPos(x + 5, y + 3)
        text.setToolTip(f"{node.shape.describe()}\n{node.explanation}")
        self.scene().addItem(text)
        self.texts[key] = text.toPlainText()
        self.boxes[key] = rect
        if current:
            self.current = key
        return rect

    def _line(self, points: list[QPointF], colour: QColor, tip: str = "",
              arrow: bool = True, width: float = 1.4) -> None:
        pen = QPen(colour, width)
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        item = self.scene().addPath(path, pen)
        if tip:
            item.setToolTip(tip)
        if arrow:
            a, b = points[-2], points[-1]
            d = b - a
            n = max((d.x() ** 2 + d.y() ** 2) ** 0.5, 1e-6)
            ux, uy = d.x() / n, d.y() / n
            head = QPolygonF([b, QPointF(b.x() - 9 * ux + 4 * uy, b.y() - 9 * uy - 4 * ux),
                              QPointF(b.x() - 9 * ux - 4 * uy, b.y() - 9 * uy + 4 * ux)])
            self.scene().addPolygon(head, pen, QBrush(colour))

    def _place_labels(self, x: float, wanted: list[tuple[float, str, str]]) -> None:
        """Labels in the free lane at ``x``: each as near its wanted y as the ones above allow.
        ``wanted``: (y, html, tooltip)."""
        bottom = -1e9
        for y, text, tip in sorted(wanted, key=lambda w: w[0]):
            item = QGraphicsTextItem()
            item.setDefaultTextColor(theme.foreground())
            item.setHtml(f"<div style='font-size:8pt'>{text}</div>")
            item.setTextWidth(LABEL_W)
            item.setToolTip(tip)
            top = max(y - item.boundingRect().height() / 2, bottom + 2)
            item.setPos(x, top)
            item.setZValue(5)
            # a ground of the background's colour keeps the label readable where an edge
            # passes under it
            fill = QColor(theme.background())
            fill.setAlpha(225)
            ground = self.scene().addRect(item.sceneBoundingRect(), QPen(Qt.PenStyle.NoPen),
                                          QBrush(fill))
            ground.setZValue(4)
            self.scene().addItem(item)
            self.labels.append(item)
            bottom = top + item.boundingRect().height()

    # ----- the layout -------------------------------------------------------------------
    def draw(self, data, changed: set[str], lengths=None, around=None,
             current: str = "") -> None:
        """Lay out ``data`` (a ``ShapeDiagram``); boxes whose tensor changed are outlined, the
        box ``current`` (a layer node id) is marked as the one the views show. ``around``:
        ``model_shapes`` of the call, whose embedding, packing and head are written into the
        input and output boxes."""
        self.scene().clear()
        self.texts, self.boxes, self.labels, self.current = {}, {}, [], ""
        around = around or {}
        self.drawn_edges = []  # the data path as drawn
        self.data = data
        cfg, nodes = data.config, data.nodes
        L, D = cfg.num_layers, cfg.num_directions
        layers = _drawn_layers(L)
        col = BOX_W + GAP_X
        dir_names = ("forward", "reverse")[:D]

        def short_label(edge) -> str:
            return edge.label.split(":")[0]

        # top row: h_0, c_0; their bus
        h0 = self._box("h_0", 0, 0, nodes["h_0"], _dims_html(nodes["h_0"].shape),
                       "h_0" in changed)
        c0 = self._box("c_0", col, 0, nodes["c_0"], _dims_html(nodes["c_0"].shape),
                       "c_0" in changed)
        bus_top = max(h0.bottom(), c0.bottom()) + BUS / 2
        y0 = bus_top + BUS
        # the layer columns
        rows_bottom = y0
        for j, k in enumerate(layers):
            x = col * (j + 1)
            y = y0
            for d, name in enumerate(dir_names):
                nid = f"layer{k}.{name}"
                node = nodes[nid]
                states_in = ", ".join(short_label(e) for e in data.edges_into(nid)
                                      if e.source in ("h_0", "c_0"))
                states_out = ", ".join(short_label(e) for e in data.edges_from(nid)
                                       if e.target in ("h_n", "c_n"))
                reads = "reads t = T−1 … 0" if d else "reads t = 0 … T−1"
                proj = (f"<br>W_hr: {cfg.hidden_size} → {cfg.proj_size} (h has"
                        f" {cfg.proj_size} features)" if cfg.proj_size else "")
                body = (f"{reads}<br>h_t: {_dims_html(node.shape)}{proj}<br>"
                        f"<span style='color:#6a1b9a'>{html.escape(states_in)} → "
                        f"{html.escape(states_out)}</span>")
                rect = self._box(nid, x, y, node, body, nid in changed,
                                 current=nid == current)
                y = rect.bottom() + GAP_Y
                rows_bottom = max(rows_bottom, rect.bottom())
        mid = (y0 + rows_bottom) / 2
        x_out = col * (len(layers) + 1)
        before, packed, after = "", "", ""
        if "embedding.weight" in around:
            before = (f"<span style='color:#37474f'>← Embedding"
                      f"{_fmt_shape(around['embedding.weight'])} of tokens"
                      f" {_dims_html(around['tokens'])}</span><br>")
        if lengths and len(set(lengths)) > 1:
            packed = f"<br><i>packed: lengths {', '.join(str(n) for n in lengths)}</i>"
        if "packed input.data" in around:  # its data's size says the lengths
            packed = (f"<br><i>PackedSequence: data {_dims_html(around['packed input.data'])},"
                       f" batch_sizes {_dims_html(around['packed input.batch_sizes'])}</i>")
            after = f"<br><i>packed: data {_dims_html(around['packed output.data'])}</i>"
        if "head.weight" in around:
            after += (f"<br><span style='color:#37474f'>→ head Linear"
                      f"{_fmt_shape(around['head.weight'][::-1])}:"
                      f" {_dims_html(around['head output'])}</span>")
        self._box("input", 0, mid, nodes["input"],
                  before + _dims_html(nodes["input"].shape) + packed, "input" in changed,
                  centred=True)
        out = self._box("output", x_out, mid, nodes["output"],
                        _dims_html(nodes["output"].shape) + after, "output" in changed,
                        centred=True)
        bus_bottom = rows_bottom + BUS
        hn = self._box("h_n", x_out - col, bus_bottom + BUS / 2, nodes["h_n"],
                       _dims_html(nodes["h_n"].shape), "h_n" in changed)
        cn = self._box("c_n", x_out, bus_bottom + BUS / 2, nodes["c_n"],
                       _dims_html(nodes["c_n"].shape), "c_n" in changed)
        labels: dict[int, list] = {}  # gap index -> wanted labels

        def want(gap: int, y: float, edge) -> None:
            if not any(w[1] == html.escape(edge.label) for w in labels.get(gap, [])):
                labels.setdefault(gap, []).append(
                    (y, html.escape(edge.label), edge.shape.describe()))

        # initial states: down into the bus, then into every layer and direction
        for box in (h0, c0):
            self._line([QPointF(box.center().x(), box.bottom()),
                        QPointF(box.center().x(), bus_top)], STATE_EDGE, arrow=False)
        # final states: up from the bus
        for box in (hn, cn):
            self._line([QPointF(box.center().x(), bus_bottom),
                        QPointF(box.center().x(), box.top())], STATE_EDGE)
        xs_top, xs_bottom = [h0.center().x()], [cn.center().x()]
        for k in layers:
            for d, name in enumerate(dir_names):
                nid = f"layer{k}.{name}"
                r = self.boxes[nid]
                tip_in = "; ".join(f"{e.label} {e.shape.describe()}"
                                   for e in data.edges_into(nid)
                                   if e.source in ("h_0", "c_0"))
                tip_out = "; ".join(f"{e.label} {e.shape.describe()}"
                                    for e in data.edges_from(nid)
                                    if e.target in ("h_n", "c_n"))
                if d == 0:
                    xa = r.left() + 22
                    self._line([QPointF(xa, bus_top), QPointF(xa, r.top())], STATE_EDGE,
                               tip_in)
                    xb = r.right() - 22
                    if D == 1:
                        self._line([QPointF(xb, r.bottom()), QPointF(xb, bus_bottom)],
                                   STATE_EDGE, tip_out, arrow=False)
                        xs_bottom.append(xb)
                    else:  # around the reverse box, through the lane beside the column
                        yb = r.bottom() + GAP_Y / 3
                        xl = r.right() + 6
                        self._line([QPointF(xb, r.bottom()), QPointF(xb, yb), QPointF(xl, yb),
                                    QPointF(xl, bus_bottom)], STATE_EDGE, tip_out,
                                   arrow=False)
                        xs_bottom.append(xl)
                    xs_top.append(xa)
                else:
                    xl, ya = r.left() - 6, r.top() - GAP_Y / 3
                    xa = r.left() + 22
                    self._line([QPointF(xl, bus_top), QPointF(xl, ya), QPointF(xa, ya),
                                QPointF(xa, r.top())], STATE_EDGE, tip_in)
                    xs_top.append(xl)
                    xb = r.right() - 22
                    self._line([QPointF(xb, r.bottom()), QPointF(xb, bus_bottom)],
                               STATE_EDGE, tip_out, arrow=False)
                    xs_bottom.append(xb)
        self._line([QPointF(min(xs_top), bus_top), QPointF(max(xs_top), bus_top)],
                   STATE_EDGE, arrow=False, width=2.2)
        self._line([QPointF(min(xs_bottom), bus_bottom), QPointF(max(xs_bottom), bus_bottom)],
                   STATE_EDGE, arrow=False, width=2.2)
        # the data path: input -> layer 0 -> ... -> output, each step one junction
        # the data path: input -> layer 0 -> ... -> output, as the diagram's edges say; where
        # every box of a layer reads the same sources (nn.LSTM's concatenation), one junction
        previous = ["input"]
        for j, k in enumerate(layers):
            target_ids = [f"layer{k}.{n}" for n in dir_names]
            incoming = {tid: [e for e in data.edges_into(tid) if e.source not in ("h_0", "c_0")]
                        for tid in target_ids}
            skipped = j > 0 and layers[j - 1] != k - 1
            source_ids = previous if skipped else list(dict.fromkeys(
                e.source for tid in target_ids for e in incoming[tid]))
            jx, jy = col * j + BOX_W + GAP_X * 0.25, mid
            shared = skipped or all({e.source for e in incoming[tid]} == set(source_ids)
                                    for tid in target_ids)
            self.drawn_edges += [(sid, tid) for tid in target_ids for sid in source_ids] \
                if shared else [(e.source, tid) for tid in target_ids for e in incoming[tid]]
            if shared:
                for sid in source_ids:
                    s = self.boxes[sid]
                    self._line([QPointF(s.right(), s.center().y()), QPointF(jx, jy)], theme.edge(),
                               arrow=False)
                for tid in target_ids:
                    t = self.boxes[tid]
                    self._line([QPointF(jx, jy), QPointF(t.left(), t.center().y())], theme.edge(),
                               "; ".join(e.label for e in incoming[tid]) if not skipped
                               else "")
                if len(source_ids) > 1:
                    self.scene().addEllipse(jx - 4, jy - 4, 8, 8, QPen(theme.edge()),
                                            QBrush(theme.edge()))
            else:
                for tid in target_ids:
                    t = self.boxes[tid]
                    for e in incoming[tid]:
                        s = self.boxes[e.source]
                        self._line([QPointF(s.right(), s.center().y()),
                                    QPointF(t.left(), t.center().y())], theme.edge(), e.label)
            if skipped:
                labels.setdefault(j, []).append(
                    (jy, f"… {L - len(layers)} more layer(s) not drawn …", ""))
            else:
                for tid in target_ids:
                    for e in incoming[tid]:
                        want(j, jy, e)
            previous = target_ids
        gap = len(layers)
        for edge in data.edges_into("output"):
            s = self.boxes[edge.source]
            self.drawn_edges.append((edge.source, "output"))
            self._line([QPointF(s.right(), s.center().y()), QPointF(out.left(),
                        out.center().y() + (s.center().y() - mid) * 0.15)], theme.edge(),
                       edge.label)
            want(gap, s.center().y(), edge)
        for g, wanted in labels.items():
            self._place_labels(col * g + BOX_W + 12, wanted)
        bottom = max(hn.bottom(), cn.bottom())
        if data.layout_note:
            note = QGraphicsTextItem()
            colour = theme.warning().name()
            note.setHtml(f"<div style='font-size:9pt; color:{colour}'><b>caller vs kernel"
                         f" layout:</b> {html.escape(data.layout_note)}</div>")
            note.setTextWidth(max(x_out - col - 20, BOX_W))
            note.setPos(0, bottom + 10)
            self.scene().addItem(note)
            self.labels.append(note)
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
