"""Render the screenshots of README.md and the documentation (offscreen; run from the repository
root): the main window and each view through ``lstm-viz --screenshot``, then the demos.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_demo_screenshots.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from lstm_viz.demos import list_demos  # noqa: E402
from lstm_viz_app import cli  # noqa: E402
from lstm_viz_app.dialogs import DemoDialog  # noqa: E402
from lstm_viz_app.entry import make_app  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent
#: the session of README's main-window.png and of each view's picture
WINDOW_SESSION = {"input_size": 3, "hidden_size": 24, "num_layers": 2, "bidirectional": True,
                  "seq_len": 48, "batch_size": 3, "seed": 7, "step": 20,
                  "input": {"source": "sine", "seed": 7, "lengths": [48, 36, 28]}}
VIEW_FILES = {"Gates": "gates.png", "States": "states.png", "Shapes": "shapes.png",
              "Code": "code.png"}


def window_screenshots() -> None:
    """main-window.png and one PNG per view, as ``lstm-viz --screenshot`` renders them."""
    config = Path(tempfile.mkdtemp()) / "session.json"
    config.write_text(json.dumps(WINDOW_SESSION))
    for view, name in VIEW_FILES.items():
        cli.main(["--screenshot", str(OUT / name), "--config", str(config), "--view", view])
    cli.main(["--screenshot", str(OUT / "main-window.png"), "--config", str(config)])


def whatif_screenshot(app) -> None:
    """whatif.png: the States view after setting c of unit 2 at t = 20 (main-window's session)."""
    from lstm_viz import Session

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(session=Session.from_dict(WINDOW_SESSION), settings=settings, restore=False)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    w.fit_docks()
    w.show_view("States")
    w.ctx.select(unit=2)
    w.session.seek(20)
    box = w.panels["States"].whatif
    box.value.setValue(1.5)
    box.apply()
    _wait_traced(w, app)  # the edited run traces on the worker
    for _ in range(3):
        app.processEvents()
    w.grab().save(str(OUT / "whatif.png"))
    w.close()


def _wait_traced(w, app) -> None:
    """Until the trace of the session as it is now is on screen (it runs on the worker)."""
    while not w.ctx.up_to_date:
        app.processEvents()
        w.ctx.runner.wait(20)
    app.processEvents()


def _open_demo(w, app, name: str) -> None:
    w.documents.open_demo(name)
    _wait_traced(w, app)  # the demo traces on the worker


def main() -> int:
    app = make_app()
    window_screenshots()
    whatif_screenshot(app)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, restore=False)
    w.resize(1400, 900)
    w.show()
    app.processEvents()
    _open_demo(w, app, "char_python")
    text = w.panels["Text"]
    text.resize(1000, 640)
    w.session.seek(212)
    app.processEvents()
    text.grab().save(str(OUT / "text_view_h37_brackets.png"))
    text.set_kind("c")
    w.ctx.select(unit=107)
    w.session.seek(300)
    app.processEvents()
    text.grab().save(str(OUT / "text_view_c107_indentation.png"))
    w.grab().save(str(OUT / "window_char_demo.png"))

    w.show_view("Units")
    units = w.panels["Units"]
    text.set_kind("h")
    w.ctx.select(unit=37)
    units.table.sortByColumn(units.model.names.index("tau"), Qt.SortOrder.DescendingOrder)
    units.set_span(150, 172)
    w.session.seek(160)
    units.search()
    units.table.scrollToTop()
    app.processEvents()
    units.resize(1100, 860)
    units.grab().save(str(OUT / "units_table_pattern_search.png"))

    _open_demo(w, app, "sine")
    states = w.panels["States"]
    states.units_edit.setText("3, 20")
    states.units_edit.editingFinished.emit()
    w.session.seek(40)
    app.processEvents()
    w.grab().save(str(OUT / "window_sine_demo.png"))

    dialog = DemoDialog(list_demos(), w)
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(OUT / "open_demo_dialog.png"))
    dialog.close()
    w.close()
    print("wrote", ", ".join(sorted(p.name for p in OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
