"""Timeline: tracks on one shared time axis, as a genome browser shows them.

The overview of the whole input with its detail window sits on top; the tracks, each with its
header and resize handle, sit in a vertical scroll area (they scroll rather than squeeze below
their legible height); the one time axis sits under them and says, once, how many steps one
pixel holds. "Add track" lists every registered kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ..ablation_menu import attach_ablation_menu
from ..display import DisplayControls
from ..overview import LEFT_AXIS_WIDTH, Overview
from ..sessions import sequence_end
from .cursor import StepLabel
from .frame import TrackFrame
from .registry import create, track_kinds
from .track import LEFT_MARGIN, Track, TrackState, reserve_bar_column

TIME_AXIS_HEIGHT = 42
#: the display's shared colour scale -> the tracks' own
DISPLAY_SCALES = {"fixed": "fixed", "unit": "unit", "percentile": "robust"}


class TimeAxis(pg.AxisItem):
    """The timeline's time axis, its title centred under the plot area of the tracks for
    every text and at every width. The axis spans the plot area's column, so its middle is the
    plot area's; pyqtgraph places an axis title only when the axis is resized (a title whose
    text changed since, with the steps shown or what a pixel holds, would sit where the old
    text's middle was), and at whole pixels."""

    def setLabel(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - pyqtgraph override
        super().setLabel(*args, **kwargs)
        self.resizeEvent()

    def resizeEvent(self, ev: Any = None) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(ev)
        label = getattr(self, "label", None)
        if label is None:  # closed
            return
        width = label.boundingRect().width()
        x = (self.size().width() - width) / 2
        scene = self.scene()
        if scene is not None and width > self.size().width():
            # wider than the plot area: centred still, but never cut at the scene's edges
            room = self.mapRectFromScene(scene.sceneRect())
            x = max(room.left(), min(x, room.right() - width))
        label.setPos(x, label.pos().y())


def _axis_only_graphics(height: int) -> tuple[pg.GraphicsLayoutWidget, pg.PlotItem]:
    graphics = pg.GraphicsLayoutWidget()
    graphics.ci.setContentsMargins(LEFT_MARGIN, 0, 2, 2)
    graphics.ci.setSpacing(0)
    plot = graphics.addPlot(row=0, col=0, axisItems={"bottom": TimeAxis("bottom")})
    reserve_bar_column(graphics)
    plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
    plot.getAxis("left").setStyle(showValues=False, tickLength=0)
    plot.getAxis("left").setPen(pg.mkPen(None))
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getViewBox().setMouseEnabled(x=False, y=False)
    plot.getViewBox().setMaximumHeight(1)
    graphics.setFixedHeight(height)
    return graphics, plot


def _quiet_time_axes(track: Track) -> None:
    """The time axes of ``track``'s plots (hidden: the timeline draws one under all tracks)
    without the SI prefix pyqtgraph would otherwise re-typeset at every move of the window;
    a step count has no unit to prefix."""
    for item in track.graphics.ci.items:
        if isinstance(item, pg.PlotItem):
            for name in ("bottom", "top"):
                item.getAxis(name).enableAutoSIPrefix(False)


class Timeline(QWidget):
    """An overview, a scrolling stack of tracks on one time axis, and the Add track menu."""

    #: the tracks, their order, heights, collapse or scales changed (what a session saves)
    tracks_changed = Signal()

    def __init__(self, ctx: Any, tracks: Iterable[TrackState | str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.ctx = ctx
        self.session = ctx.session
        self.display = ctx.display
        self.controls = DisplayControls(ctx)
        self.frames: list[TrackFrame] = []
        self._shared: dict[str, Any] = {}
        self._proxies: dict[TrackFrame, pg.SignalProxy] = {}  # hover, 60 readings a second
        #: the right-click menu last opened on a heatmap track (ablate a unit)
        self.ablation_menu: QMenu | None = None
        self.hover = QLabel("Hover a track to read it.")
        self.hover.setObjectName("timeline_hover")
        # the overview, in a scene of its own, with the tracks' columns
        self.overview_graphics = pg.GraphicsLayoutWidget()
        self.overview_graphics.setObjectName("overview_graphics")
        self.overview_graphics.ci.setContentsMargins(LEFT_MARGIN, 2, 2, 0)
        self.overview_graphics.ci.setSpacing(0)
        self.overview = Overview(self.overview_graphics.addPlot(row=0, col=0),
                                 self.controls.window_box.value(), self)
        reserve_bar_column(self.overview_graphics)
        self.overview_graphics.setSizePolicy(QSizePolicy.Policy.Expanding,
                                             QSizePolicy.Policy.Fixed)
        self.overview.plot.setMinimumHeight(0)
        # the tracks
        self.stack = QWidget()
        self.stack.setObjectName("track_stack")
        self.stack_layout = QVBoxLayout(self.stack)
        self.stack_layout.setContentsMargins(0, 0, 0, 0)
        self.stack_layout.setSpacing(2)
        self.stack_layout.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("track_scroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # always there: the tracks keep the width of the overview and axis above and below
        self.scroll_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.scroll_area.setWidget(self.stack)
        # the one time axis, under every track
        self.axis_graphics, self.axis_plot = _axis_only_graphics(TIME_AXIS_HEIGHT)
        self.axis_graphics.setObjectName("time_axis")
        self.axis_plot.setLabel("bottom", "t (input position)")
        self.step_label = StepLabel(self.axis_plot)
        # Add track
        self.add_button = QToolButton()
        self.add_button.setObjectName("add_track")
        self.add_button.setText("Add track")
        self.add_button.setToolTip("Add a track to this timeline")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_menu = QMenu(self.add_button)
        self.add_menu.aboutToShow.connect(self._fill_add_menu)
        self.add_button.setMenu(self.add_menu)
        top = QWidget()
        self._top_layout = QHBoxLayout(top)
        self._top_layout.addWidget(self.overview_graphics)
        bottom = QWidget()
        self._bottom_layout = QHBoxLayout(bottom)
        self._bottom_layout.addWidget(self.axis_graphics)
        self._align_columns()
        foot = QHBoxLayout()
        foot.addWidget(self.hover, 1)
        foot.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(top)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(bottom)
        layout.addLayout(foot)
        self.overview.window_changed.connect(self._on_window_changed)
        self.controls.window_box.valueChanged.connect(self.overview.set_width)
        self.display.changed.connect(self._on_display_changed)
        self._fit_overview()
        self.set_tracks(tracks)

    # ----- the track set ----------------------------------------------------------------
    def shared(self, key: str, factory: Callable[[], Any]) -> Any:
        """One object per timeline under ``key``, made by ``factory`` on first use."""
        if key not in self._shared:
            self._shared[key] = factory()
        return self._shared[key]

    def tracks(self) -> list[Track]:
        """The tracks, top to bottom."""
        return [frame.track for frame in self.frames]

    def track(self, kind: str) -> Track | None:
        """The track of ``kind`` (None when it is not shown)."""
        return next((f.track for f in self.frames if f.track.kind == kind), None)

    def frame(self, kind: str) -> TrackFrame | None:
        return next((f for f in self.frames if f.track.kind == kind), None)

    def state(self) -> list[TrackState]:
        """What a session saves: every track's kind, height, collapse and scale, in order."""
        states = []
        for f in self.frames:
            state = TrackState.from_dict(f.state.to_dict())
            state.options = dict(f.track.options())
            states.append(state)
        return states

    def set_tracks(self, tracks: Iterable[TrackState | str]) -> None:
        """Show exactly ``tracks`` (states or kinds), top to bottom; unknown kinds are
        skipped (a session from a newer version), a kind named twice shows once."""
        for frame in list(self.frames):
            self._drop(frame)
        known = track_kinds()
        for item in tracks:
            state = TrackState(item) if isinstance(item, str) else item
            if state.kind in known and self.track(state.kind) is None:
                self._add(state, len(self.frames))
        self._after_change()

    def add_track(self, kind: str, index: int | None = None) -> Track:
        """Add a track of ``kind`` (at ``index``; default: last); a kind already shown is
        moved there instead."""
        existing = self.frame(kind)
        if existing is not None:
            self.frames.remove(existing)
            self.frames.insert(len(self.frames) if index is None else index, existing)
            self._relayout()
            self._after_change()
            return existing.track
        frame = self._add(TrackState(kind), len(self.frames) if index is None else index)
        self._after_change()
        return frame.track

    def remove_track(self, kind: str) -> None:
        frame = self.frame(kind)
        if frame is not None:
            self._drop(frame)
            self._after_change()

    def move_track(self, kind: str, delta: int) -> None:
        """Move the track of ``kind`` ``delta`` places down (negative: up)."""
        frame = self.frame(kind)
        if frame is None:
            return
        k = self.frames.index(frame)
        j = max(0, min(len(self.frames) - 1, k + delta))
        if j != k:
            self.frames.insert(j, self.frames.pop(k))
            self._relayout()
            self._after_change()

    def _add(self, state: TrackState, index: int) -> TrackFrame:
        track = create(state.kind, self.ctx, self)
        frame = TrackFrame(track, state)
        frame.remove_requested.connect(lambda f: self.remove_track(f.track.kind))
        frame.move_requested.connect(lambda f, d: self.move_track(f.track.kind, d))
        frame.changed.connect(self._on_frame_changed)
        self.frames.insert(index, frame)
        self._relayout()
        maps = track.heatmaps()
        if maps:
            attach_ablation_menu(self, track.graphics, maps)
        if track.time_aligned:
            _quiet_time_axes(track)
        self._proxies[frame] = pg.SignalProxy(
            track.graphics.scene().sigMouseMoved, rateLimit=60,
            slot=lambda event, t=track: self._on_mouse_moved(t, event[0]))
        # Qt holds the slot, and the timeline in it, for as long as the proxy lives: as the
        # timeline's child it goes with the timeline (a parentless one would keep it forever)
        self._proxies[frame].setParent(self)
        if self.session.trace is not None and self.ctx.fits(self.session.trace):
            self._draw_track(frame, self.session.trace)
            track.set_window(*self.overview.window)
            track.show_step(self.session.t)
        return frame

    def _drop(self, frame: TrackFrame) -> None:
        proxy = self._proxies.pop(frame, None)
        if proxy is not None:
            proxy.disconnect()
            proxy.deleteLater()
        self.frames.remove(frame)
        self.stack_layout.removeWidget(frame)
        frame.track.close()
        frame.hide()
        frame.setParent(None)
        frame.deleteLater()
        self._relayout()

    def _relayout(self) -> None:
        for frame in self.frames:
            self.stack_layout.removeWidget(frame)
        for k, frame in enumerate(self.frames):
            self.stack_layout.insertWidget(k, frame)
            frame.set_movable(k > 0, k < len(self.frames) - 1)
            frame.show()

    def _after_change(self) -> None:
        self._update_overview()
        self.tracks_changed.emit()

    def _on_frame_changed(self) -> None:
        self.tracks_changed.emit()

    def _fill_add_menu(self) -> None:
        menu = self.add_menu
        menu.clear()
        groups: dict[str, list[type[Track]]] = {}
        # kinds that say where they go (``menu_order``) after the others, in that order
        for cls in sorted(track_kinds().values(), key=lambda c: getattr(c, "menu_order", 0)):
            groups.setdefault(cls.group, []).append(cls)
        sections: set[str] = set()
        for group, classes in groups.items():
            # "What-if: before the edit": a submenu of the What-if section
            head, _, sub = group.partition(": ")
            if head not in sections:
                menu.addSection(head)
                sections.add(head)
            target = menu.addMenu(sub) if sub else menu
            for cls in classes:
                action = target.addAction(cls.label)
                action.setData(cls.kind)
                shown = self.track(cls.kind) is not None
                action.setEnabled(not shown)
                if shown:
                    action.setToolTip("already shown")
                action.triggered.connect(lambda _=False, k=cls.kind: self.add_track(k))

    # ----- drawing ----------------------------------------------------------------------
    def show_trace(self, trace: Any) -> None:
        """Draw ``trace`` for the context's selection in every track."""
        for frame in self.frames:
            self._draw_track(frame, trace)
        self._update_overview()
        self._on_window_changed(*self.overview.window)

    def _draw_track(self, frame: TrackFrame, trace: Any) -> None:
        frame.track.show_trace(trace)
        frame.fit()
        plot = frame.track.plot
        if plot is not None:
            # pyqtgraph places an axis label only on a resize: a label set since (a new
            # title for the config) would sit where the old text's middle was
            for name in ("left", "top"):
                axis = plot.getAxis(name)
                if axis.isVisible() and axis.labelText:
                    axis.resizeEvent()

    def redraw_track(self, track: Track) -> None:
        """Draw ``track`` again (its own data changed, e.g. a gradient map arrived): its
        height, header and overview band follow."""
        trace = self.session.trace
        frame = next((f for f in self.frames if f.track is track), None)
        if frame is None or trace is None or not self.ctx.fits(trace):
            return
        self._draw_track(frame, trace)
        self._update_overview()

    def show_step(self, t: int) -> None:
        self.overview.follow(t)
        self.step_label.set_step(t)
        for frame in self.frames:
            frame.track.show_step(t)
            if frame.collapsed:
                frame.refresh_header()

    def _update_overview(self) -> None:
        """The overview's bands: one per heatmap track, top to bottom."""
        trace = self.session.trace
        if trace is None or not self.ctx.fits(trace):
            return
        bands = [band for band in (t.overview_band() for t in self.tracks()) if band is not None]
        ov = self.session.overview
        self.overview.set_bands(bands, steps=self.session.num_steps,
                                bucket=1 if ov is None else ov.bucket_size,
                                traced=(trace.start, trace.stop) if trace.windowed else None)
        self._fit_overview()

    def _fit_overview(self) -> None:
        plot = self.overview.plot
        self.overview_graphics.setFixedHeight(int(plot.maximumHeight()) + 6)

    def _on_window_changed(self, t0: int, t1: int) -> None:
        step = self.overview.step_to_trace(self.session.t)
        if step is not None:  # the window left the traced steps: trace there
            self.session.seek(step)
        for track in self.tracks():
            track.set_window(t0, t1)
        self.axis_plot.setXRange(t0 - 0.5, t1 - 0.5, padding=0)
        box = self.controls.window_box
        if box.value() != t1 - t0:
            box.blockSignals(True)
            box.setValue(t1 - t0)
            box.blockSignals(False)
        self._update_axis_note()

    def steps_per_pixel(self) -> int:
        """How many steps one pixel column of the tracks holds (1: none are merged)."""
        t0, t1 = self.overview.window
        width = max(1, int(self.axis_plot.getViewBox().width()))
        return max(1, -(-(t1 - t0) // width))

    def _update_axis_note(self) -> None:
        """The time axis's label: the steps shown, what one pixel holds, and where the
        selected sequence ends (hatched in every track)."""
        t0, t1 = self.overview.window
        k = self.steps_per_pixel()
        text = f"t (input position), steps {t0}–{t1 - 1}"
        if k > 1:
            text += f"; each pixel: the most extreme value of up to {k} steps"
        trace = self.session.trace
        if trace is not None and self.ctx.fits(trace):
            _, why = sequence_end(trace.lengths, self.ctx.batch, self.session.num_steps)
            if why:
                text += f"; hatched: {why}"
        if self.axis_plot.getAxis("bottom").labelText != text:
            self.axis_plot.setLabel("bottom", text)

    def _align_columns(self) -> None:
        """Give the overview and the time axis the tracks' left and right edges: the scroll
        area's frame on the left, its frame and scroll bar on the right."""
        area = self.scroll_area
        viewport = area.viewport()
        left = viewport.x()
        right = area.width() - viewport.x() - viewport.width()
        if area.width() <= viewport.width():  # not laid out yet
            right = area.verticalScrollBar().sizeHint().width() + 2 * area.frameWidth()
            left = area.frameWidth()
        for layout in (self._top_layout, self._bottom_layout):
            if layout.contentsMargins().left() != left \
                    or layout.contentsMargins().right() != right:
                layout.setContentsMargins(left, 0, right, 0)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._align_columns()
        self._update_axis_note()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._align_columns()

    def _on_display_changed(self) -> None:
        """The shared colour scale sets every heatmap track's; the order redraws them."""
        mode = DISPLAY_SCALES.get(self.display.scale, "fixed")
        for frame in self.frames:
            if mode in frame.track.scales and frame.track.scale != mode:
                frame.track.scale = mode
                frame.state.scale = mode
                if mode in frame.scale_actions:
                    frame.scale_actions[mode].setChecked(True)
        trace = self.session.trace
        if trace is not None and self.ctx.fits(trace):
            self.show_trace(trace)

    # ----- hover ------------------------------------------------------------------------
    def hover_text(self, scene_pos: QPointF, scene: Any = None) -> str:
        """What the mouse at ``scene_pos`` of ``scene`` points at (any track's scene when
        None: the first track that has something there answers)."""
        for track in self.tracks():
            if scene is None or track.graphics.scene() is scene:
                text = track.hover_text(scene_pos)
                if text:
                    return text
        return ""

    def _on_mouse_moved(self, track: Track, pos: QPointF) -> None:
        text = track.hover_text(pos)
        if text:
            self.hover.setText(text)
            view = track.graphics
            QToolTip.showText(view.mapToGlobal(view.mapFromScene(pos)), text, view)
