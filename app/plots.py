"""pyqtgraph building blocks shared by the gates and states views: a units x time heatmap with
a time cursor and hover lookup, and a bar chart of one step across units."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from . import theme

SIGMOID = pg.colormap.get("viridis")
DIVERGING = pg.colormap.get("CET-D1A")
CURSOR_PEN = pg.mkPen(255, 23, 68, 190, width=2)

pg.setConfigOptions(antialias=False)
theme.apply()  # background and foreground from the palette; the window applies it again


def nan_safe_limit(a: np.ndarray, floor: float = 1e-6) -> float:
    """max |a| over finite values (at least ``floor``), for symmetric colour levels."""
    finite = a[np.isfinite(a)]
    return max(float(np.abs(finite).max()) if finite.size else 1.0, floor)


class Heatmap:
    """A PlotItem showing ``image[unit, t]`` with unit 0 at the top, and a cursor at t."""

    def __init__(self, plot: pg.PlotItem, name: str, title: str, y_label: str = "unit",
                 cursor_label: bool = False):
        self.plot = plot
        self.name = name
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        plot.setTitle(title, size="10pt")
        plot.setLabel("left", y_label)
        plot.invertY(True)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.getViewBox().setMouseEnabled(x=True, y=False)
        ink, fill = theme.cursor_label_colours()
        label = {"label": "t={value:.0f}",
                 "labelOpts": {"position": 0.08, "color": ink, "fill": fill}} \
            if cursor_label else {}
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN, movable=True, **label)
        self.cursor.setZValue(10)
        plot.addItem(self.cursor)
        self.data = np.zeros((1, 1), dtype=np.float32)

    def set_data(self, data: np.ndarray) -> None:
        """``data`` is (units, T); NaN cells (past a sequence's length) stay blank."""
        self.data = data
        units, steps = data.shape
        self.image.setImage(data, autoLevels=False)
        self.image.setRect(QRectF(-0.5, -0.5, steps, units))
        self.plot.setLimits(xMin=-0.5, xMax=steps - 0.5, yMin=-0.5, yMax=units - 0.5)
        self.plot.setRange(xRange=(-0.5, steps - 0.5), yRange=(-0.5, units - 0.5), padding=0)

    def set_t(self, t: int) -> None:
        self.cursor.setValue(t)

    def lookup(self, scene_pos) -> tuple[int, int, float] | None:
        """(unit, t, value) under a scene position, or None outside the image."""
        if not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.plot.getViewBox().mapSceneToView(scene_pos)
        t, unit = int(round(p.x())), int(round(p.y()))
        units, steps = self.data.shape
        if 0 <= unit < units and 0 <= t < steps:
            return unit, t, float(self.data[unit, t])
        return None


def hover_reading(maps: dict[str, Heatmap], scene_pos) -> str:
    """``"<label>, unit U, t T: value"`` for the heatmap under ``scene_pos`` ('' if none)."""
    for label, heatmap in maps.items():
        hit = heatmap.lookup(scene_pos)
        if hit is not None:
            unit, t, value = hit
            return f"{label}, unit {unit}, t {t}: " + \
                ("— (past this sequence's length)" if np.isnan(value) else f"{value:.4f}")
    return ""


class Bars:
    """One quantity at the current step across units, with the focus unit highlighted."""

    def __init__(self, plot: pg.PlotItem, name: str, title: str, levels: tuple[float, float]
                 | None, colour: str):
        self.plot = plot
        self.name = name
        plot.setTitle(title, size="9pt")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.levels = levels
        if levels is not None:
            plot.setYRange(*levels, padding=0.05)
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.85, brush=colour,
                                    pen=pg.mkPen(None))
        self.focus = pg.BarGraphItem(x=[0], height=[0], width=0.85, brush="#ff1744",
                                     pen=pg.mkPen(None))
        # a thin marker keeps the focus unit findable when bars are narrower than a pixel
        self.focus_line = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(255, 23, 68, 120, width=1))
        plot.addItem(self.bars)
        plot.addItem(self.focus)
        plot.addItem(self.focus_line)
        plot.addLine(y=0, pen=pg.mkPen("#9e9e9e", width=1))
        self.heights = np.zeros(1)
        self._n = 0

    def set_values(self, values: np.ndarray, focus: int) -> None:
        values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
        self.heights = values
        n = len(values)
        if n != self._n:
            self._n = n
            self.plot.setXRange(-0.6, n - 0.4, padding=0)
            self.bars.setOpts(x=np.arange(n), height=values)
        else:
            self.bars.setOpts(height=values)
        if 0 <= focus < n:
            self.focus.setOpts(x=[focus], height=[values[focus]])
            self.focus.show()
            if self.focus_line.value() != focus:
                self.focus_line.setValue(focus)
            self.focus_line.setVisible(n > 32)
        else:
            self.focus.hide()
            self.focus_line.hide()

    def set_range(self, lo: float, hi: float) -> None:
        self.plot.setYRange(lo, hi, padding=0.05)
