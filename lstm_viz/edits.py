"""What-if edits: one input value or one state value set by hand before a re-trace."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Literal

StateKind = Literal["h", "c"]


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
    """Set ``kind`` ("h" or "c") of one unit at input position ``t`` of one layer, direction
    and batch element; what follows in that direction's reading order is recomputed."""

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
