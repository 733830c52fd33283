"""AppContext: what every panel gets: the session, the trace runner and the shared selection."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from .workers import TraceRunner


class AppContext(QObject):
    """The session (the model), the worker that traces it, and which slice every view shows.

    The selection (layer, direction, batch element, focus unit) is the only state the GUI owns;
    it is clamped to the current config whenever the config changes. Until the trace of a new
    config arrives, the selection may point past the trace on screen: views ask ``fits``.
    """

    selection_changed = Signal()
    #: (text, timeout_ms) for the status bar
    message_posted = Signal(str, int)
    #: a trace failed or was refused: the engine's message ('' clears it)
    trace_error_changed = Signal(str)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.runner = TraceRunner(self)
        self.layer = 0
        self.direction = 0
        self.batch = 0
        self.unit = 0
        self.trace_error = ""
        self._latest = None
        self._accepted = None
        self._then = None
        self.runner.finished.connect(self._on_trace_finished)
        self.runner.failed.connect(self._on_trace_failed)
        session.config_changed.connect(self._clamp_selection)
        session.trace_changed.connect(self._clamp_selection)

    # ----- tracing ----------------------------------------------------------------------
    def retrace(self, then=None) -> None:
        """Snapshot the session and trace it on the worker; the result replaces the trace.

        ``then()`` runs on the GUI thread once this trace is installed; a newer retrace (or a
        failure) drops it."""
        try:
            request = self.session.request()
        except ValueError as exc:
            self._then = None
            self._set_trace_error(str(exc))
            return
        self._latest = request
        self._then = then
        self.runner.submit(request)

    @property
    def up_to_date(self) -> bool:
        """True when no trace is running or waiting and the last request was installed."""
        return not self.runner.busy and (self._latest is None or self._latest is self._accepted
                                         or bool(self.trace_error))

    def retrace_now(self) -> None:
        """Trace synchronously on this thread (headless export, screenshots, tests)."""
        self._latest = self._accepted = None
        self.session.retrace()
        self._set_trace_error("")

    def _on_trace_finished(self, request, trace) -> None:
        if self.session.accept(request, trace) and request is self._latest:
            self._accepted = request
            self._set_trace_error("")
            then, self._then = self._then, None
            if then is not None:
                then()

    def _on_trace_failed(self, request, message: str) -> None:
        if request is self._latest:
            self._then = None
            self._set_trace_error(message)
            self.post(message, 8000)

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

    def post(self, text: str, timeout_ms: int = 4000) -> None:
        """Show a message in the status bar."""
        self.message_posted.emit(text, timeout_ms)
