"""Render the 1280x800 screenshots of the Shapes diagram, States with proj_size and a packed
batch past one sequence's end, in the States and the Gates view (offscreen; run from the
repository root):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_views_truth_screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPointF, QSettings  # noqa: E402

from lstm_viz import Session  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent
SHAPES = {"input_size": 4, "hidden_size": 16, "num_layers": 3, "bidirectional": True,
          "batch_first": True, "proj_size": 8, "dropout": 0.2, "seq_len": 30, "batch_size": 2,
          "seed": 3, "input": {"source": "sine", "seed": 3}}
STATES = {"input_size": 3, "hidden_size": 24, "proj_size": 8, "seq_len": 48, "batch_size": 1,
          "seed": 7, "step": 20, "input": {"source": "sine", "seed": 7}}
PACKED = {"input_size": 3, "hidden_size": 12, "seq_len": 40, "batch_size": 3, "seed": 7,
          "step": 33, "input": {"source": "sine", "seed": 7, "lengths": [40, 30, 24]}}


def window(app, session: dict, view: str) -> MainWindow:
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session=Session.from_dict(session), settings=settings, restore=False)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    w.fit_docks()
    w.show_view(view)
    w.ctx.retrace_now()
    app.processEvents()
    return w


def main() -> None:
    app = make_app([])
    w = window(app, SHAPES, "Shapes")
    w.grab().save(str(OUT / "shapes_3layer_bidir_proj.png"))
    w.close()
    w = window(app, STATES, "States")
    w.grab().save(str(OUT / "states_proj.png"))
    w.close()
    w = window(app, PACKED, "States")
    w.ctx.select(batch=2)
    w.session.seek(33)
    states = w.panels["States"]
    states.units_edit.setText("0-1")
    states.units_edit.editingFinished.emit()
    app.processEvents()
    # the reading a user gets hovering a blank cell (unit 3 at t = 33)
    pos = states.c_map.plot.getViewBox().mapViewToScene(QPointF(33, 3))
    states.hover.setText(states.hover_text(pos))
    app.processEvents()
    w.grab().save(str(OUT / "packed_past_end.png"))
    # the same step in the Gates view: the steps after the end hatched, and why written there
    w.show_view("Gates")
    gates = w.panels["Gates"]
    hm = gates.heatmaps["f"]
    pos = hm.plot.getViewBox().mapViewToScene(QPointF(30, 5))
    gates.hover.setText(gates.hover_text(pos))
    app.processEvents()
    w.grab().save(str(OUT / "packed_past_end_gates.png"))
    w.close()


if __name__ == "__main__":
    main()
