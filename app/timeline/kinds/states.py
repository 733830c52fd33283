"""The cell state c and the hidden state h of the selection as unit x time heatmaps, symmetric
around 0; with proj_size, h holds projected features W_hr (o * tanh c), not units."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..bases import HeatmapTrack
from ..registry import register
from ..track import HiddenRows


@register
class CellTrack(HeatmapTrack):
    """c over time: no range of its own, so "fixed" spans the whole trace's largest |c|."""

    kind = "c"
    label = "c: cell state"
    quantity = "c"
    natural_levels: ClassVar[tuple[float, float] | None] = None

    def heading(self) -> str:
        return "c: cell state (colour symmetric around 0)"

    def y_label(self) -> str:
        P = self.session.config.proj_size
        return f"c unit (hidden_size {self.session.config.hidden_size})" if P else "unit"

    def values(self, trace: Any) -> np.ndarray:
        ctx = self.ctx
        return trace.c[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()

    def whole(self, trace: Any) -> np.ndarray:
        ov = self.session.overview
        c = trace.c if ov is None else ov.c[:2]
        return c.detach().cpu().numpy()


@register
class HiddenTrack(HiddenRows, HeatmapTrack):  # type: ignore[override]
    """h over time: o * tanh(c) in −1..1, or its projection with proj_size."""

    kind = "h"
    label = "h: hidden state"
    quantity = "h"

    def heading(self) -> str:
        P = self.projected
        if P:
            return f"h: {P} projected features W_hr (o * tanh c), not units"
        return "h: hidden state = o * tanh(c)"

    def y_label(self) -> str:
        P = self.projected
        return f"h feature (proj_size {P})" if P else "unit"

    def levels_for(self, data: np.ndarray, trace: Any) -> tuple[float, float]:
        # o * tanh(c) lies in −1..1; a projection has no range of its own
        self.natural_levels = None if self.projected else (-1.0, 1.0)  # type: ignore[misc]
        return super().levels_for(data, trace)

    def values(self, trace: Any) -> np.ndarray:
        ctx = self.ctx
        return trace.h[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()

    def whole(self, trace: Any) -> np.ndarray:
        ov = self.session.overview
        h = trace.h if ov is None else ov.h[:2]
        return h.detach().cpu().numpy()
