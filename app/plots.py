"""pyqtgraph building blocks shared by the gates and states views: a units x time heatmap that
draws the visible window at the resolution of the screen (downsampled honestly, in the unit
order the views share), its colour scales, and a bar chart of one step across units."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QGraphicsRectItem

from lstm_viz.downsample import extreme

from . import theme

SIGMOID = pg.colormap.get("viridis")
DIVERGING = pg.colormap.get("CET-D1A")
pg.setConfigOptions(antialias=False)
theme.apply()  # background and foreground from the palette; the window applies it again
CURSOR_PEN = theme.cursor_pen()

#: colour scale modes: key -> what the colour bar says
SCALES = {
    "fixed": "fixed",
    "unit": "per unit",
    "percentile": "1st–99th percentile",
}


def set_title(plot: pg.PlotItem, text: str, size: str = "9pt") -> None:
    """``plot.setTitle`` without letting a long title widen the plot: a title may be cut at
    the plot's edges, but it never pushes the colour bars out of the window."""
    plot.setTitle(text, size=size)
    plot.titleLabel.setMinimumWidth(0)


def short_title(title: str) -> str:
    """A heatmap title without its explanation: "c: cell state (colour symmetric around 0)"
    -> "c: cell state", "i: input gate, σ(…) ∈ (0, 1): how much of g enters c" -> "i: input
    gate, σ(…) ∈ (0, 1)"; a title with nothing to drop comes back whole."""
    if title.endswith(")") and " (" in title:
        return title[: title.rindex(" (")]
    if title.count(": ") < 2:
        return title
    return title.rpartition(": ")[0]


def fit_title(title: str, extras: str, width: float, size: str = "9pt") -> str:
    """``title + extras`` if it fits ``width`` pixels at ``size``; else the short title with
    the extras; else that cut with "…" (a cut title keeps the colour bars in the window,
    a cut-off one hides what the plot shows)."""
    metrics = _metrics(size)
    for head in (title, short_title(title)):
        if metrics.horizontalAdvance(head + extras) <= width:
            return head + extras
    return metrics.elidedText(short_title(title) + extras, Qt.TextElideMode.ElideRight,
                              int(width))


def _metrics(size: str) -> QFontMetrics:
    font = QFont()
    font.setPointSizeF(float(size.rstrip("pt")))
    return QFontMetrics(font)


class PlotNote:
    """A short message in the middle of a plot that has nothing to show, in place of its
    axes ("No units chosen: …"); ``set("")`` brings the axes back."""

    def __init__(self, plot: pg.PlotItem, axes: tuple[str, ...] = ("left", "bottom")):
        self.plot = plot
        self.axes = axes
        self.text = ""
        self.item = pg.TextItem("", color=theme.foreground(), anchor=(0.5, 0.5))
        self.item.setParentItem(plot.getViewBox())  # in pixels: it stays put as the range moves
        self.item.hide()
        plot.getViewBox().sigResized.connect(self._place)

    def set(self, text: str) -> None:
        if text == self.text:
            return
        self.text = text
        self.item.setText(text)
        self.item.setVisible(bool(text))
        for name in self.axes:
            self.plot.getAxis(name).setVisible(not text)
        self._place()

    def _place(self, *args) -> None:
        rect = self.plot.getViewBox().rect()
        self.item.setPos(rect.center())


def nan_safe_limit(a: np.ndarray, floor: float = 1e-6) -> float:
    """max |a| over finite values (at least ``floor``), for symmetric colour levels."""
    finite = a[np.isfinite(a)]
    return max(float(np.abs(finite).max()) if finite.size else 1.0, floor)


#: SI prefixes of the powers of a thousand, for colour-bar labels of very small or large values
SI_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 3: "k", 6: "M", 9: "G", 12: "T"}


def bar_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """A colour bar's three ticks (ends and middle). A label has at most five characters,
    so that every bar fits its column and the time axes of all plots stay aligned: three
    significant digits where they fit ("-5.25"), else two ("-0.54"), else with an SI prefix
    ("-2.4m" for -0.00236, "-5.2k" for -5250)."""
    peak = max(abs(lo), abs(hi))
    middle = (lo + hi) / 2
    if abs(middle) <= 1e-9 * peak:
        middle = 0.0  # a symmetric scale's middle is 0, not its rounding error
    values = (lo, middle, hi)
    power = 3 * int(np.floor(np.log10(peak) / 3)) if np.isfinite(peak) and peak > 0 else 0
    prefix = SI_PREFIXES.get(power, "")
    scale = 10.0 ** power if prefix else 1.0
    for unit, divisor in (("", 1.0), (prefix, scale)):
        for digits in (3, 2):
            texts = [_short(v / divisor, digits) + (unit if v else "") for v in values]
            if all(len(text) <= 5 for text in texts):
                return list(zip(values, texts))
    return [(v, f"{v:.0e}" if v else "0") for v in values]


def _short(v: float, digits: int) -> str:
    """``v`` to ``digits`` significant digits, without an exponent below 1000."""
    if v == 0:
        return "0"
    return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.0f}"


#: tick spacings in rows: 1, 2, 5, 10, 20, 50 … (whole units only)
TICK_STEPS = [m * 10 ** e for e in range(7) for m in (1, 2, 5)]


class UnitAxis(pg.AxisItem):
    """An axis over rows (or bars) that labels each integer position with the unit shown there:
    ``order[position]``, so a reordered view says which unit each row is. Ticks are whole
    rows, 1, 2, 5, 10 … apart: the smallest spacing whose labels keep clear of each other at
    the axis's length in pixels, so they thin out with many units and fill in on zooming."""

    def __init__(self, orientation: str, **kwargs):
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self.order: np.ndarray | None = None
        self.count = 0  # rows (bars) there are; 0: not known

    def set_order(self, order: np.ndarray | None) -> None:
        self.order = order
        self.picture = None
        self.update()

    def set_count(self, count: int) -> None:
        """The number of rows (bars): no tick past the last one."""
        if count != self.count:
            self.count = count
            self.picture = None
            self.update()

    def label_room(self) -> float:
        """Pixels from one label to the next that keep them readable: a line and a third
        along a vertical axis, the widest label and a gap along a horizontal one."""
        metrics = QFontMetrics(self.style["tickFont"] or QFont())
        if self.orientation in ("left", "right"):
            return 1.3 * metrics.height()
        digits = len(str(max(self.count - 1, 0))) if self.count else 4
        return metrics.horizontalAdvance("8" * digits) + 10

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph override
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        first, last = max(0, int(np.ceil(lo))), int(np.floor(hi))
        if self.count:
            last = min(last, self.count - 1)
        if last < first or size <= 0:
            return []
        px_per_row = size / (hi - lo) if hi > lo else float(size)
        room = self.label_room()
        step = next((s for s in TICK_STEPS if s * px_per_row >= room), TICK_STEPS[-1])
        start = -(-first // step) * step
        return [(float(step), [float(v) for v in range(start, last + 1, step)])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        order = self.order
        strings = []
        for v in values:
            k = int(round(v))
            if order is None:
                strings.append(str(k))
            else:
                strings.append(str(int(order[k])) if 0 <= k < len(order) else "")
        return strings


class Heatmap:
    """A PlotItem showing ``data[unit, t]`` with the first row at the top and a cursor at t.

    ``data`` is the whole (units, T) array, its column j at input position ``offset + j`` (a
    windowed trace holds a window of a longer input: the x axis stays the input position); the
    image holds only the visible window (x: the
    detail window the view sets, y: the rows zoomed to with the mouse wheel), in the shared unit
    order, shrunk to the plot's pixels by keeping each bucket's most extreme value. The left
    axis names the unit of each row and says when rows or steps share a pixel.
    """

    def __init__(self, plot: pg.PlotItem, name: str, title: str, y_label: str = "unit",
                 levels: tuple[float, float] = (-1.0, 1.0)):
        self.plot = plot
        self.name = name
        self.y_label = y_label
        width = plot.getAxis("left").fixedWidth  # a width the layout set keeps the columns lined up
        self.axis = UnitAxis("left")
        plot.setAxisItems({"left": self.axis})
        if width is not None:
            self.axis.setWidth(width)
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        self.title = title
        self.title_size = "9pt"
        self._title_shown = ""
        self._title_key: tuple = ()
        set_title(plot, title)
        plot.invertY(True)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        # x follows the detail window; the wheel zooms and a drag scrolls through the units
        plot.getViewBox().setMouseEnabled(x=False, y=True)
        # no label of its own: the timeline writes the step once, on its time axis
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN, movable=True)
        self.cursor.setZValue(10)
        plot.addItem(self.cursor)
        self.fixed_levels = levels
        #: the neutral value of the colour scale when the levels do not say it (None: 0.5 for
        #: 0..1 levels, else 0)
        self.neutral: float | None = None
        #: what the colour bar's label adds after the quantity ('' : from the scale mode)
        self.scale_note = ""
        self.data = np.zeros((1, 1), dtype=np.float32)
        self.offset = 0  # the input position of data's first column
        self.total = 0  # input positions on the time axis (the whole input)
        self._shown = self.data  # data in the current colour scale (per-unit: stretched)
        self.order: np.ndarray | None = None
        self.order_label = "index order"
        self.scale = "fixed"
        self.levels = levels
        self.bar: pg.ColorBarItem | None = None
        self._bar_text = ""  # the colour bar's label before it is fitted to the bar
        self._align_due = False
        self.rows_per_px = self.steps_per_px = 1
        self._units = 0
        self._rows_key: tuple = ()
        self._by_rows = self.data
        self._rendered: tuple = ()
        # the steps past the selected sequence's end: hatched, with why written on them
        self.ended = QGraphicsRectItem()
        self.ended.setPen(pg.mkPen(None))
        self.ended.setBrush(QBrush(theme.muted(), Qt.BrushStyle.BDiagPattern))
        self.ended.setZValue(5)
        self.ended.hide()
        plot.addItem(self.ended)
        self.ended_label = pg.TextItem("", color=theme.foreground(), fill=theme.legend_brush(),
                                       anchor=(0, 1))
        self.ended_label.setZValue(6)
        self.ended_label.hide()
        plot.addItem(self.ended_label)
        self.ended_text = ""
        self.end: int | None = None
        plot.getViewBox().sigRangeChanged.connect(self._on_range_changed)
        plot.getViewBox().sigResized.connect(self._on_range_changed)

    @property
    def center(self) -> float:
        """The neutral value of the colour scale (0.5 for 0..1 gates, 0 for the others)."""
        if self.neutral is not None:
            return self.neutral
        lo, hi = self.fixed_levels
        return 0.5 if (lo, hi) == (0.0, 1.0) else 0.0

    # ----- data, order, scale -----------------------------------------------------------
    def set_data(self, data: np.ndarray, levels: tuple[float, float] | None = None,
                 offset: int = 0, total: int | None = None) -> None:
        """``data`` is (units, T) from input position ``offset`` of ``total`` (default: T);
        NaN cells (past a sequence's length) stay blank. ``levels`` replaces the fixed colour
        levels (e.g. symmetric around 0 from the trace)."""
        self.data = data
        self.offset = int(offset)
        if levels is not None:
            self.fixed_levels = levels
        units, steps = data.shape
        self.axis.set_count(units)
        if self.order is not None and len(self.order) != units:
            self.order = None
            self.axis.set_order(None)
        total = offset + steps if total is None else int(total)
        self.total = total
        self.plot.setLimits(xMin=-0.5, xMax=total - 0.5, yMin=-0.5, yMax=units - 0.5,
                            minYRange=min(units, 4))
        if units != self._units:  # a new number of rows: show them all; else keep the zoom
            self._units = units
            self.plot.getViewBox().setYRange(-0.5, units - 0.5, padding=0)
        self._apply_scale()

    def set_end(self, end: int | None, text: str = "", label: bool = False) -> None:
        """Hatch the steps from ``end`` on (None: the sequence runs to the last step), where
        nn.LSTM computed nothing; ``text`` says why ("sequence 2 ended at t = 4"), written on
        the hatching when ``label``, and in the hover reading."""
        units = self.data.shape[0]
        if end is None or end >= self.total:
            self.end, self.ended_text = None, ""
            self.ended.hide()
            self.ended_label.hide()
            return
        self.end, self.ended_text = int(end), text
        self.ended.setRect(QRectF(end - 0.5, -0.5, self.total - end, units))
        self.ended.show()
        self.ended_label.setText(text)
        self.ended_label.setVisible(label and bool(text))
        self._place_ended_label()

    def _place_ended_label(self) -> None:
        """Keep the label at the bottom of the rows in view, at the start of the hatching."""
        if self.end is not None and self.ended_label.isVisible():
            (x0, _), (_, y1) = self.plot.getViewBox().viewRange()
            self.ended_label.setPos(max(self.end - 0.5, x0), y1)

    def set_order(self, order: np.ndarray | None, label: str = "index order") -> None:
        """Show row r as unit ``order[r]`` (None: index order)."""
        if order is not None and len(order) != self.data.shape[0]:
            order = None
        self.order = None if order is None else np.asarray(order)
        self.order_label = label if order is not None else "index order"
        self.axis.set_order(self.order)
        self.render(force=True)

    def set_scale(self, mode: str) -> None:
        """The colour scale: "fixed" (the quantity's own range), "unit" (each unit stretched
        to its own range) or "percentile" (1st to 99th percentile of what is shown)."""
        if mode not in SCALES:
            raise ValueError(f"unknown colour scale {mode!r}; choose one of {', '.join(SCALES)}")
        self.scale = mode
        self._apply_scale()

    def attach_bar(self, bar: pg.ColorBarItem, quantity: str) -> None:
        """The colour bar that shows this heatmap's scale (its label names ``quantity``)."""
        self.bar = bar
        self._quantity = quantity
        bar.setImageItem([self.image])
        # as wide as its labels need ("-0.0265" does not fit pyqtgraph's fixed 45 px: a label
        # that does not fit is not drawn, and the bar would show no end values)
        bar.axis.setWidth(None)
        self._update_bar()
        # the bar spans the heatmap's rows only, not its title or time axis: its end labels
        # then sit beside the first and last row, clear of the next bar's
        self.plot.getViewBox().sigResized.connect(self._align_bar_soon)
        bar.getViewBox().sigResized.connect(self._align_bar_soon)
        self._align_bar_soon()

    def _align_bar_soon(self, *args) -> None:
        """Align the bar once the layouts have settled (both resize while a layout runs)."""
        if not self._align_due:
            self._align_due = True
            QTimer.singleShot(0, self._align_bar)

    def _align_bar(self) -> None:
        """Give the colour bar margins that put its gradient level with the heatmap's rows."""
        self._align_due = False
        bar = self.bar
        if bar is None:
            return
        try:
            rows = self.plot.getViewBox().sceneBoundingRect()
            gradient = bar.getViewBox().sceneBoundingRect()
        except RuntimeError:  # the view was closed before the layouts settled
            return
        if rows.height() <= 0 or gradient.height() <= 0:
            return
        self._fit_bar_label()
        left, top, right, bottom = bar.layout.getContentsMargins()
        top = max(0.0, top + rows.top() - gradient.top())
        bottom = max(0.0, bottom + gradient.bottom() - rows.bottom())
        if abs(top - bar.layout.getContentsMargins()[1]) > 0.5 \
                or abs(bottom - bar.layout.getContentsMargins()[3]) > 0.5:
            bar.layout.setContentsMargins(left, top, right, bottom)

    def _apply_scale(self) -> None:
        data: np.ndarray = self.data
        lo, hi = self.fixed_levels
        symmetric = self.center == 0.0
        with np.errstate(invalid="ignore", all="ignore"):
            if self.scale == "unit":
                if symmetric:
                    peak = np.nanmax(np.abs(data), axis=1, keepdims=True)
                    data = data / np.where(np.isfinite(peak) & (peak > 0), peak, 1.0)
                    self.levels = (-1.0, 1.0)
                else:
                    low = np.nanmin(data, axis=1, keepdims=True)
                    span = np.nanmax(data, axis=1, keepdims=True) - low
                    data = (data - low) / np.where(np.isfinite(span) & (span > 0), span, 1.0)
                    self.levels = (0.0, 1.0)
            elif self.scale == "percentile":
                finite = data[np.isfinite(data)]
                if finite.size == 0:
                    self.levels = (lo, hi)
                elif symmetric:
                    p = max(float(np.percentile(np.abs(finite), 99)), 1e-6)
                    self.levels = (-p, p)
                else:
                    a, b = (float(v) for v in np.percentile(finite, [1, 99]))
                    self.levels = (a, b if b > a else a + 1e-6)
            else:
                self.levels = (lo, hi)
        self._shown = np.asarray(data, dtype=np.float32)
        self._update_bar()
        self.render(force=True)

    def _update_bar(self) -> None:
        if self.bar is None:
            return
        self.bar.setLevels(self.levels)
        lo, hi = self.levels
        # three labelled ticks (ends and middle): they never collide, even in a short bar
        self.bar.axis.setTicks([bar_ticks(lo, hi), []])
        # short: the label runs along a bar as tall as one heatmap row
        text = {"unit": f"{self._quantity} · per unit", "percentile": f"{self._quantity} · p1–99"
                }.get(self.scale, self._quantity)
        if self.scale_note:
            text = f"{self._quantity} · {self.scale_note}"
        self._bar_text = text
        self._fit_bar_label()

    def _fit_bar_label(self) -> None:
        """The bar's label runs along the bar: no longer than the bar is tall ("dx · ± max"
        -> "dx"), or it is cut at the bar's ends and runs into the labels beside them."""
        if self.bar is None:
            return
        text = self._bar_text
        room = self.plot.getViewBox().height() - 8  # the label's own margins
        metrics = _metrics("8pt")
        if room > 0 and metrics.horizontalAdvance(text) > room:
            text = self._quantity if metrics.horizontalAdvance(self._quantity) <= room else \
                metrics.elidedText(self._quantity, Qt.TextElideMode.ElideRight, int(room))
        axis = self.bar.getAxis("left")
        if axis.labelText != text:
            axis.setLabel(text, **{"font-size": "8pt"})

    # ----- the visible window ------------------------------------------------------------
    def set_window(self, t0: int, t1: int) -> None:
        """Show steps [t0, t1) (and so do the plots whose x axis is linked to this one)."""
        self.plot.setXRange(t0 - 0.5, t1 - 0.5, padding=0)

    def _on_range_changed(self, *args) -> None:
        self.render()
        self._place_ended_label()

    def render(self, force: bool = False) -> None:
        """Redraw the image for what is visible, at the plot's pixel size."""
        if not self.image.isVisible():
            return
        data = self._shown
        units, steps = data.shape
        vb = self.plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        off = self.offset
        t0 = max(0, int(np.floor(x0 + 0.5)) - off)
        t1 = min(steps, int(np.ceil(x1 + 0.5)) - off)
        r0 = max(0, int(np.floor(y0 + 0.5)))
        r1 = min(units, int(np.ceil(y1 + 0.5)))
        if t1 <= t0 or r1 <= r0:
            if t1 <= t0:  # nothing held here is visible (a windowed trace's next window is due)
                self.image.clear()
                self._rendered = ()
            return
        px_w = max(1, int(vb.width()))
        px_h = max(1, int(vb.height()))
        key = (t0, t1, r0, r1, px_w, px_h, off)
        if key == self._rendered and not force:
            return
        self._rendered = key
        center = self.center if self.scale != "unit" or self.center == 0.0 else 0.5
        # rows first, over every step, once per zoom / size / data: moving the window along
        # t then only slices and shrinks columns
        rows_key = (id(data), r0, r1, px_h, center,
                    None if self.order is None else id(self.order))
        if force or self._rows_key != rows_key:
            rows = np.arange(r0, r1) if self.order is None else self.order[r0:r1]
            by_rows = data[rows] if self.order is not None or r0 or r1 < units else data
            self._by_rows = extreme(by_rows, px_h, axis=0, center=center)
            self._rows_key = rows_key
        block = extreme(self._by_rows[:, t0:t1], px_w, axis=1, center=center)
        self.steps_per_px = -(-(t1 - t0) // block.shape[1])
        self.rows_per_px = -(-(r1 - r0) // block.shape[0])
        self.image.setImage(np.ascontiguousarray(block), autoLevels=False, levels=self.levels)
        self.image.setRect(QRectF(off + t0 - 0.5, r0 - 0.5, t1 - t0, r1 - r0))
        self._update_axis_label()

    def retitle(self, title: str, y_label: str | None = None) -> None:
        """A new title (and row label): the config or the data changed. Shown at once, fitted
        to the plot with the downsampling note, and kept when the plot is redrawn."""
        self.title = title
        if y_label is not None:
            self.y_label = y_label
        self._title_key = ()
        self._update_axis_label()

    def _update_axis_label(self) -> None:
        extras = ""
        if self.order is not None:
            extras += f" · rows {self.order_label}"
        if self.rows_per_px > 1:
            extras += f" · ≤{self.rows_per_px} {self.y_label}s/px, most extreme"
        height = self.plot.getViewBox().height()
        key = (self.title, extras, self.y_label, self.axis.labelText, int(self.plot.width()),
               int(height))
        if key == self._title_key:  # moving the window along t changes none of these
            return
        # the label runs along the rows: no longer than they are tall, or it reaches into
        # the plot above ("c unit (hidden_size 24)" -> "c unit")
        label = fit_title(self.y_label, "", height, "8pt")
        if self.axis.labelText != label:
            self.plot.setLabel("left", label, **{"font-size": "8pt"})
        self._title_key = key[:3] + (label,) + key[4:]
        title = fit_title(self.title, extras, self.plot.width() - 8, self.title_size)
        if title != self._title_shown:
            self._title_shown = title
            set_title(self.plot, title, self.title_size)

    def downsampling_note(self) -> str:
        """What one pixel of this image holds, in words ('' when nothing is merged)."""
        parts = []
        if self.steps_per_px > 1:
            parts.append(f"up to {self.steps_per_px} steps")
        if self.rows_per_px > 1:
            parts.append(f"up to {self.rows_per_px} {self.y_label}s")
        return ("each pixel: the most extreme value of " + " × ".join(parts)) if parts else ""

    def set_t(self, t: int) -> None:
        self.cursor.setValue(t)

    def lookup(self, scene_pos) -> tuple[int, int, float] | None:
        """(unit, t, value) under a scene position, or None outside the image."""
        if not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.plot.getViewBox().mapSceneToView(scene_pos)
        t, row = int(round(p.x())), int(round(p.y()))
        units, steps = self.data.shape
        if 0 <= row < units and 0 <= t - self.offset < steps:
            unit = row if self.order is None else int(self.order[row])
            return unit, t, float(self.data[unit, t - self.offset])
        return None

    def reading(self, label: str, scene_pos) -> str:
        """``"<label>, unit U, t T: value"`` under ``scene_pos`` ('' outside the image); a
        blank cell says why it is blank."""
        hit = self.lookup(scene_pos)
        if hit is None:
            return ""
        unit, t, value = hit
        if not np.isnan(value):
            return f"{label}, unit {unit}, t {t}: {value:.4f}"
        if self.end is not None and t >= self.end and self.ended_text:
            return f"{label}, unit {unit}, t {t}: blank: {self.ended_text}"
        return f"{label}, unit {unit}, t {t}: — (past this sequence's length)"


def hover_reading(maps: dict[str, Heatmap], scene_pos) -> str:
    """``"<label>, unit U, t T: value"`` for the heatmap under ``scene_pos`` ('' if none)."""
    for label, heatmap in maps.items():
        text = heatmap.reading(label, scene_pos)
        if text:
            return text
    return ""


def envelope(values: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Bars that ``columns`` pixels can show of ``values`` (n,) without losing one: each run of
    ``k = ceil(n / columns)`` neighbours as one bar from its lowest to its highest value (and
    0, where the bars grow from; a run of NaN only: no bar). Returns (low, high, k), each
    (ceil(n / k),)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    k = max(1, -(-n // max(1, columns)))
    if n == 0:
        return np.zeros(0), np.zeros(0), k
    starts = np.arange(0, n, k)
    # fmin and fmax skip NaN: a run of NaN only comes out as NaN, then 0 against the baseline
    low = np.fmin(np.fmin.reduceat(values, starts), 0.0)
    high = np.fmax(np.fmax.reduceat(values, starts), 0.0)
    return low, high, k


class Bars:
    """One quantity at the current step across units, with the focus unit highlighted; in the
    shared unit order when one is set (the axis then names the unit of each bar). With more
    units than the plot has pixels, each pixel column shows its units' range (lowest to highest
    value), so that no unit disappears, and the axis says so."""

    def __init__(self, plot: pg.PlotItem, name: str, title: str, levels: tuple[float, float]
                 | None, colour: str):
        self.plot = plot
        self.name = name
        self.axis = UnitAxis("bottom")
        plot.setAxisItems({"bottom": self.axis})
        set_title(plot, title)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.levels = levels
        if levels is not None:
            plot.setYRange(*levels, padding=0.05)
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.85, brush=colour,
                                    pen=pg.mkPen(None))
        self.focus = pg.BarGraphItem(x=[0], height=[0], width=0.85, brush=theme.CURSOR,
                                     pen=pg.mkPen(None))
        # a thin marker keeps the focus unit findable when bars are narrower than a pixel
        focus = QColor(theme.CURSOR)
        focus.setAlpha(120)
        self.focus_line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(focus, width=1))
        plot.addItem(self.bars)
        plot.addItem(self.focus)
        plot.addItem(self.focus_line)
        plot.addLine(y=0, pen=pg.mkPen("#9e9e9e", width=1))
        self.heights = np.zeros(1)
        self.order: np.ndarray | None = None
        self._n = 0
        self.units_per_bar = 1  # > 1: each bar is the range of that many neighbouring units
        self._x = self._zeros = np.zeros(0)  # a bar per unit: where they stand, made once per n
        plot.getViewBox().sigResized.connect(self._draw)

    def set_order(self, order: np.ndarray | None) -> None:
        """Draw bar k as unit ``order[k]`` (None: index order)."""
        self.order = order
        self.axis.set_order(order)

    def set_values(self, values: np.ndarray, focus: int) -> None:
        values = np.asarray(values, dtype=float)
        if not np.isfinite(values).all():  # rare: checked first, converted only then
            values = np.nan_to_num(values, nan=0.0)
        n = len(values)
        order = self.order if self.order is not None and len(self.order) == n else None
        if order is not None:
            values = values[order]
            focus = int(np.flatnonzero(order == focus)[0]) if 0 <= focus < n else focus
        self.heights = values
        if n != self._n:
            self._n = n
            self.axis.set_count(n)
            self.plot.setXRange(-0.6, n - 0.4, padding=0)
        self._draw()
        if 0 <= focus < n:
            self.focus.setOpts(x=[focus], height=[values[focus]])
            self.focus.show()
            if self.focus_line.value() != focus:
                self.focus_line.setValue(focus)
            self.focus_line.setVisible(n > 32)
        else:
            self.focus.hide()
            self.focus_line.hide()

    def _draw(self, *args) -> None:
        """One bar per unit, or per pixel column when the units outnumber the pixels."""
        values, n = self.heights, len(self.heights)
        columns = int(self.plot.getViewBox().width())
        if columns <= 0 or n <= columns:
            k = 1
            if len(self._x) != n:
                self._x, self._zeros = np.arange(n, dtype=float), np.zeros(n)
            self.bars.setOpts(x=self._x, y0=self._zeros, height=values, width=0.85)
        else:
            low, high, k = envelope(values, columns)
            x = np.arange(len(low)) * k + (k - 1) / 2
            self.bars.setOpts(x=x, y0=low, height=high - low, width=float(k))
        if k != self.units_per_bar:
            self.units_per_bar = k
            self.axis.setLabel(f"≤{k} units per bar: min–max" if k > 1 else "",
                               **{"font-size": "7pt"})

    def set_range(self, lo: float, hi: float) -> None:
        self.plot.setYRange(lo, hi, padding=0.05)
