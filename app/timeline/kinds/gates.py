"""The gates i, f, g, o of the selection as unit x time heatmaps: σ gates on 0..1, g on −1..1."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyqtgraph as pg

from ...plots import DIVERGING, SIGMOID
from ..bases import HeatmapTrack
from ..registry import register

GATE_TITLES = {
    "i": "i: input gate, σ(…) ∈ (0, 1): how much of g enters c",
    "f": "f: forget gate, σ(…) ∈ (0, 1): how much of c_{t-1} is kept",
    "g": "g: candidate, tanh(…) ∈ (−1, 1): what may be written to c",
    "o": "o: output gate, σ(…) ∈ (0, 1): how much of tanh(c_t) becomes h_t",
}


class GateTrack(HeatmapTrack):
    """One gate of the selected layer, direction and batch element over time."""

    group = "Gates"
    colour_map: ClassVar[pg.ColorMap] = SIGMOID
    natural_levels: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def heading(self) -> str:
        return GATE_TITLES[self.quantity]

    def values(self, trace: Any) -> np.ndarray:
        ctx = self.ctx
        gate = "ifgo".index(self.quantity)
        return trace.gates[ctx.layer, ctx.direction, :, ctx.batch, gate].detach().cpu().numpy()


@register
class InputGateTrack(GateTrack):
    kind = "i"
    label = "i: input gate"
    quantity = "i"


@register
class ForgetGateTrack(GateTrack):
    kind = "f"
    label = "f: forget gate"
    quantity = "f"


@register
class CandidateTrack(GateTrack):
    kind = "g"
    label = "g: candidate"
    quantity = "g"
    colour_map = DIVERGING
    natural_levels = (-1.0, 1.0)


@register
class OutputGateTrack(GateTrack):
    kind = "o"
    label = "o: output gate"
    quantity = "o"
