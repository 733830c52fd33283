# mypy: disable-error-code="union-attr,index"
# (optional parts of the predictions and the trace are read only where they exist)
"""State view: c and h over time, chosen units as lines, and the current step as bar charts of
i, f, g, o, c and h with the focus unit's update written out:
c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t). After what-if edits, the run before the first
edit is drawn next to the edited one."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.demos import demo_for_model

from .. import theme
from ..ablation_menu import attach_ablation_menu
from ..display import DisplayControls
from ..overview import LEFT_AXIS_WIDTH, Overview, overview_band
from ..plots import (
    CURSOR_PEN,
    DIVERGING,
    Bars,
    Heatmap,
    PlotNote,
    hover_reading,
    nan_safe_limit,
)
from ..sessions import ended_text, sequence_end
from ..strips import TimeStrips
from ..whatif import WhatIfBox
from .base import TraceView

LINE_COLOURS = ["#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457"]
H_FEATURE_COLOURS = ["#d32f2f", "#f9a825", "#5d4037", "#c2185b", "#0097a7", "#7cb342"]
BAR_SPECS = [  # name, title, fixed levels (None: symmetric around 0, from the trace), colour
    ("i", "i (input gate)", (0.0, 1.0), "#1e88e5"),
    ("f", "f (forget gate)", (0.0, 1.0), "#43a047"),
    ("g", "g (candidate)", (-1.0, 1.0), "#8e24aa"),
    ("o", "o (output gate)", (0.0, 1.0), "#795548"),  # not orange: orange means error
    ("c", "c_t (cell state)", None, "#546e7a"),
    ("h", "h_t (hidden state)", None, "#00897b"),
]
BEFORE_PEN = pg.mkPen("#8a8a8a", width=1, style=Qt.PenStyle.DashLine)
WHATIF_COLOUR = "#a15c00"


def parse_units(text: str, limit: int) -> list[int]:
    """'0, 3-5' -> [0, 3, 4, 5], dropping units >= limit; raises ValueError on bad text."""
    units: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1)
            units.extend(range(int(a), int(b) + 1))
        else:
            units.append(int(part))
    return [u for u in dict.fromkeys(units) if 0 <= u < limit]


def _f(v: float) -> str:
    return "—" if not np.isfinite(v) else f"{v:+.3f}"


class StatesView(TraceView):
    """Heatmaps of c and h, line plots of chosen units, and the current step as bars."""

    title = "States"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        # controls
        self.unit_box = QSpinBox()
        self.unit_box.setObjectName("focus_unit")
        self.unit_box.setToolTip("The unit whose update is written out and highlighted")
        self.unit_box.valueChanged.connect(lambda u: ctx.select(unit=u))
        self.units_edit = QLineEdit("0-2")
        self.units_edit.setObjectName("plotted_units")
        self.units_edit.setToolTip("Units to plot over time, e.g. 0, 3-5")
        self.units_edit.setMaximumWidth(160)
        self.units_edit.editingFinished.connect(self._refresh_lines)
        controls = QHBoxLayout()
        controls.addWidget(self.caption, 1)
        controls.addWidget(QLabel("focus unit"))
        controls.addWidget(self.unit_box)
        controls.addWidget(QLabel("plot units"))
        controls.addWidget(self.units_edit)
        # left: heatmaps and lines
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(4, 4, 4, 4)
        row = 4  # below the overview and the input / prediction / loss strips
        c_plot = self.graphics.addPlot(row=row, col=0)
        h_plot = self.graphics.addPlot(row=row + 1, col=0)
        h_plot.setXLink(c_plot)
        self.c_map = Heatmap(c_plot, "c", "c: cell state (colour symmetric around 0)")
        self.h_map = Heatmap(h_plot, "h", "h: hidden state = o * tanh(c)")
        self.c_bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                     width=14, label="c")
        self.h_bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                     width=14, label="h")
        self.graphics.addItem(self.c_bar, row=row, col=1)
        self.graphics.addItem(self.h_bar, row=row + 1, col=1)
        self.c_map.attach_bar(self.c_bar, "c")
        self.h_map.attach_bar(self.h_bar, "h")
        self.display = ctx.display
        self.display_controls = DisplayControls(ctx)
        self.overview = Overview(self.graphics.addPlot(row=0, col=0),
                                 self.display_controls.window_box.value(), self)
        self.overview.window_changed.connect(self._on_window_changed)
        self.display_controls.window_box.valueChanged.connect(self.overview.set_width)
        self.display.changed.connect(self.refresh)
        self.strips = TimeStrips(ctx, self.graphics, 1, c_plot)
        self.lines_plot = self.graphics.addPlot(row=row + 2, col=0)
        for plot in (c_plot, h_plot, self.lines_plot):
            plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        self.lines_plot.setXLink(c_plot)
        self.lines_plot.setTitle("chosen units over time: c (dashed) and h (solid)", size="10pt")
        self.lines_plot.setLabel("bottom", "t (input position)")
        self.lines_plot.setMenuEnabled(False)
        self.lines_plot.hideButtons()
        # the legend has its own row under the plot: it never covers a curve
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=3, brush=theme.legend_brush())
        self._legend_font = QFont()
        self._legend_font.setPointSizeF(8)
        self._legend_names: list[str] = []
        self.graphics.addItem(self.legend, row=row + 3, col=0)
        self.graphics.installEventFilter(self)  # a wider view: more legend columns, fewer rows
        self.lines_cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN, movable=True)
        self.lines_plot.addItem(self.lines_cursor)
        self.lines_note = PlotNote(self.lines_plot)
        self.lines: list[pg.PlotDataItem] = []  # the trace on screen: c and h per unit
        self.before_lines: list[pg.PlotDataItem] = []  # the run before the first edit
        self._line_key: tuple = ()
        for hm in (self.c_map, self.h_map):
            hm.cursor.sigDragged.connect(self._on_cursor_dragged)
        self.lines_cursor.sigDragged.connect(self._on_cursor_dragged)
        # right: bars and the equation
        self.bar_graphics = pg.GraphicsLayoutWidget()
        self.bar_graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.bars: dict[str, Bars] = {}
        for k, (name, title, levels, colour) in enumerate(BAR_SPECS):
            plot = self.bar_graphics.addPlot(row=k // 2, col=k % 2)
            self.bars[name] = Bars(plot, name, title, levels, colour)
        self.equation = QLabel()
        self.equation.setObjectName("equation")
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        self.equation.setWordWrap(True)
        self.equation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.equation.setStyleSheet(theme.equation_style())
        # a fixed height: text that changes every step must not re-layout the plots
        self.equation.setFixedHeight(self.equation.fontMetrics().lineSpacing() * 5 + 12)
        self.equation.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.whatif = WhatIfBox(ctx)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.bar_graphics, 1)
        rl.addWidget(self.equation)
        rl.addWidget(self.whatif)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.graphics)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        hover = QLabel("Hover a cell to read unit, t and value.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        controls.addWidget(self.display_controls)
        layout.addLayout(controls)
        layout.addWidget(self.strips.readout)
        layout.addWidget(split, 1)
        layout.addWidget(hover)
        self.follow_mouse(self.graphics, hover)
        attach_ablation_menu(self, self.graphics, {"c": self.c_map, "h": self.h_map})
        self._c_block = self._h_block = None
        self._model_source: object = None
        self.demo_units = ""  # the units a demo's docs talk about, in words
        ctx.config_changed.connect(self._on_config_changed)
        self._on_config_changed()
        self.listen()

    def _on_config_changed(self) -> None:
        """A demo's model just loaded: plot the units its docs talk about."""
        source = self.session.model_source
        if source == self._model_source:
            return
        self._model_source = source
        demo = demo_for_model(source)
        self.demo_units = "; ".join(str(u) for u in demo.units) if demo else ""
        if demo and demo.units:
            self.units_edit.setText(", ".join(str(u) for u in
                                              dict.fromkeys(u.unit for u in demo.units)))
            self._refresh_lines()

    # ----- whole-trace drawing (trace or selection changed) ------------------------------
    def show_trace(self, trace) -> None:
        ctx = self.ctx
        cfg = trace.config
        self._label_h(cfg)
        self.unit_box.blockSignals(True)
        self.unit_box.setRange(0, cfg.hidden_size - 1)
        self.unit_box.setValue(ctx.unit)
        self.unit_box.blockSignals(False)
        self._c_block = trace.c[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        self._h_block = trace.h[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        # colour levels fixed for the whole trace so a colour means the same at every step (a
        # windowed trace: over the whole input, from its overview, the same in every window)
        ov = self.session.overview
        c_all, h_all = (trace.c, trace.h) if ov is None else (ov.c[:2], ov.h[:2])
        c_lim = nan_safe_limit(c_all.detach().cpu().numpy())
        h_lim = 1.0 if not cfg.proj_size else nan_safe_limit(h_all.detach().cpu().numpy())
        self._show_maps(trace, (-c_lim, c_lim), (-h_lim, h_lim))
        self.bars["c"].set_range(-c_lim, c_lim)
        self.bars["h"].set_range(-h_lim, h_lim)
        mark = f" <span style='color: {WHATIF_COLOUR}'>· what-if</span>" \
            if trace.meta.get("edited") else ""
        for name, title, _, _ in BAR_SPECS[4:]:
            if name == "h" and cfg.proj_size:
                title = f"h_t ({cfg.proj_size} projected features)"
            self.bars[name].plot.setTitle(title + mark, size="9pt")
        demo = f" · demo units: {html.escape(self.demo_units)}" if self.demo_units else ""
        self.caption.setText(f"<b>States</b>: {ctx.selection_text()}{demo}")
        self._refresh_lines()
        self.show_step(self.session.t)

    def _show_maps(self, trace, c_levels, h_levels) -> None:
        """c and h into the heatmaps and the overview, in the shared order and colour scale."""
        ctx, display = self.ctx, self.display
        order = display.order(trace, ctx.layer, ctx.direction)
        c, h = np.ascontiguousarray(self._c_block.T), np.ascontiguousarray(self._h_block.T)
        total = self.session.num_steps
        # past the selected sequence's end nn.LSTM computes nothing: hatched, as in Gates
        end, why = sequence_end(trace.lengths, ctx.batch, total)
        bands = []
        for hm, data, levels in ((self.c_map, c, c_levels), (self.h_map, h, h_levels)):
            # a windowed trace holds steps [start, stop): the x axis stays the input position
            hm.set_data(data, levels=levels, offset=trace.start, total=total)
            hm.set_end(end, why, label=hm is self.c_map)
            hm.set_order(order, display.order_label())
            hm.set_scale(display.scale)
            whole = overview_band(self.session, hm.name, ctx.layer, ctx.direction, ctx.batch,
                                  hm.center)
            band = data if whole is None else whole
            shown = band[hm.order] if hm.order is not None else band
            bands.append((hm.name, shown, DIVERGING, levels))
        for bars in self.bars.values():
            bars.set_order(order)
        ov = self.session.overview
        self.overview.set_bands(bands, steps=total, bucket=1 if ov is None else ov.bucket_size,
                                traced=(trace.start, trace.stop) if trace.windowed else None)
        self.strips.show_trace(trace)
        self._on_window_changed(*self.overview.window)

    def _on_window_changed(self, t0: int, t1: int) -> None:
        step = self.overview.step_to_trace(self.session.t)
        if step is not None:  # the window left the traced steps: trace there
            self.session.seek(step)
        self.c_map.set_window(t0, t1)
        # the new ranges' transforms now, not while painting: one repaint instead of two
        self.graphics.scene().prepareForPaint()
        box = self.display_controls.window_box
        if box.value() != t1 - t0:
            box.blockSignals(True)
            box.setValue(t1 - t0)
            box.blockSignals(False)

    def _before_blocks(self) -> tuple[np.ndarray, np.ndarray] | None:
        """c (T, H) and h (T, H_out) of the run before the first edit, while edits show."""
        trace, original, ctx = self.session.trace, self.session.original, self.ctx
        if original is None or not trace.meta.get("edited") or not ctx.fits(original) \
                or original.start != trace.start:
            return None
        c = original.c[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        h = original.h[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        return (c, h) if c.shape == self._c_block.shape and h.shape == self._h_block.shape \
            else None

    def _refresh_lines(self) -> None:
        if self._c_block is None:
            return
        H_out = self._h_block.shape[1]
        try:
            units = parse_units(self.units_edit.text(), self._c_block.shape[1])[:12]
            self.units_edit.setStyleSheet("")
        except ValueError:
            self.units_edit.setStyleSheet("border: 1px solid #c62828;")
            units = []
        self.lines_note.set("" if units else
                            "No units chosen: type units under 'plot units', e.g. 0-2")
        self.lines_cursor.setVisible(bool(units))
        before = self._before_blocks()
        # (legend name, values, pen): the trace on screen, then the run before the first edit
        # with proj_size, h has H_out features of its own: h[k] is not unit k's, so the
        # legend names c units and h features apart and the colours do not pair them
        projected = self._h_block.shape[1] != self._c_block.shape[1]
        c_name, h_name = ("c unit {}", "h feature {}") if projected else ("c[{}]", "h[{}]")
        features = [u for u in units if u < H_out]
        curves = []
        for k, unit in enumerate(units):
            colour = LINE_COLOURS[k % len(LINE_COLOURS)]
            curves.append((c_name.format(unit), self._c_block[:, unit],
                           pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine)))
            if not projected:
                curves.append((h_name.format(unit), self._h_block[:, unit],
                               pg.mkPen(colour, width=2)))
        if projected:
            for k, feature in enumerate(features):
                colour = H_FEATURE_COLOURS[k % len(H_FEATURE_COLOURS)]
                curves.append((h_name.format(feature), self._h_block[:, feature],
                               pg.mkPen(colour, width=2)))
        n_now = len(curves)
        if before is not None:
            for unit in units:
                curves.append(("before edit", before[0][:, unit], BEFORE_PEN))
                if not projected:
                    curves.append(("before edit", before[1][:, unit], BEFORE_PEN))
            for feature in (features if projected else []):
                curves.append(("before edit", before[1][:, feature], BEFORE_PEN))
        t = self.session.trace.start + np.arange(self._c_block.shape[0])
        key = tuple(name for name, _, _ in curves)
        items = self.lines + self.before_lines
        if key == self._line_key:  # same curves, new numbers: update in place
            for item, (_, y, _) in zip(items, curves):
                item.setData(t, y, connect="finite")
        else:
            for item in items:
                self.lines_plot.removeItem(item)
            self.legend.clear()
            self._legend_names = [name for name, _, _ in curves[: n_now + 1]]
            self._fit_legend()
            items = []
            for k, (name, y, pen) in enumerate(curves):
                named = k <= n_now  # the run before the edit is named once
                item = self.lines_plot.plot(t, y, pen=pen, connect="finite",
                                            name=name if named else None)
                if named:
                    self.legend.addItem(item, name)
                if k >= n_now:
                    item.setZValue(-1)  # under the edited run's curves
                # the curves change only with the trace; the moving cursor must not redraw them
                item.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
                # only the detail window's steps, min and max per pixel (never skipping)
                item.setClipToView(True)
                item.setDownsampling(auto=True, method="peak")
                items.append(item)
            self.lines, self.before_lines = items[:n_now], items[n_now:]
            self._line_key = key
        self.lines_cursor.setValue(self.session.t)

    def _fit_legend(self) -> None:
        """As many legend columns as fit: a wider legend would push the plots out of the
        window, a narrower one takes rows from them (the "before edit" entry of a what-if run
        goes beside the others where there is room)."""
        metrics = QFontMetrics(self._legend_font)
        widest = max((metrics.horizontalAdvance(n) for n in self._legend_names), default=60)
        room = widest + 50  # the sample line and the gaps around the text
        columns = max(1, min(6, self.graphics.width() // room))
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.graphics and event.type() == QEvent.Type.Resize:
            self._fit_legend()
        return super().eventFilter(watched, event)

    def _label_h(self, cfg) -> None:
        """Titles, axes and line-plot title say what h is: units, or projected features."""
        P = cfg.proj_size
        # the heatmaps keep their title and row label through every redraw
        if P:
            self.h_map.retitle(f"h: {P} projected features W_hr (o * tanh c), not units",
                               f"h feature (proj_size {P})")
            self.lines_plot.setTitle("c units (dashed); h features (solid): projections,"
                                     " not units", size="10pt")
        else:
            self.h_map.retitle("h: hidden state = o * tanh(c)", "unit")
            self.lines_plot.setTitle("chosen units over time: c (dashed) and h (solid)",
                                     size="10pt")
        self.c_map.retitle(self.c_map.title, f"c unit (hidden_size {cfg.hidden_size})"
                           if P else "unit")

    # ----- per-step drawing: only indexing ----------------------------------------------
    def show_step(self, t: int) -> None:
        ctx = self.ctx
        for item in (self.c_map, self.h_map):
            item.set_t(t)
        self.overview.follow(t)
        self.strips.show_step(t)
        self.lines_cursor.setValue(t)
        if not ctx.holds(t):  # a windowed trace: the window around t is being traced
            for bars in self.bars.values():
                bars.bars.setVisible(False)
                bars.focus.hide()
            self.equation.setText(f"<b>t = {t}</b>: tracing the steps around t…")
            return
        v = self.session.values_at(ctx.layer, ctx.direction, ctx.batch, t)
        trace = self.session.trace
        projected = bool(trace.config.proj_size)
        ended = bool(ended_text(trace.lengths, ctx.batch, t))
        for name, bars in self.bars.items():
            # h's bars are projected features: no bar of h belongs to the focus unit
            bars.set_values(v[name], -1 if projected and name == "h" or ended else ctx.unit)
            bars.bars.setVisible(not ended)  # past the sequence's end there is no value
        self.equation.setText(self.equation_html(v, ctx.unit, t))

    def equation_html(self, v: dict, unit: int, t: int) -> str:
        """The focus unit's update at step t, with numbers; a value set by a what-if edit says
        so instead of "trace"."""
        trace = self.session.trace
        cfg = trace.config
        ended = ended_text(trace.lengths, self.ctx.batch, t)
        if ended:  # nothing is computed here: no number, not even a zero, would be true
            return (f"<b>unit {unit}, t = {t}</b><br>{ended}: nn.LSTM computes nothing for it"
                    f" at t = {t} (its cells are blank; h_n and c_n hold its state at"
                    f" t = {int(trace.lengths[self.ctx.batch]) - 1})")
        i, f, g, o = (float(v[k][unit]) for k in "ifgo")
        c_prev, c = float(v["c_prev"][unit]), float(v["c"][unit])
        prev = "t−1" if self.ctx.direction == 0 else "t+1 (reverse reads backwards)"
        edited = self._edited_here(unit, t) if trace.meta.get("edited") else set()
        ablated = self._ablated_here(unit, t) if trace.meta.get("edited") else {}
        what_if = f" <span style='color: {WHATIF_COLOUR}'>· what-if run</span>" \
            if trace.meta.get("edited") else ""

        def said(kind: str, value: float) -> str:
            """Where the trace's value comes from, and the value."""
            if kind in ablated:  # the trace holds the ablation's value, not the sum shown
                return (f"(<span style='color: {WHATIF_COLOUR}'>unit ablated: {kind} set to"
                        f" {_f(value)}</span>)")
            return f"({'set by edit' if kind in edited else 'trace'}: {_f(value)})"

        clamped = [f"{k} clamped to {ablated[k]:g}" for k in "ifgo" if k in ablated]
        if clamped:
            what_if += (f" <span style='color: {WHATIF_COLOUR}'>· ablated: "
                        f"{', '.join(clamped)}</span>")
        text = (f"<b>unit {unit}, t = {t}</b>{what_if}<br>"
                f"c<sub>t</sub> = f·c<sub>{prev}</sub> + i·g = {_f(f)}·{_f(c_prev)} + "
                f"{_f(i)}·{_f(g)} = <b>{_f(f * c_prev + i * g)}</b>"
                f" {said('c', c)}<br>")
        if cfg.proj_size:
            text += (f"o·tanh(c<sub>t</sub>) = {_f(o)}·tanh({_f(c)}) = {_f(o * np.tanh(c))};"
                     f" h<sub>t</sub> = W_hr (o·tanh c<sub>t</sub>) has {cfg.proj_size}"
                     " features")
            if "h" in ablated:
                text += (f"; <span style='color: {WHATIF_COLOUR}'>h feature {unit} ablated:"
                         f" set to {_f(ablated['h'])}</span>")
        else:
            h = float(v["h"][unit])
            text += (f"h<sub>t</sub> = o·tanh(c<sub>t</sub>) = {_f(o)}·tanh({_f(c)}) = "
                     f"<b>{_f(o * np.tanh(c))}</b> {said('h', h)}")
        return text

    def _edited_here(self, unit: int, t: int) -> set[str]:
        """Which of "c", "h" a what-if edit sets for this unit at step t (selection's slice)."""
        ctx = self.ctx
        return {e.kind for e in self.session.edits.states
                if (e.t, e.layer, e.direction, e.batch, e.unit)
                == (t, ctx.layer, ctx.direction, ctx.batch, unit)}

    def _ablated_here(self, unit: int, t: int) -> dict[str, float]:
        """What an ablation sets for this unit at input position t (selection's slice):
        {"h": 0.0} for a zeroed h, {"f": 1.0} for a clamped forget gate; the last one wins."""
        ctx = self.ctx
        steps = self.session.num_steps
        return {a.kind: float(a.value) for a in self.session.edits.ablations
                if (a.layer, a.direction, a.batch) == (ctx.layer, ctx.direction, ctx.batch)
                and unit in a.units and t in a.steps(steps)}

    def _on_cursor_dragged(self, line) -> None:
        self.session.seek(int(round(line.value())))

    def hover_text(self, scene_pos) -> str:
        return hover_reading({"c": self.c_map, "h": self.h_map}, scene_pos)
