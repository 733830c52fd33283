"""The status bar's messages: any part of the window may post one; the status bar shows it."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class Messages(QObject):
    """A message channel: ``post(text, timeout_ms)`` emits ``posted(text, timeout_ms)``."""

    posted = Signal(str, int)

    def post(self, text: str, timeout_ms: int = 4000) -> None:
        """Show ``text`` in the status bar for ``timeout_ms`` milliseconds."""
        self.posted.emit(text, timeout_ms)
