"""State view: a timeline of the States preset (input, prediction, loss, c and h, chosen
units as lines, the bars of the current step) beside the focus unit's update written out:
c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t). After what-if edits, the run before the
first edit is drawn next to the edited one."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lstm_viz.demos import demo_for_model

from .. import theme
from ..plots import Bars, Heatmap
from ..sessions import ended_text
from ..timeline import Timeline, preset, shared_strips
from ..timeline.kinds.units import parse_units
from ..whatif import WhatIfBox
from ..widgets import Steady
from .base import TraceView

WHATIF_COLOUR = "#a15c00"
__all__ = ["StatesView", "parse_units"]


def _f(v: float) -> str:
    return "—" if not np.isfinite(v) else f"{v:+.3f}"


class StatesView(TraceView):
    """The States timeline, the focus unit's update and the what-if box."""

    title = "States"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.unit_box = QSpinBox()
        self.unit_box.setObjectName("focus_unit")
        self.unit_box.setToolTip("The unit whose update is written out and highlighted")
        self.unit_box.valueChanged.connect(lambda u: ctx.select(unit=u))
        self.units_edit = QLineEdit("0-2")
        self.units_edit.setObjectName("plotted_units")
        self.units_edit.setToolTip("Units to plot over time, e.g. 0, 3-5")
        self.units_edit.setMaximumWidth(160)
        self.units_edit.editingFinished.connect(self._refresh_lines)
        self.display = ctx.display
        self.timeline = Timeline(ctx, preset(self.title))
        self.timeline.tracks_changed.connect(self._on_tracks_changed)
        self.display_controls = self.timeline.controls
        self.overview = self.timeline.overview
        self.strips = shared_strips(self.timeline)
        controls = QHBoxLayout()
        controls.addWidget(self.caption, 1)
        controls.addWidget(QLabel("focus unit"))
        controls.addWidget(self.unit_box)
        controls.addWidget(QLabel("plot units"))
        controls.addWidget(self.units_edit)
        controls.addWidget(self.display_controls)
        self.equation = QLabel()
        self.equation.setObjectName("equation")
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        self.equation.setWordWrap(True)
        self.equation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.equation.setStyleSheet(theme.equation_style())
        self.equation.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.whatif = WhatIfBox(ctx)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.equation, 1)
        rl.addWidget(self.whatif)
        # their text follows every step: held where it does not lay the window out again
        column = Steady(right)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.timeline)
        split.addWidget(column)
        # the timeline takes the width; the equation and the what-if box a narrow column
        for widget in (right, column):  # the column may squeeze the what-if box's row
            widget.setMinimumWidth(220)
        column.setMaximumWidth(340)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        split.setCollapsible(0, False)
        self.split = split
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self.strips.readout_area)
        layout.addWidget(split, 1)
        self.hover = self.timeline.hover
        self._model_source: object = None
        self.demo_units = ""  # the units a demo's docs talk about, in words
        ctx.config_changed.connect(self._on_config_changed)
        self._on_config_changed()
        self.listen()

    # ----- the tracks (None where the user removed one) ---------------------------------
    def _map(self, kind: str) -> Heatmap | None:
        track = self.timeline.track(kind)
        return getattr(track, "map", None)

    @property
    def c_map(self) -> Heatmap | None:
        return self._map("c")

    @property
    def h_map(self) -> Heatmap | None:
        return self._map("h")

    @property
    def ablation_menu(self) -> Any:
        """The right-click menu last opened on a track (None before the first)."""
        return self.timeline.ablation_menu

    @property
    def c_bar(self) -> Any:
        return getattr(self.timeline.track("c"), "bar", None)

    @property
    def h_bar(self) -> Any:
        return getattr(self.timeline.track("h"), "bar", None)

    @property
    def lines_cursor(self) -> Any:
        track = self._lines
        return None if track is None else track.cursor

    @property
    def bars(self) -> dict[str, Bars]:
        """The bar charts of the current step (empty when that track is removed)."""
        return getattr(self.timeline.track("bars"), "bars", {})

    @property
    def _lines(self) -> Any:
        return self.timeline.track("units")

    @property
    def lines_plot(self) -> Any:
        track = self._lines
        return None if track is None else track.plot

    @property
    def lines(self) -> list:
        track = self._lines
        return [] if track is None else track.lines

    @property
    def before_lines(self) -> list:
        track = self._lines
        return [] if track is None else track.before_lines

    @property
    def legend(self) -> Any:
        track = self._lines
        return None if track is None else track.legend

    def _on_tracks_changed(self) -> None:
        """A new chosen-units track plots the box's units; a restored one fills the box."""
        track = self._lines
        if track is None or track.units_text == self.units_edit.text():
            return
        if track.units_chosen:
            self.units_edit.setText(track.units_text)
        else:
            track.set_units(self.units_edit.text())

    def _on_config_changed(self) -> None:
        """A demo's model just loaded: plot the units its docs talk about."""
        source = self.session.model_source
        if source == self._model_source:
            return
        self._model_source = source
        demo = demo_for_model(source)
        self.demo_units = "; ".join(str(u) for u in demo.units) if demo else ""
        if demo and demo.units:
            self.units_edit.setText(", ".join(str(u) for u in
                                              dict.fromkeys(u.unit for u in demo.units)))
            self._refresh_lines()

    def _refresh_lines(self) -> None:
        track = self._lines
        if track is None:
            return
        ok = track.set_units(self.units_edit.text())
        self.units_edit.setStyleSheet("" if ok else "border: 1px solid #c62828;")

    # ----- whole-trace drawing (trace or selection changed) ------------------------------
    def show_trace(self, trace) -> None:
        ctx = self.ctx
        cfg = trace.config
        self.unit_box.blockSignals(True)
        self.unit_box.setRange(0, cfg.hidden_size - 1)
        self.unit_box.setValue(ctx.unit)
        self.unit_box.blockSignals(False)
        self._on_tracks_changed()
        self.timeline.show_trace(trace)
        demo = f" · demo units: {html.escape(self.demo_units)}" if self.demo_units else ""
        self.caption.setText(f"<b>States</b>: {ctx.selection_text()}{demo}")
        self.show_step(self.session.t)

    # ----- per-step drawing: only indexing ----------------------------------------------
    def show_step(self, t: int) -> None:
        ctx = self.ctx
        self.timeline.show_step(t)
        if not ctx.holds(t):  # a windowed trace: the window around t is being traced
            self.equation.setText(f"<b>t = {t}</b>: tracing the steps around t…")
            return
        v = self.session.values_at(ctx.layer, ctx.direction, ctx.batch, t)
        self.equation.setText(self.equation_html(v, ctx.unit, t))

    def equation_html(self, v: dict, unit: int, t: int) -> str:
        """The focus unit's update at step t, with numbers; a value set by a what-if edit says
        so instead of "trace"."""
        trace = self.session.trace
        assert trace is not None  # the equation is written only for a trace on screen
        cfg = trace.config
        ended = ended_text(trace.lengths, self.ctx.batch, t)
        if ended:  # nothing is computed here: no number, not even a zero, would be true
            return (f"<b>unit {unit}, t = {t}</b><br>{ended}: nn.LSTM computes nothing for it"
                    f" at t = {t} (its cells are blank; h_n and c_n hold its state at"
                    f" t = {int(trace.lengths[self.ctx.batch]) - 1})")
        i, f, g, o = (float(v[k][unit]) for k in "ifgo")
        c_prev, c = float(v["c_prev"][unit]), float(v["c"][unit])
        prev = "t−1" if self.ctx.direction == 0 else "t+1 (reverse reads backwards)"
        edited = self._edited_here(unit, t) if trace.meta.get("edited") else set()
        ablated = self._ablated_here(unit, t) if trace.meta.get("edited") else {}
        what_if = f" <span style='color: {WHATIF_COLOUR}'>· what-if run</span>" \
            if trace.meta.get("edited") else ""

        def said(kind: str, value: float) -> str:
            """Where the trace's value comes from, and the value."""
            if kind in ablated:  # the trace holds the ablation's value, not the sum shown
                return (f"(<span style='color: {WHATIF_COLOUR}'>unit ablated: {kind} set to"
                        f" {_f(value)}</span>)")
            return f"({'set by edit' if kind in edited else 'trace'}: {_f(value)})"

        clamped = [f"{k} clamped to {ablated[k]:g}" for k in "ifgo" if k in ablated]
        if clamped:
            what_if += (f" <span style='color: {WHATIF_COLOUR}'>· ablated: "
                        f"{', '.join(clamped)}</span>")
        text = (f"<b>unit {unit}, t = {t}</b>{what_if}<br>"
                f"c<sub>t</sub> = f·c<sub>{prev}</sub> + i·g = {_f(f)}·{_f(c_prev)} + "
                f"{_f(i)}·{_f(g)} = <b>{_f(f * c_prev + i * g)}</b>"
                f" {said('c', c)}<br>")
        if cfg.proj_size:
            text += (f"o·tanh(c<sub>t</sub>) = {_f(o)}·tanh({_f(c)}) = {_f(o * np.tanh(c))};"
                     f" h<sub>t</sub> = W_hr (o·tanh c<sub>t</sub>) has {cfg.proj_size}"
                     " features")
            if "h" in ablated:
                text += (f"; <span style='color: {WHATIF_COLOUR}'>h feature {unit} ablated:"
                         f" set to {_f(ablated['h'])}</span>")
        else:
            h = float(v["h"][unit])
            text += (f"h<sub>t</sub> = o·tanh(c<sub>t</sub>) = {_f(o)}·tanh({_f(c)}) = "
                     f"<b>{_f(o * np.tanh(c))}</b> {said('h', h)}")
        return text

    def _edited_here(self, unit: int, t: int) -> set[str]:
        """Which of "c", "h" a what-if edit sets for this unit at step t (selection's slice)."""
        ctx = self.ctx
        return {e.kind for e in self.session.edits.states
                if (e.t, e.layer, e.direction, e.batch, e.unit)
                == (t, ctx.layer, ctx.direction, ctx.batch, unit)}

    def _ablated_here(self, unit: int, t: int) -> dict[str, float]:
        """What an ablation sets for this unit at input position t (selection's slice):
        {"h": 0.0} for a zeroed h, {"f": 1.0} for a clamped forget gate; the last one wins."""
        ctx = self.ctx
        steps = self.session.num_steps
        return {a.kind: float(a.value) for a in self.session.edits.ablations
                if (a.layer, a.direction, a.batch) == (ctx.layer, ctx.direction, ctx.batch)
                and unit in a.units and t in a.steps(steps)}

    def hover_text(self, scene_pos, scene=None) -> str:
        """The reading under ``scene_pos`` of the track scene ``scene`` (None: any track)."""
        return self.timeline.hover_text(scene_pos, scene)
