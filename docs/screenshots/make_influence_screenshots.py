"""Render the Influence timeline screenshots at 1280x800 (offscreen; run from the repository
root):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_influence_screenshots.py

timeline-ablation-sine.png: the sine demo with c[1] zeroed from t = 60, on the Difference page
(c before and after the edit, their difference, and the prediction's and loss's differences);
timeline-influence-proj.png: the Gradients page of a 3-layer bidirectional LSTM with proj_size
8 (layer 1, reverse, unit 3, t = 40).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402

from lstm_viz import Ablation, InputSpec, LSTMConfig, Session  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent


def _settle(app, seconds: float = 1.5) -> None:
    """Let the views draw and the gradients (a worker thread) arrive."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _window(app, session: Session) -> MainWindow:
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session=session, settings=settings, restore=False)
    w.resize(1280, 800)
    w.show()
    _settle(app, 0.3)
    return w


def main() -> int:
    app = make_app()
    w = _window(app, Session())
    w.documents.open_demo("sine")
    w.ctx.retrace_now()
    w.session.seek(60)
    w.session.ablate(Ablation("c", 0, 0, 0, (1,), 0.0, start=60), rerun=False)
    w.ctx.retrace_now()
    w.show_view("Influence")
    w.views["Influence"].pages.setCurrentIndex(1)
    _settle(app)
    w.grab().save(str(OUT / "timeline-ablation-sine.png"))
    w.close()
    cfg = LSTMConfig(input_size=4, hidden_size=24, num_layers=3, bidirectional=True,
                     proj_size=8)
    w = _window(app, Session(cfg, InputSpec(seq_len=80, batch_size=2)))
    w.ctx.select(layer=1, direction=1, unit=3)
    w.session.seek(40)
    w.show_view("Influence")
    _settle(app, 3.0)
    w.grab().save(str(OUT / "timeline-influence-proj.png"))
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
