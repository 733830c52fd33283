"""What many track kinds share: a unit x time heatmap with its colour bar (HeatmapTrack), and
the marks every time track draws: the steps past the selected sequence's end, hatched and
labelled, and the steps and units a what-if edit or ablation changed."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QGraphicsRectItem

from .. import theme
from ..overview import overview_band
from ..plots import DIVERGING, Heatmap, nan_safe_limit
from ..sessions import sequence_end
from .track import LEFT_MARGIN, Track, heatmap_min_height, reserve_bar_column

WHATIF_COLOUR = "#a15c00"
#: pixels above and below a heatmap for the half of its colour bar's end labels that overhang
BAR_LABEL_MARGIN = 8
#: the quantities a windowed session's overview holds over the whole input
TRACED = ("i", "f", "g", "o", "c", "h")


def selection_end(track: Track, trace: Any) -> tuple[int | None, str]:
    """Where the selected sequence ends among the input positions, and why the steps after it
    are blank ('' when it runs to the end)."""
    end, why = sequence_end(trace.lengths, track.ctx.batch, track.session.num_steps)
    if end is not None and end >= track.session.num_steps:
        return None, ""
    return end, why


class EndHatch:
    """The steps past the selected sequence's end in a line plot: hatched, with why on them."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.region = pg.LinearRegionItem((0, 0), movable=False, pen=pg.mkPen(None),
                                          brush=QBrush(theme.muted(),
                                                       Qt.BrushStyle.BDiagPattern))
        self.region.setZValue(5)
        self.region.hide()
        plot.addItem(self.region, ignoreBounds=True)
        self.label = pg.TextItem("", color=theme.foreground(), fill=theme.legend_brush(),
                                 anchor=(0, 0))
        self.label.setZValue(6)
        self.label.hide()
        plot.addItem(self.label, ignoreBounds=True)
        self.end: int | None = None
        plot.getViewBox().sigRangeChanged.connect(self._place)

    def set_end(self, end: int | None, text: str, total: int) -> None:
        self.end = end
        on = end is not None
        self.region.setVisible(on)
        self.label.setVisible(on and bool(text))
        if end is not None:
            self.region.setRegion((end - 0.5, total - 0.5))
            self.label.setText(text)
            self._place()

    def _place(self, *args: Any) -> None:
        if self.end is not None:
            (x0, _), (_, y1) = self.plot.getViewBox().viewRange()
            self.label.setPos(max(self.end - 0.5, x0), y1)


class EditMarks:
    """Where a what-if edit or ablation changed the selection's run: an outlined box over the
    rows (units) and steps it set, in a heatmap; a shaded band over the steps in a line plot."""

    def __init__(self, plot: pg.PlotItem, rows: bool) -> None:
        self.plot = plot
        self.rows = rows
        self.items: list[Any] = []

    def clear(self) -> None:
        for item in self.items:
            self.plot.removeItem(item)
        self.items = []

    def show(self, track: Track, quantity: str = "", units: int = 0,
             order: np.ndarray | None = None) -> list[str]:
        """Mark the edits and ablations of the selection; returns them in words."""
        self.clear()
        ctx, session = track.ctx, track.session
        trace = session.trace
        if trace is None or not trace.meta.get("edited"):
            return []
        steps = session.num_steps
        pen = pg.mkPen(WHATIF_COLOUR, width=2, style=Qt.PenStyle.DashLine)
        said: list[str] = []
        marks: list[tuple[int, int, list[int]]] = []  # (t0, t1, units)
        for a in session.edits.ablations:
            if (a.layer, a.direction, a.batch) != (ctx.layer, ctx.direction, ctx.batch):
                continue
            span = list(a.steps(steps))
            if not span:
                continue
            marks.append((min(span), max(span) + 1, [int(u) for u in a.units]))
            said.append(f"{a.kind}[{', '.join(str(u) for u in a.units)}] ablated")
        for e in session.edits.states:
            if (e.layer, e.direction, e.batch) == (ctx.layer, ctx.direction, ctx.batch):
                marks.append((e.t, e.t + 1, [int(e.unit)]))
                said.append(f"{e.kind}[{e.unit}] edited at t {e.t}")
        for e in getattr(session.edits, "inputs", []):
            if e.batch == ctx.batch:
                marks.append((e.t, e.t + 1, []))
                said.append(f"x[{e.feature}] edited at t {e.t}")
        for t0, t1, unit_list in marks:
            if self.rows and unit_list and units:
                for unit in unit_list:
                    if not 0 <= unit < units:
                        continue
                    row = unit if order is None else int(np.flatnonzero(order == unit)[0])
                    box = QGraphicsRectItem(QRectF(t0 - 0.5, row - 0.5, t1 - t0, 1))
                    box.setPen(pen)
                    box.setBrush(QBrush(Qt.BrushStyle.NoBrush))
                    box.setZValue(8)
                    self.plot.addItem(box, ignoreBounds=True)
                    self.items.append(box)
            else:
                colour = QColor(WHATIF_COLOUR)
                colour.setAlpha(40)
                band = pg.LinearRegionItem((t0 - 0.5, t1 - 0.5), movable=False, brush=colour,
                                           pen=pg.mkPen(WHATIF_COLOUR, width=1))
                # behind a line plot's lines; over a heatmap (which would hide it) only its
                # edges, so that every cell keeps the colour its bar gives it
                over_image = any(isinstance(i, pg.ImageItem) and i.isVisible()
                                 for i in self.plot.items)
                if over_image:
                    band.setBrush(pg.mkBrush(None))
                    for line in band.lines:
                        line.setPen(pg.mkPen(WHATIF_COLOUR, width=2, style=Qt.PenStyle.DashLine))
                band.setZValue(7 if over_image else -5)
                self.plot.addItem(band, ignoreBounds=True)
                self.items.append(band)
        return said


class HeatmapTrack(Track):
    """A unit x time heatmap of one quantity of the selection, drawn with exactly the levels
    its colour bar shows. A kind sets ``quantity``, ``colour_map``, ``natural_levels`` and
    fills in ``values`` (and ``title`` / ``y_label`` where the config changes them)."""

    group = "States"
    scales = ("fixed", "symmetric", "robust", "track", "unit")
    has_colour_bar = True
    quantity: ClassVar[str] = ""
    colour_map: ClassVar[pg.ColorMap] = DIVERGING
    #: the quantity's own range (None: symmetric around 0, from the whole trace)
    natural_levels: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)
    #: whether the rows are hidden units (then they follow the shared unit order)
    rows_are_units: ClassVar[bool] = True

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        plot = self.add_plot()
        levels = self.natural_levels or (-1.0, 1.0)
        self.map = Heatmap(plot, self.quantity, self.heading(), levels=levels)
        self.map.neutral = 0.5 if levels == (0.0, 1.0) else 0.0
        self.bar = pg.ColorBarItem(values=levels, colorMap=self.colour_map, interactive=False,
                                   width=12)
        reserve_bar_column(self.graphics, 0, self.bar)
        self.map.attach_bar(self.bar, self.quantity)
        # the end values are centred on the bar's ends: drawn even where they reach past them,
        # into margins kept free for them
        self.bar.axis.setStyle(hideOverlappingLabels=False)
        self.graphics.ci.setContentsMargins(LEFT_MARGIN, BAR_LABEL_MARGIN, 2, BAR_LABEL_MARGIN)
        self.map.cursor.sigDragged.connect(self._on_cursor_dragged)
        self.marks = EditMarks(plot, rows=True)
        self.edits_said: list[str] = []
        self._rows = 0
        self._trace_levels = levels

    # ----- what a kind fills in ---------------------------------------------------------
    def values(self, trace: Any) -> np.ndarray:
        """The selection's values, (T, rows)."""
        raise NotImplementedError

    def whole(self, trace: Any) -> np.ndarray:
        """Every value the "fixed" scale spans when the quantity has no range of its own."""
        return self.values(trace)

    def y_label(self) -> str:
        return "unit"

    # ----- drawing ----------------------------------------------------------------------
    def colour_bar(self) -> pg.ColorBarItem | None:
        return self.bar

    def min_height(self) -> int:
        return heatmap_min_height(self._rows)

    def chrome_height(self) -> int:
        return 2 * BAR_LABEL_MARGIN + 4

    def levels_for(self, data: np.ndarray, trace: Any) -> tuple[float, float]:
        """The colour levels of scale ``self.scale`` for ``data`` (rows, T)."""
        finite = data[np.isfinite(data)]
        if self.scale == "symmetric":
            lim = nan_safe_limit(data)
            return (-lim, lim)
        if self.scale == "track":
            if finite.size == 0:
                return self.natural_levels or (-1.0, 1.0)
            lo, hi = float(finite.min()), float(finite.max())
            return (lo, hi if hi > lo else lo + 1e-6)
        if self.natural_levels is not None:
            return self.natural_levels
        lim = nan_safe_limit(np.asarray(self.whole(trace)))
        return (-lim, lim)

    def show_trace(self, trace: Any) -> None:
        ctx, hm = self.ctx, self.map
        block = np.asarray(self.values(trace))
        data = np.ascontiguousarray(block.T)
        self._rows = data.shape[0]
        hm.retitle(self.heading(), self.y_label())
        order = ctx.display.order(trace, ctx.layer, ctx.direction) \
            if self.rows_are_units else None
        if order is not None and len(order) != data.shape[0]:
            order = None
        hm.order = order
        hm.order_label = ctx.display.order_label() if order is not None else "index order"
        hm.axis.set_order(order)
        levels = self.levels_for(data, trace)
        self._trace_levels = levels
        hm.scale = {"unit": "unit", "robust": "percentile"}.get(self.scale, "fixed")
        hm.scale_note = {"symmetric": "± max", "track": "min–max"}.get(self.scale, "")
        hm.set_data(data, levels=levels, offset=trace.start, total=self.session.num_steps)
        end, why = selection_end(self, trace)
        hm.set_end(end, why, label=True)
        self.edits_said = self.marks.show(self, self.quantity, data.shape[0], order)

    def set_scale(self, mode: str) -> None:
        super().set_scale(mode)
        trace = self.session.trace
        if trace is not None and self.ctx.fits(trace):
            self.show_trace(trace)

    def show_step(self, t: int) -> None:
        self.map.set_t(t)

    def set_window(self, t0: int, t1: int) -> None:
        self.map.set_window(t0, t1)

    def summary(self) -> str:
        data = self.map.data
        finite = data[np.isfinite(data)]
        if not finite.size:
            return f"{self.heading()}: nothing computed"
        t = self.session.t - self.map.offset
        now = ""
        if 0 <= t < data.shape[1] and np.isfinite(data[:, t]).any():
            column = data[:, t]
            now = (f"; at t {self.session.t}: mean {np.nanmean(column):+.3f},"
                   f" most extreme {column[np.nanargmax(np.abs(column - self.map.center))]:+.3f}")
        return (f"{self.heading()} · {data.shape[0]} rows, from {finite.min():+.3g} to"
                f" {finite.max():+.3g}{now}")

    def overview_band(self) -> tuple[str, Any, Any, tuple[float, float]] | None:
        ctx, hm = self.ctx, self.map
        whole = overview_band(self.session, self.quantity, ctx.layer, ctx.direction, ctx.batch,
                              hm.center) if self.quantity in TRACED else None
        band = hm.data if whole is None else whole
        if hm.order is not None and len(hm.order) == band.shape[0]:
            band = band[hm.order]
        levels = self._trace_levels if hm.scale != "unit" else hm.levels
        return (self.quantity, band, self.colour_map, levels)

    def hover_text(self, scene_pos: QPointF) -> str:
        return self.map.reading(self.quantity, scene_pos)

    def heatmaps(self) -> dict[str, Any]:
        return {self.quantity: self.map}

    def _on_cursor_dragged(self, line: pg.InfiniteLine) -> None:
        self.session.seek(int(round(line.value())))


def shared_strips(host: Any) -> Any:
    """The input, prediction and loss strips of a timeline (``host``: it or one of its
    tracks), drawn once per trace for every track that shows one of them."""
    from ..strips import TimeStrips  # noqa: PLC0415 - strips import the plots this module does

    return host.shared("strips", lambda: TimeStrips(host.ctx))


def draw_strips(track: Track, trace: Any) -> Any:
    """Draw the shared strips for ``trace`` unless they already show it; returns them."""
    strips = shared_strips(track)
    key = (id(trace), track.ctx.batch, id(track.session.input_spec), track.session.num_steps)
    if getattr(strips, "drawn_key", None) != key:
        strips.show_trace(trace)
        strips.drawn_key = key
    return strips
