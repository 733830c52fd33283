"""Any kind with values in the edited run, marked as the what-if run it is."""

from __future__ import annotations

from typing import ClassVar

from ..compare import Compared, compared_kind
from ..registry import register_wrapper
from ..track import Track


class AfterEdit(Compared):
    """The base kind's values in the run with every what-if edit (empty without one)."""

    mode: ClassVar[str] = "after"
    menu_order: ClassVar[int] = 21
    suffix: ClassVar[str] = "after the edit"

    def heading(self) -> str:
        return f"{super().heading()} ({self.change_text()})"


@register_wrapper
def after_edit(base: type[Track]) -> type[Track] | None:
    return compared_kind(AfterEdit, base, "after", "after the edit")
