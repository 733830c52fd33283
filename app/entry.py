"""Starting the GUI: the QApplication, the excepthook, and ``run`` for ``lstm-viz``."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from PySide6.QtCore import qInstallMessageHandler
from PySide6.QtWidgets import QApplication

import lstm_viz

from .desktop import app_icon
from .file_menu import open_demo, open_model
from .main import APPLICATION, ORGANIZATION, MainWindow


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
    app.setApplicationVersion(lstm_viz.__version__)
    app.setDesktopFileName("lstm-viz")  # Wayland matches the window to lstm-viz.desktop
    app.setWindowIcon(app_icon())
    return app


def run(window_options: dict | None = None) -> int:
    """Start the GUI; ``window_options`` from the command line (config, step, model, ...)."""
    app = make_app()
    options = window_options or {}
    window = MainWindow(session=options.get("session"))
    install_excepthook(window)
    if options.get("model"):
        open_model(window, options["model"], allow_pickle=bool(options.get("allow_pickle")))
    if options.get("demo"):
        open_demo(window, str(options["demo"]))
    selection = options.get("selection")
    if isinstance(selection, dict):
        window.ctx.select_from(selection)
    if options.get("step") is not None:
        window.session.seek(int(options["step"]))
    if options.get("view"):
        window.show_view(str(options["view"]).capitalize())
    window.show()
    return app.exec()
