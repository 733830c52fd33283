"""Work around shiboken6 6.12 on Python < 3.12: a Qt method returning void or bool drops one
reference to ``None`` / ``True`` / ``False`` without taking it, so after a few thousand calls
the interpreter aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"). Python 3.12+
makes these objects immortal; here we give them so many references that the leak can never
reach zero (2**60 calls).
"""

from __future__ import annotations

import ctypes
import sys

_PINNED = 1 << 60


def pin_singletons() -> None:
    """Make None, True and False effectively immortal on CPython < 3.12 (idempotent)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(obj))
        if refcount.value < _PINNED // 2:
            refcount.value += _PINNED
