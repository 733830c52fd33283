"""Render the demos' first screens with their input / prediction strips and the character demo's
overview + detail, at 1280x800 (offscreen; run from the repository root):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_scale_screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402

from lstm_viz import Session  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent


def _settle(app) -> None:
    for _ in range(6):
        app.processEvents()
        time.sleep(0.05)


def _window(app, demo: str) -> MainWindow:
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session=Session(), settings=settings, restore=False)
    w.resize(1280, 800)
    w.show()
    _settle(app)
    w.documents.open_demo(demo)
    w.ctx.retrace_now()
    w.session.first()
    _settle(app)
    return w


def main() -> int:
    app = make_app()
    # the sine demo opens on its own view (States): the wave, the forecast, the error
    w = _window(app, "sine")
    w.grab().save(str(OUT / "demo_sine_first_screen.png"))
    w.close()
    # the character demo opens on the Text view; its strips are on Gates and States
    w = _window(app, "char_python")
    w.show_view("Gates")
    _settle(app)
    w.grab().save(str(OUT / "demo_char_first_screen.png"))
    # overview + detail: the cursor deep in the file, units by memory timescale
    w.ctx.display.set_unit_order("timescale")
    w.session.seek(700)
    w.show_view("States")
    _settle(app)
    w.grab().save(str(OUT / "char_overview_detail.png"))
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
