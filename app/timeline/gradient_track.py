"""What the gradient kinds (∂target/∂x, ∂c, ∂h) share: a heatmap of one part of the shared
``GradientSource``'s map for the selected layer and direction, drawn on a scale symmetric
around 0 that fits the gradients (often far below 1), and redrawn when a new map arrives."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PySide6.QtCore import QObject, QPointF
from PySide6.QtWidgets import QWidget

from ..plots import nan_safe_limit
from .bases import HeatmapTrack
from .gradients import GradientSource
from .track import Track


def gradient_source(track: Track) -> GradientSource:
    """The timeline's one gradient source (made on first use; it goes with the timeline)."""
    host = track.host if isinstance(track.host, QObject) else None
    source: GradientSource = track.shared("gradients", lambda: GradientSource(track.ctx, host))
    return source


class FromGradients(Track):
    """A track drawn from the timeline's gradient source: it keeps the source computing
    while it is on screen, and redraws when a new map arrives."""

    group = "Influence"
    #: not a value of a run: no before/after/difference of it
    from_gradients: ClassVar[bool] = True

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        self.source = gradient_source(self)
        self.source.watch(self.watched())
        self.source.changed.connect(self._on_source_changed)

    def _on_source_changed(self) -> None:
        if self.host is not None:
            self.host.redraw_track(self)
            return
        trace = self.session.trace
        if trace is not None and self.ctx.fits(trace):
            self.show_trace(trace)

    def watched(self) -> QWidget:
        """What is on screen while the track is: its timeline (the track's own scene hides
        while there is no map to draw)."""
        return self.host if isinstance(self.host, QWidget) else self.graphics

    def close(self) -> None:
        self.source.changed.disconnect(self._on_source_changed)
        self.source.unwatch(self.watched())


class GradientTrack(FromGradients, HeatmapTrack):
    """∂target/∂(``part``) over time; rows as the part has them."""

    scales = ("symmetric", "robust", "unit")  # type: ignore[assignment]
    natural_levels: ClassVar[tuple[float, float] | None] = None
    #: "dx", "dc" or "dh": the array of ``influence_arrays``
    part: ClassVar[str] = ""
    #: what a row is called in the hover reading
    row_name: ClassVar[str] = "unit"

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        self.map.cursor.setMovable(False)  # the target's step: the cursor, moved elsewhere

    def rows(self) -> int:
        """How many rows the part has for the config now."""
        raise NotImplementedError

    def values(self, trace: Any) -> np.ndarray:
        arrays = self.source.arrays()
        if arrays is None or arrays[self.part].shape != (trace.num_steps, self.rows()):
            return np.full((trace.num_steps, self.rows()), np.nan)
        return np.asarray(arrays[self.part], dtype=float)

    def levels_for(self, data: np.ndarray, trace: Any) -> tuple[float, float]:
        if self.scale == "symmetric":  # ± the largest gradient, however small
            lim = nan_safe_limit(data, floor=1e-12)
            return (-lim, lim)
        return super().levels_for(data, trace)

    def show_trace(self, trace: Any) -> None:
        self.marks.rows = bool(self.rows_are_units)  # an input feature is no unit to outline
        super().show_trace(trace)
        self.available = self.source.result is not None
        inf = self.source.result
        if inf is not None:
            self.map.set_t(inf.t)  # the step the gradients are of

    def show_step(self, t: int) -> None:
        """The cursor stays on the target's step until the new map arrives."""

    def summary(self) -> str:
        if self.source.result is None:
            return f"{self.label}: {self.source.status or 'not computed yet'}"
        return super().summary()

    def hover_text(self, scene_pos: QPointF) -> str:
        hit = self.map.lookup(scene_pos)
        if hit is None:
            return ""
        k, t, value = hit
        return f"{self.label}, {self.row_name} {k}, s {t}: " + \
            ("— (past this sequence's length)" if np.isnan(value) else f"{value:.4g}")

    def heatmaps(self) -> dict[str, Any]:
        return {}  # gradients are not a run's values: nothing to ablate here
