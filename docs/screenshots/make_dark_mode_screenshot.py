"""Render dark_mode.png: the main window at 1280x800 on the States view with a dark Fusion
palette (offscreen; run from the repository root):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_dark_mode_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402

from lstm_viz import Session  # noqa: E402
from lstm_viz_app import theme  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent
SESSION = {"input_size": 3, "hidden_size": 24, "num_layers": 2, "bidirectional": True,
           "seq_len": 48, "batch_size": 3, "seed": 7, "step": 20,
           "input": {"source": "sine", "seed": 7, "lengths": [48, 36, 28]}}


def main() -> int:
    app = make_app()
    app.setStyle("Fusion")
    app.setPalette(theme.dark_palette())
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session=Session.from_dict(SESSION), settings=settings, restore=False)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    w.fit_docks()
    w.show_view("States")
    w.session.seek(20)
    for _ in range(5):
        app.processEvents()
    w.grab().save(str(OUT / "dark_mode.png"))
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
