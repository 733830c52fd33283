"""Starting the GUI: the QApplication, the excepthook, and ``run`` for ``lstm-viz``."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

import lstm_viz

from .desktop import app_icon
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
    if not isinstance(app, QApplication):
        raise RuntimeError("lstm-viz needs a QApplication (a QCoreApplication is running)")
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(lstm_viz.__version__)
    app.setDesktopFileName("lstm-viz")  # Wayland matches the window to lstm-viz.desktop
    app.setWindowIcon(app_icon())
    return app


def check_step(window: MainWindow, step) -> int:
    """``step`` as a timestep of the window's input; ValueError naming the range otherwise."""
    n = window.session.num_steps
    try:
        t = int(step)
    except (TypeError, ValueError):
        t = None
    if t is None or isinstance(step, bool) or t != step or not 0 <= t < n:
        raise ValueError(f"--step must be in [0, {n - 1}] for this input (got {step!r})")
    return t


def check_view(window: MainWindow, name) -> str:
    """The title of the view called ``name`` (any case); ValueError listing the views."""
    titles = {t.lower(): t for t in window.views}
    if not isinstance(name, str) or name.lower() not in titles:
        raise ValueError(f"--view must be one of {', '.join(window.views)} (got {name!r})")
    return titles[name.lower()]


def run(window_options: dict | None = None) -> int:
    """Start the GUI; ``window_options`` from the command line (config, step, model, ...).

    ValueError, before the window shows, when ``step`` or ``view`` does not fit."""
    app = make_app()
    window = build_window(window_options or {})
    window.show()
    try:
        return app.exec()
    finally:
        dispose(window)


def dispose(window: MainWindow) -> None:
    """Shut ``window`` down (``MainWindow.shut_down``: workers waited for, nothing asked) and
    delete it, with any dialog still open on it, while Python and the application are whole.

    The event loop can end with the window open (``QApplication.quit``, the desktop session
    ending, a dialog still asking). Left to the interpreter's exit, the window's plots would
    be deleted piece by piece in no set order, and a plot item deleted before the scene that
    holds it calls back into a Python that is being torn down: a segmentation fault."""
    if not shiboken6.isValid(window):
        return
    window.shut_down()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def build_window(options: dict) -> MainWindow:
    """The main window as ``options`` ask for it; a model or demo to open is traced once (the
    session it replaces is not traced first).

    A model is read on the worker while the window shows (progress dialog, Cancel); the demo,
    selection and step follow once it is in use. ValueError, before the window shows, when
    ``step`` or ``view`` does not fit (with a model: the input as it is before the model)."""
    opening = bool(options.get("model") or options.get("demo"))
    window = MainWindow(session=options.get("session"), trace_now=not opening,
                        memory_budget=options.get("memory_budget"))
    install_excepthook(window)

    def settle() -> None:
        if options.get("demo"):
            window.documents.open_demo(str(options["demo"]))
        if opening and window.ctx.up_to_date and window.session.trace is None:
            # nothing was opened (or it waits for an answer): show the session there is
            window.show_traced()
        selection = options.get("selection")
        if isinstance(selection, dict):
            window.ctx.select_from(selection)
        if options.get("step") is not None:
            window.session.seek(check_step(window, options["step"]))
        if options.get("view"):
            window.show_view(check_view(window, options["view"]))

    try:
        if options.get("model"):
            if options.get("step") is not None:
                check_step(window, options["step"])
            if options.get("view"):
                check_view(window, options["view"])
        else:
            settle()
    except ValueError:
        window.ctx.detach()
        window.deleteLater()
        raise
    if options.get("model"):
        def opened(ok: bool) -> None:
            try:
                settle()
            except ValueError as exc:  # the model's input is shorter than --step asks
                window.messages.post(str(exc), 15000)

        window.documents.open_model(options["model"],
                                    allow_pickle=bool(options.get("allow_pickle")),
                                    lstm=options.get("lstm") or None, background=True,
                                    done=opened)
    return window
