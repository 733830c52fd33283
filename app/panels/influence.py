"""Influence view: why a unit holds what it holds, and what changes when a unit is switched off.

*Gradients*: pick the target (the focus unit's h or c at the cursor) and see ∂target/∂x over
time and input features, ∂target/∂c and ∂target/∂h over time and units for the selected layer
and direction, and their per-step norms on a log scale next to the forget-gate product ∏f of
the focus unit: where the memory fades, and where it does not. The gradients are computed by
``lstm_viz.influence`` on a worker thread of the view's own (a newer request supersedes an older
one), after a budget check; they are of the LSTM as it is, on the input with its input edits.

*Difference*: after a what-if run (an ablation, a clamp or a state edit), each gate and state of
the original run (and the head's prediction and loss, when the model has a head) next to edited
minus original. Ablations come from the right-click menu of app/ablation_menu.py (States,
Gates, Units, and the original run here).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QPainter, QRegion
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from lstm_viz import TraceBudgetError, check_influence_budget, influence
from lstm_viz.explain.ablation import head_module, head_outputs, next_step_targets, step_losses
from lstm_viz.explain.gradients import fade_distance, forget_memory

from .. import theme
from ..ablation_menu import attach_ablation_menu
from ..plots import CURSOR_PEN, DIVERGING, Heatmap, nan_safe_limit
from ..workers import TraceRunner
from .base import TraceView

TARGETS = (("h of the focus unit at the cursor", "h"), ("c of the focus unit at the cursor", "c"))
HEAD_TARGETS = (("prediction at the cursor (its top output)", "prediction"),
                ("loss at the cursor (against the next step)", "loss"))
QUANTITIES = ("i", "f", "g", "o", "c", "h")
HEAD_QUANTITIES = ("prediction", "loss")
NORM_PENS = {"x": pg.mkPen("#1565c0", width=2), "c": pg.mkPen("#2e7d32", width=2),
             "h": pg.mkPen("#6a1b9a", width=1, style=Qt.PenStyle.DashLine),
             "f": pg.mkPen("#ef6c00", width=2, style=Qt.PenStyle.DotLine)}


@dataclass(frozen=True)
class InfluenceRequest:
    """One gradient map to compute: everything it needs, taken on the GUI thread."""

    generation: int
    lstm: nn.LSTM
    input: torch.Tensor | PackedSequence
    state: str
    layer: int
    direction: int
    t: int
    unit: int
    batch: int
    memory_budget: int | None
    head: nn.Module | None = None
    target: object = None

    def run(self):
        """The Influence (pure; runs on the worker thread)."""
        if self.state in ("prediction", "loss"):
            return influence(self.lstm, self.input, t=self.t, batch=self.batch,
                             state=self.state, head=self.head, target=self.target,
                             unit=self.unit if self.state == "prediction" else None,
                             memory_budget=self.memory_budget)
        return influence(self.lstm, self.input, layer=self.layer, direction=self.direction,
                         t=self.t, unit=self.unit, batch=self.batch, state=self.state,
                         memory_budget=self.memory_budget)


def target_name(state: str, unit: int | None) -> str:
    """"c[107]", "prediction[12]", "loss"."""
    return state if unit is None else f"{state}[{unit}]"


# ----- writing files ------------------------------------------------------------------------

def save_widget_png(widget: QWidget, path) -> Path:
    path = Path(path)
    if not widget.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def save_widget_svg(widget: QWidget, path, title: str = "lstm-viz influence") -> Path:
    """``widget`` drawn into an SVG through QSvgGenerator (vectors for text and lines)."""
    path = Path(path)
    size = widget.size()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(size.width(), size.height()))
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"could not write {path}")
    widget.render(painter, QPoint(), QRegion(QRect(QPoint(), size)),
                  QWidget.RenderFlag.DrawChildren)
    painter.end()
    return path


def influence_arrays(inf, layer: int, direction: int, forget: np.ndarray | None = None
                     ) -> dict[str, np.ndarray]:
    """The arrays an export writes: the full gradients and the per-step norms shown."""
    b = inf.batch
    out = {"dx": inf.x[:, b].detach().cpu().numpy(),
           "dc": inf.c[layer, direction, :, b].detach().cpu().numpy(),
           "dh": inf.h[layer, direction, :, b].detach().cpu().numpy(),
           "dx_all": inf.x.detach().cpu().numpy(), "dc_all": inf.c.detach().cpu().numpy(),
           "dh_all": inf.h.detach().cpu().numpy(), "dh_0": inf.h_0.detach().cpu().numpy(),
           "dc_0": inf.c_0.detach().cpu().numpy(), "x_norm": inf.x_norm,
           "c_norm": inf.c_norm[layer, direction], "h_norm": inf.h_norm[layer, direction]}
    if forget is not None:
        out["forget_product"] = forget
    return out


def save_influence_csv(path, inf, layer: int, direction: int,
                       forget: np.ndarray | None = None) -> Path:
    """One row per input position: t, the norms, ∏f, then ∂target/∂x, ∂c and ∂h per feature
    and unit of the shown layer and direction (for the target's batch element)."""
    path = Path(path)
    a = influence_arrays(inf, layer, direction, forget)
    header = ["t", "norm_dx", "norm_dc", "norm_dh", "forget_product"]
    header += [f"dx[{k}]" for k in range(a["dx"].shape[1])]
    header += [f"dc[{k}]" for k in range(a["dc"].shape[1])]
    header += [f"dh[{k}]" for k in range(a["dh"].shape[1])]
    fp = a.get("forget_product", np.full(inf.num_steps, np.nan))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([f"# d {inf.state}[{inf.unit}] at t={inf.t} (layer {inf.layer}, direction"
                    f" {inf.direction}, batch {inf.batch}) = {inf.value:.6g}"])
        w.writerow(header)
        for t in range(inf.num_steps):
            row = [t, a["x_norm"][t], a["c_norm"][t], a["h_norm"][t], fp[t],
                   *a["dx"][t], *a["dc"][t], *a["dh"][t]]
            w.writerow([v if isinstance(v, int) else repr(float(v)) for v in row])
    return path


def save_influence_npz(path, inf, layer: int, direction: int,
                       forget: np.ndarray | None = None) -> Path:
    path = Path(path)
    np.savez_compressed(path, **influence_arrays(inf, layer, direction, forget),  # type: ignore[arg-type]
                        target=np.array(f"{inf.state}[{inf.unit}]"), t=inf.t,
                        layer=inf.layer, direction=inf.direction, batch=inf.batch,
                        value=inf.value, shown_layer=layer, shown_direction=direction)
    return path


# ----- the view -----------------------------------------------------------------------------

class InfluenceView(TraceView):
    """Gradients of the focus unit at the cursor through time, and what-if differences."""

    title = "Influence"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.result = None  # the Influence on screen
        self.forget: np.ndarray | None = None
        self.runner = TraceRunner(self)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self._generation = 0
        self._latest: InfluenceRequest | None = None
        self._dirty = True
        self.target = QComboBox()
        self.target.setObjectName("influence_target")
        for label, state in TARGETS:
            self.target.addItem(label, state)
        self.target.setToolTip("The value whose gradients are shown")
        self.target.currentIndexChanged.connect(self.recompute)
        self._head_key = None
        self.status = QLabel()
        self.status.setObjectName("influence_status")
        self.status.setWordWrap(True)
        self.export_buttons = {}
        controls = QHBoxLayout()
        controls.addWidget(self.caption, 1)
        controls.addWidget(QLabel("target"))
        controls.addWidget(self.target)
        for fmt in ("PNG", "SVG", "CSV", "NPZ"):
            button = QPushButton(fmt)
            button.setObjectName(f"influence_export_{fmt.lower()}")
            button.setToolTip(f"Save the gradients shown as {fmt}")
            button.clicked.connect(lambda _=False, f=fmt: self._export_clicked(f))
            controls.addWidget(button)
            self.export_buttons[fmt] = button
        # gradients
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("influence_graphics")
        self.graphics.ci.setContentsMargins(4, 4, 4, 4)
        self.maps: dict[str, Heatmap] = {}
        self.bars: dict[str, pg.ColorBarItem] = {}
        first = None
        for row, (name, title, y) in enumerate((
                ("dx", "∂target/∂x: every input step and feature", "feature"),
                ("dc", "∂target/∂c: the cell path, per unit", "unit"),
                ("dh", "∂target/∂h: per unit", "unit"))):
            plot = self.graphics.addPlot(row=row, col=0)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            self.maps[name] = Heatmap(plot, name, title, y_label=y)
            self.maps[name].cursor.setMovable(False)
            bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                  width=14, label=name)
            self.maps[name].attach_bar(bar, name)  # the bar shows the levels it is drawn with
            self.graphics.addItem(bar, row=row, col=1)
            self.bars[name] = bar
        self.norm_plot = self.graphics.addPlot(row=3, col=0)
        self.norm_plot.setXLink(first)
        self.norm_plot.setLogMode(y=True)
        self.norm_plot.setTitle("per-step norms (log scale) and ∏f of the focus unit",
                                size="10pt")
        self.norm_plot.setLabel("bottom", "s (input position)")
        self.norm_plot.showGrid(x=True, y=True, alpha=0.2)
        self.norm_plot.setMenuEnabled(False)
        self.norm_plot.hideButtons()
        self.norm_plot.addLegend(offset=(-5, -5), labelTextSize="8pt", colCount=2,
                                 brush=theme.legend_brush())
        self.norm_lines = {
            "x": self.norm_plot.plot(pen=NORM_PENS["x"], name="‖∂target/∂x_s‖"),
            "c": self.norm_plot.plot(pen=NORM_PENS["c"], name="‖∂target/∂c_s‖"),
            "h": self.norm_plot.plot(pen=NORM_PENS["h"], name="‖∂target/∂h_s‖"),
            "f": self.norm_plot.plot(pen=NORM_PENS["f"], name="∏f (focus unit, s to t)")}
        self.norm_cursor = pg.InfiniteLine(0, angle=90, pen=CURSOR_PEN)
        self.norm_plot.addItem(self.norm_cursor)
        for row, stretch in enumerate((2, 3, 3, 3)):
            self.graphics.ci.layout.setRowStretchFactor(row, stretch)
        # differences
        self.diff_quantity = QComboBox()
        self.diff_quantity.setObjectName("difference_quantity")
        for k in QUANTITIES:
            self.diff_quantity.addItem(k, k)
        self.diff_quantity.setCurrentIndex(QUANTITIES.index("c"))
        self.diff_quantity.currentIndexChanged.connect(self._show_difference)
        self.diff_caption = QLabel()
        self.diff_caption.setObjectName("difference_caption")
        self.diff_caption.setWordWrap(True)
        self.clear_button = QPushButton("Clear edits")
        self.clear_button.setToolTip("Drop every what-if edit and return to the original run")
        self.clear_button.clicked.connect(self.session.clear_edits)
        self.diff_graphics = pg.GraphicsLayoutWidget()
        self.diff_graphics.setObjectName("difference_graphics")
        orig_plot = self.diff_graphics.addPlot(row=0, col=0)
        diff_plot = self.diff_graphics.addPlot(row=1, col=0)
        diff_plot.setXLink(orig_plot)
        self.orig_map = Heatmap(orig_plot, "original", "original run")
        self.edit_map = Heatmap(diff_plot, "edited", "edited minus original")
        self.orig_bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                        width=14)
        self.orig_map.attach_bar(self.orig_bar, "original")
        self.diff_bar = pg.ColorBarItem(values=(-1, 1), colorMap=DIVERGING, interactive=False,
                                        width=14)
        self.edit_map.attach_bar(self.diff_bar, "Δ")
        self.diff_graphics.addItem(self.orig_bar, row=0, col=1)
        self.diff_graphics.addItem(self.diff_bar, row=1, col=1)
        attach_ablation_menu(self, self.diff_graphics, {"original": self.orig_map})
        diff_page = QWidget()
        dl = QVBoxLayout(diff_page)
        dl.setContentsMargins(0, 0, 0, 0)
        diff_row = QHBoxLayout()
        diff_row.addWidget(QLabel("quantity"))
        diff_row.addWidget(self.diff_quantity)
        diff_row.addWidget(self.diff_caption, 1)
        diff_row.addWidget(self.clear_button)
        dl.addLayout(diff_row)
        dl.addWidget(self.diff_graphics, 1)
        self.pages = QTabWidget()
        self.pages.setObjectName("influence_pages")
        self.pages.addTab(self.graphics, "Gradients")
        self.pages.addTab(diff_page, "Difference")
        hover = QLabel("Hover a cell to read its gradient. Right-click a unit in States, Units"
                       " or the original run here to ablate it.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.pages, 1)
        layout.addWidget(hover)
        self.follow_mouse(self.graphics, hover)
        self.ctx.edits_changed.connect(self._show_difference)
        self.listen()

    # ----- requests ---------------------------------------------------------------------
    @property
    def state(self) -> str:
        return str(self.target.currentData())

    def _offer_head_targets(self) -> None:
        """Add the prediction and loss targets (and differences) while the model has a head."""
        head = self.session.head
        key = None if head is None else (id(head), next_step_targets(self.session) is not None)
        if key == self._head_key:
            return
        self._head_key = key
        for combo, extra in ((self.target, HEAD_TARGETS),
                             (self.diff_quantity, [(q, q) for q in HEAD_QUANTITIES])):
            combo.blockSignals(True)
            current = combo.currentData()
            while combo.count() > (len(TARGETS) if combo is self.target else len(QUANTITIES)):
                combo.removeItem(combo.count() - 1)
            if key is not None:
                for label, state in extra:
                    if state != "loss" or key[1]:
                        combo.addItem(label, state)
            index = combo.findData(current)
            combo.setCurrentIndex(index if index >= 0 else 0)
            combo.blockSignals(False)

    def show_trace(self, trace) -> None:
        self._offer_head_targets()
        self.caption.setText(f"<b>Influence</b>: {self.ctx.selection_text()}")
        self._show_difference()
        self.recompute()

    def show_step(self, t: int) -> None:
        self.recompute()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.recompute()

    def make_request(self) -> InfluenceRequest | None:
        """The gradient map the view should show now (None: nothing to compute)."""
        session, ctx, trace = self.session, self.ctx, self.session.trace
        if trace is None or not ctx.fits(trace):
            return None
        cfg = session.config
        t = min(session.t, int(trace.lengths[ctx.batch]) - 1)
        state, unit, head, target = self.state, ctx.unit, None, None
        if state in ("prediction", "loss"):
            if session.head is None:
                return None
            head = head_module(session.head, session.input_tm)
            if state == "prediction":
                out = head_outputs(trace, session.head)[t, ctx.batch]
                unit = int(torch.nan_to_num(out, nan=-math.inf).argmax())
            else:
                targets = next_step_targets(session)
                if targets is None:
                    return None
                target = targets[t, ctx.batch].to(session.input_tm.device)
                if torch.is_floating_point(target):
                    target = target.to(session.dtype)
        elif unit >= (cfg.h_out if state == "h" else cfg.hidden_size):
            return None
        self._generation += 1
        return InfluenceRequest(self._generation, session.lstm, session.input, state,
                                ctx.layer, ctx.direction, t, unit, ctx.batch,
                                session.memory_budget, head, target)

    def recompute(self, *args) -> None:
        """Ask for the gradients of the current target (only while the view is on screen)."""
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        trace = self.session.trace
        if trace is not None and trace.windowed:
            self.status.setText("Not for a windowed trace: gradients run back through every"
                                " step, and this input's full trace is over the memory budget.")
            return
        req = self.make_request()
        if req is None:
            self.status.setText("" if self.session.trace is None else
                                "No loss here: the model's head has no next-step target for"
                                " this input." if self.state == "loss" else
                                "The focus unit has no h here (proj_size): pick c, or a unit"
                                " below proj_size.")
            return
        T, B, _ = self.session.input_tm.shape
        try:
            need = check_influence_budget(self.session.config, B, T, self.session.dtype,
                                          self.session.memory_budget)
        except TraceBudgetError as exc:
            self.status.setText(str(exc))
            return
        self._latest = req
        self.status.setText(f"computing ∂{target_name(req.state, req.unit)} at t={req.t} (about"
                            f" {need / 2**20:.0f} MiB)…")
        self.runner.submit(req)

    def _on_finished(self, request, result) -> None:
        if request is not self._latest:
            return
        self.show_influence(result)

    def _on_failed(self, request, message: str) -> None:
        if request is self._latest:
            self.status.setText(message)

    # ----- drawing ----------------------------------------------------------------------
    def show_influence(self, inf) -> None:
        """Draw ``inf`` for the selected layer and direction."""
        trace, ctx = self.session.trace, self.ctx
        if trace is None or not ctx.fits(trace) or inf.num_steps != trace.num_steps \
                or inf.config != trace.config:
            return
        self.result = inf
        layer, direction = ctx.layer, ctx.direction
        a = influence_arrays(inf, layer, direction)
        P = inf.config.proj_size  # h then has P projected features, not units
        self.maps["dh"].retitle(f"∂target/∂h: per projected feature (proj_size {P})" if P
                                else "∂target/∂h: per unit", "h feature" if P else "unit")
        for name in ("dx", "dc", "dh"):
            data = a[name].T
            lim = nan_safe_limit(data, floor=1e-12)
            # drawn with the levels its colour bar shows: the gradients' own range
            self.maps[name].set_data(np.ascontiguousarray(data), levels=(-lim, lim))
            self.maps[name].set_t(inf.t)
        steps = np.arange(inf.num_steps)
        self.forget = None
        if inf.state in ("h", "c") and (inf.layer, inf.direction) == (layer, direction):
            self.forget = forget_memory(trace, layer, direction, inf.unit, inf.t, inf.batch)
        for key, values in (("x", a["x_norm"]), ("c", a["c_norm"]), ("h", a["h_norm"]),
                            ("f", self.forget)):
            if values is None:
                self.norm_lines[key].setData([], [])
                continue
            # exact zeros (steps the target cannot see) are gaps: a log axis has no 0
            shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            self.norm_lines[key].setData(steps, shown, connect="finite")
        self.norm_cursor.setValue(inf.t)
        self._frame(a["x_norm"], a["c_norm"], inf.t)
        fade = fade_distance(a["x_norm"], inf.t) if inf.direction == 0 else None
        where = f"layer {inf.layer}" + (f", {('forward', 'reverse')[inf.direction]}"
                                        if inf.config.bidirectional else "")
        text = (f"∂{target_name(inf.state, inf.unit)} at t={inf.t} ({where}) ="
                f" {inf.value:+.4f};"
                f" computed in {inf.elapsed_s * 1000:.0f} ms.")
        if fade is not None:
            text += f" ‖∂/∂x_s‖ stays below 1% of its maximum from {fade} steps back."
        elif inf.direction == 0:
            text += " ‖∂/∂x_s‖ stays above 1% of its maximum back to the first step."
        if self.session.edits:
            text += " Gradients are of the LSTM without state edits or ablations."
        self.status.setText(text)

    def _frame(self, x_norm: np.ndarray, c_norm: np.ndarray, t: int) -> None:
        """Show the steps the target depends on: where either norm is at least 1e-4 of its
        maximum, and the cursor (the whole sequence stays a mouse-drag away)."""
        reach = [t]
        for norms in (x_norm, c_norm):
            v = np.nan_to_num(np.asarray(norms, dtype=float), nan=0.0)
            if v.size and v.max() > 0:
                reach.extend(np.nonzero(v >= 1e-4 * v.max())[0].tolist())
        lo, hi = min(reach), max(reach)
        pad = max(5, (hi - lo) // 10)
        T = len(x_norm)
        self.maps["dx"].plot.setXRange(max(lo - pad, 0) - 0.5, min(hi + pad, T - 1) + 0.5,
                                       padding=0)

    def hover_text(self, scene_pos) -> str:
        for name, label, row in (("dx", "∂target/∂x", "feature"), ("dc", "∂target/∂c", "unit"),
                                 ("dh", "∂target/∂h", self.maps["dh"].y_label)):
            hit = self.maps[name].lookup(scene_pos)
            if hit is not None:
                k, t, value = hit
                return f"{label}, {row} {k}, s {t}: " + \
                    ("— (past this sequence's length)" if np.isnan(value) else f"{value:.4g}")
        return ""

    def difference_block(self, quantity: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(original (units, T), edited minus original (units, T)) of ``quantity`` for the
        selection, or None when no what-if run is on screen."""
        trace, original, ctx = self.session.trace, self.session.original, self.ctx
        if trace is None or original is None or not trace.meta.get("edited") \
                or not ctx.fits(trace) or not ctx.fits(original) \
                or original.gates.shape != trace.gates.shape:
            return None

        if quantity in HEAD_QUANTITIES:
            return self._head_difference(quantity, original, trace)

        def block(tr) -> np.ndarray:
            if quantity in ("c", "h"):
                v = getattr(tr, quantity)[ctx.layer, ctx.direction, :, ctx.batch]
            else:
                v = tr.gates[ctx.layer, ctx.direction, :, ctx.batch, QUANTITIES.index(quantity)]
            return v.detach().double().cpu().numpy().T

        before = block(original)
        return before, block(trace) - before

    def _head_difference(self, quantity: str, original, trace
                         ) -> tuple[np.ndarray, np.ndarray] | None:
        """The head's prediction (outputs, T) or its loss (1, T) in both runs."""
        head, b = self.session.head, self.ctx.batch
        if head is None:
            return None
        before, after = head_outputs(original, head), head_outputs(trace, head)
        if quantity == "loss":
            targets = next_step_targets(self.session)
            if targets is None:
                return None
            targets = targets.to(before.device)
            before, after = (step_losses(p, targets).unsqueeze(-1) for p in (before, after))
            before[-1], after[-1] = math.nan, math.nan  # nothing follows the last step
        first = before[:, b].detach().double().cpu().numpy().T
        return first, after[:, b].detach().double().cpu().numpy().T - first

    def _show_difference(self, *args) -> None:
        quantity = str(self.diff_quantity.currentData())
        got = self.difference_block(quantity)
        if got is None:
            self.diff_caption.setText("No what-if run: right-click a unit in States or Units"
                                      " (or the original run below) to zero or clamp it.")
            self.orig_map.set_data(np.full((1, 1), np.nan))
            self.edit_map.set_data(np.full((1, 1), np.nan))
            return
        before, diff = got
        trace = self.session.trace
        if trace is None:  # the difference block came from a trace: none is gone since
            return
        lim, dlim = nan_safe_limit(before), nan_safe_limit(diff, floor=1e-12)
        total = self.session.num_steps
        self.orig_map.set_data(np.ascontiguousarray(before), levels=(-lim, lim),
                               offset=trace.start, total=total)
        self.edit_map.set_data(np.ascontiguousarray(diff), levels=(-dlim, dlim),
                               offset=trace.start, total=total)
        # every step the trace holds: where the change begins and all it reaches
        self.orig_map.set_window(trace.start, trace.start + before.shape[1])
        self.orig_map.retitle(f"{quantity}: original run")
        self.edit_map.retitle(f"{quantity}: edited minus original (max |Δ| {dlim:.3g})")
        edits = self.session.edits
        described = [a.describe() for a in edits.ablations]
        n_other = len(edits.states) + len(edits.inputs)
        if n_other:
            described.append(f"{n_other} other what-if edit{'s' * (n_other != 1)}")
        self.diff_caption.setText("; ".join(described))

    # ----- exports ----------------------------------------------------------------------
    def _export_clicked(self, fmt: str) -> None:
        if fmt in ("CSV", "NPZ") and self.result is None:
            self.status.setText("Nothing to export yet: the gradients are still being computed.")
            return
        ext = fmt.lower()
        path, _ = QFileDialog.getSaveFileName(self, f"Save the influence view as {fmt}",
                                              f"influence.{ext}", f"{fmt} (*.{ext})")
        if path:
            try:
                self.export(path, fmt)
            except OSError as exc:
                self.status.setText(f"could not save {path}: {exc}")

    def export(self, path, fmt: str | None = None) -> Path:
        """Write the view (PNG, SVG) or its gradients (CSV, NPZ) to ``path``."""
        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).upper()
        if fmt == "PNG":
            return save_widget_png(self, path)
        if fmt == "SVG":
            return save_widget_svg(self, path)
        if self.result is None:
            raise OSError("no gradients computed yet")
        args = (path, self.result, self.ctx.layer, self.ctx.direction, self.forget)
        if fmt == "CSV":
            return save_influence_csv(*args)
        if fmt == "NPZ":
            return save_influence_npz(*args)
        raise ValueError(f"format must be PNG, SVG, CSV or NPZ (got {fmt!r})")
