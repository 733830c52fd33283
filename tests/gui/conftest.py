"""GUI tests run on Qt's offscreen platform unless a display platform was chosen explicitly.

Shared fixtures: ``settings`` (a throwaway settings file), ``make_window`` (a shown MainWindow
around a session), ``make_ctx`` (a Session and its AppContext, for a panel tested on its own),
``show_view`` (one view on its own, shown), ``record_trace_threads`` (which threads run the
traces), ``wait_traced`` (wait until the worker's trace of the session as it is now is
installed) and ``type_value`` (type into a spin box and press Enter, as a user does).
"""

import os
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from lstm_viz import Session  # noqa: E402
from lstm_viz.session import TraceRequest  # noqa: E402
from lstm_viz_app.context import AppContext  # noqa: E402
from lstm_viz_app.main import MainWindow  # noqa: E402

_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Once pytest has reported every result, the test process leaves with pytest's exit status
    without finalizing the interpreter. After hundreds of windows made and deleted in one
    process, that finalization (Qt's and PySide's teardown, with no Python frame left) crashed
    with a segmentation fault in some runs, after every test had passed; the app's own exits
    are tested in processes of their own (test_reliability, test_cli)."""
    if _EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT_STATUS])


@pytest.fixture(autouse=True)
def closed_widgets_are_deleted_after_each_test(qapp):
    """The windows and views a test made are deleted when it ends, not at some later test's
    event loop.

    pytest-qt closes what ``qtbot.addWidget`` registered and calls ``deleteLater``, and a
    deferred delete waits for an event loop to run: without sending them here, the windows of
    test after test stay alive, with their sessions, traces and plots, until a later
    ``qtbot.wait`` happens to run one.
    """
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def no_dialog_outlives_its_test(qapp):
    """A dialog a test left open (a picker nobody answered) is closed before the next test."""
    yield
    while (dialog := QApplication.activeModalWidget()) is not None:
        dialog.close()
        dialog.deleteLater()
        QApplication.processEvents()


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, settings):
    """``make_window(session=None, restore=False, view=None)``: a shown 1280x800 window."""

    def make(session=None, *, restore=False, view=None):
        if session is None and not restore:
            session = Session()
        w = MainWindow(session=session, settings=settings, restore=restore)
        qtbot.addWidget(w)
        if not restore:  # a restored window keeps its saved geometry
            w.resize(1280, 800)
        w.show()
        qtbot.waitExposed(w)
        if view:
            w.show_view(view)
        return w

    return make


@pytest.fixture
def window(make_window):
    """A window around a default Session."""
    return make_window()


@pytest.fixture
def make_ctx(qtbot):
    """``make_ctx(session=None)``: an AppContext on a traced session, no window."""
    contexts = []

    def make(session=None):
        session = session if session is not None else Session()
        ctx = AppContext(session)
        ctx.retrace_now()
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.detach()
        ctx.runner.wait(10000)


@pytest.fixture
def show_view(qtbot, make_ctx):
    """``show_view(cls, session=None, size=(1280, 800))``: a ``cls`` view on an AppContext of
    the traced session, shown at ``size`` and exposed; returns (ctx, view)."""

    def show(cls, session=None, size=(1280, 800)):
        ctx = make_ctx(session)
        view = cls(ctx)
        qtbot.addWidget(view)
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        return ctx, view

    return show


@pytest.fixture
def record_trace_threads(monkeypatch):
    """``record_trace_threads()``: from this call on, the list of threads that run a
    TraceRequest (which runs as before)."""

    def record() -> list[threading.Thread]:
        threads: list[threading.Thread] = []
        run = TraceRequest.run

        def recording_run(self):
            threads.append(threading.current_thread())
            return run(self)

        monkeypatch.setattr(TraceRequest, "run", recording_run)
        return threads

    return record


@pytest.fixture
def slowed(monkeypatch):
    """``slowed(module, name, seconds=0.3)``: ``module.name`` made ``seconds`` slower (as a
    large figure takes a while to encode, or a slow disk to write); returns the list of its
    calls' (start, end, thread name), appended as each ends."""

    def slow_down(module, name, seconds=0.3):
        original = getattr(module, name)
        spans: list[tuple[float, float, str]] = []

        def slow(*args, **kwargs):
            start = time.perf_counter()
            time.sleep(seconds)
            result = original(*args, **kwargs)
            spans.append((start, time.perf_counter(), threading.current_thread().name))
            return result

        monkeypatch.setattr(module, name, slow)
        return spans

    return slow_down


@pytest.fixture
def loop_ticks(qapp):
    """The times the GUI thread's event loop ran a 5 ms timer, from now to the test's end: a
    tick inside a call's span says the window went on while it ran."""
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(5)
    yield ticks
    timer.stop()


@pytest.fixture
def wait_traced(qtbot):
    """``wait_traced(window_or_ctx)``: wait until the trace of the session as it is now is on
    screen (no file being opened; nothing due, running or waiting)."""

    def wait(owner, timeout=15000):
        ctx = getattr(owner, "ctx", owner)
        qtbot.waitUntil(lambda: not getattr(owner, "opening", False) and ctx.up_to_date
                        and ctx.session.trace is not None, timeout=timeout)

    return wait


@pytest.fixture
def type_value(qtbot):
    """``type_value(spinbox, value)``: select the text, type a number, press Enter."""

    def type_(spinbox, value):
        spinbox.setFocus()
        spinbox.selectAll()
        qtbot.keyClicks(spinbox, str(value))
        qtbot.keyClick(spinbox, Qt.Key.Key_Return)

    return type_


@pytest.fixture
def modal_dialog(qtbot):
    """``modal_dialog()``: the dialog or message box the app has open (window-modal)."""

    def find():
        qtbot.waitUntil(lambda: QApplication.activeModalWidget() is not None, timeout=5000)
        return QApplication.activeModalWidget()

    return find


class PanelHost:
    """Panels around one Session and its AppContext, without the main window."""

    def __init__(self, ctx, classes):
        self.ctx = ctx
        self.session = ctx.session
        self.panels = {cls.title: cls(ctx) for cls in classes}


@pytest.fixture
def make_panels(qtbot, make_ctx):
    """``make_panels(*panel_classes, session=None)``: the panels, shown, on a traced session;
    ``.ctx``, ``.session`` and ``.panels`` as a window has them."""

    def make(*classes, session=None):
        host = PanelHost(make_ctx(session), classes)
        for panel in host.panels.values():
            qtbot.addWidget(panel)
            panel.show()
        return host

    return make
