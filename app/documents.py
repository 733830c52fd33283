"""The window's documents: which file is open (for the title and its modified mark), the
File > Open recent list kept in the settings, and opening a file by its name (drag and drop,
Open recent) through the File menu's own functions (a model or session on the worker).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from . import file_menu

MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".onnx", ".ts", ".jit",
                  ".keras", ".h5")
ARRAY_SUFFIXES = (".npy", ".csv")
TEXT_SUFFIXES = (".txt",)
SESSION_SUFFIXES = (".json",)
MAX_RECENT = 8
RECENT_KEY = "recentFiles"


def kind_of(path: str | Path) -> str:
    """"model", "session", "array" or "text" by the file's suffix; ValueError for others."""
    suffix = Path(path).suffix.lower()
    for kind, suffixes in (("model", MODEL_SUFFIXES), ("session", SESSION_SUFFIXES),
                           ("array", ARRAY_SUFFIXES), ("text", TEXT_SUFFIXES)):
        if suffix in suffixes:
            return kind
    known = ", ".join(MODEL_SUFFIXES + SESSION_SUFFIXES + ARRAY_SUFFIXES + TEXT_SUFFIXES)
    raise ValueError(f"{Path(path).name}: lstm-viz does not open {suffix or 'files without a'}"
                     f" suffix; drop a model, session or input file ({known})")


def open_array_input(window, path) -> bool:
    """Use the .npy or .csv file ``path`` as the input (the Input panel's "File" source)."""
    session = window.session
    spec = dataclasses.replace(session.input_spec, source="file", path=str(path))
    try:
        session.set_input(spec)
    except (OSError, ValueError) as exc:
        file_menu.show_error(window, "Could not use this input", str(exc))
        return False
    window.document_opened(path, "array")
    window.ctx.post(f"Input from {Path(path).name}", 6000)
    return True


def open_path(window, path, *, background: bool = True, done=None) -> bool:
    """Open ``path`` as the File menu would, chosen by its suffix; False (and a message) when
    lstm-viz does not open such a file. A model or session is read on the worker
    (``background``), after the question about unsaved changes; an input is used after the
    question about the what-if edits it would drop, if any; ``done(ok)`` follows once it is
    in use (or not; not at all when the question is cancelled)."""
    try:
        kind = kind_of(path)
    except ValueError as exc:
        file_menu.show_error(window, "Cannot open this file", str(exc))
        return False
    finish = done or (lambda ok: None)
    if kind in ("model", "session"):
        opener = file_menu.open_model if kind == "model" else file_menu.open_session
        file_menu.ask_to_save(window,
                              lambda: opener(window, path, background=background, done=done),
                              before=f"opening another {kind}")
        return True
    opener = file_menu.open_text_input if kind == "text" else open_array_input
    # a new input drops the what-if edits, which were made for the one before
    file_menu.ask_to_save(window, lambda: finish(opener(window, path)),
                          before="opening another input", only_edits=True)
    return True


def open_paths(window, paths) -> None:
    """Open several files (a drop): a model or session first, then, once it is in use, the
    inputs, so that they feed the new model."""
    order = {"model": 0, "session": 1, "array": 2, "text": 3}
    pending = sorted(paths, key=lambda p: order[kind_of(p)])

    def next_one(ok: bool = True) -> None:
        if pending:
            open_path(window, pending.pop(0), done=next_one)

    next_one()


# ----- Open recent --------------------------------------------------------------------------------
def recent_files(settings: QSettings) -> list[str]:
    """The recently opened files, newest first (at most MAX_RECENT)."""
    raw = settings.value(RECENT_KEY, "")
    try:
        paths = json.loads(str(raw)) if raw else []
    except ValueError:
        return []
    if not isinstance(paths, list):
        return []
    return [p for p in paths if isinstance(p, str)][:MAX_RECENT]


def set_recent_files(settings: QSettings, paths: list[str]) -> None:
    settings.setValue(RECENT_KEY, json.dumps(paths[:MAX_RECENT]))
    settings.sync()


def remember(settings: QSettings, path) -> None:
    """Put ``path`` (absolute) at the top of the recent list."""
    path = str(Path(path).resolve())
    set_recent_files(settings, [path] + [p for p in recent_files(settings) if p != path])


def forget(settings: QSettings, path: str) -> None:
    set_recent_files(settings, [p for p in recent_files(settings) if p != path])


def fill_recent_menu(window, menu: QMenu) -> None:
    """The recent files as actions (a missing file greyed out, its tooltip says why), then
    "Clear list"."""
    menu.clear()
    paths = recent_files(window.settings)
    for k, path in enumerate(paths):
        exists = Path(path).is_file()
        prefix = f"&{k + 1} " if k < 9 else ""
        action = menu.addAction(prefix + Path(path).name + ("" if exists else " (missing)"))
        action.setObjectName("recent_file")
        action.setData(path)
        action.setStatusTip(path)
        action.setToolTip(path if exists else f"{path} no longer exists")
        action.setEnabled(exists)
        action.triggered.connect(lambda *_, p=path: open_recent(window, p))
    if not paths:
        empty = menu.addAction("No recent files")
        empty.setEnabled(False)
    menu.addSeparator()
    clear = menu.addAction("Clear list")
    clear.setObjectName("action_clear_recent")
    clear.setEnabled(bool(paths))
    clear.triggered.connect(lambda *_: set_recent_files(window.settings, []))


def open_recent(window, path: str) -> bool:
    """Open a file from the recent list; a file that is gone is taken off it, with a message."""
    if not Path(path).is_file():
        forget(window.settings, path)
        file_menu.show_error(window, "File not found",
                             f"{path} no longer exists; it was removed from the recent files.")
        return False
    return open_path(window, path)
