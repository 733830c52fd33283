"""A what-if run next to the run before it, for any track kind that has values over time.

After an ablation, a clamp or a state or input edit, the session keeps the run before the
first edit (``session.original``). The modules ``kinds/before.py``, ``kinds/after.py`` and
``kinds/difference.py`` wrap every kind with values into a kind that draws that kind's values
in the run before the edit, in the edited run, or edited minus before. A heatmap kind
(``HeatmapTrack``) has values of its own; the input, the head's prediction and its loss get
theirs here. ``Compared`` is what the three share: which runs there are, and the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from lstm_viz.explain.ablation import changed_steps, head_outputs, next_step_targets, step_losses

from ..plots import DIVERGING, short_title
from .bases import HeatmapTrack
from .track import Track

#: the quantities whose rows are units a right click can ablate
ABLATABLE = ("i", "f", "g", "o", "c", "h")


def compared_runs(session: Any) -> tuple[Any, Any] | None:
    """(run before the edits, edited run) on show, or None without a what-if run."""
    trace, original = session.trace, session.original
    if trace is None or original is None or not trace.meta.get("edited") \
            or original.gates.shape != trace.gates.shape or original.start != trace.start:
        return None
    return original, trace


def noise(values: np.ndarray, run: Any) -> float:
    """The largest difference two runs of the same LSTM may show without any edit: the run
    before the edits and the edited one can come from different kernels, which round
    differently (1000 units in the last place of the run's dtype, of the largest value)."""
    eps = float(torch.finfo(run.gates.dtype).eps)
    finite = np.abs(values[np.isfinite(values)])
    return 1000 * eps * max(1.0, float(finite.max()) if finite.size else 1.0)


def _input(track: HeatmapTrack, trace: Any) -> np.ndarray:
    """x_t of the selected batch element, (T, features)."""
    return trace.x[:, track.ctx.batch].detach().double().cpu().numpy()


def _prediction(track: HeatmapTrack, trace: Any) -> np.ndarray:
    """The head's outputs, (T, outputs); no rows without a head."""
    head = track.session.head
    if head is None:
        return np.zeros((trace.num_steps, 0))
    return head_outputs(trace, head)[:, track.ctx.batch].detach().double().cpu().numpy()


def _loss(track: HeatmapTrack, trace: Any) -> np.ndarray:
    """The head's loss against the next step, (T, 1); NaN at the last step (nothing follows
    it); no rows without a head or a target."""
    session, T = track.session, trace.num_steps
    head = session.head
    targets = None if head is None else next_step_targets(session)
    if head is None or targets is None:
        return np.zeros((T, 0))
    prediction = head_outputs(trace, head)
    start = trace.start  # a windowed trace: its steps' own targets
    loss = step_losses(prediction, targets[start:start + T].to(prediction.device))
    out = loss[:, track.ctx.batch].detach().double().cpu().numpy().copy()
    if start + T == session.num_steps:
        out[-1] = math.nan  # nothing follows the last step
    return out[:, None]


class RunValues(HeatmapTrack):
    """A run's values that their own kind does not draw as a heatmap (the input's lines, the
    head's prediction and loss), as a heatmap: rows x time. Made from ``_VALUES``."""

    rows_are_units = False
    natural_levels: ClassVar[tuple[float, float] | None] = None
    #: the heading, the rows' name, and the values of a run (T, rows)
    header: ClassVar[str] = ""
    row_name: ClassVar[str] = ""
    read: ClassVar[Callable[[HeatmapTrack, Any], np.ndarray]]

    def heading(self) -> str:
        return self.header

    def y_label(self) -> str:
        return self.row_name

    def values(self, trace: Any) -> np.ndarray:
        return type(self).read(self, trace)


#: base kind: (class name, label, quantity, heading, rows' name, values of a run)
_VALUES: dict[str, tuple[str, str, str, str, str, Callable[[HeatmapTrack, Any], np.ndarray]]] = {
    "input": ("InputValues", "input x_t", "x", "x: input features", "feature", _input),
    "prediction": ("PredictionValues", "prediction", "prediction",
                   "prediction: the head's outputs", "output", _prediction),
    "loss": ("LossValues", "loss per step", "loss", "loss per step (against the next step)",
             "loss", _loss),
}

#: the heatmap whose values stand for a kind that is not a heatmap itself
VALUE_KINDS: dict[str, type[HeatmapTrack]] = {
    base: type(name, (RunValues,), {
        "kind": f"{base} values", "label": label, "quantity": quantity, "header": header,
        "row_name": rows, "read": staticmethod(read), "__module__": __name__,
        "__doc__": f"{label} of a run as a heatmap ({rows}s x time)."})
    for base, (name, label, quantity, header, rows, read) in _VALUES.items()}


def comparable(base: type[Track]) -> type[HeatmapTrack] | None:
    """The heatmap class whose values a comparison of ``base`` draws (None: ``base`` has no
    values of a run: the gradients, the bars at the cursor, another comparison)."""
    if issubclass(base, Compared) or getattr(base, "from_gradients", False):
        return None
    if issubclass(base, HeatmapTrack):
        return base
    return VALUE_KINDS.get(base.kind)


def compared_kind(mixin: type[Compared], base: type[Track], prefix: str, label: str
                  ) -> type[Track] | None:
    """The kind ``prefix:base.kind``: ``mixin`` over the heatmap of ``base``'s values."""
    values = comparable(base)
    if values is None:
        return None
    name = f"{mixin.__name__}{values.__name__}"
    namespace: dict[str, Any] = {
        "kind": f"{prefix}:{base.kind}", "label": f"{base.label}: {label}",
        "group": f"What-if: {label}", "base_kind": base.kind, "__module__": mixin.__module__,
        "__doc__": f"{base.label}: {label}."}
    if mixin.mode == "diff":
        namespace |= {"colour_map": DIVERGING, "natural_levels": None}
    return type(name, (mixin, values), namespace)


class Compared(HeatmapTrack):
    """What the before, after and difference kinds share; ``mode`` says which they are."""

    mode: ClassVar[str] = ""
    base_kind: ClassVar[str] = ""
    #: what the header adds to the base kind's heading
    suffix: ClassVar[str] = ""

    def __init__(self, ctx: Any, host: Any = None) -> None:
        #: the input positions where the edited run differs (first, stop), None: nowhere
        self.span: tuple[int, int] | None = None
        self.pair: tuple[np.ndarray, np.ndarray] | None = None
        super().__init__(ctx, host)
        self.map._quantity = self.bar_label()  # the colour bar names what it measures
        self.map._update_bar()

    def bar_label(self) -> str:
        return self.quantity

    def runs(self) -> tuple[Any, Any] | None:
        return compared_runs(self.session)

    def base_heading(self) -> str:
        """The base kind's heading without its explanation ("c: cell state")."""
        return short_title(super().heading())

    def heading(self) -> str:
        return f"{self.base_heading()} · {self.suffix}"

    def levels_for(self, data: np.ndarray, trace: Any) -> tuple[float, float]:
        """Before and after share their colour scale: one colour, one value in both runs."""
        levels = super().levels_for(data, trace)
        runs = self.runs()
        if runs is None or self.mode == "diff" or self.scale not in ("fixed", "symmetric", "track"):
            return levels
        other = runs[1] if self.mode == "before" else runs[0]
        other_data = np.ascontiguousarray(np.asarray(super().values(other), dtype=float).T)
        lo, hi = super().levels_for(other_data, other)
        return (min(levels[0], lo), max(levels[1], hi))

    def show_trace(self, trace: Any) -> None:
        runs = self.runs()
        self.span, self.pair = None, None
        if runs is None:
            self.available = False
            self.marks.clear()
            return
        original, edited = runs
        # the base kind's values of each run, (T, rows)
        before = np.asarray(super().values(original), dtype=float)
        after = np.asarray(super().values(edited), dtype=float)
        self.available = before.shape[1] > 0
        if not self.available:
            return
        self.pair = (before, after)
        self.span = changed_steps(before, after, axis=0, atol=noise(before, edited))
        self.marks.rows = bool(self.rows_are_units)  # else an edit is a band over its steps
        super().show_trace(edited if self.mode != "before" else original)

    def summary(self) -> str:
        if self.runs() is None:
            return (f"{self.label}: no what-if run (right-click a unit to ablate it, or set a"
                    " value in the what-if box)")
        if not self.available:
            return f"{self.label}: this model has no such values (no output head or target)"
        return super().summary()

    def change_text(self) -> str:
        """Where the edited run differs from the one before: "changed at t 90–119"."""
        if self.span is None:
            return "no change"
        a, b = self.span
        return f"changed at t {a}" + (f"–{b - 1}" if b - a > 1 else "")

    def heatmaps(self) -> dict[str, Any]:
        """A unit's row offers the ablation menu (not an input feature or a head output)."""
        return super().heatmaps() if self.quantity in ABLATABLE else {}

    def overview_band(self) -> tuple[str, Any, Any, tuple[float, float]] | None:
        """What the track draws (not the edited run's quantity over the whole input)."""
        hm = self.map
        band = hm.data
        if hm.order is not None and len(hm.order) == band.shape[0]:
            band = band[hm.order]
        return (f"{self.quantity} {self.mode}", band, self.colour_map, hm.levels)
