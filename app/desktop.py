"""Desktop integration: the application icon, and the freedesktop entry that puts lstm-viz in
Linux application menus (``lstm-viz --install-desktop``).

Both files ship in ``resources/`` (installed as ``lstm_viz.resources``); nothing here imports Qt
at module level, so the command line can install them without starting Qt.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from lstm_viz.formats.atomic import write_bytes
from lstm_viz.resource_files import RESOURCES

ICON_SVG = RESOURCES / "icons" / "lstm-viz.svg"
ICON_PNG = RESOURCES / "icons" / "lstm-viz.png"
DESKTOP_FILE = RESOURCES / "lstm-viz.desktop"


def app_icon():
    """The QIcon of lstm-viz: the SVG, with the 256 px PNG for where SVG cannot be drawn."""
    from PySide6.QtGui import QIcon

    icon = QIcon(str(ICON_PNG))
    icon.addFile(str(ICON_SVG))
    return icon


def data_home(environ=os.environ) -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (as the spec says)."""
    value = environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def _command() -> str:
    """The absolute path of the lstm-viz command that runs now, so the menu entry starts this
    installation even where the menu's PATH lacks its folder (pipx, a venv)."""
    found = shutil.which("lstm-viz", path=os.path.dirname(sys.executable)) \
        or shutil.which("lstm-viz")
    return found or f"{sys.executable} -m lstm_viz_app"


def desktop_entry(command: str) -> str:
    """The shipped .desktop file with ``Exec`` and ``TryExec`` pointing at ``command``."""
    lines = []
    for line in DESKTOP_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={command}"
        elif line.startswith("TryExec="):
            line = f"TryExec={command.split()[0]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``lstm_viz.formats.atomic``), so a menu that reads the
    folder never sees half a file; readable by all, as menus expect."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    os.chmod(path, 0o644)


def install_desktop(home: Path | None = None, command: str | None = None) -> list[Path]:
    """Install the menu entry and the icon under ``home`` (the XDG data home); the written
    paths. ``command`` defaults to the running lstm-viz."""
    home = data_home() if home is None else Path(home)
    icons = home / "icons" / "hicolor"
    targets = {
        home / "applications" / "lstm-viz.desktop":
            desktop_entry(command or _command()).encode("utf-8"),
        icons / "scalable" / "apps" / "lstm-viz.svg": ICON_SVG.read_bytes(),
        icons / "256x256" / "apps" / "lstm-viz.png": ICON_PNG.read_bytes(),
    }
    for path, data in targets.items():
        _write_atomically(path, data)
    return list(targets)
