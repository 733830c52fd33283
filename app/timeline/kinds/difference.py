"""Any kind with values as edited minus before: where a what-if edit or ablation changed the
run, and by how much, on a colour scale symmetric around 0 that fits the change."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ...plots import nan_safe_limit
from ..compare import Compared, compared_kind
from ..registry import register_wrapper
from ..track import Track


class Difference(Compared):
    """Edited minus before, per row and step; NaN past the sequence's end."""

    mode: ClassVar[str] = "diff"
    menu_order: ClassVar[int] = 22
    suffix: ClassVar[str] = "edited − before"

    def bar_label(self) -> str:
        return f"Δ{self.quantity}"

    def values(self, trace: Any) -> np.ndarray:
        if self.pair is None:
            return np.asarray(super().values(trace), dtype=float) * np.nan
        before, after = self.pair
        return after - before

    def whole(self, trace: Any) -> np.ndarray:
        return self.values(trace)

    def levels_for(self, data: np.ndarray, trace: Any) -> tuple[float, float]:
        if self.scale == "fixed":  # ± the largest change, however small it is
            lim = nan_safe_limit(data, floor=1e-12)
            return (-lim, lim)
        return super().levels_for(data, trace)

    def heading(self) -> str:
        text = f"Δ{self.quantity} = edited − before, of {self.base_heading()}"
        if self.pair is None:
            return text
        before, after = self.pair
        with np.errstate(invalid="ignore"):
            delta = np.abs(after - before)
        peak = float(np.nanmax(delta)) if np.isfinite(delta).any() else 0.0
        return f"{text} ({self.change_text()}; max |Δ| {peak:.3g})"


@register_wrapper
def difference(base: type[Track]) -> type[Track] | None:
    return compared_kind(Difference, base, "diff", "edited − before")
