"""Edited and ablated values marked where a track draws them: an outline around the unit's
row over the steps the edit covers in a heatmap of that quantity, and a band over those steps
in every other track, so that no picture of a what-if run looks like nn.LSTM's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

from lstm_viz.edits import EditMark, edit_marks

#: the colour of what a what-if edit set by hand (the equation and the unit table use it too)
WHATIF_COLOUR = "#a15c00"


def session_marks(ctx: Any) -> list[EditMark]:
    """The session's edits that touch the selected layer, direction and batch element."""
    session, trace = ctx.session, ctx.session.trace
    edits = session.edits
    if not edits or trace is None or not trace.meta.get("edited"):
        return []
    return edit_marks(edits.inputs, edits.states, edits.ablations, layer=ctx.layer,
                      direction=ctx.direction, batch=ctx.batch, seq_len=session.num_steps)


def marks_text(marks: Sequence[EditMark]) -> str:
    """One line for a track's summary or tooltip: "c[2] ablated, f[5] clamped to 0.25"."""
    seen = list(dict.fromkeys(m.text for m in marks))
    return ", ".join(seen[:4]) + (f" and {len(seen) - 4} more" if len(seen) > 4 else "")


class EditMarks:
    """The marks drawn on one plot: row outlines for ``quantity`` (None: bands only)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.items: list[QGraphicsItem] = []
        self.shown: list[EditMark] = []

    def clear(self) -> None:
        for item in self.items:
            self.plot.removeItem(item)
        self.items = []
        self.shown = []

    def show(self, marks: Sequence[EditMark], rows: Mapping[str, int] | None = None,
             order: np.ndarray | None = None, band: bool = True) -> None:
        """Outline each mark whose quantity has a row block in ``rows`` (quantity -> the row
        of its unit 0, rows going down; e.g. {"c": 0} for a c heatmap), its unit found
        through ``order`` (row -> unit) when the rows are reordered; draw the others as a
        band over their steps when ``band``."""
        self.clear()
        rows = rows or {}
        item: QGraphicsItem
        colour = QColor(WHATIF_COLOUR)
        fill = QColor(colour)
        fill.setAlpha(40)
        where = None if order is None else {int(u): r for r, u in enumerate(order)}
        for mark in marks:
            if mark.quantity in rows:
                row = mark.index if where is None else where.get(mark.index)
                if row is None:
                    continue
                y = rows[mark.quantity] + row
                item = QGraphicsRectItem(QRectF(mark.start - 0.5, y - 0.5,
                                                mark.stop - mark.start, 1.0))
                item.setPen(pg.mkPen(colour, width=2, cosmetic=True))
                item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            elif band:
                # over the plot's whole height, whatever its y range
                item = pg.LinearRegionItem((mark.start - 0.5, mark.stop - 0.5), movable=False,
                                           brush=QBrush(fill), pen=pg.mkPen(None))
            else:
                continue
            item.setZValue(8)
            item.setToolTip(mark.text)
            self.plot.addItem(item, ignoreBounds=True)
            self.items.append(item)
            self.shown.append(mark)
