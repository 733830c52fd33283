"""Can Qt open a window here? Qt's X11 (xcb) plugin needs system libraries that pip cannot
install; without them Qt aborts with a message that does not say which. This module names
them, with the Debian/Ubuntu packages that provide them, before Qt is started. It also
refuses a Qt binding that would crash the interpreter (``binding_problem``).

    python -m lstm_viz_app.syscheck [--apt-if-root]    # `make run` calls this first
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

#: The shared libraries Qt 6's xcb platform plugin loads (ldd of libqxcb.so and
#: libQt6XcbQpa.so, plus libxcb-cursor, which Qt >= 6.5 loads at run time), and the Debian /
#: Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will pick its X11 plugin: Linux, an X display, no Wayland, no override."""
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0] == "xcb"
    return (platform.startswith("linux") and bool(environ.get("DISPLAY"))
            and not environ.get("WAYLAND_DISPLAY"))


def missing_libraries(libraries: dict[str, str] = XCB_LIBRARIES) -> dict[str, str]:
    """The libraries of ``libraries`` that the dynamic loader cannot find: soname -> package."""
    missing = {}
    for soname, package in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing[soname] = package
    return missing


def missing_message(missing: dict[str, str]) -> str:
    """One line: what is missing and the command that installs it."""
    return (f"Qt's X11 plugin needs system libraries that are not installed:"
            f" {', '.join(missing)}; install them (Debian/Ubuntu: sudo apt-get install"
            f" {' '.join(sorted(set(missing.values())))}), or render without a window with"
            " --screenshot FILE.png or `lstm-viz export`")


def leaks_none(call: Callable[[], object], calls: int = 200) -> bool:
    """Whether ``call()`` drops a reference to None each time it runs.

    Where None is immortal (Python >= 3.12) its reference count never changes, so nothing can
    leak and this is False."""
    before = sys.getrefcount(None)
    for _ in range(calls):
        call()
    return before - sys.getrefcount(None) >= calls // 2


def binding_problem() -> str:
    """'' when the installed PySide6 is safe to run; else one line that says what to install.

    shiboken6 6.12.0 drops a reference to None on every Qt call that returns None; on Python
    < 3.12 the interpreter aborts after a few thousand such calls. A few hundred calls of
    ``QObject.parent()`` (which returns None) find out in well under a millisecond."""
    import PySide6
    from PySide6.QtCore import QObject

    if not leaks_none(QObject().parent):
        return ""
    python = ".".join(map(str, sys.version_info[:2]))
    return (f"PySide6 {PySide6.__version__} loses a reference to None on every Qt call that"
            f" returns None, which crashes Python {python} within seconds; install a"
            " binding without that bug: pip install 'PySide6-Essentials>=6.7,!=6.12.0'")


def main(argv: list[str] | None = None) -> int:
    """Report missing libraries; with --apt-if-root, install them when that is possible
    without asking (root, apt-get present). Exit 0 when Qt can start, else 2."""
    argv = sys.argv[1:] if argv is None else argv
    if not uses_xcb():
        return 0
    missing = missing_libraries()
    if not missing:
        return 0
    if "--apt-if-root" in argv and hasattr(os, "geteuid") and os.geteuid() == 0 \
            and shutil.which("apt-get"):
        packages = sorted(set(missing.values()))
        print(f"lstm-viz: installing the libraries Qt's X11 plugin needs: {' '.join(packages)}",
              file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        ok = subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env).returncode
        if ok != 0:  # the package lists may be missing on a fresh machine
            subprocess.run(["apt-get", "update", "-qq"], env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env)
        missing = missing_libraries()
        if not missing:
            return 0
    print(f"lstm-viz: error: {missing_message(missing)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
