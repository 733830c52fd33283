"""Track: one row of a timeline, a small class that knows its data, its minimum legible
height, its colour scale and its one-line summary; TrackState: what a session saves of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyqtgraph as pg
from PySide6.QtCore import QPointF

from ..overview import LEFT_AXIS_WIDTH

#: the colour scales a heatmap track offers: key -> what its menu says
SCALE_MODES: dict[str, str] = {
    "fixed": "fixed: the quantity's own range",
    "symmetric": "symmetric: ± the largest |value| of this track",
    "robust": "robust: ± the 99th percentile of |value| (1st–99th for 0..1 gates)",
    "track": "per track: this track's lowest to highest value",
    "unit": "per unit: each row stretched to its own range",
}
#: the width of every track's right column (its colour bar, or nothing): the time axes of all
#: tracks then start and end at the same pixel
BAR_COLUMN_WIDTH = 72
#: pixels left of every track's left axis: room for the axis label pyqtgraph nudges outwards
LEFT_MARGIN = 8
#: the smallest height of a track's plot area, in pixels
MIN_TRACK_HEIGHT = 60
#: a heatmap's rows get at least this many pixels each, up to HEATMAP_CAP pixels in all
PX_PER_UNIT = 2
HEATMAP_CAP = 240


def reserve_bar_column(graphics: pg.GraphicsLayoutWidget, row: int = 0,
                       bar: pg.ColorBarItem | None = None) -> None:
    """Make column 1 of ``graphics`` exactly BAR_COLUMN_WIDTH wide at ``row``: ``bar`` there,
    or an empty item of that width (every track's plot then starts and ends at the same x)."""
    item = bar if bar is not None else pg.GraphicsWidget()
    item.setFixedWidth(BAR_COLUMN_WIDTH)
    policy = item.sizePolicy()
    policy.setRetainSizeWhenHidden(True)  # a bar hidden (input drawn as lines) keeps its room
    item.setSizePolicy(policy)
    graphics.addItem(item, row=row, col=1)


def plain(html: str) -> str:
    """Rich text as one plain line."""
    text = re.sub(r"<[^>]+>", "", html)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def heatmap_min_height(rows: int) -> int:
    """The smallest legible height of a heatmap of ``rows`` rows: 2 px per row up to a cap,
    never under 60 px."""
    return max(MIN_TRACK_HEIGHT, min(PX_PER_UNIT * max(0, rows), HEATMAP_CAP))


@dataclass
class TrackState:
    """What a session and the settings keep of one track: its kind, height in pixels (None:
    its minimum), whether it is collapsed, its colour scale ('' for the default) and the
    kind's own choices (plain data, e.g. the units a line track plots)."""

    kind: str
    height: int | None = None
    collapsed: bool = False
    scale: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "height": self.height, "collapsed": self.collapsed,
                "scale": self.scale, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackState:
        """A state from plain data (a session file, the settings); a bad field is a
        ValueError naming it."""
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            raise ValueError(f"a track needs a 'kind' string (got {data!r})")
        height = data.get("height")
        options = data.get("options") or {}
        if height is not None and (isinstance(height, bool) or not isinstance(height, int)
                                   or height < 0):
            raise ValueError(f"track {data['kind']!r}: height must be a whole number of"
                             f" pixels (got {height!r})")
        if not isinstance(options, dict):
            raise ValueError(f"track {data['kind']!r}: options must be a mapping")
        return cls(data["kind"], height, bool(data.get("collapsed", False)),
                   str(data.get("scale") or ""), dict(options))


class Track:
    """One row of a timeline: a pyqtgraph scene of its own (``graphics``) whose plot shares
    the timeline's time axis; the frame around it draws the header (label, collapse, scale,
    move, remove) and the resize handle.

    A kind fills in ``show_trace`` (the trace or the selection changed), ``show_step`` (only t
    moved), and may override ``min_height``, ``summary``, ``hover_text``, ``set_scale`` and
    ``set_window``. Class attributes say what the kind is; ``kind`` is the key a session saves.
    """

    kind: ClassVar[str] = ""
    #: the Add track menu's text
    label: ClassVar[str] = ""
    #: the Add track menu's section
    group: ClassVar[str] = "Other"
    #: the colour scales offered (keys of SCALE_MODES); the first is the default
    scales: ClassVar[tuple[str, ...]] = ()
    #: False for a track whose x axis is not time (the bars at the cursor)
    time_aligned: ClassVar[bool] = True
    #: True for a kind that puts a colour bar in column 1 (``reserve_bar_column``) itself
    has_colour_bar: ClassVar[bool] = False

    def __init__(self, ctx: Any, host: Any = None) -> None:
        self.ctx = ctx
        #: the timeline that shows the track (None: on its own, e.g. in a test)
        self.host = host
        self.session = ctx.session
        self.scale = self.scales[0] if self.scales else ""
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName(f"track_{self.kind}")
        self.graphics.ci.setContentsMargins(LEFT_MARGIN, 2, 2, 2)
        self.graphics.ci.setSpacing(0)
        self.plot: pg.PlotItem | None = None
        #: whether there is anything to draw (False: the frame shows only the summary)
        self.available = True
        #: called when the title changes (the frame's header shows it)
        self.on_title: Callable[[], None] | None = None

    def shared(self, key: str, factory: Callable[[], Any]) -> Any:
        """One object per timeline under ``key`` (made by ``factory`` on first use), for what
        several kinds draw from together (the input, prediction and loss strips)."""
        if self.host is None:
            return factory()
        return self.host.shared(key, factory)

    # ----- building ---------------------------------------------------------------------
    def add_plot(self, row: int = 0, axis_items: dict[str, pg.AxisItem] | None = None
                 ) -> pg.PlotItem:
        """The track's time plot at ``row``: left axis as wide as every track's, no time axis
        of its own (the timeline draws one under all tracks), no mouse on x."""
        plot = self.graphics.addPlot(row=row, col=0, axisItems=axis_items or {})
        plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        if self.time_aligned:
            plot.hideAxis("bottom")
            plot.getViewBox().setMouseEnabled(x=False, y=False)
        if self.plot is None:
            self.plot = plot
            self.title_in_header(plot)
            if self.time_aligned and not self.has_colour_bar:
                reserve_bar_column(self.graphics, row)
        return plot

    def title_in_header(self, plot: pg.PlotItem) -> None:
        """Show ``plot``'s title in the track's header instead of a row of the plot: the text
        stays in ``plot.titleLabel`` (what sets it need not know), the plot keeps the room."""

        def set_title(title: str | None = None, **args: Any) -> None:
            pg.PlotItem.setTitle(plot, title, **args)
            plot.titleLabel.setVisible(False)
            plot.titleLabel.setMaximumHeight(0)
            plot.layout.setRowFixedHeight(0, 0)
            if self.on_title is not None:
                self.on_title()

        plot.setTitle = set_title
        set_title(plot.titleLabel.text or None)

    def colour_bar(self) -> pg.ColorBarItem | None:
        """The colour bar the track is drawn with (None: not a heatmap)."""
        return None

    # ----- what the timeline asks -------------------------------------------------------
    def heading(self) -> str:
        """The kind's title for the config now (computed at every change)."""
        return self.label

    def title(self) -> str:
        """The title the header shows (rich text): the plot's, with what it adds (rows per
        pixel, the unit order), or the heading."""
        plot = self.plot
        if plot is not None and plot.titleLabel.text:
            return str(plot.titleLabel.text)
        return self.heading()

    def min_height(self) -> int:
        """The smallest legible height of the plot area, in pixels."""
        return MIN_TRACK_HEIGHT

    def chrome_height(self) -> int:
        """Pixels of the track's scene outside its plot area (title, margins, axes)."""
        return 8

    def summary(self) -> str:
        """One line that stands for the track when it is collapsed."""
        return plain(self.title())

    def show_trace(self, trace: Any) -> None:
        """Draw ``trace`` for the context's selection (which fits it)."""

    def show_step(self, t: int) -> None:
        """Move to step ``t``: only indexing."""

    def set_window(self, t0: int, t1: int) -> None:
        """Show steps [t0, t1) of the time axis."""
        if self.plot is not None and self.time_aligned:
            self.plot.setXRange(t0 - 0.5, t1 - 0.5, padding=0)

    def set_scale(self, mode: str) -> None:
        """Draw with colour scale ``mode`` (one of ``scales``)."""
        if mode not in self.scales:
            raise ValueError(f"the {self.label} track has no colour scale {mode!r}; choose one"
                             f" of {', '.join(self.scales) or 'none'}")
        self.scale = mode

    def overview_band(self) -> tuple[str, Any, Any, tuple[float, float]] | None:
        """(name, data (units, columns), colour map, levels) for the overview, or None."""
        return None

    def hover_text(self, scene_pos: QPointF) -> str:
        """What the mouse at ``scene_pos`` (in this track's scene) points at ('' for nothing)."""
        return ""

    def options(self) -> dict[str, Any]:
        """The kind's own choices as plain data, for the session (see ``set_options``)."""
        return {}

    def set_options(self, options: dict[str, Any]) -> None:
        """Restore what ``options`` returned (unknown keys are ignored)."""

    def heatmaps(self) -> dict[str, Any]:
        """The unit x time heatmaps of this track by quantity (for the ablation menu)."""
        return {}

    def close(self) -> None:
        """The track leaves the timeline: drop what outlives it."""


class HiddenRows:
    """A kind whose rows are h's: units, or with proj_size projected features (not units:
    no outline of an edited unit, no ablation menu)."""

    session: Any

    @property
    def projected(self) -> int:
        """proj_size, 0 without a projection."""
        return int(self.session.config.proj_size or 0)

    @property
    def rows_are_units(self) -> bool:
        return not self.projected
