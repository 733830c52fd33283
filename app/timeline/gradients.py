"""The gradients the Influence tracks draw: one ``lstm_viz.influence`` map of the chosen target
(the focus unit's h or c at the cursor, or the head's prediction or loss) for the selected
layer, direction and batch element, computed on a worker thread of its own after a budget
check (a newer request supersedes an older one), and shared by every Influence track of a
timeline. ``changed`` fires when a new map arrives or the status line changes."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget
from torch import nn

from lstm_viz import TraceBudgetError, check_influence_budget, influence
from lstm_viz.explain.ablation import head_module, head_outputs, next_step_targets
from lstm_viz.explain.gradients import Influence, fade_distance, forget_memory
from lstm_viz.formats.atomic import atomic_open, write_with

from ..workers import TraceRunner

#: (label, state) of the targets every model has, and those a model with a head adds
TARGETS = (("h of the focus unit at the cursor", "h"), ("c of the focus unit at the cursor", "c"))
HEAD_TARGETS = (("prediction at the cursor (its top output)", "prediction"),
                ("loss at the cursor (against the next step)", "loss"))


@dataclass(frozen=True)
class InfluenceRequest:
    """One gradient map to compute: everything it needs, taken on the GUI thread."""

    generation: int
    lstm: Any
    input: Any
    state: str
    layer: int
    direction: int
    t: int
    unit: int | None
    batch: int
    memory_budget: int | None
    head: nn.Module | None = None
    target: Any = None

    def run(self) -> Influence:
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


def influence_arrays(inf: Influence, layer: int, direction: int,
                     forget: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The arrays an export writes: the full gradients and the per-step norms shown.
    dx (T, input_size), dc (T, H) and dh (T, H_out) for the shown layer and direction and the
    target's batch element; *_all the whole tensors; the norms (T,)."""
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


def save_influence_csv(path: str | Path, inf: Influence, layer: int, direction: int,
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
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:  # all or nothing
        w = csv.writer(fh)
        w.writerow([f"# d {inf.state}[{inf.unit}] at t={inf.t} (layer {inf.layer}, direction"
                    f" {inf.direction}, batch {inf.batch}) = {inf.value:.6g}"])
        w.writerow(header)
        for t in range(inf.num_steps):
            row = [t, a["x_norm"][t], a["c_norm"][t], a["h_norm"][t], fp[t],
                   *a["dx"][t], *a["dc"][t], *a["dh"][t]]
            w.writerow([v if isinstance(v, int) else repr(float(v)) for v in row])
    return path


def save_influence_npz(path: str | Path, inf: Influence, layer: int, direction: int,
                       forget: np.ndarray | None = None) -> Path:
    """The arrays of ``influence_arrays`` and what the target is, in one NPZ archive."""
    path = Path(path)
    arrays: dict[str, Any] = dict(influence_arrays(inf, layer, direction, forget))
    arrays |= {"target": np.array(f"{inf.state}[{inf.unit}]"), "t": inf.t, "layer": inf.layer,
               "direction": inf.direction, "batch": inf.batch, "value": inf.value,
               "shown_layer": layer, "shown_direction": direction}
    return write_with(path, lambda fh: np.savez_compressed(fh, **arrays))  # all or nothing


class GradientSource(QObject):
    """The gradient map of the chosen target, kept up to date while ``active``."""

    changed = Signal()

    def __init__(self, ctx: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        #: "h", "c", "prediction" or "loss"
        self.state = "h"
        self.result: Influence | None = None
        #: ∏f of the focus unit from each step to the cursor (None: not of an h or c target)
        self.forget: np.ndarray | None = None
        self.status = ""
        self._watched: list[QWidget] = []
        self._dirty = True
        self._generation = 0
        self._latest: InfluenceRequest | None = None
        self.runner = TraceRunner(self)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        ctx.trace_changed.connect(self.recompute)
        ctx.selection_changed.connect(self.recompute)
        ctx.step_changed.connect(self.recompute)

    # ----- what to compute ------------------------------------------------------------------
    def targets(self) -> list[tuple[str, str]]:
        """(label, state) of every target the session's model offers."""
        head = self.session.head
        out = list(TARGETS)
        if head is not None:
            has_loss = next_step_targets(self.session) is not None
            out += [(label, state) for label, state in HEAD_TARGETS
                    if state != "loss" or has_loss]
        return out

    def set_state(self, state: str) -> None:
        """Take the gradients of ``state`` ("h", "c", "prediction" or "loss")."""
        if state not in {s for _, s in self.targets()}:
            raise ValueError(f"no gradient target {state!r} for this model; choose one of"
                             f" {', '.join(s for _, s in self.targets())}")
        if state != self.state:
            self.state = state
            self.recompute()

    def watch(self, widget: QWidget) -> None:
        """Compute only while one of the watched widgets (the tracks that draw the map) is on
        screen: a hidden Influence tab costs nothing; showing it computes what is due."""
        if widget not in self._watched:
            widget.installEventFilter(self)
        self._watched.append(widget)

    def unwatch(self, widget: QWidget) -> None:
        if widget in self._watched:
            self._watched.remove(widget)
            if widget not in self._watched:
                widget.removeEventFilter(self)

    @property
    def active(self) -> bool:
        """Whether a track that draws the map is on screen."""
        return any(w.isVisible() for w in self._watched)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Show and self._dirty:
            QTimer.singleShot(0, self._on_shown)
        return False

    def _on_shown(self) -> None:
        if self._dirty and self.active:
            self.recompute()

    def make_request(self) -> InfluenceRequest | None:
        """The gradient map to show now (None: nothing to compute)."""
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

    def recompute(self, *args: object) -> None:
        """Ask for the gradients of the current target (only while active)."""
        if self.state not in {s for _, s in self.targets()}:
            self.state = "h"  # the head that offered it is gone
        if not self.active:
            self._dirty = True
            return
        self._dirty = False
        trace = self.session.trace
        if trace is not None and trace.windowed:
            self._say("Not for a windowed trace: gradients run back through every step, and"
                      " this input's full trace is over the memory budget.")
            return
        req = self.make_request()
        if req is None:
            self._say("" if trace is None else
                      "No loss here: the model's head has no next-step target for this input."
                      if self.state == "loss" else
                      "The focus unit has no h here (proj_size): pick c, or a unit below"
                      " proj_size.")
            return
        T, B, _ = self.session.input_tm.shape
        try:
            need = check_influence_budget(self.session.config, B, T, self.session.dtype,
                                          self.session.memory_budget)
        except TraceBudgetError as exc:
            self._say(str(exc))
            return
        self._latest = req
        self._say(f"computing ∂{target_name(req.state, req.unit)} at t={req.t} (about"
                  f" {need / 2**20:.0f} MiB)…")
        self.runner.submit(req)

    @property
    def busy(self) -> bool:
        """Whether a map is on its way."""
        return bool(self.runner.busy)

    # ----- results --------------------------------------------------------------------------
    def _on_finished(self, request: InfluenceRequest, result: Influence) -> None:
        if request is not self._latest:
            return
        trace, ctx = self.session.trace, self.ctx
        if trace is None or not ctx.fits(trace) or result.num_steps != trace.num_steps \
                or result.config != trace.config:
            return
        self.result = result
        self.forget = None
        if result.state in ("h", "c") and (result.layer, result.direction) == \
                (ctx.layer, ctx.direction):
            self.forget = forget_memory(trace, ctx.layer, ctx.direction, int(result.unit or 0),
                                        result.t, result.batch)
        self.status = self.describe(result)
        self.changed.emit()

    def _on_failed(self, request: InfluenceRequest, message: str) -> None:
        if request is self._latest:
            self._say(message)

    def _say(self, text: str) -> None:
        self.status = text
        self.changed.emit()

    def describe(self, inf: Influence) -> str:
        """The status line of a finished map: the target, its value, how far back it reaches."""
        fade = fade_distance(inf.x_norm, inf.t) if inf.direction == 0 else None
        where = f"layer {inf.layer}" + (f", {('forward', 'reverse')[inf.direction]}"
                                        if inf.config.bidirectional else "")
        text = (f"∂{target_name(inf.state, inf.unit)} at t={inf.t} ({where}) ="
                f" {inf.value:+.4f}; computed in {inf.elapsed_s * 1000:.0f} ms.")
        if fade is not None:
            text += f" ‖∂/∂x_s‖ stays below 1% of its maximum from {fade} steps back."
        elif inf.direction == 0:
            text += " ‖∂/∂x_s‖ stays above 1% of its maximum back to the first step."
        if self.session.edits:
            text += " Gradients are of the LSTM without state edits or ablations."
        return text

    def arrays(self) -> dict[str, np.ndarray] | None:
        """``influence_arrays`` of the map on screen for the selected layer and direction."""
        if self.result is None:
            return None
        return influence_arrays(self.result, self.ctx.layer, self.ctx.direction, self.forget)
