"""What-if edits: one input value or one state value set by hand before a re-trace, and
ablations (a unit's h or c zeroed, or one of its gates clamped, over a span of steps)."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Literal

StateKind = Literal["h", "c", "i", "f", "g", "o"]
ABLATION_KINDS = ("h", "c", "i", "f", "g", "o")
GATE_KINDS = ("i", "f", "g", "o")


@dataclass(frozen=True)
class InputEdit:
    """Set feature ``feature`` of batch element ``batch`` of the input at step ``t``."""

    t: int
    batch: int
    feature: int
    value: float

    def to_list(self) -> list:
        """``[t, batch, feature, value]``, as a session file stores it."""
        return list(astuple(self))


@dataclass(frozen=True)
class StateEdit:
    """Set ``kind`` of one unit at input position ``t`` of one layer, direction and batch
    element; what follows in that direction's reading order is recomputed.

    ``kind`` "h" or "c" sets the state the step hands on ("c" also recomputes h = o * tanh(c));
    a gate ("i", "f", "g" or "o") sets that gate's activation before the step uses it."""

    kind: StateKind
    t: int
    layer: int
    direction: int
    batch: int
    unit: int
    value: float

    def to_list(self) -> list:
        """``[kind, t, layer, direction, batch, unit, value]``, as a session file stores it."""
        return list(astuple(self))


@dataclass(frozen=True)
class Ablation:
    """Zero a unit's h or c, or clamp one of its gates, at every input position of a span.

    ``kind``: "h" or "c" (the state is set to ``value``, 0 for an ablation) or a gate "i", "f",
    "g", "o" (its activation is clamped to ``value``). ``units``: which units of that layer,
    direction and batch element. The span is the input positions ``start <= p < stop``
    (``stop`` None: to the end of the sequence), whatever the direction reads first.
    """

    kind: StateKind
    layer: int
    direction: int
    batch: int
    units: tuple[int, ...]
    value: float = 0.0
    start: int = 0
    stop: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ABLATION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ABLATION_KINDS)} (got"
                             f" {self.kind!r})")
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        if not self.units:
            raise ValueError("units must name at least one unit")
        if self.start < 0 or (self.stop is not None and self.stop <= self.start):
            raise ValueError(f"the span must satisfy 0 <= start < stop (got start={self.start},"
                             f" stop={self.stop})")
        if self.kind in ("i", "f", "o") and not 0.0 <= self.value <= 1.0:
            raise ValueError(f"gate {self.kind} is a sigmoid: clamp it to a value in [0, 1]"
                             f" (got {self.value})")
        if self.kind == "g" and not -1.0 <= self.value <= 1.0:
            raise ValueError(f"gate g is a tanh: clamp it to a value in [-1, 1] (got"
                             f" {self.value})")

    def steps(self, seq_len: int) -> range:
        """The input positions the ablation covers in a sequence of ``seq_len`` steps."""
        stop = seq_len if self.stop is None else min(self.stop, seq_len)
        return range(self.start, stop)

    def expand(self, seq_len: int) -> list[StateEdit]:
        """One StateEdit per unit and covered step: what the trace applies."""
        return [StateEdit(self.kind, t, self.layer, self.direction, self.batch, u, self.value)
                for t in self.steps(seq_len) for u in self.units]

    def describe(self) -> str:
        """In words: "zero c[3, 7] from t=10", "clamp f[5] to 0 over t in [2, 8)"."""
        units = ", ".join(str(u) for u in self.units)
        what = (f"zero {self.kind}[{units}]" if self.kind in ("h", "c") and self.value == 0
                else f"{'set' if self.kind in ('h', 'c') else 'clamp'} {self.kind}[{units}]"
                f" to {self.value:g}")
        span = (f"from t={self.start}" if self.stop is None
                else f"over t in [{self.start}, {self.stop})")
        return f"{what} {span} (layer {self.layer}, direction {self.direction}," \
               f" batch {self.batch})"

    def to_list(self) -> list:
        """``[kind, layer, direction, batch, [units], value, start, stop]``, as a session file
        stores it (stop null: to the end)."""
        return [self.kind, self.layer, self.direction, self.batch, list(self.units),
                self.value, self.start, self.stop]

