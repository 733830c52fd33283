"""Where work runs off the GUI thread: one worker for trace requests (the newest waits its
turn), a pool for reading files (the newest wins; older reads run out unheard), and one
worker that writes files (every one, in the order asked)."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _JobSignals(QObject):
    done = Signal(object, object, object, float)  # key, result, exception or None, seconds


class _Job(QRunnable):
    """Runs ``work()`` once and hands ``done(key, result, exception, seconds)`` to ``slot``.
    It reports through its own QObject, so a runner (or window) deleted while the work is
    still busy simply never hears back, instead of crashing."""

    def __init__(self, slot, key, work):
        super().__init__()
        self.setAutoDelete(True)
        self.signals = _JobSignals()
        self.signals.done.connect(slot)
        self._key = key
        self._work = work

    def run(self) -> None:  # worker thread
        start = time.perf_counter()
        try:
            result, error = self._work(), None
        except Exception as exc:  # noqa: BLE001 - handed to the GUI as a value
            result, error = None, exc
        try:
            self.signals.done.emit(self._key, result, error, time.perf_counter() - start)
        except RuntimeError:  # the receiver is gone (window closed mid-run)
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
        job = _Job(self._on_job_done, request, request.run)
        self._jobs.add(job.signals)  # keep the signal object alive until it reports
        log.info("worker: %s started", type(request).__name__)
        self._pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)

    def _on_job_done(self, request, result, exc: Exception | None, elapsed: float) -> None:
        error = "" if exc is None else _message(exc)
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


class LoadRunner(QObject):
    """Runs ``load()`` (reading and building a file's contents: no Qt objects) off the GUI
    thread; the newest load wins.

    ``finished(ticket, result)`` or ``failed(ticket, exception)`` arrive on the GUI thread for
    the newest load only (``ticket``: what ``start`` returned): one that was cancelled, or that
    a later ``start`` superseded, is dropped when it ends.
    A file read cannot be interrupted, so its thread runs out on its own; a later load does not
    wait for it.
    """

    busy_changed = Signal(bool)
    finished = Signal(int, object)
    failed = Signal(int, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(4)  # a superseded load still reading holds one
        self._ticket = 0
        self._current: int | None = None
        self._jobs: set = set()

    @property
    def busy(self) -> bool:
        """True while the newest load runs (a dropped one still reading does not count)."""
        return self._current is not None

    def start(self, load) -> int:
        """Run ``load()`` on a worker; any load still running is dropped. Returns its ticket."""
        was_busy = self.busy
        self._ticket += 1
        self._current = self._ticket
        job = _Job(self._on_job_done, self._ticket, load)
        self._jobs.add(job.signals)  # keep the signal object alive until it reports
        log.info("worker: load %d started", self._ticket)
        self._pool.start(job)
        if not was_busy:
            self.busy_changed.emit(True)
        return self._ticket

    def cancel(self) -> None:
        """Drop the running load: its result is never reported."""
        if self._current is None:
            return
        log.info("worker: load %d cancelled", self._current)
        self._current = None
        self.busy_changed.emit(False)

    def _on_job_done(self, ticket: int, result, error, elapsed: float) -> None:
        log.info("worker: load %d %s after %.1f ms", ticket,
                 "failed" if error is not None else "finished", elapsed * 1e3)
        self._jobs.discard(self.sender())
        if ticket != self._current:
            log.info("worker: load %d dropped (cancelled or superseded)", ticket)
            return
        self._current = None
        self.busy_changed.emit(False)
        if error is not None:
            self.failed.emit(ticket, error)
        else:
            self.finished.emit(ticket, result)

    def wait(self, msecs: int = -1) -> bool:
        """Block until every load, dropped ones too, has ended (tests, shutdown)."""
        return self._pool.waitForDone(msecs)


class WriteRunner(QObject):
    """Runs ``write()`` (encoding and writing a file of what was painted or computed: no Qt
    objects but images) off the GUI thread, one at a time in the order asked: none is dropped
    or superseded, each is a file the user asked to keep (two saves to one path leave the
    later).

    ``written(path, result)`` or ``failed(path, exception)`` arrive on the GUI thread for
    each. ``wait`` before the window goes: a write still running is finished, not lost.
    """

    busy_changed = Signal(bool)
    written = Signal(object, object)
    failed = Signal(object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._jobs: set = set()
        self._pending = 0

    @property
    def busy(self) -> bool:
        """True while a write runs or waits."""
        return self._pending > 0

    def submit(self, path, write) -> None:
        """Run ``write()``, which writes ``path``, after the writes asked for before."""
        job = _Job(self._on_job_done, path, write)
        self._jobs.add(job.signals)  # keep the signal object alive until it reports
        self._pending += 1
        log.info("worker: write of %s queued", path)
        self._pool.start(job)
        if self._pending == 1:
            self.busy_changed.emit(True)

    def _on_job_done(self, path, result, error, elapsed: float) -> None:
        log.info("worker: write of %s %s after %.1f ms", path,
                 "failed" if error is not None else "finished", elapsed * 1e3)
        self._jobs.discard(self.sender())
        self._pending -= 1
        if self._pending == 0:
            self.busy_changed.emit(False)
        if error is not None:
            self.failed.emit(path, error)
        else:
            self.written.emit(path, result)

    def wait(self, msecs: int = -1) -> bool:
        """Block until every write asked for has ended (tests, shutdown)."""
        return self._pool.waitForDone(msecs)
