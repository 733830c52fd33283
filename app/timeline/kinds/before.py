"""Any kind with values in the run before the what-if edits (``session.original``)."""

from __future__ import annotations

from typing import ClassVar

from ..compare import Compared, compared_kind
from ..registry import register_wrapper
from ..track import Track


class BeforeEdit(Compared):
    """The base kind's values as nn.LSTM computed them before the first what-if edit."""

    mode: ClassVar[str] = "before"
    menu_order: ClassVar[int] = 20
    suffix: ClassVar[str] = "before the edit"


@register_wrapper
def before_edit(base: type[Track]) -> type[Track] | None:
    return compared_kind(BeforeEdit, base, "before", "before the edit")
