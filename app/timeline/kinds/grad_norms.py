"""Per-step norms of the gradients on a log scale, next to the forget-gate product ∏f of the
focus unit: where the memory fades, and where it does not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

from ... import theme
from ...plots import CURSOR_PEN, PlotNote
from ..bases import EditMarks, EndHatch, selection_end
from ..gradient_track import FromGradients
from ..registry import register

NORM_PENS = {"x": pg.mkPen("#1565c0", width=2), "c": pg.mkPen("#2e7d32", width=2),
             "h": pg.mkPen("#6a1b9a", width=1, style=Qt.PenStyle.DashLine),
             "f": pg.mkPen("#ef6c00", width=2, style=Qt.PenStyle.DotLine)}
NORM_NAMES = {"x": "‖∂target/∂x_s‖", "c": "‖∂target/∂c_s‖", "h": "‖∂target/∂h_s‖",
              "f": "∏f (focus unit, s to t)"}


@register
class GradNormsTrack(FromGradients):
    """‖∂target/∂x_s‖, ‖∂target/∂c_s‖, ‖∂target/∂h_s‖ and ∏f over s, log y, with a legend
    in its own row."""

    kind = "grad_norms"
    menu_order = 13
    label = "gradient norms per step"

    def __init__(self, ctx: Any, host: Any = None) -> None:
        super().__init__(ctx, host)
        plot = self.add_plot()
        plot.setLogMode(y=True)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setTitle("per-step norms (log scale) and ∏f of the focus unit", size="8pt")
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=4,
                                    brush=theme.legend_brush())
        self.graphics.addItem(self.legend, row=1, col=0)
        self.lines = {key: plot.plot(pen=pen) for key, pen in NORM_PENS.items()}
        for key, line in self.lines.items():
            self.legend.addItem(line, NORM_NAMES[key])
        self.cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)
        plot.addItem(self.cursor)
        self.note = PlotNote(plot)
        self.hatch = EndHatch(plot)
        self.marks = EditMarks(plot, rows=False)

    def min_height(self) -> int:
        return 110  # four decades of log axis with readable ticks

    def chrome_height(self) -> int:
        return super().chrome_height() + 24  # the legend's row

    def show_trace(self, trace: Any) -> None:
        inf = self.source.result
        self.available = inf is not None
        self.marks.show(self)
        if inf is None or inf.num_steps != trace.num_steps:
            for line in self.lines.values():
                line.setData([], [])
            return
        a = self.source.arrays()
        assert a is not None
        steps = trace.start + np.arange(inf.num_steps)
        for key, values in (("x", a["x_norm"]), ("c", a["c_norm"]), ("h", a["h_norm"]),
                            ("f", self.source.forget)):
            if values is None:
                self.lines[key].setData([], [])
                continue
            # exact zeros (steps the target cannot see) are gaps: a log axis has no 0
            shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            self.lines[key].setData(steps, shown, connect="finite")
        self.cursor.setValue(inf.t)
        end, why = selection_end(self, trace)
        self.hatch.set_end(end, why, self.session.num_steps)

    def summary(self) -> str:
        inf = self.source.result
        if inf is None:
            return f"{self.label}: {self.source.status or 'not computed yet'}"
        a = self.source.arrays()
        assert a is not None
        x = np.nan_to_num(np.asarray(a["x_norm"], dtype=float))
        return (f"{self.label} · max ‖∂/∂x_s‖ {x.max():.3g} at s {int(x.argmax())},"
                f" target at t {inf.t}")

    def hover_text(self, scene_pos: QPointF) -> str:
        plot = self.plot
        inf = self.source.result
        if plot is None or inf is None or not plot.sceneBoundingRect().contains(scene_pos):
            return ""
        s = int(round(plot.getViewBox().mapSceneToView(scene_pos).x()))
        a = self.source.arrays()
        if a is None or not 0 <= s < inf.num_steps:
            return ""
        parts = [f"s {s}"] + [f"{NORM_NAMES[k]} {a[n][s]:.3g}"
                              for k, n in (("x", "x_norm"), ("c", "c_norm"), ("h", "h_norm"))]
        if self.source.forget is not None and np.isfinite(self.source.forget[s]):
            parts.append(f"∏f {self.source.forget[s]:.3g}")
        return ", ".join(parts)
