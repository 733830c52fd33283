"""The current step across units: i, f, g, o, c and h as bar charts, the focus unit
highlighted, in the shared unit order."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...plots import Bars, nan_safe_limit
from ...sessions import ended_text
from ..bases import WHATIF_COLOUR
from ..registry import register
from ..track import Track

BAR_SPECS = [  # name, title, fixed levels (None: symmetric around 0, from the trace), colour
    ("i", "i (input gate)", (0.0, 1.0), "#1e88e5"),
    ("f", "f (forget gate)", (0.0, 1.0), "#43a047"),
    ("g", "g (candidate)", (-1.0, 1.0), "#8e24aa"),
    ("o", "o (output gate)", (0.0, 1.0), "#795548"),  # not orange: orange means error
    ("c", "c_t (cell state)", None, "#546e7a"),
    ("h", "h_t (hidden state)", None, "#00897b"),
]


@register
class GateBarsTrack(Track):
    """Bars of every unit at the cursor: the gates and the states the step computes."""

    kind = "bars"
    label = "gate bars at the cursor"
    group = "Gates"
    time_aligned = False

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        self.bars: dict[str, Bars] = {}
        for k, (name, title, levels, colour) in enumerate(BAR_SPECS):
            # three a row: six in one row would not fit a narrow timeline
            plot = self.graphics.addPlot(row=k // 3, col=k % 3)
            self.bars[name] = Bars(plot, name, title, levels, colour)
        self.plot = self.bars["i"].plot
        self._ended = False

    def heading(self) -> str:
        return "i, f, g, o, c and h of every unit at the cursor"

    def title(self) -> str:
        return self.heading()

    def min_height(self) -> int:
        return 2 * 90  # two rows of bar charts

    def chrome_height(self) -> int:
        return super().chrome_height() + 2 * 50  # each row's title and unit axis

    def show_trace(self, trace: Any) -> None:
        cfg = trace.config
        ov = self.session.overview
        c_all, h_all = (trace.c, trace.h) if ov is None else (ov.c[:2], ov.h[:2])
        c_lim = nan_safe_limit(c_all.detach().cpu().numpy())
        h_lim = 1.0 if not cfg.proj_size else nan_safe_limit(h_all.detach().cpu().numpy())
        self.bars["c"].set_range(-c_lim, c_lim)
        self.bars["h"].set_range(-h_lim, h_lim)
        mark = f" <span style='color: {WHATIF_COLOUR}'>· what-if</span>" \
            if trace.meta.get("edited") else ""
        for name, title, _, _ in BAR_SPECS[4:]:
            if name == "h" and cfg.proj_size:
                title = f"h_t ({cfg.proj_size} projected features)"
            self.bars[name].plot.setTitle(title + mark, size="9pt")
        order = self.ctx.display.order(trace, self.ctx.layer, self.ctx.direction)
        for bars in self.bars.values():
            bars.set_order(order)
        self.show_step(self.session.t)

    def show_step(self, t: int) -> None:
        ctx = self.ctx
        if not ctx.holds(t):  # a windowed trace: the window around t is being traced
            for bars in self.bars.values():
                bars.bars.setVisible(False)
                bars.focus.hide()
            return
        v = self.session.values_at(ctx.layer, ctx.direction, ctx.batch, t)
        trace = self.session.trace
        projected = bool(trace.config.proj_size)
        self._ended = bool(ended_text(trace.lengths, ctx.batch, t))
        for name, bars in self.bars.items():
            # h's bars are projected features: no bar of h belongs to the focus unit
            bars.set_values(v[name], -1 if projected and name == "h" or self._ended
                            else ctx.unit)
            bars.bars.setVisible(not self._ended)  # past the sequence's end: no value

    def summary(self) -> str:
        if self._ended:
            return f"{self.label}: the sequence has ended at t = {self.session.t}"
        heights = self.bars["f"].heights
        return (f"{self.title()}: mean f {np.mean(heights):.3f},"
                f" mean i {np.mean(self.bars['i'].heights):.3f}")
