"""The window's menus and their shortcuts, declared in one table: what each entry says, which
key runs it and which method of the window (or of a controller it owns) it calls.

An entry's ``run`` is a dotted path from the window: ``"documents.ask_open_model"`` calls
``window.documents.ask_open_model()``. Parts that follow the window's contents (the docks, the
view tabs, Open recent, the themes) are ``Insert`` rows, filled by the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

Key = QKeySequence.StandardKey
Shortcut = QKeySequence.StandardKey | str | None


@dataclass(frozen=True)
class Action:
    """A menu entry: ``text``, the ``shortcut`` that runs it, and ``run`` called with
    ``args``."""

    text: str
    run: str
    shortcut: Shortcut = None
    args: tuple = ()

    @property
    def name(self) -> str:
        """The action's object name: "action_open_model" for "Open model…"."""
        return "action_" + self.text.split("…")[0].split(" (")[0].lower().replace(" ", "_")


@dataclass(frozen=True)
class Section:
    """A separator with a title ("Models")."""

    title: str


@dataclass(frozen=True)
class Insert:
    """Entries the window makes from what it holds (``what``: "recent", "docks", ...)."""

    what: str


SEPARATOR = Section("")
Entry = Action | Section | Insert

MENUS: dict[str, tuple[Entry, ...]] = {
    "&File": (
        Action("New session", "documents.ask_new_session", Key.New),
        Action("Open session…", "documents.ask_open_session", Key.Open),
        Insert("recent"),
        Action("Open corpus store…", "open_corpus"),
        Action("Save session…", "documents.save_as", Key.Save),
        SEPARATOR,
        Section("Models"),
        Action("Open model…", "documents.ask_open_model", "Ctrl+M"),
        Action("Open demo…", "documents.ask_open_demo", "Ctrl+D"),
        Action("Open text input…", "documents.ask_open_text"),
        SEPARATOR,
        Action("Export current view…", "exports.open_dialog", "Ctrl+E", args=(False,)),
        Action("Export everything…", "exports.open_dialog", "Ctrl+Shift+E", args=(True,)),
        Action("Export code (script + NPZ)…", "exports.open_code_dialog"),
        Action("Export animated GIF…", "exports.ask_animation_path"),
        Action("Export full trace, streamed (NPZ chunks)…", "exports.ask_stream_path"),
        SEPARATOR,
        Action("Quit", "close", Key.Quit),
    ),
    "&View": (
        Insert("docks"),
        SEPARATOR,
        Insert("views"),  # one per view tab, Ctrl+1, Ctrl+2, ...
        SEPARATOR,
        Action("Reset layout", "reset_layout"),
        Insert("themes"),
    ),
    "&Help": (
        Action("Keyboard shortcuts", "show_shortcuts", "F1"),
        Action("About lstm-viz", "show_about"),
    ),
}


def make_action(window: QMainWindow, text: str, slot: Callable[[], object],
                shortcut: Shortcut = None, name: str = "") -> QAction:
    """A QAction of ``window`` that calls ``slot()`` (without the ``checked`` argument)."""
    action = QAction(text, window)
    if name:
        action.setObjectName(name)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda *_: slot())
    return action


def build_menus(window: QMainWindow, inserts: dict[str, Callable[[QMenu], object]],
                menus: dict[str, tuple[Entry, ...]] = MENUS
                ) -> tuple[dict[str, QMenu], dict[str, QAction]]:
    """The menu bar of ``window`` as ``menus`` declares it; ``inserts[what](menu)`` adds an
    ``Insert`` row's entries. Returns the menus by title and the titled sections."""
    built: dict[str, QMenu] = {}
    sections: dict[str, QAction] = {}
    for title, entries in menus.items():
        menu = window.menuBar().addMenu(title)
        built[title] = menu
        for entry in entries:
            if isinstance(entry, Insert):
                inserts[entry.what](menu)
            elif isinstance(entry, Section):
                if entry.title:
                    sections[entry.title] = menu.addSection(entry.title)
                else:
                    menu.addSeparator()
            else:
                slot = partial(attrgetter(entry.run)(window), *entry.args)
                menu.addAction(make_action(window, entry.text, slot, entry.shortcut,
                                           entry.name))
    return built, sections
