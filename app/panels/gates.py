"""Gates view: heatmaps of i, f, g, o (units x time) for the selected layer, direction and batch
element, with fixed colour levels and a time cursor; hovering a cell shows its value."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout

from ..ablation_menu import attach_ablation_menu
from ..plots import DIVERGING, SIGMOID, Heatmap, hover_reading
from .base import TraceView

GATE_TITLES = {
    "i": "i: input gate, σ(…) ∈ (0, 1): how much of g enters c",
    "f": "f: forget gate, σ(…) ∈ (0, 1): how much of c_{t-1} is kept",
    "g": "g: candidate, tanh(…) ∈ (−1, 1): what may be written to c",
    "o": "o: output gate, σ(…) ∈ (0, 1): how much of tanh(c_t) becomes h_t",
}
GATES = ("i", "f", "g", "o")


class GatesView(TraceView):
    """Four heatmaps sharing the time axis; colour bars: σ gates 0..1, g −1..1."""

    title = "Gates"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(4, 4, 4, 4)
        self.graphics.ci.setSpacing(2)
        self.heatmaps: dict[str, Heatmap] = {}
        first = None
        for row, gate in enumerate(GATES):
            plot = self.graphics.addPlot(row=row, col=0)
            hm = Heatmap(plot, gate, GATE_TITLES[gate], cursor_label=row == 0)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            if row < len(GATES) - 1:
                plot.getAxis("bottom").setStyle(showValues=False)
            else:
                plot.setLabel("bottom", "t (input position)")
            hm.cursor.sigDragged.connect(self._on_cursor_dragged)
            self.heatmaps[gate] = hm
        self.sigmoid_bar = pg.ColorBarItem(values=(0, 1), colorMap=SIGMOID, interactive=False,
                                           width=14, label="i, f, o")
        self.sigmoid_bar.setImageItem([self.heatmaps[g].image for g in "ifo"])
        self.tanh_bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                        width=14, label="g")
        self.tanh_bar.setImageItem([self.heatmaps["g"].image])
        self.graphics.addItem(self.sigmoid_bar, row=0, col=1, rowspan=2)
        self.graphics.addItem(self.tanh_bar, row=2, col=1, rowspan=2)
        self.caption.setObjectName("gates_caption")
        hover = QLabel("Hover a cell to read gate, unit, t and value.")
        hover.setObjectName("gates_hover")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.caption)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(hover)
        self.follow_mouse(self.graphics, hover)
        attach_ablation_menu(self, self.graphics, self.heatmaps)
        self.listen()

    def show_trace(self, trace) -> None:
        """Re-read the selected slice of the trace into the images."""
        ctx = self.ctx
        # (T, 4, H) for the selection: one copy to the CPU, then views per gate
        block = trace.gates[ctx.layer, ctx.direction, :, ctx.batch].detach().cpu().numpy()
        for k, gate in enumerate(GATES):
            self.heatmaps[gate].set_data(np.ascontiguousarray(block[:, k, :].T))
        self.caption.setText(f"<b>Gates</b>: {ctx.selection_text()}; rows are units, columns"
                             " timesteps; blank = past this sequence's length")
        self.show_step(self.session.t)

    def show_step(self, t: int) -> None:
        for hm in self.heatmaps.values():
            hm.set_t(t)

    def _on_cursor_dragged(self, line) -> None:
        self.session.seek(int(round(line.value())))

    def hover_text(self, scene_pos) -> str:
        return hover_reading({f"gate {g}": hm for g, hm in self.heatmaps.items()}, scene_pos)
