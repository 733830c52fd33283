"""The track kinds a timeline can show: each module of ``lstm_viz_app.timeline.kinds``
registers its classes with ``@register``; ``track_kinds()`` imports them all once. A module
may also register a wrapper (``@register_wrapper``): a function that makes, from any kind, a
kind that draws it another way (its run before a what-if edit, say), or None where that makes
no sense; every kind it makes is registered once all modules are imported."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from .track import Track

T = TypeVar("T", bound=type[Track])

_KINDS: dict[str, type[Track]] = {}
_WRAPPERS: list[Callable[[type[Track]], type[Track] | None]] = []
_loaded = False


def register(cls: T) -> T:
    """Class decorator: make ``cls`` (a Track subclass with a unique ``kind``) addable."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} needs a 'kind' to be registered")
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise ValueError(f"two track kinds are named {cls.kind!r}: {_KINDS[cls.kind].__name__}"
                         f" and {cls.__name__}")
    _KINDS[cls.kind] = cls
    return cls


def register_wrapper(make: Callable[[type[Track]], type[Track] | None]
                     ) -> Callable[[type[Track]], type[Track] | None]:
    """Function decorator: ``make(base)`` is called with every kind registered by a module
    and returns a kind wrapping it (registered in turn) or None."""
    _WRAPPERS.append(make)
    return make


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module(f"{__package__}.kinds")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    bases = list(_KINDS.values())
    for make in _WRAPPERS:
        for base in bases:
            wrapped = make(base)
            if wrapped is not None:
                register(wrapped)


def track_kinds() -> dict[str, type[Track]]:
    """Every registered kind, kind -> class, in the order they were registered."""
    _load()
    return dict(_KINDS)


def create(kind: str, ctx: Any, host: Any = None) -> Track:
    """A new track of ``kind``; a kind no module registers is a ValueError naming the known."""
    known = track_kinds()
    if kind not in known:
        raise ValueError(f"unknown track kind {kind!r}; known: {', '.join(known)}")
    return known[kind](ctx, host)
