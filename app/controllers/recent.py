"""Which files lstm-viz opens (by suffix), and the File > Open recent list kept in the
settings."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

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


def remember(settings: QSettings, path: str | Path) -> None:
    """Put ``path`` (absolute) at the top of the recent list."""
    path = str(Path(path).resolve())
    set_recent_files(settings, [path] + [p for p in recent_files(settings) if p != path])


def forget(settings: QSettings, path: str) -> None:
    set_recent_files(settings, [p for p in recent_files(settings) if p != path])
