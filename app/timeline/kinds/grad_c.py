"""∂target/∂c: the influence that travels along the cell path (units x time)."""

from __future__ import annotations

from ..gradient_track import GradientTrack
from ..registry import register


@register
class GradCTrack(GradientTrack):
    kind = "grad_c"
    menu_order = 11
    label = "∂target/∂c"
    quantity = "dc"
    part = "dc"

    def heading(self) -> str:
        return "∂target/∂c: the cell path, per unit"

    def rows(self) -> int:
        return int(self.session.config.hidden_size)
