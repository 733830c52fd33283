"""The status bar: device, time and size of the last trace, the truth badge (the trace against
nn.LSTM's own run), whether the trace is windowed (and which steps it holds), a busy indicator
while a trace runs, and the context's messages."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from lstm_viz.tracing.verification import COMPARED, Verification

#: largest |trace - nn.LSTM| that still counts as a match, for a bare number
TRUTH_TOLERANCE = 1e-4
_TRUTH_TIP = f"Compared: {COMPARED}."


def _verdict(check: Verification) -> tuple[str, str]:
    """The badge's text and colour for a verification."""
    if check.status == "match":
        return f" ✓ matches nn.LSTM (max |Δ| {check:.1e}) ", "#2e7d32"
    if check.status == "within_spread":
        return (f" ≈ within torch's own {check.dtype} spread (max |Δ| {check:.1e}) ",
                "#558b2f")
    worst = check.worst
    where = f" at {worst.place}" if worst.place is not None else ""
    return f" ⚠ differs from nn.LSTM (|Δ| {worst.max_abs_diff:.1e}{where}) ", "#c62828"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def windowed_text(trace, total: int) -> str:
    """"windowed: steps 120 000–120 999 of 200 000 traced in full; overview of all" for a
    windowed trace, '' for a full one."""
    if trace is None or not trace.windowed:
        return ""
    return (f"windowed: steps {trace.start:,}–{trace.stop - 1:,} of {total:,} traced in full;"
            " overview of all").replace(",", "\u2009")


def elide_words(text: str, metrics, width: float) -> str:
    """``text`` if it fits in ``width`` pixels, else as many whole words as fit, then '…'."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    kept = ""
    for word in words:
        candidate = f"{kept} {word}" if kept else word
        if metrics.horizontalAdvance(candidate + " …") > width:
            break
        kept = candidate
    return (kept.rstrip(",;:") + " …") if kept else "…"


def rss_bytes() -> int:
    """Resident memory of this process (peak on platforms without /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        try:
            import resource  # Unix only
        except ImportError:  # Windows: no cheap reading; the status bar shows the trace size
            return 0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class StatusBar(QStatusBar):
    """Reads the context's session and runner; shows the context's messages."""

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.device_label = QLabel()
        self.device_label.setObjectName("status_device")
        self.time_label = QLabel()
        self.time_label.setObjectName("status_time")
        self.memory_label = QLabel()
        self.memory_label.setObjectName("status_memory")
        self.window_label = QLabel()
        self.window_label.setObjectName("status_window")
        self.window_label.setStyleSheet("color: #1565c0;")
        self.window_label.setToolTip(
            "The whole input's trace is over the memory budget: the views hold these steps in"
            " full and an overview (each bucket's min, max and mean) of every step; moving t"
            " past them traces the steps around it")
        self.truth_label = QLabel()
        self.truth_label.setObjectName("status_truth")
        self.truth_label.setToolTip(_TRUTH_TIP)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        # a trace that ends within 150 ms shows no progress bar (no flicker)
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(150)
        self._progress_timer.timeout.connect(self.progress.show)
        for w in (self.progress, self.window_label, self.truth_label, self.device_label,
                  self.time_label, self.memory_label):
            self.addPermanentWidget(w)
        self._message, self._message_timeout = "", 0
        ctx.messages.posted.connect(self.showMessage)
        self.messageChanged.connect(self._on_message_changed)
        ctx.runner.busy_changed.connect(self._on_busy_changed)
        ctx.trace_error_changed.connect(self._on_trace_error_changed)
        ctx.trace_changed.connect(self.refresh)
        ctx.config_changed.connect(self.refresh)
        self.refresh()

    # ----- messages: whole words only, the full text in the tooltip ---------------------
    def showMessage(self, text: str, timeout: int | None = 0) -> None:  # noqa: N802
        timeout = timeout or 0
        self._message = text
        self._message_timeout = timeout
        shown = elide_words(text, self.fontMetrics(), self._message_width())
        super().showMessage(shown, timeout)
        self.setToolTip(text if shown != text else "")

    def _on_message_changed(self, text: str) -> None:
        if not text:  # the message went: so does its full text
            self.setToolTip("")

    def full_message(self) -> str:
        """The message on show, as it was posted (``currentMessage`` may be elided)."""
        return self._message if self.currentMessage() else ""

    def _message_width(self) -> float:
        used = sum(w.sizeHint().width() for w in (self.progress, self.window_label,
                                                  self.truth_label,
                                                  self.device_label, self.time_label,
                                                  self.memory_label) if w.isVisible())
        return max(self.width() - used - 40, 60)

    def resizeEvent(self, event):  # noqa: N802 - Qt override
        super().resizeEvent(event)
        message = self._message
        if message and self.currentMessage():
            shown = elide_words(message, self.fontMetrics(), self._message_width())
            if shown != self.currentMessage():
                super().showMessage(shown, self._message_timeout)
                self.setToolTip(message if shown != message else "")

    def refresh(self) -> None:
        trace = self.session.trace
        self.device_label.setText(f" device: {self.session.device} ")
        if trace is not None:
            self.time_label.setText(f" last trace: {trace.elapsed_s * 1000:.1f} ms ")
            rss = rss_bytes()
            process = f" · process {fmt_bytes(rss)}" if rss else ""
            held = trace.nbytes + (trace.checkpoints.nbytes if trace.checkpoints else 0)
            self.memory_label.setText(f" trace {fmt_bytes(held)}{process} ")
        window = windowed_text(trace, self.session.num_steps)
        self.window_label.setText(f" {window} " if window else "")
        self.window_label.setVisible(bool(window))
        self._show_truth(trace)

    def _show_truth(self, trace) -> None:
        """The truth badge: how far the trace is from the LSTM equations and nn.LSTM's own run
        (``trace.meta["nn_lstm_max_abs_diff"]``: a ``Verification``, or a bare number)."""
        if trace is None or "nn_lstm_max_abs_diff" not in trace.meta:
            self.truth_label.setText("")
            return
        check = trace.meta["nn_lstm_max_abs_diff"]
        tip = _TRUTH_TIP
        if check is None:
            text, colour = " what-if run (no nn.LSTM equivalent) ", "#a15c00"
            tip = "A what-if edit made this run: no nn.LSTM run has that state to compare with"
        elif isinstance(check, Verification):
            text, colour = _verdict(check)
            tip = check.details()
        elif check <= TRUTH_TOLERANCE:
            text, colour = f" ✓ matches nn.LSTM (max |Δ| {check:.1e}) ", "#2e7d32"
        else:
            text, colour = f" ⚠ differs from nn.LSTM (max |Δ| {check:.1e}) ", "#c62828"
        self.truth_label.setText(text)
        self.truth_label.setToolTip(tip)
        self.truth_label.setStyleSheet(f"color: {colour};")

    def _on_busy_changed(self, busy: bool) -> None:
        if busy:
            self._progress_timer.start()
        else:
            self._progress_timer.stop()
            self.progress.hide()

    def _on_trace_error_changed(self, message: str) -> None:
        if message:
            self.showMessage(f"Not traced: {message}", 10000)
