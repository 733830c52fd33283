"""∂target/∂x: how much the target would move if the input at step s moved (features x time)."""

from __future__ import annotations

from ..gradient_track import GradientTrack
from ..registry import register


@register
class GradXTrack(GradientTrack):
    kind = "grad_x"
    menu_order = 10
    label = "∂target/∂x"
    quantity = "dx"
    part = "dx"
    row_name = "feature"
    rows_are_units = False

    def heading(self) -> str:
        return "∂target/∂x: every input step and feature"

    def y_label(self) -> str:
        return "feature"

    def rows(self) -> int:
        return int(self.session.config.input_size)
