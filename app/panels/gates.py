"""Gates view: heatmaps of i, f, g, o (units x time) for the selected layer, direction and batch
element, each with its own colour bar beside it, under an overview of the whole sequence, the
input strip and (when the model has an output head) its predictions; hovering reads a cell."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout

from ..ablation_menu import attach_ablation_menu
from ..display import DisplayControls
from ..overview import LEFT_AXIS_WIDTH, Overview, overview_band
from ..plots import DIVERGING, SIGMOID, Heatmap, hover_reading
from ..sessions import sequence_end
from ..strips import TimeStrips
from .base import TraceView

GATE_TITLES = {
    "i": "i: input gate, σ(…) ∈ (0, 1): how much of g enters c",
    "f": "f: forget gate, σ(…) ∈ (0, 1): how much of c_{t-1} is kept",
    "g": "g: candidate, tanh(…) ∈ (−1, 1): what may be written to c",
    "o": "o: output gate, σ(…) ∈ (0, 1): how much of tanh(c_t) becomes h_t",
}
GATES = ("i", "f", "g", "o")
GATE_LEVELS = {"i": (0.0, 1.0), "f": (0.0, 1.0), "g": (-1.0, 1.0), "o": (0.0, 1.0)}
GATE_MAPS = {"i": SIGMOID, "f": SIGMOID, "g": DIVERGING, "o": SIGMOID}
FIRST_HEATMAP_ROW = 4  # overview, input, prediction, loss above


class GatesView(TraceView):
    """Four heatmaps sharing the time axis, each with its colour bar: σ gates 0..1, g −1..1."""

    title = "Gates"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.display = ctx.display
        self.controls = DisplayControls(ctx)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(4, 4, 4, 4)
        self.graphics.ci.setSpacing(2)
        self.overview = Overview(self.graphics.addPlot(row=0, col=0), self.controls.window_box
                                 .value(), self)
        self.heatmaps: dict[str, Heatmap] = {}
        self.bars: dict[str, pg.ColorBarItem] = {}
        first = None
        for k, gate in enumerate(GATES):
            row = FIRST_HEATMAP_ROW + k
            plot = self.graphics.addPlot(row=row, col=0)
            hm = Heatmap(plot, gate, GATE_TITLES[gate], cursor_label=k == 0,
                         levels=GATE_LEVELS[gate])
            plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
                plot.setYLink(first)  # one unit per row in every gate: zoom and scroll together
            if k < len(GATES) - 1:
                plot.hideAxis("bottom")  # one time axis, under the last gate
            else:
                plot.setLabel("bottom", "t (input position)")
            hm.cursor.sigDragged.connect(self._on_cursor_dragged)
            # each gate's colour bar sits beside its own rows
            bar = pg.ColorBarItem(values=GATE_LEVELS[gate], colorMap=GATE_MAPS[gate],
                                  interactive=False, width=12)
            self.graphics.addItem(bar, row=row, col=1)
            hm.attach_bar(bar, gate)
            self.bars[gate] = bar
            self.heatmaps[gate] = hm
        self.strips = TimeStrips(ctx, self.graphics, 1, first)
        for r in range(FIRST_HEATMAP_ROW, FIRST_HEATMAP_ROW + len(GATES)):
            self.graphics.ci.layout.setRowStretchFactor(r, 3)
        self.overview.window_changed.connect(self._on_window_changed)
        # what a pixel holds changes with the plot's size and zoom: the note follows
        last = self.heatmaps[GATES[-1]].plot.getViewBox()
        last.sigResized.connect(self._update_note)
        last.sigRangeChanged.connect(self._update_note)
        self.controls.window_box.valueChanged.connect(self.overview.set_width)
        self.display.changed.connect(self._on_display_changed)
        self.caption.setObjectName("gates_caption")
        hover = QLabel("Hover a cell to read gate, unit, t and value.")
        hover.setObjectName("gates_hover")
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.controls)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.strips.readout)
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
        order = self.display.order(trace, ctx.layer, ctx.direction)
        total = self.session.num_steps
        # past the selected sequence's end nn.LSTM computes nothing: hatched, and said why
        end, why = sequence_end(trace.lengths, ctx.batch, total)
        bands = []
        for k, gate in enumerate(GATES):
            data = np.ascontiguousarray(block[:, k, :].T)
            hm = self.heatmaps[gate]
            # a windowed trace holds steps [start, stop): the x axis stays the input position
            hm.order = order
            hm.order_label = self.display.order_label()
            hm.axis.set_order(order)
            hm.scale = self.display.scale  # drawn once, by set_data
            hm.set_data(data, offset=trace.start, total=total)
            hm.set_end(end, why, label=k == 0)
            whole = overview_band(self.session, gate, ctx.layer, ctx.direction, ctx.batch,
                                  hm.center)
            band = data if whole is None else whole
            bands.append((gate, band if order is None else band[order], GATE_MAPS[gate],
                          GATE_LEVELS[gate]))
        ov = self.session.overview
        self.overview.set_bands(bands, steps=total, bucket=1 if ov is None else ov.bucket_size,
                                traced=(trace.start, trace.stop) if trace.windowed else None)
        self.strips.show_trace(trace)
        self._on_window_changed(*self.overview.window)
        blank = f"; hatched: {why}, nothing is computed after it" if why else ""
        self.caption.setText(f"<b>Gates</b>: {ctx.selection_text()}; rows are units, columns"
                             f" timesteps{blank}")
        self.show_step(self.session.t)

    def _on_display_changed(self) -> None:
        self.refresh()

    def _on_window_changed(self, t0: int, t1: int) -> None:
        step = self.overview.step_to_trace(self.session.t)
        if step is not None:  # the window left the traced steps: trace there
            self.session.seek(step)
        self.heatmaps["i"].set_window(t0, t1)
        # the new ranges' transforms now, not while painting: one repaint instead of two
        self.graphics.scene().prepareForPaint()
        if self.controls.window_box.value() != t1 - t0:
            self.controls.window_box.blockSignals(True)
            self.controls.window_box.setValue(t1 - t0)
            self.controls.window_box.blockSignals(False)
        self._update_note()

    def _update_note(self, *args) -> None:
        """The time axis's label: the steps shown and what one pixel holds (as drawn now)."""
        hm = self.heatmaps["o"]
        (x0, x1), _ = hm.plot.getViewBox().viewRange()
        t0, t1 = int(round(x0 + 0.5)), int(round(x1 + 0.5))
        note = hm.downsampling_note()
        text = f"t (input position), steps {t0}–{t1 - 1}" + (f"; {note}" if note else "")
        if hm.plot.getAxis("bottom").labelText != text:
            hm.plot.setLabel("bottom", text)

    def show_step(self, t: int) -> None:
        self.overview.follow(t)
        for hm in self.heatmaps.values():
            hm.set_t(t)
        self.strips.show_step(t)

    def _on_cursor_dragged(self, line) -> None:
        self.session.seek(int(round(line.value())))

    def hover_text(self, scene_pos) -> str:
        return hover_reading({f"gate {g}": hm for g, hm in self.heatmaps.items()}, scene_pos)
