"""The status bar: device, time and size of the last trace, the truth badge (the trace against
nn.LSTM's own run), a busy indicator while a trace runs, and the context's messages."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

#: largest |trace - nn.LSTM| (output, h_n, c_n) that still counts as a match
TRUTH_TOLERANCE = 1e-4


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


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
        self.truth_label = QLabel()
        self.truth_label.setObjectName("status_truth")
        self.truth_label.setToolTip("The trace's output, h_n and c_n compared with torch's own"
                                    " nn.LSTM run on the same input")
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
        for w in (self.progress, self.truth_label, self.device_label, self.time_label,
                  self.memory_label):
            self.addPermanentWidget(w)
        ctx.message_posted.connect(self.showMessage)
        ctx.runner.busy_changed.connect(self._on_busy_changed)
        ctx.trace_error_changed.connect(self._on_trace_error_changed)
        ctx.trace_changed.connect(self.refresh)
        ctx.config_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        trace = self.session.trace
        self.device_label.setText(f" device: {self.session.device} ")
        if trace is not None:
            self.time_label.setText(f" last trace: {trace.elapsed_s * 1000:.1f} ms ")
            rss = rss_bytes()
            process = f" · process {fmt_bytes(rss)}" if rss else ""
            held = trace.nbytes + (trace.checkpoints.nbytes if trace.checkpoints else 0)
            window = (f" · windowed: steps {trace.start}-{trace.stop - 1} of"
                      f" {self.session.num_steps}" if trace.windowed else "")
            self.memory_label.setText(f" trace {fmt_bytes(held)}{window}{process} ")
        self._show_truth(trace)

    def _show_truth(self, trace) -> None:
        """The truth badge: how far the trace is from nn.LSTM's own run (``trace.meta``)."""
        if trace is None or "nn_lstm_max_abs_diff" not in trace.meta:
            self.truth_label.setText("")
            return
        diff = trace.meta["nn_lstm_max_abs_diff"]
        if diff is None:
            text, colour = " what-if run (no nn.LSTM equivalent) ", "#a15c00"
        elif diff <= TRUTH_TOLERANCE:
            text, colour = f" ✓ matches nn.LSTM (max |Δ| {diff:.1e}) ", "#2e7d32"
        else:
            text, colour = f" ⚠ differs from nn.LSTM (max |Δ| {diff:.1e}) ", "#c62828"
        self.truth_label.setText(text)
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
