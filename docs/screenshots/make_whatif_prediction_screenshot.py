"""Render whatif_prediction.png (offscreen; run from the repository root): the sine demo's
States view after zeroing h of units 3 and 20 from t = 40 on, its prediction and loss strips
drawing the original run dashed under the ablated one.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_whatif_prediction_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402

from lstm_viz.tracing.edits import Ablation  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent / "whatif_prediction.png"


def _wait_traced(w, app) -> None:
    """Until the trace of the session as it is now is on screen (it runs on the worker)."""
    while not w.ctx.up_to_date:
        app.processEvents()
        w.ctx.runner.wait(20)
    app.processEvents()


def main() -> int:
    app = make_app()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, restore=False)
    w.resize(1400, 900)
    w.show()
    app.processEvents()
    w.documents.open_demo("sine")
    _wait_traced(w, app)
    w.show_view("States")
    states = w.panels["States"]
    states.units_edit.setText("3, 20")
    states.units_edit.editingFinished.emit()
    w.session.ablate(Ablation("h", layer=0, direction=0, batch=0, units=(3, 20), start=40),
                     rerun=False)
    _wait_traced(w, app)
    w.session.seek(60)
    for _ in range(3):
        app.processEvents()
    states.grab().save(str(OUT))
    w.close()
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
