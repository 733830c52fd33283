"""A timeline as one figure: its visible tracks one under the other, each under its label,
the shared time axis below them and a caption, painted with a QPainter onto any device.

The figure is drawn, not grabbed: each track's scene is rendered at the size it has on screen
(all of it, also the part scrolled out of sight), its label is drawn as text, and buttons,
scroll bars and the overview are left out. On QSvgGenerator and QPdfWriter the text stays
text and the lines stay vectors; heatmaps are drawn ``oversample`` times finer than on screen
(each pixel then holds fewer merged steps), so a printed figure is sharp.

The object has the interface of ``app.figure.Figure`` (``view``, ``size``, ``caption``,
``paint``, ``has_content``): ``app.figure_writers`` writes both as PNG, SVG and PDF.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPdfWriter,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsView, QGraphicsWidget, QWidget

from lstm_viz.downsample import extreme

from ..figure import caption_document, draw_caption, scaled_with_the_figure
from ..figure_writers import PRINT_DPI, layout_dpi
from ..plots import Heatmap
from .track import plain

#: pixels between a track's label and its plot, and between tracks
LABEL_GAP = 2.0
TRACK_GAP = 6.0
#: pixels between the last track and the time axis: the labels at the last track's foot
#: (the bar charts' unit ticks and the note under them, a colour bar's end label) stay clear
#: of the axis's ticks and step label, and the axis reads as the time axis of every track,
#: not as the axis of the plot just above it
AXIS_GAP = 12.0
CAPTION_GAP = 6.0


@dataclass
class FigureTrack:
    """One row of the figure: its label, and the scene drawn under it (None: a collapsed
    track, drawn as its one-line label only)."""

    label: str
    view: QGraphicsView | None = None
    heatmaps: Sequence[Any] = field(default_factory=tuple)


class TimelineFigure:
    """Tracks, the time axis under them, and a caption, ``size`` large."""

    def __init__(self, view: QWidget, tracks: Sequence[FigureTrack],
                 axis: QGraphicsView | None = None, title: str = "", caption: str = "",
                 oversample: float = 1.0) -> None:
        self.view = view
        self.tracks = list(tracks)
        self.axis = axis
        self.oversample = max(1.0, float(oversample))
        widths = [float(t.view.width()) for t in self.tracks if t.view is not None]
        self.width = max(widths + [float(view.width()), 200.0])
        self.font = QFont(view.font())
        self.bold = QFont(self.font)
        self.bold.setBold(True)
        self.title = title
        self.caption = caption_document(caption, self.font, self.width)
        self._layout()

    # ----- layout -------------------------------------------------------------------------
    def _line(self, font: QFont) -> float:
        return QFontMetricsF(font).height() + 2 * LABEL_GAP

    def _layout(self) -> None:
        """Where everything goes: ``rects`` holds (label rect, scene rect or None) per track."""
        y = 0.0
        self.title_rect: QRectF | None = None
        if self.title:  # a long title wraps rather than running off the figure
            box = QFontMetricsF(self.bold).boundingRect(
                QRectF(0, 0, self.width - 8, 1e6), int(Qt.TextFlag.TextWordWrap), self.title)
            # room for two lines at least: an animation's frames keep one height as the
            # title's length changes from step to step
            lines = max(box.height(), 2 * QFontMetricsF(self.bold).lineSpacing())
            self.title_rect = QRectF(0, 0, self.width, lines + 2 * LABEL_GAP)
            y = self.title_rect.bottom() + LABEL_GAP
        self.rects: list[tuple[QRectF, QRectF | None]] = []
        for track in self.tracks:
            label = QRectF(0, y, self.width, self._line(self.font))
            y = label.bottom()
            scene = None
            if track.view is not None:
                scene = QRectF(0, y, float(track.view.width()), float(track.view.height()))
                y = scene.bottom()
            self.rects.append((label, scene))
            y += TRACK_GAP
        self.axis_rect: QRectF | None = None
        if self.axis is not None and self.axis.isVisibleTo(self.axis.window()):
            self.axis_rect = QRectF(0, y - TRACK_GAP + AXIS_GAP, float(self.axis.width()),
                                    float(self.axis.height()))
            y = self.axis_rect.bottom()
        self.caption_top = y + CAPTION_GAP
        cap_h = 0.0 if self.caption.isEmpty() else self.caption.size().height()
        # whole pixels: an image at scale k is then exactly k times as large
        self.size = QSizeF(math.ceil(self.width), math.ceil(self.caption_top + cap_h))

    def place(self, view: QGraphicsView, rect: QRectF) -> QRectF | None:
        """Where ``rect`` of ``view``'s scene lands in the figure (None: not drawn)."""
        for track, (_, scene) in zip(self.tracks, self.rects):
            if track.view is view and scene is not None:
                box = view.mapFromScene(rect).boundingRect()
                return QRectF(box).translated(scene.topLeft())
        return None

    def has_content(self) -> bool:
        """Whether any track draws something (a figure of collapsed tracks is only labels)."""
        return any(t.view is not None and t.view.scene() is not None
                   and bool(t.view.scene().items()) for t in self.tracks)

    # ----- painting -----------------------------------------------------------------------
    def _factor(self, painter: QPainter) -> float:
        """How much finer than on screen the heatmaps are drawn: at print resolution on a PDF
        or SVG, at the image's scale on an image (never coarser than on screen)."""
        if isinstance(painter.device(), (QPdfWriter, QSvgGenerator)):
            return max(self.oversample, PRINT_DPI / layout_dpi(self))
        return max(self.oversample, abs(painter.worldTransform().m11()))

    def paint(self, painter: QPainter) -> None:
        """Draw the figure at (0, 0), ``size`` large, on a white background."""
        painter.fillRect(QRectF(0, 0, self.size.width(), self.size.height()), QColor("white"))
        painter.setRenderHints(QPainter.RenderHint.Antialiasing
                               | QPainter.RenderHint.TextAntialiasing)
        ink = QColor("#212121")
        if self.title_rect is not None:
            painter.setFont(self.bold)
            painter.setPen(ink)
            painter.drawText(self.title_rect.adjusted(4, LABEL_GAP, -4, 0),
                             int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
                                 | Qt.TextFlag.TextWordWrap), self.title)
        views = [t.view for t in self.tracks if t.view is not None]
        with _sharper([h for t in self.tracks for h in t.heatmaps], self._factor(painter)), \
                scaled_with_the_figure(v.scene() for v in views):
            for track, (label, scene) in zip(self.tracks, self.rects):
                painter.setFont(self.font)
                painter.setPen(ink)
                painter.drawText(label.adjusted(4, 0, -4, 0),
                                 int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                                 track.label)
                if scene is not None and track.view is not None:
                    _render_view(painter, track.view, scene)
        if self.axis_rect is not None and self.axis is not None:
            _render_view(painter, self.axis, self.axis_rect)
        draw_caption(painter, self.caption, self.caption_top, self.size.width())


def timeline_figure(timeline: Any, title: str = "", caption: str = "") -> TimelineFigure:
    """The visible tracks of ``timeline`` (an app.timeline.Timeline) as a figure, top to
    bottom: an expanded track with its label and scene (colour bar and legend included), a
    collapsed one (or one with nothing to draw) as its one-line summary; then the time axis."""
    rows = []
    for frame in timeline.frames:
        track = frame.track
        if not frame.isVisibleTo(timeline):
            continue
        drawn = not frame.collapsed and track.available
        if drawn:
            _settle(track.graphics)
        label = plain(track.title() if drawn else track.summary())
        maps = [getattr(track, "map", None), *track.heatmaps().values()]
        rows.append(FigureTrack(label, track.graphics if drawn else None,
                                tuple(dict.fromkeys(m for m in maps if isinstance(m, Heatmap)))))
    return TimelineFigure(timeline, rows, timeline.axis_graphics, title, caption)


def _settle(view: QGraphicsView) -> None:
    """Lay ``view``'s scene out as it will be painted. pyqtgraph sizes an axis to its tick
    labels when it first paints them, so a track scrolled out of sight has never been laid
    out for its labels: paint it once off screen, then lay it out at once (not on a later
    turn of the event loop, which an export may not wait for)."""
    scene = view.scene()
    if scene is None:
        return
    scratch = QImage(max(1, view.width()), max(1, view.height()), QImage.Format.Format_RGB32)
    painter = QPainter(scratch)
    _render_view(painter, view, QRectF(0, 0, scratch.width(), scratch.height()))
    painter.end()
    for item in scene.items():
        # pyqtgraph's items hide QGraphicsWidget.layout() behind an attribute of that name
        layout = QGraphicsWidget.layout(item) if isinstance(item, QGraphicsWidget) else None
        if layout is not None:
            layout.activate()


def _render_view(painter: QPainter, view: QGraphicsView, rect: QRectF) -> None:
    """What ``view`` shows of its scene, into ``rect`` (clipped to it)."""
    scene = view.scene()
    if scene is None:
        return
    source = view.mapToScene(view.viewport().rect()).boundingRect()
    painter.save()
    painter.setClipRect(rect.adjusted(-1, -1, 1, 1))
    scene.render(painter, rect, source, Qt.AspectRatioMode.IgnoreAspectRatio)
    painter.restore()


@contextmanager
def _sharper(heatmaps: Sequence[Any], factor: float) -> Iterator[None]:
    """While painting: each heatmap's image holds ``factor`` x as many pixels as on screen
    (the same steps and rows, fewer merged into each pixel); the screen's image comes back
    after."""
    changed = []
    try:
        if factor > 1.0:
            for heatmap in heatmaps:
                if _resample(heatmap, factor):
                    changed.append(heatmap)
        yield
    finally:
        for heatmap in changed:
            heatmap.render(force=True)


def _resample(heatmap: Any, factor: float) -> bool:
    """Draw ``heatmap`` (an app.plots.Heatmap) into its image at ``factor`` x its pixels, with
    the same levels and the same most-extreme-value rule as on screen."""
    image = heatmap.image
    if not image.isVisible() or image.image is None:
        return False
    data = heatmap._shown
    units, steps = data.shape
    vb = heatmap.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    off = heatmap.offset
    t0, t1 = max(0, int(np.floor(x0 + 0.5)) - off), min(steps, int(np.ceil(x1 + 0.5)) - off)
    r0, r1 = max(0, int(np.floor(y0 + 0.5))), min(units, int(np.ceil(y1 + 0.5)))
    if t1 <= t0 or r1 <= r0:
        return False
    px_w = max(1, int(vb.width() * factor))
    px_h = max(1, int(vb.height() * factor))
    center = heatmap.center if heatmap.scale != "unit" or heatmap.center == 0.0 else 0.5
    rows = np.arange(r0, r1) if heatmap.order is None else heatmap.order[r0:r1]
    block = extreme(extreme(data[rows], px_h, axis=0, center=center)[:, t0:t1], px_w, axis=1,
                    center=center)
    image.setImage(np.ascontiguousarray(block), autoLevels=False, levels=heatmap.levels)
    image.setRect(QRectF(off + t0 - 0.5, r0 - 0.5, t1 - t0, r1 - r0))
    return True


def colour_bars(fig: TimelineFigure) -> list[pg.ColorBarItem]:
    """The colour bars drawn in ``fig`` (an animation keeps their colours exact)."""
    bars = []
    for track in fig.tracks:
        if track.view is not None and track.view.scene() is not None:
            bars += [item for item in track.view.scene().items()
                     if isinstance(item, pg.ColorBarItem) and item.isVisible()]
    return bars
