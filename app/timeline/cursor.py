"""StepLabel: the time cursor's one label, "t = N" on the time axis under every track.

Every track draws the cursor as a line at the step's x; the step is written once, here, over
the axis's tick labels (as a genome browser's ruler marks its position), so that no label
covers a track's data and a step moves one label, not one per track.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QFont

from .. import theme


class StepLabel:
    """"t = N" at the cursor's x on ``plot``'s bottom axis, kept inside the axis: a cursor
    left or right of the steps shown is written at that end, with an arrow towards it."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.axis = plot.getAxis("bottom")
        self.item = pg.TextItem("", anchor=(0.5, 0))
        self.dark: bool | None = None  # the theme the colours were chosen for
        font = QFont()
        font.setPointSizeF(8)
        self.item.setFont(font)
        self.item.setParentItem(self.axis)  # not the view box: it is one pixel tall and clips
        self.item.setZValue(10)
        self.item.hide()
        self.t: int | None = None
        self.text = ""
        view = plot.getViewBox()
        view.sigRangeChanged.connect(self.place)
        view.sigResized.connect(self.place)

    def set_step(self, t: int | None) -> None:
        """Write step ``t`` (None: no trace, no label)."""
        self.t = None if t is None else int(t)
        self.place()

    def _colour(self) -> None:
        """The cursor's colours in the theme now (the theme can change while it is shown)."""
        dark = theme.is_dark()
        if dark != self.dark:
            self.dark = dark
            ink, fill = theme.cursor_label_colours()
            fill.setAlpha(255)  # the tick label it covers does not show through
            self.item.setColor(ink)
            self.item.fill = pg.mkBrush(fill)
            self.item.border = theme.cursor_pen()
            self.item.update()

    def place(self, *args: Any) -> None:
        t = self.t
        self.item.setVisible(t is not None)
        if t is None:
            return
        self._colour()
        view = self.plot.getViewBox()
        (x0, x1), _ = view.viewRange()
        first, last = x0 + 0.5, x1 - 0.5  # the steps shown
        shown = min(max(float(t), first), last)
        text = f"◂ t = {t}" if t < first else f"t = {t} ▸" if t > last else f"t = {t}"
        if text != self.text:
            self.text = text
            self.item.setText(text)
        room = self.axis.mapRectFromScene(view.sceneBoundingRect())
        x = self.axis.mapFromScene(view.mapViewToScene(QPointF(shown, 0))).x()
        half = self.item.boundingRect().width() / 2
        x = min(max(x, room.left() + half), room.right() - half)
        self.item.setPos(x, 1)
