"""The main window: builds the panels listed in PANELS around one Session, and the menus.

Adding a panel is one line in PANELS (a ``panels.base.Panel``: ``title``, ``area`` and
``__init__(ctx)``). The menus and their keys are declared in ``app/actions.py``; what they do
lives in the controllers the window owns (``app/controllers/``: documents and exports); the
status bar is ``app/status.py``, colours that follow the palette (dark mode) ``app/theme.py``.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMenu,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from lstm_viz import Session

from . import theme
from .actions import build_menus, make_action
from .context import AppContext
from .controllers.documents import DocumentsController
from .controllers.export import ExportController
from .controllers.recent import kind_of
from .messages import Messages
from .panels.base import Panel
from .panels.code import CodeView
from .panels.config import InputPanel, ModelPanel
from .panels.corpus import CorpusView
from .panels.gates import GatesView
from .panels.influence import InfluenceView
from .panels.model_info import ModelInfoPanel
from .panels.shapes import ShapesView
from .panels.states import StatesView
from .panels.text_view import TextView
from .panels.transport import TransportBar
from .panels.units import UnitsView
from .status import StatusBar
from .timeline import persist
from .workers import LoadRunner, TraceRunner, WriteRunner

#: Every panel, in order. area "view" = a central tab; "left"/"right"/"bottom" = a dock.
PANELS: list[type[Panel]] = [ModelPanel, InputPanel, GatesView, StatesView, ShapesView, CodeView,
                      TextView, UnitsView, InfluenceView, CorpusView, ModelInfoPanel]

ORGANIZATION, APPLICATION = "lstm-viz", "lstm-viz"
TITLE = "lstm-viz: nn.LSTM, step by step"
_DOCK_AREAS = {"left": Qt.DockWidgetArea.LeftDockWidgetArea,
               "right": Qt.DockWidgetArea.RightDockWidgetArea,
               "bottom": Qt.DockWidgetArea.BottomDockWidgetArea}


def default_settings() -> QSettings:
    """The user's settings, or an INI file named by $LSTM_VIZ_SETTINGS (tests, kiosks)."""
    path = os.environ.get("LSTM_VIZ_SETTINGS")
    if path:
        settings = QSettings(path, QSettings.Format.IniFormat)
    else:
        settings = QSettings(ORGANIZATION, APPLICATION)
    settings.setAtomicSyncRequired(True)  # a new file replaces the old one whole, or nothing
    return settings


class MainWindow(QMainWindow):
    """The window: transport toolbar, config docks, view tabs, status bar."""

    def __init__(self, session: Session | None = None, settings: QSettings | None = None,
                 restore: bool = True, trace_now: bool = True,
                 memory_budget: int | None = None):
        super().__init__()
        theme.apply()  # the plots about to be built take the palette's colours
        self.document: Path | None = None  # the model or session file the title names
        self._clean_state = ""
        #: closing, or opening over, unsaved changes asks Save / Discard / Cancel first; not
        #: where no one could answer (the offscreen platform of headless runs and tests)
        self.confirm_unsaved = QGuiApplication.platformName() not in ("offscreen", "minimal")
        self._may_close = False
        self._shut_down = False
        self.setWindowTitle(TITLE + "[*]")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else default_settings()
        if session is None:
            session = self._restored_session() if restore else None
            session = session or Session()
        if memory_budget is not None:  # before the first trace, which it may window
            session.memory_budget = memory_budget
        self.messages = Messages(self)
        self.ctx = AppContext(session, self, self.messages)
        self.session = session
        first_trace = trace_now and session.trace is None
        self.transport = TransportBar(self.ctx, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.transport)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panels: dict[str, QWidget] = {}
        self._areas: dict[str, str] = {}  # where each panel goes
        self.docks: dict[str, QDockWidget] = {}
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks)
        for cls in PANELS:
            self.add_panel(cls)
        self.documents = DocumentsController(self)
        self.recent_menu = self.documents.recent_menu
        self.exports = ExportController(self)
        self.status_bar = StatusBar(self.ctx, self)
        self.setStatusBar(self.status_bar)
        self.ctx.runner.busy_changed.connect(self.transport.set_busy)
        self.ctx.config_changed.connect(self._update_modified)
        self.ctx.edits_changed.connect(self._update_modified)
        self._build_menus()
        self.resize(1280, 800)
        self.fit_docks()
        self._fit_docks_when_shown = True
        if restore:
            self._restore_layout()
        try:
            long_input = first_trace and session.windowed  # a long first pass: on the worker
        except ValueError:  # over the budget even in windows: the trace below says so
            long_input = False
        if first_trace:
            # a short first pass synchronously: a worker trace would share the GIL with
            # building the panels
            self.show_traced(wait=not long_input)
        self.mark_clean()
        self.tabs.setFocus()

    def show_traced(self, *, wait: bool = True) -> None:
        """Trace the session as it is now (``AppContext.ensure_traced``); a session that
        cannot be traced is shown anyway, and the status bar says why."""
        try:
            self.ctx.ensure_traced(wait=wait)
        except (ValueError, RuntimeError) as exc:
            self.messages.post(f"Not traced: {exc}", 15000)

    # ----- panels -----------------------------------------------------------------------
    def add_panel(self, cls: type[Panel]) -> QWidget:
        """Create ``cls(ctx)`` and place it as a tab ("view") or a dock."""
        panel = cls(self.ctx)
        if not isinstance(panel, QWidget):
            raise TypeError(f"{cls.__name__} is not a QWidget: a panel is placed as a tab or"
                            " a dock")
        self.panels[cls.title] = panel
        self._areas[cls.title] = cls.area
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
        titles = [t for t in self.docks if self._areas[t] == "left"]
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
    def _panel_height(panel: QWidget) -> int:
        content = panel.widget() if isinstance(panel, QScrollArea) else None
        return (content or panel).sizeHint().height()

    @property
    def views(self) -> dict[str, QWidget]:
        """The central views by title, in tab order."""
        return {self.tabs.tabText(k): self.panels[self.tabs.tabText(k)]
                for k in range(self.tabs.count())}

    def show_view(self, title: str) -> None:
        for k in range(self.tabs.count()):
            if self.tabs.tabText(k) == title:
                self.tabs.setCurrentIndex(k)

    # ----- menus ------------------------------------------------------------------------
    def _build_menus(self) -> None:
        """The menus as ``actions.MENUS`` declares them."""
        self.themes = theme.ThemeChooser(self.settings, self)  # View > Theme
        menus, sections = build_menus(self, {
            "recent": lambda menu: menu.addMenu(self.recent_menu),
            "docks": self._add_dock_toggles,
            "views": self._add_view_actions,
            "themes": lambda menu: menu.addMenu(self.themes.menu)})
        self.file_menu = menus["&File"]
        self.open_section = sections["Models"]

    def _add_dock_toggles(self, menu: QMenu) -> None:
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())
        menu.addAction(self.transport.toggleViewAction())

    def _add_view_actions(self, menu: QMenu) -> None:
        for k in range(self.tabs.count()):
            title = self.tabs.tabText(k)
            menu.addAction(make_action(self, title, partial(self.show_view, title),
                                       f"Ctrl+{k + 1}"))

    def open_corpus(self) -> None:
        """File > Open corpus store: the Corpus view, asking for the store."""
        self.show_view(CorpusView.title)
        view = self.panels[CorpusView.title]
        assert isinstance(view, CorpusView)
        view._choose_store()

    def show_about(self) -> None:
        from .about import AboutDialog
        self._open_dialog(AboutDialog(self))

    def show_shortcuts(self) -> None:
        from .shortcuts import ShortcutsDialog
        self._open_dialog(ShortcutsDialog(self))

    @staticmethod
    def _open_dialog(dialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # ----- the open file: title, modified mark, recent files, drag and drop ------------------
    def document_opened(self, path, kind: str) -> None:
        """A file was opened (or a session saved): remember it; a model or session file names
        the window and is the unmodified state from now on; an input is a change. A demo
        (``path`` None) leaves the window without a file."""
        if path is not None:
            self.documents.remember(path)
        if kind in ("model", "session", "demo"):
            self.document = Path(path) if path is not None else None
            self.mark_clean()
        else:
            self._update_modified()

    def mark_clean(self) -> None:
        """The session as it is now (and after the trace now due, which may replay a saved
        session's edits) is the unmodified state."""
        def snapshot() -> None:
            self._clean_state = self._state()
            self._update_modified()
        snapshot()
        self.ctx.when_traced(snapshot)
        name = self.document.name if self.document is not None else ""
        self.setWindowTitle(f"{name}[*] — lstm-viz" if name else TITLE + "[*]")
        self.setWindowFilePath(str(self.document) if self.document is not None else "")

    def _state(self) -> str:
        """What makes a session different from its file: all but the current step."""
        try:
            data = self.session.to_dict()
        except (TypeError, ValueError):
            return ""
        data.pop("step", None)
        return json.dumps(data, sort_keys=True, default=str)

    def _update_modified(self) -> None:
        self.setWindowModified(self._state() != self._clean_state)

    def dragEnterEvent(self, event):  # noqa: N802 - Qt override
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):  # noqa: N802 - Qt override
        self.dragEnterEvent(event)

    def dropEvent(self, event):  # noqa: N802 - Qt override
        paths = self._dropped_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.documents.open_paths(paths)

    @staticmethod
    def _dropped_paths(mime) -> list[str]:
        """The local files among the dropped URLs that lstm-viz can open."""
        paths = []
        for url in mime.urls() if mime.hasUrls() else []:
            if not url.isLocalFile():
                continue
            try:
                kind_of(url.toLocalFile())
            except ValueError:
                continue
            paths.append(url.toLocalFile())
        return paths

    def changeEvent(self, event):  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            theme.restyle(self)

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
        problem = persist.restore_layouts_json(self.panels, self.settings.value("timelines"))
        if problem:
            self.messages.post(problem, 10000)
        tab = self.settings.value("view")
        if tab:
            self.show_view(str(tab))
        speed = self.settings.value("speed")
        if speed is not None:
            try:
                self.transport.speed.setValue(int(speed))
            except (TypeError, ValueError):
                pass

    def save_settings(self) -> bool:
        """Write layout, view, speed and session to the settings (Qt replaces the file
        atomically); False, with a message naming the file, when it could not be written."""
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("view", self.tabs.tabText(self.tabs.currentIndex()))
        self.settings.setValue("speed", self.transport.speed.value())
        self.settings.setValue("timelines", persist.layouts_json(self.panels))
        try:
            self.settings.setValue("session", json.dumps(self.session.to_dict()))
        except (TypeError, ValueError):
            pass
        self.settings.sync()
        if self.settings.status() != QSettings.Status.NoError:
            text = (f"could not write the settings file {self.settings.fileName()}; the old"
                    " one is unchanged")
            self.messages.post(text, 15000)
            print(f"lstm-viz: {text}", file=sys.stderr)
            return False
        return True

    def reset_layout(self) -> None:
        for title, dock in self.docks.items():
            dock.setFloating(False)
            dock.show()
            self.addDockWidget(_DOCK_AREAS[self._areas[title]], dock)
        self.transport.show()
        self.fit_docks()

    def showEvent(self, event):  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._fit_docks_when_shown:  # once, with the real sizes, unless a layout was restored
            self._fit_docks_when_shown = False
            QTimer.singleShot(0, self, self.fit_docks)

    @property
    def opening(self) -> bool:
        """True while a file is being read on the worker (File > Open…, a drop, Open recent)."""
        return self.documents.opening

    def closeEvent(self, event):  # noqa: N802 - Qt override
        if self.confirm_unsaved and self.isWindowModified() and not self._may_close:
            event.ignore()  # asked first; Save or Discard closes again
            self.documents.ask_to_save(self._close_anyway, before="closing")
            return
        self.shut_down()
        super().closeEvent(event)

    def shut_down(self) -> None:
        """Stop all that could still reach the views, and save the settings: once, whether the
        window is closed or the application quits with it open (``entry.dispose``)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.transport.timer.stop()
        self.save_settings()
        # the views are about to go: nothing may reach them any more, not even a trace that
        # is still running
        self.ctx.detach()
        for runner in [self.ctx.runner, *self.findChildren(TraceRunner)]:  # views' own too
            runner.wait(5000)
        for loads in self.findChildren(LoadRunner):  # a file being read is never installed
            loads.cancel()
            loads.wait(10000)
        for writes in self.findChildren(WriteRunner):  # a file being saved is saved
            writes.wait(30000)

    def _close_anyway(self) -> None:
        self._may_close = True
        if not self.close():
            self._may_close = False

