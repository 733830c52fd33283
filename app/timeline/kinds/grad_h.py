"""∂target/∂h: per unit, or per projected feature with proj_size (rows x time)."""

from __future__ import annotations

from ..gradient_track import GradientTrack
from ..registry import register
from ..track import HiddenRows


@register
class GradHTrack(HiddenRows, GradientTrack):  # type: ignore[override]
    kind = "grad_h"
    menu_order = 12
    label = "∂target/∂h"
    quantity = "dh"
    part = "dh"

    @property
    def row_name(self) -> str:  # type: ignore[override]
        return "h feature" if self.projected else "unit"

    def heading(self) -> str:
        P = self.projected
        return f"∂target/∂h: per projected feature (proj_size {P})" if P else \
            "∂target/∂h: per unit"

    def y_label(self) -> str:
        return "h feature" if self.projected else "unit"

    def rows(self) -> int:
        return int(self.session.config.h_out)
