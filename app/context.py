"""AppContext: what every panel gets: the session, the trace scheduler and the shared selection
(and, to post status-bar messages, the window's ``messages``).

Changes flow one way: panels and dialogs change the session; the context hears the session's
events and starts one re-trace per event-loop turn, however many events the change fired.
A windowed session (its full trace is over the memory budget) holds one window of steps; when t
leaves it, the context traces the window around t on the worker, like any other trace. Whoever
needs the trace of the session as it is now (the start-up, headless runs, exports) asks
``ensure_traced``.
"""

from __future__ import annotations

from collections.abc import Callable

from psygnal import SignalInstance
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from lstm_viz import Session
from lstm_viz.session import TraceRequest

from .display import DisplayOptions
from .messages import Messages
from .workers import TraceRunner

DIRECTIONS = ("forward", "reverse")


class AppContext(QObject):
    """The session (the model), the worker that traces it, and which slice every view shows.

    The selection (layer, direction, batch element, focus unit) is the only state the GUI owns;
    it is clamped to the current config whenever the config changes. Until the trace of a new
    config arrives, the selection may point past the trace on screen: views ask ``fits``.
    """

    selection_changed = Signal()
    #: the session's own events, relayed as Qt signals: a view connects here, so that Qt drops
    #: the connection when the view is deleted (a psygnal slot would outlive its widget)
    config_changed = Signal()
    trace_changed = Signal()
    step_changed = Signal(int)
    edits_changed = Signal()
    #: a trace failed or was refused: the engine's message ('' clears it)
    trace_error_changed = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None,
                 messages: Messages | None = None):
        super().__init__(parent)
        self.session = session
        #: the status bar's messages (the window's; a context of its own without one)
        self.messages = messages if messages is not None else Messages(self)
        # seeking past the traced window must never trace on the GUI thread: the worker does
        session.defer_windows = True
        self.runner = TraceRunner(self)
        self.layer = 0
        self.direction = 0
        self.batch = 0
        self.unit = 0
        self.trace_error = ""
        #: unit order and colour scale, shared by every view
        self.display = DisplayOptions(self)
        self._latest: TraceRequest | None = None
        self._accepted: TraceRequest | None = None
        self._then: list[Callable[[], object]] = []
        # one zero-interval single shot: every session event of one change lands in one turn
        self._due = QTimer(self)
        self._due.setSingleShot(True)
        self._due.setInterval(0)
        self._due.timeout.connect(self._submit)
        self.runner.finished.connect(self._on_trace_finished)
        self.runner.failed.connect(self._on_trace_failed)
        self._session_slots: tuple[tuple[SignalInstance, Callable[..., None]], ...] = (
            (session.config_changed, self._on_config_changed),
            (session.edits_changed, self._on_edits_changed),
            (session.edits_cleared, self._on_edits_cleared),
            (session.trace_changed, self._on_trace_changed),
            (session.step_changed, self._on_step_changed))
        for signal, slot in self._session_slots:
            signal.connect(slot)

    def detach(self) -> None:
        """Stop listening to the session (the window closes): no trace starts, no view or
        callback hears of a change any more; a trace still running is dropped."""
        if not self._session_slots:
            return
        for signal, slot in self._session_slots:
            signal.disconnect(slot, missing_ok=True)
        self._session_slots = ()
        self.session.defer_windows = False  # a script that keeps the session seeks as before
        self._due.stop()
        self._then.clear()
        self.runner.finished.disconnect(self._on_trace_finished)
        self.runner.failed.disconnect(self._on_trace_failed)

    # ----- tracing ----------------------------------------------------------------------
    def _on_config_changed(self) -> None:
        self._clamp_selection()
        self._schedule()
        self.config_changed.emit()

    def _on_trace_changed(self) -> None:
        self._clamp_selection()
        self.trace_changed.emit()

    def _on_step_changed(self, t: int) -> None:
        self.step_changed.emit(t)
        self._follow_window()

    def _follow_window(self) -> None:
        """Trace the window around t on the worker when t left the window on show and no other
        trace is due (a trace that is due traces the window around t as it is then)."""
        session = self.session
        if session.window_due and self.up_to_date and not self.trace_error:
            request = session.request_window()
            self._latest = request
            self.runner.submit(request)

    def holds(self, t: int) -> bool:
        """Whether the trace on show holds step t (a windowed trace holds only its window)."""
        trace = self.session.trace
        return trace is not None and trace.start <= t < trace.stop

    def _on_edits_cleared(self, count: int) -> None:
        """A change of model, settings or input dropped what-if edits: say so, visibly."""
        edits = "the what-if edit" if count == 1 else f"{count} what-if edits"
        self.messages.post(f"The change cleared {edits}, made for the run before it. File >"
                           " Save session keeps edits before such a change.", 10000)

    def _on_edits_changed(self) -> None:
        self.edits_changed.emit()
        trace = self.session.trace
        # clearing the edits brings the original run back at once; only an edited run still
        # on screen or on its way needs a new trace
        if self.session.edits or not self.up_to_date or (trace is not None
                                                         and trace.meta.get("edited")):
            self._schedule()

    def _schedule(self) -> None:
        if not self._due.isActive():
            self._due.start()

    def when_traced(self, then: Callable[[], object]) -> None:
        """Run ``then()`` on the GUI thread once the trace of the session as it is now (or of a
        later change) is installed; a failed trace drops it. Runs now when nothing is due."""
        if not self.up_to_date:
            self._then.append(then)
        elif not self.trace_error:
            then()

    def _submit(self) -> None:
        self._due.stop()
        try:
            request = self.session.request()
        except ValueError as exc:
            self._then.clear()
            self._set_trace_error(str(exc))
            return
        self._latest = request
        self.runner.submit(request)

    @property
    def up_to_date(self) -> bool:
        """True when no trace is due, running or waiting and the last request was installed."""
        return not self._due.isActive() and not self.runner.busy and (
            self._latest is None or self._latest is self._accepted or bool(self.trace_error))

    @property
    def traced(self) -> bool:
        """True when the trace on show is of the session as it is now, holding step t."""
        session = self.session
        return self.up_to_date and session.trace is not None and not session.window_due

    def ensure_traced(self, *, wait: bool = True) -> None:
        """Make the trace on show the session's as it is now (with step t in it).

        Nothing happens when it already is. With ``wait`` (headless runs, exports, a start-up
        that can afford it) a trace running on the worker is waited for and whatever is still
        due is traced here, before returning; ValueError (the engine's message) or
        RuntimeError when it cannot be traced. Without, a trace is started on the worker
        unless one is on its way, and this returns at once."""
        if self.traced:
            return
        if not wait:
            if self.up_to_date:
                self._schedule()
            return
        if self.runner.busy:
            self.runner.wait()
            for _ in range(3):  # its result, queued from the worker, is installed
                QCoreApplication.processEvents()
        if not self.traced:
            self.retrace_now()

    def retrace_now(self) -> None:
        """Trace synchronously on this thread (headless export, screenshots); whatever was due
        is covered by it, and the ``when_traced`` callbacks run."""
        due = self._due.isActive()
        self._due.stop()
        self._latest = self._accepted = None
        session, trace = self.session, self.session.trace
        if not due and trace is not None and session.window_due \
                and trace.checkpoints is not None:
            request = session.request_window()  # only t moved: only its window
            session.accept(request, request.run())
        else:
            session.retrace()
        self._set_trace_error("")
        self._run_then()

    def _run_then(self) -> None:
        callbacks, self._then = self._then, []
        for then in callbacks:
            then()

    def _on_trace_finished(self, request, trace) -> None:
        if self.session.accept(request, trace) and request is self._latest:
            self._accepted = request
            self._set_trace_error("")
            if not self._due.isActive():
                self._follow_window()  # t moved on while this trace ran
                if self.up_to_date:
                    self._run_then()

    def _on_trace_failed(self, request, message: str) -> None:
        if request is self._latest:
            self._then.clear()
            self._set_trace_error(message)
            self.messages.post(message, 8000)

    def _set_trace_error(self, message: str) -> None:
        if message != self.trace_error:
            self.trace_error = message
            self.trace_error_changed.emit(message)

    # ----- selection --------------------------------------------------------------------
    def select(self, *, layer=None, direction=None, batch=None, unit=None) -> None:
        """Change what every view shows; values are clamped to the config."""
        changed = False
        for name, value in (("layer", layer), ("direction", direction), ("batch", batch),
                            ("unit", unit)):
            if value is not None and int(value) != getattr(self, name):
                setattr(self, name, int(value))
                changed = True
        if self._clamp() or changed:
            self.selection_changed.emit()

    def select_from(self, data: dict) -> None:
        """``select`` with the keys of a saved selection (others, like a span, are ignored)."""
        self.select(**{k: int(v) for k, v in data.items()
                       if k in ("layer", "direction", "batch", "unit")})

    def selection_text(self) -> str:
        """The selection in words: "layer 1, reverse, batch element 0"."""
        text = f"layer {self.layer}"
        if self.session.config.bidirectional:
            text += f", {DIRECTIONS[self.direction]}"
        return text + f", batch element {self.batch}"

    def fits(self, trace) -> bool:
        """True when the selection indexes into ``trace`` (False while the trace of a new
        config or input is on its way: views then keep what they show)."""
        cfg = trace.config
        return (self.layer < cfg.num_layers and self.direction < cfg.num_directions
                and self.batch < trace.batch_size and self.unit < cfg.hidden_size)

    def _clamp(self) -> bool:
        cfg = self.session.config
        limits = {"layer": cfg.num_layers, "direction": cfg.num_directions,
                  "batch": int(self.session.input_tm.shape[1]), "unit": cfg.hidden_size}
        changed = False
        for name, n in limits.items():
            value = min(max(getattr(self, name), 0), n - 1)
            if value != getattr(self, name):
                setattr(self, name, value)
                changed = True
        return changed

    def _clamp_selection(self, *args) -> None:
        if self._clamp():
            self.selection_changed.emit()
