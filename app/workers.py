"""The one place torch runs off the GUI thread: a single worker that runs trace requests."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Job(QRunnable):
    def __init__(self, runner: TraceRunner, request):
        super().__init__()
        self.setAutoDelete(True)
        self._runner = runner
        self._request = request

    def run(self) -> None:  # worker thread
        start = time.perf_counter()
        try:
            result = self._request.run()
        except Exception as exc:  # noqa: BLE001 - reported to the GUI as a value
            self._runner._job_done.emit(self._request, None, _message(exc),
                                        time.perf_counter() - start)
        else:
            self._runner._job_done.emit(self._request, result, "",
                                        time.perf_counter() - start)


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
    _job_done = Signal(object, object, str, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._running = None
        self._pending = None
        self.last_elapsed_s = 0.0
        self._job_done.connect(self._on_job_done)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, request) -> None:
        """Run ``request`` now, or after the one running (replacing any that waits)."""
        if self._running is not None:
            self._pending = request
            return
        self._start(request)

    def _start(self, request) -> None:
        was_busy = self.busy
        self._running = request
        self._pool.start(_Job(self, request))
        if not was_busy:
            self.busy_changed.emit(True)

    def _on_job_done(self, request, result, error: str, elapsed: float) -> None:
        self._running = None
        self.last_elapsed_s = elapsed
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
