"""Panel: what the window asks of every panel; TraceView: the skeleton every view of the trace
shares.

It wires the view to the context's signals, shows "No trace yet." (in place of empty axes)
until a trace exists, keeps
what is on screen while the trace of a new config is on its way (``ctx.fits``), and turns mouse
moves over a pyqtgraph scene into a hover reading. A view fills in ``show_trace`` (the whole
trace or the selection changed), ``show_step`` (only t changed) and ``hover_text``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsView, QLabel, QToolTip, QWidget

if TYPE_CHECKING:
    from ..context import AppContext

NO_TRACE = "No trace yet."
NO_TRACE_NOTE = ("No trace yet: this view draws what nn.LSTM computes once it has run on the"
                 " input.")


class Panel(Protocol):
    """What the window (``PANELS`` in ``app/main.py``) asks of a panel, a QWidget: its
    ``title``, where it goes (``area``: "view" for a central tab; "left", "right" or "bottom"
    for a dock) and a constructor that takes the context. It reads the session through the
    context and redraws when the context says something changed."""

    title: str
    area: str

    def __init__(self, ctx: AppContext) -> None: ...


class TraceView(QWidget):
    """A central tab that draws the selected slice of the session's trace."""

    area = "view"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(type(self).__name__)
        self.ctx = ctx
        self.session = ctx.session
        self.caption = QLabel()
        # a long caption wraps instead of widening the view past the window
        self.caption.setWordWrap(True)
        self.caption.setMinimumWidth(120)
        self.hover: QLabel | None = None
        self._hover_scene: QGraphicsView | None = None
        self._stale = False  # a hidden view skipped a windowed trace: redraw when shown
        self._step_due = False  # a tab behind another skipped steps: move to t when shown
        # over the whole view while there is nothing to draw: a message, not empty axes
        self.empty_note = QLabel(self)
        self.empty_note.setObjectName("empty_note")
        self.empty_note.setWordWrap(True)
        self.empty_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_note.setAutoFillBackground(True)
        self.empty_note.setStyleSheet("font-size: 12pt; padding: 40px;")
        self.empty_note.hide()

    def listen(self) -> None:
        """Connect to the context and draw what there is; call at the end of ``__init__``."""
        self.ctx.trace_changed.connect(self.refresh)
        self.ctx.selection_changed.connect(self.refresh)
        self.ctx.step_changed.connect(self._on_step_changed)
        self.refresh()

    # ----- drawing ----------------------------------------------------------------------
    def refresh(self, *args) -> None:
        """Redraw from the trace on screen (trace, selection or a view option changed)."""
        trace = self.session.trace
        self._stale = trace is not None and trace.windowed and not self.isVisible()
        if self._stale:  # a windowed trace changes at every window move: drawn when shown
            return
        if trace is None:
            self.show_no_trace()
        elif self.ctx.fits(trace):  # otherwise the trace for the new config is on its way
            self.empty_note.hide()
            self.show_trace(trace)

    def show_no_trace(self) -> None:
        self.caption.setText(NO_TRACE)
        error = getattr(self.ctx, "trace_error", "")
        self.empty_note.setText(NO_TRACE_NOTE + (f"\n\n{error}" if error else ""))
        self.empty_note.setGeometry(self.rect())
        self.empty_note.raise_()
        self.empty_note.show()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.empty_note.setGeometry(self.rect())

    def show_trace(self, trace) -> None:
        """Draw ``trace`` for the context's selection (which fits it)."""
        raise NotImplementedError

    def show_step(self, t: int) -> None:
        """Move to step ``t`` of the trace on screen: only indexing."""

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.refresh()
        elif self._step_due:
            self._on_step_changed()

    def behind(self) -> bool:
        """Whether the view is a tab behind another: nobody sees it, so a step only marks it
        to move to t when it comes to the front."""
        window = self.window()
        return window is not self and not self.isVisibleTo(window)

    def _on_step_changed(self, *args) -> None:
        trace = self.session.trace
        self._step_due = self.behind()
        if trace is not None and self.ctx.fits(trace) and not self._stale \
                and not self._step_due:
            self.show_step(self.session.t)

    # ----- hover ------------------------------------------------------------------------
    def follow_mouse(self, graphics: pg.GraphicsView, hover: QLabel) -> None:
        """Show ``hover_text(scene_pos)`` in ``hover`` and a tooltip as the mouse moves over
        ``graphics`` (at most 60 readings a second)."""
        self.hover = hover
        self._hover_scene = graphics
        self._proxy = pg.SignalProxy(graphics.scene().sigMouseMoved, rateLimit=60,
                                     slot=self._on_mouse_moved)

    def hover_text(self, scene_pos) -> str:
        """What the mouse at ``scene_pos`` points at ('' for nothing)."""
        return ""

    def _on_mouse_moved(self, event) -> None:
        pos = event[0]
        text = self.hover_text(pos)
        graphics = self._hover_scene
        if text and self.hover is not None and graphics is not None:
            self.hover.setText(text)
            QToolTip.showText(graphics.mapToGlobal(graphics.mapFromScene(pos)), text, graphics)
