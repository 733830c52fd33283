"""The main window: builds the panels listed in PANELS around one Session and wires them up.

Adding a panel is one line in PANELS (a class with ``title``, ``area`` and ``__init__(ctx)``).
Adding a File-menu entry is one line in FILE_MENU_EXTENSIONS (a function ``(window, menu)``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, qInstallMessageHandler
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QTabWidget,
)

from lstm_viz import Session

from .context import AppContext
from .panels.code import CodeView
from .panels.config import InputPanel, ModelPanel
from .panels.gates import GatesView
from .panels.shapes import ShapesView
from .panels.states import StatesView
from .panels.transport import TransportBar

#: Every panel, in order. area "view" = a central tab; "left"/"right"/"bottom" = a dock.
PANELS: list[type] = [ModelPanel, InputPanel, GatesView, StatesView, ShapesView, CodeView]

#: Functions ``(window, menu) -> None`` that add entries to the File menu's "open" section,
#: e.g. "Open model..." and "Open demo" (see ``add_open_actions``).
FILE_MENU_EXTENSIONS: list[Callable] = []

ORGANIZATION, APPLICATION = "lstm-viz", "lstm-viz"
#: largest |trace - nn.LSTM| (output, h_n, c_n) that still counts as a match
TRUTH_TOLERANCE = 1e-4
_DOCK_AREAS = {"left": Qt.DockWidgetArea.LeftDockWidgetArea,
               "right": Qt.DockWidgetArea.RightDockWidgetArea,
               "bottom": Qt.DockWidgetArea.BottomDockWidgetArea}


def _load_extensions() -> None:
    """Optional modules that extend the window (model loading, demos) hook in here."""
    try:
        from . import dialogs  # noqa: F401 - registers itself in FILE_MENU_EXTENSIONS
    except ImportError:
        pass


def open_model(window: MainWindow, path: str, *, allow_pickle: bool = False) -> bool:
    """Load a model file into the window's session (``--model FILE``); False if unsupported.

    Delegates to ``app.dialogs.open_model_file(window, path, allow_pickle=...)`` when present.
    """
    try:
        from .dialogs import open_model_file
    except ImportError:
        window.ctx.post(f"Opening models is not available in this build ({path})", 8000)
        return False
    return bool(open_model_file(window, path, allow_pickle=allow_pickle))


def default_settings() -> QSettings:
    """The user's settings, or an INI file named by $LSTM_VIZ_SETTINGS (tests, kiosks)."""
    path = os.environ.get("LSTM_VIZ_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _rss_bytes() -> int:
    """Resident memory of this process (peak on platforms without /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        try:
            import resource  # Unix only
        except ImportError:  # Windows: no cheap reading; the status bar shows the trace size
            return 0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class MainWindow(QMainWindow):
    """The window: transport toolbar, config docks, view tabs, status bar."""

    def __init__(self, session: Session | None = None, settings: QSettings | None = None,
                 restore: bool = True, trace_now: bool = True):
        super().__init__()
        self.setWindowTitle("lstm-viz: nn.LSTM, step by step")
        self.settings = settings if settings is not None else default_settings()
        if session is None:
            session = self._restored_session() if restore else None
            session = session or Session()
        self.ctx = AppContext(session, self)
        self.session = session
        first_trace = trace_now and session.trace is None
        self.transport = TransportBar(self.ctx, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.transport)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panels: dict[str, object] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks)
        for cls in PANELS:
            self.add_panel(cls)
        self._build_status_bar()
        _load_extensions()
        self._build_menus()
        self.ctx.message_posted.connect(self._on_message)
        self.ctx.runner.busy_changed.connect(self._on_busy_changed)
        self.ctx.trace_error_changed.connect(self._on_trace_error)
        self.session.trace_changed.connect(self._update_status)
        self.session.config_changed.connect(self._update_status)
        self.resize(1280, 800)
        self.fit_docks()
        self._fit_docks_when_shown = True
        if restore:
            self._restore_layout()
        if first_trace:
            # synchronously: a worker trace would share the GIL with building the panels
            try:
                self.ctx.retrace_now()
            except (ValueError, RuntimeError) as exc:  # show the window anyway, say why
                self.ctx.post(f"Not traced: {exc}", 15000)
        self._update_status()
        self.tabs.setFocus()

    # ----- panels -----------------------------------------------------------------------
    def add_panel(self, cls: type):
        """Create ``cls(ctx)`` and place it as a tab ("view") or a dock."""
        panel = cls(self.ctx)
        self.panels[cls.title] = panel
        if cls.area == "view":
            self.tabs.addTab(panel, cls.title)
        else:
            dock = QDockWidget(cls.title, self)
            dock.setObjectName(f"dock_{cls.title}")
            dock.setWidget(panel)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(_DOCK_AREAS[cls.area], dock)
            self.docks[cls.title] = dock
        return panel

    def fit_docks(self) -> None:
        """Size the left docks: the model and input panels as tall as their fields (with room
        for the row that comes and goes with the input source), the docks below get the rest."""
        titles = [t for t in self.docks if type(self.panels[t]).area == "left"]
        left = [self.docks[t] for t in titles]
        if len(left) >= 2:
            row = self.fontMetrics().lineSpacing() + 12
            title = left[0].height() - left[0].widget().height() if self.isVisible() else row
            heights = [self._panel_height(self.panels[t]) + row + title for t in titles[:2]]
            total = sum(d.height() for d in left) if self.isVisible() else self.height() - 120
            rest = max(90, (total - sum(heights)) // max(1, len(left) - 2))
            self.resizeDocks(left, (heights + [rest] * len(left))[: len(left)],
                             Qt.Orientation.Vertical)
        if left:
            self.resizeDocks(left[:1], [max(260, min(340, self.width() // 6))],
                             Qt.Orientation.Horizontal)

    @staticmethod
    def _panel_height(panel) -> int:
        content = panel.widget() if hasattr(panel, "widget") else None
        return (content or panel).sizeHint().height()

    def view(self, title: str):
        return self.panels[title]

    @property
    def views(self) -> dict[str, object]:
        """The central views by title, in tab order."""
        return {self.tabs.tabText(k): self.tabs.widget(k) for k in range(self.tabs.count())}

    def show_view(self, title: str) -> None:
        for k in range(self.tabs.count()):
            if self.tabs.tabText(k) == title:
                self.tabs.setCurrentIndex(k)

    # ----- menus ------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.file_menu = file_menu
        self._action(file_menu, "Open session…", self.open_session_dialog, QKeySequence.Open)
        self._action(file_menu, "Save session…", self.save_session_dialog, QKeySequence.Save)
        file_menu.addSeparator()
        self.open_section = file_menu.addSection("Models")
        add_open_actions(self, file_menu)
        file_menu.addSeparator()
        self._action(file_menu, "Export current view…", lambda: self.export_dialog(False),
                     "Ctrl+E")
        self._action(file_menu, "Export everything…", lambda: self.export_dialog(True),
                     "Ctrl+Shift+E")
        self._action(file_menu, "Export animated GIF…", self.export_gif_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.Quit)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addAction(self.transport.toggleViewAction())
        view_menu.addSeparator()
        for k in range(self.tabs.count()):
            title = self.tabs.tabText(k)
            self._action(view_menu, title, lambda t=title: self.show_view(t), f"Ctrl+{k + 1}")
        view_menu.addSeparator()
        self._action(view_menu, "Reset layout", self.reset_layout)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "About lstm-viz", self._about)

    def _action(self, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    def _about(self) -> None:
        self.ctx.post("lstm-viz: PyTorch's nn.LSTM, gate by gate and step by step.", 6000)

    # ----- status bar -------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel()
        self.device_label.setObjectName("status_device")
        self.time_label = QLabel()
        self.time_label.setObjectName("status_time")
        self.memory_label = QLabel()
        self.memory_label.setObjectName("status_memory")
        self.truth_label = QLabel()
        self.truth_label.setObjectName("status_truth")
        self.truth_label.setToolTip("The trace's output, h_n and c_n compared with torch's own"
                                    " nn.LSTM run on the same input")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(150)
        self._progress_timer.timeout.connect(self.progress.show)
        for w in (self.progress, self.truth_label, self.device_label, self.time_label,
                  self.memory_label):
            bar.addPermanentWidget(w)

    def _update_status(self, *args) -> None:
        trace = self.session.trace
        self.device_label.setText(f" device: {self.session.device} ")
        if trace is not None:
            self.time_label.setText(f" last trace: {trace.elapsed_s * 1000:.1f} ms ")
            rss = _rss_bytes()
            process = f" · process {_fmt_bytes(rss)}" if rss else ""
            self.memory_label.setText(f" trace {_fmt_bytes(trace.nbytes)}{process} ")
        self._update_truth(trace)

    def _update_truth(self, trace) -> None:
        """The truth badge: how far the trace is from nn.LSTM's own run (``trace.meta``)."""
        if trace is None or "nn_lstm_max_abs_diff" not in trace.meta:
            self.truth_label.setText("")
            return
        diff = trace.meta["nn_lstm_max_abs_diff"]
        if diff is None:
            text, colour = " what-if run (no nn.LSTM equivalent) ", "#a15c00"
        elif diff <= TRUTH_TOLERANCE:
            text, colour = f" ✓ matches nn.LSTM (max |Δ| {diff:.1e}) ", "#2e7d32"
        else:
            text, colour = f" ⚠ differs from nn.LSTM (max |Δ| {diff:.1e}) ", "#c62828"
        self.truth_label.setText(text)
        self.truth_label.setStyleSheet(f"color: {colour};")

    def _on_busy_changed(self, busy: bool) -> None:
        self.transport.set_busy(busy)
        if busy:
            self._progress_timer.start()
        else:
            self._progress_timer.stop()
            self.progress.hide()

    def _on_trace_error(self, message: str) -> None:
        if message:
            self.statusBar().showMessage(f"Not traced: {message}", 10000)

    def _on_message(self, text: str, timeout: int) -> None:
        self.statusBar().showMessage(text, timeout)

    # ----- sessions ---------------------------------------------------------------------
    def load_session_dict(self, data: dict) -> None:
        """Replace config, input, seed and device from a session JSON dict; then retrace."""
        from .sessions import apply_session_dict
        apply_session_dict(self.session, data)

    def open_session_dialog(self) -> None:
        """A whole session file (weights, edits, view) or a plain ``Session.to_dict()`` JSON."""
        from .dialogs import open_session_dialog
        open_session_dialog(self)

    def save_session_dialog(self) -> None:
        """The whole session: config, weights, input, step, edits, selection, view."""
        from .dialogs import save_session_dialog
        save_session_dialog(self)

    # ----- export -----------------------------------------------------------------------
    def export_dialog(self, everything: bool) -> None:
        from .export import ExportDialog
        ExportDialog(self, everything).exec()

    def export_gif_dialog(self) -> None:
        from .export import export_gif
        path, _ = QFileDialog.getSaveFileName(self, "Export animated GIF", "steps.gif",
                                              "GIF (*.gif)")
        if path:
            export_gif(self, path)
            self.ctx.post(f"Wrote {path}")

    # ----- settings ---------------------------------------------------------------------
    def _restored_session(self) -> Session | None:
        text = self.settings.value("session", "")
        if not text:
            return None
        try:
            return Session.from_dict(json.loads(str(text)))
        except Exception:  # noqa: BLE001 - stale settings must never stop the app
            return None

    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("windowState")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self._fit_docks_when_shown = not self.restoreState(state)
        tab = self.settings.value("view")
        if tab:
            self.show_view(str(tab))
        speed = self.settings.value("speed")
        if speed is not None:
            try:
                self.transport.speed.setValue(int(speed))
            except (TypeError, ValueError):
                pass

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("view", self.tabs.tabText(self.tabs.currentIndex()))
        self.settings.setValue("speed", self.transport.speed.value())
        try:
            self.settings.setValue("session", json.dumps(self.session.to_dict()))
        except (TypeError, ValueError):
            pass
        self.settings.sync()

    def reset_layout(self) -> None:
        for title, dock in self.docks.items():
            dock.setFloating(False)
            dock.show()
            self.addDockWidget(_DOCK_AREAS[type(self.panels[title]).area], dock)
        self.transport.show()
        self.fit_docks()

    def showEvent(self, event):  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._fit_docks_when_shown:  # once, with the real sizes, unless a layout was restored
            self._fit_docks_when_shown = False
            QTimer.singleShot(0, self, self.fit_docks)

    def closeEvent(self, event):  # noqa: N802 - Qt override
        self.transport.timer.stop()
        self.save_settings()
        self.ctx.runner.wait(5000)
        super().closeEvent(event)


def add_open_actions(window: MainWindow, menu: QMenu) -> None:
    """The File menu's "open" section: "Open model…", "Open demo" come from extensions."""
    for extend in FILE_MENU_EXTENSIONS:
        extend(window, menu)


def install_excepthook(window: MainWindow) -> Callable:
    """Show uncaught exceptions in the status bar (and on stderr) instead of crashing."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        try:
            window.statusBar().showMessage(f"Error: {exc_type.__name__}: {exc}", 15000)
        except RuntimeError:  # the window is gone
            pass

    sys.excepthook = hook
    return hook


def _quiet_qt_messages(mode, context, message) -> None:
    # The offscreen platform reports this on every window; it is noise, not a problem.
    if "propagateSizeHints" in message:
        return
    sys.stderr.write(message + "\n")


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:  # an existing app (pytest-qt, a notebook) keeps its own message handler
        qInstallMessageHandler(_quiet_qt_messages)
        app = QApplication(argv or sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    return app


def run(window_options: dict | None = None) -> int:
    """Start the GUI; ``window_options`` from the command line (config, step, model, ...)."""
    app = make_app()
    options = window_options or {}
    session = options.get("session")
    window = MainWindow(session=session)
    install_excepthook(window)
    if options.get("model"):
        open_model(window, options["model"], allow_pickle=bool(options.get("allow_pickle")))
    if options.get("demo"):
        from .dialogs import open_demo
        open_demo(window, str(options["demo"]))
    selection = options.get("selection")
    if isinstance(selection, dict):
        window.ctx.select(**{k: int(v) for k, v in selection.items()
                             if k in ("layer", "direction", "batch", "unit")})
    if options.get("step") is not None:
        window.session.seek(int(options["step"]))
    if options.get("view"):
        window.show_view(str(options["view"]).capitalize())
    window.show()
    return app.exec()


# Issue 5 (real models): the text view, unit statistics and the loaded-model panel.
# app/dialogs.py adds File > Open model / Open demo / sessions with model (see _load_extensions).
from .panels.model_info import ModelInfoPanel  # noqa: E402
from .panels.text_view import TextView  # noqa: E402
from .panels.units import UnitsView  # noqa: E402

PANELS += [TextView, UnitsView, ModelInfoPanel]
