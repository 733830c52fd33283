"""The whole sequence at a glance above a view's heatmaps, with the detail window on it.

Each band is one heatmap of the view (units x every step), shrunk to the overview's pixels by
keeping each bucket's most extreme value, so a spike anywhere in the sequence shows. The shaded
region is the detail window: drag it to move it, drag its edges to resize it; it follows the
cursor when the cursor leaves it.

A windowed trace (its full trace is over the memory budget) holds only a window of steps; its
bands then come from the session's overview (each bucket's min and max over the whole input:
the one further from the colour scale's middle), and a grey band marks the steps traced in full.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QFont, QFontMetrics

from lstm_viz.downsample import extreme

from . import theme
from .plots import CURSOR_PEN, fit_title, set_title

LEFT_AXIS_WIDTH = 64
OVERVIEW_HEIGHT = 76  # with two bands (c and h); more bands make it taller
TRACED_BRUSH = (120, 144, 156, 70)
WINDOW_BRUSH = (255, 193, 7, 50)


def bucket_extremes(lo: np.ndarray, hi: np.ndarray, center: float) -> np.ndarray:
    """Per bucket, whichever of its min ``lo`` and max ``hi`` lies further from ``center``
    (NaN where the bucket holds no valid step)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(hi - center) >= np.abs(lo - center), hi, lo)


#: the bands of the last overview asked for: moving a window keeps the overview, so the same
#: arrays come back and the overview is not drawn again
_bands: dict = {"overview": None}


def overview_band(session, name: str, layer: int, direction: int, batch: int,
                  center: float) -> np.ndarray | None:
    """(units, buckets): ``name`` (one of i, f, g, o, c, h) of the selection over the whole
    input, each bucket's most extreme value, from a windowed session's overview; None when the
    session holds a full trace."""
    ov = session.overview
    if ov is None:
        return None
    if _bands["overview"] is not ov:
        _bands.clear()
        _bands["overview"] = ov
    key = (name, layer, direction, batch, center)
    if key not in _bands:
        _bands[key] = _band(ov, name, layer, direction, batch, center)
    return _bands[key]


def _band(ov, name: str, layer: int, direction: int, batch: int, center: float) -> np.ndarray:
    if name in ("i", "f", "g", "o"):
        stats = ov.gates[:2, layer, direction, :, batch, "ifgo".index(name)]
    else:
        stats = getattr(ov, name)[:2, layer, direction, :, batch]
    lo, hi = stats.detach().cpu().numpy()  # (buckets, units) each
    return np.ascontiguousarray(bucket_extremes(lo, hi, center).T)


class Overview(QObject):
    """A PlotItem of stacked bands over all T steps and a draggable, resizable window."""

    #: (t0, t1): the detail window shows steps [t0, t1)
    window_changed = Signal(int, int)

    def __init__(self, plot: pg.PlotItem, window: int = 150, parent=None):
        super().__init__(parent)
        self.plot = plot
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.invertY(True)
        plot.getViewBox().setMouseEnabled(x=False, y=False)
        plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        band_font = QFont(plot.getAxis("left").font())
        band_font.setPointSizeF(8)
        plot.getAxis("left").setStyle(tickFont=band_font)
        plot.getAxis("bottom").setStyle(tickLength=-3)
        set_title(plot, "overview: every step", size="8pt")
        self._fit_height(2)
        self.images: list[pg.ImageItem] = []
        self.bands: list[tuple[np.ndarray, float]] = []
        self.steps = 1
        self.width = int(window)
        self.requested = int(window)  # the width asked for; shorter sequences show all steps
        self.bucket = 1  # steps per column of the bands
        self.traced: tuple[int, int] | None = None  # a windowed trace's steps; None: all
        self.traced_region = pg.LinearRegionItem((0, 0), movable=False, brush=TRACED_BRUSH,
                                                 pen=pg.mkPen(None))
        self.traced_region.setZValue(15)
        self.traced_region.hide()
        plot.addItem(self.traced_region)
        self.region = pg.LinearRegionItem((-0.5, window - 0.5), brush=WINDOW_BRUSH,
                                          pen=pg.mkPen(theme.foreground(), width=2))
        self.region.setZValue(20)
        self.region.sigRegionChanged.connect(self._on_region_changed)
        plot.addItem(self.region)
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)
        self.cursor.setZValue(21)
        plot.addItem(self.cursor)
        self._window = (0, window)
        self._drawn: tuple = ()
        plot.getViewBox().sigResized.connect(self.render)

    def _fit_height(self, bands: int) -> None:
        """Tall enough that each band's name on the left axis clears the next one's."""
        axis = self.plot.getAxis("left")
        row = QFontMetrics(axis.style.get("tickFont") or axis.font()).height()
        height = max(OVERVIEW_HEIGHT, OVERVIEW_HEIGHT - 2 * row + bands * row)
        self.plot.setMinimumHeight(height)
        self.plot.setMaximumHeight(height)

    def set_bands(self, bands: list[tuple[str, np.ndarray, pg.ColorMap, tuple[float, float]]],
                  steps: int | None = None, bucket: int = 1,
                  traced: tuple[int, int] | None = None) -> None:
        """Bands top to bottom as (name, data (units, columns), colour map, levels); column j
        covers steps [j * bucket, (j + 1) * bucket) of ``steps`` (default: columns * bucket).
        ``traced``: the steps [start, stop) a windowed trace holds (the detail window stays
        inside them); None: every step is traced."""
        self.bucket = max(1, int(bucket))
        self.traced = None if traced is None else (int(traced[0]), int(traced[1]))
        if self.traced is not None:
            self.traced_region.setRegion((self.traced[0] - 0.5, self.traced[1] - 0.5))
        self.traced_region.setVisible(self.traced is not None)
        self._fit_height(len(bands))
        while len(self.images) < len(bands):
            image = pg.ImageItem(axisOrder="row-major")
            self.plot.addItem(image)
            self.images.append(image)
        for k, image in enumerate(self.images):
            image.setVisible(k < len(bands))
        self.bands = []
        for image, (_, data, cmap, levels) in zip(self.images, bands):
            image.setLookupTable(cmap.getLookupTable(nPts=256))
            image.setLevels(levels)
            self.bands.append((data, 0.5 if tuple(levels) == (0.0, 1.0) else 0.0))
        self.steps = int(steps) if steps is not None else \
            int(bands[0][1].shape[1]) * self.bucket if bands else 1
        ticks = [(k + 0.5, name) for k, (name, *_) in enumerate(bands)]
        self.plot.getAxis("left").setTicks([ticks, []])
        self.plot.setLimits(xMin=-0.5, xMax=self.steps - 0.5)
        self.plot.setRange(xRange=(-0.5, self.steps - 0.5), yRange=(0, max(1, len(bands))),
                           padding=0)
        self.region.setBounds((-0.5, self.steps - 0.5))
        self.render()
        t0, t1 = self._window
        width = min(self.requested, self.max_width)
        lo, hi = self.traced or (0, self.steps)
        if t0 < lo or t1 > hi or t1 - t0 != width:
            t0 = max(lo, min(t0, hi - width))
            self.set_window(t0, t0 + width)
        self._tint()

    @property
    def covers_all(self) -> bool:
        """Whether the detail window shows every step (then nothing is outside it)."""
        t0, t1 = self._window
        return t0 <= 0 and t1 >= self.steps

    def _tint(self) -> None:
        """Tint the window only when there is something outside it: a window over every step
        is drawn as its outline, so that the bands under it keep their colours."""
        self.region.setBrush(pg.mkBrush(None) if self.covers_all else pg.mkBrush(WINDOW_BRUSH))
        self.region.update()

    @property
    def max_width(self) -> int:
        """The widest detail window: every step, or the steps a windowed trace holds."""
        lo, hi = self.traced or (0, self.steps)
        return max(1, hi - lo)

    def render(self, *args) -> None:
        """Draw each band at the overview's pixel size (most extreme value per pixel)."""
        vb = self.plot.getViewBox()
        px_w = max(1, int(vb.width()))
        px_h = max(1, int(vb.height()) // max(1, len(self.bands)))
        # the bands held are alive, so their ids name them: the same bands at the same size
        # (a windowed trace's next window) are not shrunk again
        drawn = (px_w, px_h, self.bucket, *(id(data) for data, _ in self.bands))
        for k, (image, (data, center)) in enumerate(zip(self.images, self.bands)):
            if drawn == self._drawn:
                break
            block = extreme(extreme(data, px_w, axis=1, center=center), px_h, axis=0,
                            center=center)
            image.setImage(np.ascontiguousarray(block), autoLevels=False)
            image.setRect(QRectF(-0.5, k, data.shape[1] * self.bucket, 1))
        self._drawn = drawn
        steps_per_px = -(-self.steps // px_w)
        if self.traced is not None:
            steps_per_px = max(steps_per_px, self.bucket)
            lo, hi = self.traced
            note = (f"overview: all {self.steps} steps, min or max per bucket · grey: traced"
                    " in full")
        else:
            note = f"overview: all {self.steps} steps; drag the window, or its edges"
        if steps_per_px > 1:
            note += f" · ≤{steps_per_px} steps/px"
            if self.traced is None:
                note += ", most extreme kept"
        width = self.plot.width() - 8
        set_title(self.plot, fit_title(note, "", width, "8pt") if width > 100 else note,
                  size="8pt")

    # ----- the window -------------------------------------------------------------------
    @property
    def window(self) -> tuple[int, int]:
        return self._window

    def set_window(self, t0: int, t1: int) -> None:
        """Show steps [t0, t1) in the detail views (clamped to the sequence)."""
        width = max(1, min(int(t1) - int(t0), self.max_width))
        t0 = max(0, min(int(t0), self.steps - width))
        self.width = width
        self.region.setRegion((t0 - 0.5, t0 + width - 0.5))  # emits through the region

    def set_width(self, width: int) -> None:
        """Resize the window around its middle."""
        t0, t1 = self._window
        mid = (t0 + t1) // 2
        self.requested = max(1, int(width))
        width = min(self.requested, self.max_width)
        self.set_window(mid - width // 2, mid - width // 2 + width)

    def follow(self, t: int) -> None:
        """Move the cursor; re-centre the window on it when it leaves the window."""
        self.cursor.setValue(t)
        t0, t1 = self._window
        if not t0 <= t < t1:
            width = t1 - t0
            self.set_window(t - width // 2, t - width // 2 + width)

    def step_to_trace(self, t: int) -> int | None:
        """The step to move t to so that the detail window gets traced (its middle), or None
        when every step is traced, the window lies in the traced steps, or it holds t."""
        if self.traced is None:
            return None
        t0, t1 = self._window
        lo, hi = self.traced
        if lo <= t0 and t1 <= hi or t0 <= t < t1:
            return None
        return (t0 + t1) // 2

    def _on_region_changed(self) -> None:
        lo, hi = self.region.getRegion()
        t0 = max(0, int(round(lo + 0.5)))
        t1 = min(self.steps, max(t0 + 1, int(round(hi + 0.5))))
        if (t0, t1) != self._window:
            self._window = (t0, t1)
            self.width = t1 - t0
            if self.region.moving or self.region.lines[0].moving or self.region.lines[1].moving:
                self.requested = self.width  # the user resized it
            self._tint()
            self.window_changed.emit(t0, t1)
