"""Chosen units as lines over time: c dashed and h solid per unit (with proj_size, h's
features apart from c's units), and the run before the first what-if edit in dashed grey."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QGraphicsItem

from ... import theme
from ...plots import CURSOR_PEN, PlotNote
from ..bases import EditMarks, EndHatch, selection_end
from ..registry import register
from ..track import MIN_TRACK_HEIGHT, Track

LINE_COLOURS = ["#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457"]
H_FEATURE_COLOURS = ["#d32f2f", "#f9a825", "#5d4037", "#c2185b", "#0097a7", "#7cb342"]
BEFORE_PEN = pg.mkPen("#8a8a8a", width=1, style=Qt.PenStyle.DashLine)
MAX_UNITS = 12


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


@register
class UnitLinesTrack(Track):
    """c and h of up to twelve chosen units over time, with a legend in its own row."""

    kind = "units"
    label = "chosen units as lines"
    group = "States"

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        plot = self.add_plot()
        plot.getAxis("left").setStyle(maxTickLevel=0, maxTextLevel=0)
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=3,
                                    brush=theme.legend_brush())
        self._legend_font = QFont()
        self._legend_font.setPointSizeF(8)
        self._legend_names: list[str] = []
        self.graphics.addItem(self.legend, row=1, col=0)
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN, movable=True)
        self.cursor.sigDragged.connect(
            lambda line: self.session.seek(int(round(line.value()))))
        plot.addItem(self.cursor)
        self.note = PlotNote(plot, axes=("left",))
        self.hatch = EndHatch(plot)
        self.marks = EditMarks(plot, rows=False)
        self.lines: list[pg.PlotDataItem] = []
        self.before_lines: list[pg.PlotDataItem] = []
        self._line_key: tuple = ()
        self.units_text = "0-2"
        #: False until units are chosen (a session's, or the view's box)
        self.units_chosen = False
        self.units: list[int] = []
        self.text_ok = True
        self._c: np.ndarray | None = None
        self._h: np.ndarray | None = None
        plot.getViewBox().sigResized.connect(self._fit_legend)

    # ----- the units --------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {"units": self.units_text}

    def set_options(self, options: dict[str, Any]) -> None:
        if isinstance(options.get("units"), str):
            self.set_units(options["units"])

    def set_units(self, text: str) -> bool:
        """Plot the units ``text`` names ('0, 3-5'); False when it cannot be read."""
        self.units_text = text
        self.units_chosen = True
        self.redraw()
        return self.text_ok

    def heading(self) -> str:
        if self.session.config.proj_size:
            return "c units (dashed); h features (solid): projections, not units"
        return "chosen units over time: c (dashed) and h (solid)"

    def min_height(self) -> int:
        return MIN_TRACK_HEIGHT + 20

    def chrome_height(self) -> int:
        rows = -(-max(1, len(self._legend_names)) // max(1, self.legend.columnCount))
        line = QFontMetrics(self._legend_font).height() + 6
        return super().chrome_height() + rows * line + 6

    # ----- drawing ----------------------------------------------------------------------
    def show_trace(self, trace: Any) -> None:
        ctx = self.ctx
        self._c = trace.c[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        self._h = trace.h[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        assert self.plot is not None
        self.plot.setTitle(self.heading(), size="9pt")
        self.redraw()
        end, why = selection_end(self, trace)
        self.hatch.set_end(end, why, self.session.num_steps)
        self.marks.show(self)

    def _before(self) -> tuple[np.ndarray, np.ndarray] | None:
        """c (T, H) and h (T, H_out) of the run before the first edit, while edits show."""
        trace, original, ctx = self.session.trace, self.session.original, self.ctx
        if original is None or trace is None or not trace.meta.get("edited") \
                or not ctx.fits(original) or original.start != trace.start:
            return None
        c = original.c[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        h = original.h[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        assert self._c is not None and self._h is not None
        return (c, h) if c.shape == self._c.shape and h.shape == self._h.shape else None

    def redraw(self) -> None:
        c_block, h_block, plot = self._c, self._h, self.plot
        if c_block is None or h_block is None or plot is None:
            return
        H_out = h_block.shape[1]
        try:
            units = parse_units(self.units_text, c_block.shape[1])[:MAX_UNITS]
            self.text_ok = True
        except ValueError:
            units, self.text_ok = [], False
        self.units = units
        self.note.set("" if units else
                      "No units chosen: type units under 'plot units', e.g. 0-2")
        self.cursor.setVisible(bool(units))
        before = self._before()
        projected = H_out != c_block.shape[1]
        c_name, h_name = ("c unit {}", "h feature {}") if projected else ("c[{}]", "h[{}]")
        features = [u for u in units if u < H_out]
        curves: list[tuple[str, np.ndarray, Any]] = []
        for k, unit in enumerate(units):
            colour = LINE_COLOURS[k % len(LINE_COLOURS)]
            curves.append((c_name.format(unit), c_block[:, unit],
                           pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine)))
            if not projected:
                curves.append((h_name.format(unit), h_block[:, unit], pg.mkPen(colour, width=2)))
        if projected:
            for k, feature in enumerate(features):
                colour = H_FEATURE_COLOURS[k % len(H_FEATURE_COLOURS)]
                curves.append((h_name.format(feature), h_block[:, feature],
                               pg.mkPen(colour, width=2)))
        n_now = len(curves)
        if before is not None:
            for unit in units:
                curves.append(("before edit", before[0][:, unit], BEFORE_PEN))
                if not projected:
                    curves.append(("before edit", before[1][:, unit], BEFORE_PEN))
            for feature in (features if projected else []):
                curves.append(("before edit", before[1][:, feature], BEFORE_PEN))
        trace = self.session.trace
        start = trace.start if trace is not None else 0
        t = start + np.arange(c_block.shape[0])
        key = tuple(name for name, _, _ in curves)
        items = self.lines + self.before_lines
        if key == self._line_key:  # same curves, new numbers: update in place
            for item, (_, y, _) in zip(items, curves):
                item.setData(t, y, connect="finite")
        else:
            for item in items:
                plot.removeItem(item)
            self.legend.clear()
            self._legend_names = [name for name, _, _ in curves[: n_now + 1]]
            self._fit_legend()
            items = []
            for k, (name, y, pen) in enumerate(curves):
                named = k <= n_now  # the run before the edit is named once
                item = plot.plot(t, y, pen=pen, connect="finite", name=name if named else None)
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
        self.cursor.setValue(self.session.t)

    def _fit_legend(self, *args: Any) -> None:
        """As many legend columns as fit the track's width."""
        metrics = QFontMetrics(self._legend_font)
        widest = max((metrics.horizontalAdvance(n) for n in self._legend_names), default=60)
        room = widest + 50  # the sample line and the gaps around the text
        columns = max(1, min(6, self.graphics.width() // room))
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    def show_step(self, t: int) -> None:
        self.cursor.setValue(t)

    def summary(self) -> str:
        if not self.units or self._c is None:
            return f"{self.label}: no units chosen"
        trace = self.session.trace
        k = self.session.t - (trace.start if trace is not None else 0)
        if not 0 <= k < self._c.shape[0]:
            return f"{self.label}: units {self.units_text}"
        values = ", ".join(f"c[{u}] {self._c[k, u]:+.3f}" for u in self.units[:4])
        return f"{self.label} {self.units_text}: at t {self.session.t}: {values}"

    def hover_text(self, scene_pos: QPointF) -> str:
        plot = self.plot
        if plot is None or self._c is None \
                or not plot.getViewBox().sceneBoundingRect().contains(scene_pos):
            return ""
        p = plot.getViewBox().mapSceneToView(scene_pos)
        return f"t {int(round(p.x()))}: {p.y():+.4f}"
