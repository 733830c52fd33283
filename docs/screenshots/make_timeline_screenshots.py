"""Render the timeline screenshots at 1280x800 (offscreen; run from the repository root):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_timeline_screenshots.py

timeline-states-char.png and timeline-gates-char.png: the character demo (128 units) on the
States and Gates presets; timeline-states-char-scrolled.png: the States timeline scrolled to
its last tracks (chosen units, the bars at the cursor); timeline-{states,gates}-sine-ablation
.png: the sine demo with h[0] zeroed from t = 40; timeline-states-char-dark.png: the Dark theme;
timeline-gates-packed.png: a packed batch (lengths 60, 35, 20), batch element 2, whose steps
past its end are hatched in every track; timeline-states-200k.png: a 200 000-step input, traced
in windows.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402

from lstm_viz import Ablation, LSTMConfig, Session  # noqa: E402
from lstm_viz.inputs import InputSpec  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent


def _settle(app, rounds: int = 8) -> None:
    for _ in range(rounds):
        app.processEvents()


def _window(app, demo: str = "", dark: bool = False, session: Session | None = None
            ) -> MainWindow:
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session=session or Session(), settings=settings, restore=False)
    w.resize(1280, 800)
    w.show()
    if dark:
        w.themes.choose("dark")
    if demo:
        w.documents.open_demo(demo)
    w.ctx.ensure_traced()
    _settle(app)
    return w


def _shoot(app, w: MainWindow, view: str, name: str, scroll: int = 0) -> None:
    w.show_view(view)
    _settle(app)
    if scroll:
        w.panels[view].timeline.scroll_area.verticalScrollBar().setValue(scroll)
        _settle(app)
    w.grab().save(str(OUT / name))


def main() -> int:
    app = make_app()
    w = _window(app, "char_python")
    _shoot(app, w, "States", "timeline-states-char.png")
    _shoot(app, w, "Gates", "timeline-gates-char.png")
    _shoot(app, w, "States", "timeline-states-char-scrolled.png", scroll=100_000)
    w.close()
    w = _window(app, "sine")
    w.session.ablate(Ablation("h", 0, 0, 0, (0,), 0.0, start=40), rerun=False)
    w.ctx.retrace_now()
    w.session.seek(60)
    _shoot(app, w, "States", "timeline-states-sine-ablation.png")
    _shoot(app, w, "Gates", "timeline-gates-sine-ablation.png")
    w.close()
    w = _window(app, "char_python", dark=True)
    _shoot(app, w, "States", "timeline-states-char-dark.png")
    w.themes.choose("system")
    w.close()
    packed = Session(LSTMConfig(input_size=3, hidden_size=24, num_layers=2),
                     InputSpec(source="sine", seq_len=60, batch_size=3, lengths=(60, 35, 20)))
    w = _window(app, session=packed)
    w.ctx.select(batch=2)
    w.session.seek(30)
    _settle(app)
    _shoot(app, w, "Gates", "timeline-gates-packed.png")
    w.close()
    long = Session(LSTMConfig(input_size=1, hidden_size=64),
                   InputSpec(source="sine", seq_len=200_000))
    w = _window(app, session=long)
    w.session.seek(150_000)
    w.ctx.ensure_traced()
    _settle(app, 20)
    _shoot(app, w, "States", "timeline-states-200k.png")
    w.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # the three windows' plots are not torn down one by one at exit
