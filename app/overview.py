"""The whole sequence at a glance above a view's heatmaps, with the detail window on it.

Each band is one heatmap of the view (units x every step), shrunk to the overview's pixels by
keeping each bucket's most extreme value, so a spike anywhere in the sequence shows. The shaded
region is the detail window: drag it to move it, drag its edges to resize it; it follows the
cursor when the cursor leaves it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Signal

from lstm_viz.downsample import extreme

from .plots import CURSOR_PEN, set_title

LEFT_AXIS_WIDTH = 64


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
        plot.getAxis("bottom").setStyle(tickLength=-3)
        set_title(plot, "overview: every step", size="8pt")
        plot.setMinimumHeight(76)
        plot.setMaximumHeight(76)
        self.images: list[pg.ImageItem] = []
        self.bands: list[tuple[np.ndarray, float]] = []
        self.steps = 1
        self.width = int(window)
        self.requested = int(window)  # the width asked for; shorter sequences show all steps
        self.region = pg.LinearRegionItem((-0.5, window - 0.5), brush=(255, 193, 7, 50),
                                          pen=pg.mkPen("#ff6f00", width=2))
        self.region.setZValue(20)
        self.region.sigRegionChanged.connect(self._on_region_changed)
        plot.addItem(self.region)
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)
        self.cursor.setZValue(21)
        plot.addItem(self.cursor)
        self._window = (0, window)
        plot.getViewBox().sigResized.connect(self.render)

    def set_bands(self, bands: list[tuple[str, np.ndarray, pg.ColorMap, tuple[float, float]]]
                  ) -> None:
        """Bands top to bottom as (name, data (units, T), colour map, levels)."""
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
        self.steps = int(bands[0][1].shape[1]) if bands else 1
        ticks = [(k + 0.5, name) for k, (name, *_) in enumerate(bands)]
        self.plot.getAxis("left").setTicks([ticks, []])
        self.plot.setLimits(xMin=-0.5, xMax=self.steps - 0.5)
        self.plot.setRange(xRange=(-0.5, self.steps - 0.5), yRange=(0, max(1, len(bands))),
                           padding=0)
        self.region.setBounds((-0.5, self.steps - 0.5))
        self.render()
        t0, t1 = self._window
        width = min(self.requested, self.steps)
        if t1 > self.steps or t1 - t0 != width:
            t0 = max(0, min(t0, self.steps - width))
            self.set_window(t0, t0 + width)

    def render(self, *args) -> None:
        """Draw each band at the overview's pixel size (most extreme value per pixel)."""
        vb = self.plot.getViewBox()
        px_w = max(1, int(vb.width()))
        px_h = max(1, int(vb.height()) // max(1, len(self.bands)))
        for k, (image, (data, center)) in enumerate(zip(self.images, self.bands)):
            block = extreme(extreme(data, px_w, axis=1, center=center), px_h, axis=0,
                            center=center)
            image.setImage(np.ascontiguousarray(block), autoLevels=False)
            image.setRect(QRectF(-0.5, k, data.shape[1], 1))
        steps_per_px = -(-self.steps // px_w)
        note = f"overview: all {self.steps} steps; drag the window, or its edges"
        if steps_per_px > 1:
            note += f" · ≤{steps_per_px} steps/px, most extreme kept"
        set_title(self.plot, note, size="8pt")

    # ----- the window -------------------------------------------------------------------
    @property
    def window(self) -> tuple[int, int]:
        return self._window

    def set_window(self, t0: int, t1: int) -> None:
        """Show steps [t0, t1) in the detail views (clamped to the sequence)."""
        width = max(1, min(int(t1) - int(t0), self.steps))
        t0 = max(0, min(int(t0), self.steps - width))
        self.width = width
        self.region.setRegion((t0 - 0.5, t0 + width - 0.5))  # emits through the region

    def set_width(self, width: int) -> None:
        """Resize the window around its middle."""
        t0, t1 = self._window
        mid = (t0 + t1) // 2
        self.requested = max(1, int(width))
        width = min(self.requested, self.steps)
        self.set_window(mid - width // 2, mid - width // 2 + width)

    def follow(self, t: int) -> None:
        """Move the cursor; re-centre the window on it when it leaves the window."""
        self.cursor.setValue(t)
        t0, t1 = self._window
        if not t0 <= t < t1:
            width = t1 - t0
            self.set_window(t - width // 2, t - width // 2 + width)

    def _on_region_changed(self) -> None:
        lo, hi = self.region.getRegion()
        t0 = max(0, int(round(lo + 0.5)))
        t1 = min(self.steps, max(t0 + 1, int(round(hi + 0.5))))
        if (t0, t1) != self._window:
            self._window = (t0, t1)
            self.width = t1 - t0
            if self.region.moving or self.region.lines[0].moving or self.region.lines[1].moving:
                self.requested = self.width  # the user resized it
            self.window_changed.emit(t0, t1)
