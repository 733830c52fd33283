"""The timeline: one shared time axis, an overview with its detail window, and tracks the user
adds, removes, reorders, resizes and collapses (the States and Gates tabs are presets of it).

Adding a track kind touches one file: a new module in ``app/timeline/kinds/`` (every module
there is imported by the registry) with a class like this one::

    from typing import Any

    from ..bases import HeatmapTrack
    from ..registry import register


    @register
    class ForgetTimesInputTrack(HeatmapTrack):
        kind = "f_times_i"            # the key sessions save; unique
        label = "f * i"               # the Add track menu's text
        group = "Gates"               # the menu's section
        quantity = "f·i"              # the colour bar's label
        natural_levels = (0.0, 1.0)   # the "fixed" scale (None: ± max over the trace)

        def values(self, trace: Any):  # (T, units) of the selection
            ctx = self.ctx
            g = trace.gates[ctx.layer, ctx.direction, :, ctx.batch]
            return (g[:, 1] * g[:, 0]).numpy()

A kind that is not a heatmap subclasses ``Track``: it builds its plot with ``add_plot()`` in
``__init__`` and fills in ``show_trace(trace)``, ``show_step(t)``, ``min_height()`` and
``summary()``; see ``Track`` for the rest (``colour_bar``, ``set_scale``, ``hover_text``,
``options`` / ``set_options`` for choices a session keeps). Presets are lists of kinds in
``presets.py``.
"""

from __future__ import annotations

from .bases import EditMarks, EndHatch, HeatmapTrack, draw_strips, shared_strips
from .presets import PRESETS, preset, states_from_data, states_to_data
from .registry import create, register, track_kinds
from .track import (
    BAR_COLUMN_WIDTH,
    HEATMAP_CAP,
    MIN_TRACK_HEIGHT,
    PX_PER_UNIT,
    SCALE_MODES,
    Track,
    TrackState,
    heatmap_min_height,
)
from .widget import Timeline

__all__ = [
    "BAR_COLUMN_WIDTH", "HEATMAP_CAP", "MIN_TRACK_HEIGHT", "PRESETS", "PX_PER_UNIT",
    "SCALE_MODES", "EditMarks", "EndHatch", "HeatmapTrack", "Timeline", "Track", "TrackState",
    "create", "draw_strips", "heatmap_min_height", "preset", "register", "track_kinds",
    "shared_strips", "states_from_data", "states_to_data",
]
