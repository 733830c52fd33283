"""The window as a whole: worker superseding, status bar, settings, errors that never crash."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref

import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtWidgets import QApplication

from lstm_viz import InputSpec, LSTMConfig, Session, devices
from lstm_viz_app.entry import install_excepthook
from lstm_viz_app.main import PANELS, MainWindow
from lstm_viz_app.timeline.widget import Timeline
from lstm_viz_app.workers import TraceRunner

pytestmark = pytest.mark.gui


class SlowRequest:
    """Stands in for a TraceRequest: records which thread ran it."""

    def __init__(self, name, delay, log):
        self.name, self.delay, self.log = name, delay, log

    def run(self):
        self.log.append((self.name, threading.current_thread() is threading.main_thread()))
        time.sleep(self.delay)
        return self.name


def test_runner_supersedes_waiting_requests_and_runs_off_the_gui_thread(qtbot):
    runner = TraceRunner()
    log, done = [], []
    runner.finished.connect(lambda req, result: done.append(result))
    runner.submit(SlowRequest("a", 0.3, log))
    runner.submit(SlowRequest("b", 0.0, log))
    runner.submit(SlowRequest("c", 0.0, log))
    assert runner.busy
    qtbot.waitUntil(lambda: done == ["a", "c"], timeout=5000)
    assert [name for name, _ in log] == ["a", "c"]  # b was superseded before it started
    assert not any(on_main for _, on_main in log)
    assert not runner.busy


def test_failed_request_reports_its_message(qtbot):
    class Failing:
        def run(self):
            raise ValueError("input has 3 features but the LSTM expects input_size=4")

    runner = TraceRunner()
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.submit(Failing())
    assert blocker.args[1] == "input has 3 features but the LSTM expects input_size=4"


def test_gui_stays_responsive_and_newest_config_wins(qtbot, make_window):
    w = make_window()
    model = w.panels["Model"]
    for hidden in (64, 48, 32, 24):
        model.fields["hidden_size"].editor.setValue(hidden)
    qtbot.waitUntil(lambda: w.ctx.up_to_date, timeout=15000)
    assert w.session.trace.config.hidden_size == 24
    assert w.panels["Gates"].heatmaps["i"].image.image.shape[0] == 24


def test_status_bar_shows_device_time_and_memory(qtbot, make_window):
    w = make_window()
    assert w.status_bar.device_label.text().strip() == f"device: {w.session.device}"
    ms = float(w.status_bar.time_label.text().split(":")[1].split("ms")[0])
    assert ms == pytest.approx(w.session.trace.elapsed_s * 1000, abs=0.06)
    memory = w.status_bar.memory_label.text()
    assert "trace" in memory and "process" in memory


def test_status_bar_says_whether_the_trace_matches_nn_lstm(qtbot, make_window):
    w = make_window()
    diff = w.session.trace.meta["nn_lstm_max_abs_diff"]
    assert diff is not None and diff <= 1e-4
    assert w.status_bar.truth_label.text().strip() == f"✓ matches nn.LSTM (max |Δ| {diff:.1e})"
    assert "#2e7d32" in w.status_bar.truth_label.styleSheet()
    w.session.edit_state("h", 1, 0, 0, 0, 0, 0.5)
    assert w.status_bar.truth_label.text().strip() == "what-if run (no nn.LSTM equivalent)"
    w.session.clear_edits()
    assert "matches nn.LSTM" in w.status_bar.truth_label.text()
    w.session.trace.meta["nn_lstm_max_abs_diff"] = 3e-3
    w.session.trace_changed.emit()
    assert "differs from nn.LSTM (max |Δ| 3.0e-03)" in w.status_bar.truth_label.text()
    assert "#c62828" in w.status_bar.truth_label.styleSheet()


def test_every_usable_device_is_offered(qtbot, make_window):
    w = make_window()
    combo = w.panels["Model"].device.editor
    usable = [combo.itemData(k) for k in range(combo.count()) if combo.model().item(k).isEnabled()]
    assert usable == devices()  # the missing GPU backends follow, greyed (test_app_views)


def test_reinitialize_draws_new_weights_and_retraces(qtbot, make_window):
    w = make_window()
    before = w.session.lstm.weight_ih_l0.detach().clone()
    w.panels["Model"].reinit.click()
    qtbot.waitUntil(lambda: w.ctx.up_to_date, timeout=10000)
    assert w.session.seed == 1
    assert not w.session.lstm.weight_ih_l0.detach().equal(before)
    with torch.no_grad():  # the trace on screen is of the new weights
        output, _ = w.session.lstm(w.session.input_tm)
    torch.testing.assert_close(w.session.trace.output, output, atol=1e-5, rtol=0)


def test_settings_remember_layout_view_and_session(qtbot, make_window):
    cfg = LSTMConfig(input_size=2, hidden_size=7, num_layers=2)
    w = make_window(Session(cfg, InputSpec(seq_len=11)))
    w.resize(840, 640)
    w.show_view("Shapes")
    w.docks["Input"].hide()
    w.transport.speed.setValue(23)
    w.close()
    again = make_window(restore=True)
    assert again.session.config == cfg
    assert again.session.input_spec.seq_len == 11
    assert again.tabs.tabText(again.tabs.currentIndex()) == "Shapes"
    assert again.docks["Input"].isHidden()
    assert again.transport.speed.value() == 23
    # a new window starts at 1280x800; the offscreen screen is 800 px wide, so Qt clamps the
    # restored width, but the height comes back
    assert again.height() == 640


def test_stale_settings_never_stop_the_app(qtbot, settings, make_window):
    settings.setValue("session", "{not json")
    settings.setValue("windowState", "garbage")
    w = make_window(restore=True)
    assert w.session.trace is not None


def test_excepthook_puts_errors_in_the_status_bar(qtbot, capsys, make_window):
    w = make_window()
    previous = sys.excepthook
    try:
        hook = install_excepthook(w)
        try:
            raise RuntimeError("something broke")
        except RuntimeError:
            hook(*sys.exc_info())
    finally:
        sys.excepthook = previous
    assert "RuntimeError: something broke" in w.statusBar().currentMessage()
    assert "something broke" in capsys.readouterr().err


def test_panels_are_a_list_and_each_is_placed(qtbot, make_window):
    w = make_window()
    for cls in PANELS:
        placed = w.views if cls.area == "view" else w.docks
        assert cls.title in placed


def test_file_menu_has_open_section_and_exports(qtbot, make_window):
    w = make_window()
    texts = [a.text() for a in w.file_menu.actions()]
    for expected in ("Open session…", "Save session…", "Export current view…",
                     "Export everything…", "Export animated GIF…", "Quit"):
        assert expected in texts
    assert [t for t in texts if "session" in t.lower()] == ["New session", "Open session…",
                                                            "Save session…"]
    assert w.open_section.text() == "Models"


def test_long_trace_shows_progress_and_keeps_gui_responsive(qtbot, make_window, wait_traced):
    w = make_window()
    wait_traced(w, timeout=60000)
    release = threading.Event()

    class SlowTrace:
        """A real trace request that runs only once the test lets it (however loaded the
        machine is, it is still running while the test looks at the window)."""

        def __init__(self, request):
            self.request = request

        def __getattr__(self, name):
            return getattr(self.request, name)

        def run(self):
            release.wait(30)
            return self.request.run()

    w.ctx.runner.submit(SlowTrace(w.session.request()))
    try:
        qtbot.waitUntil(lambda: w.status_bar.progress.isVisible(), timeout=10000)
        assert "tracing" in w.transport.busy.text()
        # stepping still works while torch runs on the worker
        t = w.session.t
        w.transport.step_action.trigger()
        assert w.session.t == t + 1
    finally:
        release.set()
    qtbot.waitUntil(lambda: not w.status_bar.progress.isVisible(), timeout=30000)
    assert w.transport.busy.text() == ""


def test_settings_file_can_come_from_the_environment(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "from_env.ini"
    monkeypatch.setenv("LSTM_VIZ_SETTINGS", str(path))
    w = MainWindow(session=Session(), restore=False)
    qtbot.addWidget(w)
    w.close()
    assert path.exists()
    assert QSettings(str(path), QSettings.Format.IniFormat).value("session")


def test_window_opens_even_when_the_first_trace_fails(qtbot, make_window):
    session = Session(LSTMConfig(2, 3), InputSpec(seq_len=5))
    session.memory_budget = 10  # bytes: every trace is refused by the engine
    w = make_window(session)
    assert w.session.trace is None
    assert "memory budget" in w.statusBar().currentMessage()
    assert w.panels["Gates"].caption.text() == "No trace yet."


def test_every_action_of_the_menu_table_is_in_its_menu_with_its_keys(make_window):
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QMenu

    from lstm_viz_app.actions import MENUS, Action

    w = make_window()
    menus = {m.title(): m for m in w.menuBar().findChildren(QMenu)}
    for title, entries in MENUS.items():
        shown = {a.text(): a for a in menus[title].actions()}
        for entry in (e for e in entries if isinstance(e, Action)):
            assert entry.text in shown, f"{title} lacks {entry.text}"
            keys = shown[entry.text].shortcut()
            expected = QKeySequence(entry.shortcut) if entry.shortcut else QKeySequence()
            assert keys == expected, entry.text
    view = {a.text(): a.shortcut().toString() for a in menus["&View"].actions()}
    assert view["Gates"] == "Ctrl+1"  # the views' own rows, after the docks' toggles


def _parts_of(window) -> dict[str, object]:
    """What a window made, by name: its context, session and trace, every panel, and every
    timeline's display controls, tracks and plots."""
    parts = {"window": window, "context": window.ctx, "session": window.session,
             "trace": window.session.trace}
    parts.update({f"panel {title}": panel for title, panel in window.panels.items()})
    for title, panel in window.panels.items():
        for k, timeline in enumerate(panel.findChildren(Timeline)):
            parts[f"{title} timeline {k}: display controls"] = timeline.controls
            for track in timeline.tracks():
                parts[f"{title} timeline {k}: {track.kind} track"] = track
                parts[f"{title} timeline {k}: {track.kind} plot"] = track.plot
    return {name: part for name, part in parts.items() if part is not None}


def test_a_closed_window_leaves_no_session_trace_view_or_plot_alive(qtbot, settings):
    window = MainWindow(session=Session(), settings=settings)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    for title in window.views:  # every view draws, the Influence timelines too
        window.show_view(title)
        QApplication.processEvents()
    parts = _parts_of(window)
    assert any(isinstance(part, pg.PlotItem) for part in parts.values())
    refs = {name: weakref.ref(part) for name, part in parts.items()}
    del parts
    window.close()
    window.deleteLater()
    del window
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    assert [name for name, ref in refs.items() if ref() is not None] == []
