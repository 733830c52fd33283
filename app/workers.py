"""The one place torch runs off the GUI thread: a single worker that runs trace requests."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _JobSignals(QObject):
    done = Signal(object, object, str, float)


class _Job(QRunnable):
    """Runs one request. It reports through its own QObject, so a runner (or window) deleted
    while torch is still busy simply never hears back, instead of crashing."""

    def __init__(self, runner: TraceRunner, request):
        super().__init__()
        self.setAutoDelete(True)
        self.signals = _JobSignals()
        self.signals.done.connect(runner._on_job_done)
        self._request = request

    def run(self) -> None:  # worker thread
        start = time.perf_counter()
        try:
            result, error = self._request.run(), ""
        except Exception as exc:  # noqa: BLE001 - reported to the GUI as a value
            result, error = None, _message(exc)
        try:
            self.signals.done.emit(self._request, result, error, time.perf_counter() - start)
        except RuntimeError:  # the receiver is gone (window closed mid-trace)
            pass


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


class TraceRunner(QObject):
    """Runs ``request.run()`` on one worker thread; a newer request supersedes an older one.

    At most one request runs and one waits; submitting while busy replaces the waiting one.
    ``finished(request, trace)`` and ``failed(request, message)`` arrive on the GUI thread.
    """

    busy_changed = Signal(bool)
    finished = Signal(object, object)
    failed = Signal(object, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._running = None
        self._pending = None
        self.last_elapsed_s = 0.0
        self._jobs: set = set()

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, request) -> None:
        """Run ``request`` now, or after the one running (replacing any that waits)."""
        if self._running is not None:
            log.debug("worker: %s waits (replacing any that waited)", type(request).__name__)
            self._pending = request
            return
        self._start(request)

    def _start(self, request) -> None:
        was_busy = self.busy
        self._running = request
        job = _Job(self, request)
        self._jobs.add(job.signals)  # keep the signal object alive until it reports
        log.info("worker: %s started", type(request).__name__)
        self._pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)

    def _on_job_done(self, request, result, error: str, elapsed: float) -> None:
        sender = self.sender()
        self._jobs.discard(sender)
        self._running = None
        self.last_elapsed_s = elapsed
        log.info("worker: %s %s after %.1f ms", type(request).__name__,
                 f"failed ({error})" if error else "finished", elapsed * 1e3)
        pending, self._pending = self._pending, None
        if pending is not None:
            self._start(pending)
        else:
            self.busy_changed.emit(False)
        if error:
            self.failed.emit(request, error)
        else:
            self.finished.emit(request, result)

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker is idle (tests, shutdown, headless export)."""
        return self._pool.waitForDone(msecs)
