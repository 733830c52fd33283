"""Gates view: a timeline of the Gates preset: the input, the head's prediction and loss, and
heatmaps of i, f, g, o (units x time) for the selected layer, direction and batch element, each
with its own colour bar beside it, under an overview of the whole sequence; hovering reads a
cell."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout

from ..plots import Heatmap
from ..sessions import sequence_end
from ..timeline import Timeline, preset, shared_strips
from ..timeline.bases import HeatmapTrack
from ..timeline.kinds.gates import GATE_TITLES
from .base import TraceView

GATES = ("i", "f", "g", "o")
GATE_LEVELS = {"i": (0.0, 1.0), "f": (0.0, 1.0), "g": (-1.0, 1.0), "o": (0.0, 1.0)}
__all__ = ["GATES", "GATE_LEVELS", "GATE_TITLES", "GatesView"]


class GatesView(TraceView):
    """The Gates timeline: σ gates on 0..1 and g on −1..1, each with its colour bar."""

    title = "Gates"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.display = ctx.display
        self.timeline = Timeline(ctx, preset(self.title))
        self.controls = self.timeline.controls
        self.overview = self.timeline.overview
        self.strips = shared_strips(self.timeline)
        self.caption.setObjectName("gates_caption")
        self.hover = self.timeline.hover
        self.hover.setObjectName("gates_hover")
        self.hover.setText("Hover a cell to read gate, unit, t and value.")
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.controls)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.strips.readout_area)
        layout.addWidget(self.timeline, 1)
        self.listen()

    @property
    def ablation_menu(self):
        """The right-click menu last opened on a track (None before the first)."""
        return self.timeline.ablation_menu

    @property
    def heatmaps(self) -> dict[str, Heatmap]:
        """The gate heatmaps shown, by gate."""
        return {g: t.map for g in GATES if isinstance(t := self.timeline.track(g), HeatmapTrack)}

    @property
    def bars(self) -> dict[str, pg.ColorBarItem]:
        """Each gate's colour bar, by gate."""
        return {g: t.bar for g in GATES if isinstance(t := self.timeline.track(g), HeatmapTrack)}

    def show_trace(self, trace) -> None:
        """Re-read the selected slice of the trace into the tracks."""
        ctx = self.ctx
        self.timeline.show_trace(trace)
        _, why = sequence_end(trace.lengths, ctx.batch, self.session.num_steps)
        blank = f"; hatched: {why}, nothing is computed after it" if why else ""
        self.caption.setText(f"<b>Gates</b>: {ctx.selection_text()}; rows are units, columns"
                             f" timesteps{blank}")
        self.show_step(self.session.t)

    def show_step(self, t: int) -> None:
        self.timeline.show_step(t)

    def hover_text(self, scene_pos, scene=None) -> str:
        """The reading under ``scene_pos`` of the track scene ``scene`` (None: any track)."""
        hit = self.timeline.hover_text(scene_pos, scene)
        return f"gate {hit}" if hit else ""
