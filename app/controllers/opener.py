"""Reading a file off the GUI thread: a progress dialog with Cancel, and the newest read wins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QWidget

from ..workers import LoadRunner

#: what a read hands back: ``use(result)``, ``failed(exception)``, ``cancelled()``
Use = Callable[[Any], Any]
Failed = Callable[[BaseException], Any]
Post = Callable[[str, int], None]


class Opener(QObject):
    """Runs the loads of File > Open… on a worker, with a progress dialog and Cancel.

    ``start`` hands ``load()`` (read, parse, check and build: no Qt objects) to a
    ``LoadRunner``; on the GUI thread, ``use(result)`` installs what it made, or
    ``failed(exception)`` says why not. Only the newest load is used: Cancel, or a later open,
    drops the one running, which then installs nothing.
    """

    #: milliseconds before the progress dialog shows (a quick load does not flash one)
    SHOW_AFTER_MS = 300

    def __init__(self, window: QWidget, post: Post):
        super().__init__(window)
        self.setObjectName("opener")
        self._post = post
        self.runner = LoadRunner(self)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.progress: QProgressDialog | None = None
        # (use, failed, cancelled) of the running load
        self._then: tuple[Use, Failed, Callable[[], Any] | None] | None = None
        self._ticket = 0  # the running load's
        self._label = ""

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def start(self, label: str, load: Callable[[], Any], use: Use, failed: Failed,
              cancelled: Callable[[], Any] | None = None) -> None:
        """Run ``load()`` on the worker; then ``use(result)`` or ``failed(exception)`` here;
        ``cancelled()`` if the user cancels it. A load already running is dropped."""
        self._close_progress()
        self._then = (use, failed, cancelled)
        self._label = label
        dialog = QProgressDialog(label, "Cancel", 0, 0, cast(QWidget, self.parent()))
        dialog.setObjectName("open_progress")
        dialog.setWindowTitle("Opening")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(self.SHOW_AFTER_MS)
        dialog.canceled.connect(self.cancel)
        self.progress = dialog
        QTimer.singleShot(self.SHOW_AFTER_MS, dialog, lambda: self._show(dialog))
        self._post(label, 4000)
        self._ticket = self.runner.start(load)

    def _show(self, dialog: QProgressDialog) -> None:
        if dialog is self.progress and self.runner.busy:
            dialog.show()

    def cancel(self) -> None:
        """Drop the running load (nothing it read is installed)."""
        if not self.runner.busy:
            return
        self.runner.cancel()
        self._close_progress()
        then, self._then = self._then, None
        self._post(f"Cancelled: {self._label.rstrip('…')}", 6000)
        if then is not None and then[2] is not None:
            then[2]()

    def _close_progress(self) -> None:
        dialog, self.progress = self.progress, None
        if dialog is not None:
            dialog.canceled.disconnect(self.cancel)
            dialog.close()
            dialog.deleteLater()

    def _on_finished(self, ticket: int, result: object) -> None:
        self._deliver(ticket, 0, result)

    def _on_failed(self, ticket: int, exc: object) -> None:
        self._deliver(ticket, 1, exc)

    def _deliver(self, ticket: int, outcome: int, value: Any) -> None:
        """The newest load ended: close its progress and hand ``value`` to its callback for
        that ``outcome`` (0 finished, 1 failed); an older load's end is dropped."""
        if ticket == self._ticket:
            self._close_progress()
            then, self._then = self._then, None
            if then is not None:
                use, failed, _ = then
                (failed if outcome else use)(value)
