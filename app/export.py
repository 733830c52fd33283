"""Export views as figures (PNG at a chosen scale, SVG and PDF: the plots themselves, with a
caption, all three the same figure), animations of stepping (GIF with the colour maps kept
exact enough to read, or lossless WebP), the data behind them, the check script and the whole
trace streamed chunk by chunk (via ``lstm_viz.formats.export``). The window's export
controller (``app/controllers/export.py``) runs them for the File menu and ``lstm-viz export``.

A figure (``app/figure.py``, or ``app/timeline/figure.py`` for a timeline) is painted with
QPainter onto an image, QSvgGenerator or QPdfWriter by ``app/figure_writers.py``: pyqtgraph's
SVGExporter fails with PySide6 6.11 and later, and this also covers the views that are not
pyqtgraph (shapes, code, text). Every file is written atomically.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QRegion
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lstm_viz import Session
from lstm_viz.formats.atomic import write_bytes
from lstm_viz.formats.export import ExportCancelled, TraceStream, write_animation

from .figure import Figure
from .figure_writers import figure_image, image_bytes, png_size
from .timeline import Timeline
from .timeline.figure import TimelineFigure, timeline_figure
from .timeline.track import plain

if TYPE_CHECKING:
    from .controllers.export import ExportController

IMAGE_FORMATS = ("png", "svg", "pdf")
ALL_FORMATS = ("png", "svg", "pdf", "csv", "npz", "py")
DATA_FORMATS = ("csv", "npz", "json", "py")
_RENDER_FLAGS = QWidget.RenderFlag.DrawWindowBackground | QWidget.RenderFlag.DrawChildren


def view_figure(view, caption: str) -> Figure | TimelineFigure:
    """A view as a figure: its timeline's tracks (``app/timeline/figure.py``), all of them at
    their height, when it shows a timeline; else laid out from its widgets."""
    own = getattr(view, "figure", None)
    if callable(own):
        return own(caption)
    timeline = getattr(view, "timeline", None)
    if isinstance(timeline, Timeline):
        label = getattr(view, "caption", None)
        return timeline_figure(timeline, plain(label.text()) if label is not None else "",
                               caption)
    return Figure(view, caption)


def widget_image(widget: QWidget, scale: float = 1.0) -> QImage:
    """``widget`` rendered at ``scale`` x its size, as on screen."""
    size = widget.size()
    image = QImage(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)),
                   QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing
                           | QPainter.RenderHint.TextAntialiasing)
    painter.scale(scale, scale)
    widget.render(painter, QPoint(), QRegion(QRect(QPoint(), size)), _RENDER_FLAGS)
    painter.end()
    return image


def save_screenshot(widget: QWidget, path, scale: float = 1.0) -> Path:
    """``widget`` as on screen (the whole window, say), as a PNG of ``scale`` x its size."""
    return write_bytes(Path(path), image_bytes(widget_image(widget, scale)))


def settle() -> None:
    """Let the window handle what is pending (a view shown, a trace delivered) before it is
    drawn."""
    for _ in range(3):
        QApplication.processEvents()


# ----- animations ---------------------------------------------------------------------------
def _rgb(image: QImage) -> np.ndarray:
    """(H, W, 3) uint8 copy of ``image``."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return buf.reshape(h, image.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def colour_maps(view: QWidget) -> list[np.ndarray]:
    """The lookup tables (256, 3) uint8 of every colour bar in ``view``'s plots."""
    maps: list[np.ndarray] = []
    for graphics in view.findChildren(pg.GraphicsView):
        for item in graphics.scene().items():
            if isinstance(item, pg.ColorBarItem) and item.isVisible():
                cmap = item.colorMap()
                if cmap is not None:
                    lut = np.asarray(cmap.getLookupTable(nPts=256, alpha=False), np.uint8)
                    if not any(np.array_equal(lut, m) for m in maps):
                        maps.append(lut)
    return maps


def animation_steps(num_steps: int, max_frames: int) -> list[int]:
    """The steps an animation shows: every step, or evenly spaced ones up to ``max_frames``."""
    stride = max(1, int(np.ceil(num_steps / max_frames)))
    return list(range(0, num_steps, stride))


class ExportJob(QObject):
    """An export that runs behind a progress dialog: ``start()``, then ``progress(done,
    total)`` and one of ``finished(path)``, ``failed(message)`` or ``cancelled()``;
    ``cancel()`` stops it."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    #: the progress dialog it runs behind, if any
    dialog: QProgressDialog | None = None

    @property
    def total(self) -> int:
        """The count ``progress`` goes up to."""
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def _report(self, path, error: str) -> None:
        """End with the worker's outcome: a path written, an error, or neither (cancelled)."""
        if path is not None:
            self.finished.emit(path)
        elif error:
            self.failed.emit(error)
        else:
            self.cancelled.emit()


class AnimationExport(ExportJob):
    """Steps the current view through the sequence and writes an animated GIF or WebP.

    Each frame is drawn on the GUI thread between events (one per event-loop turn: Qt paints
    only there); palette reduction, encoding and the atomic write run on a worker thread.
    ``progress(done, total)`` counts frames drawn, then frames encoded; ``finished(path)``,
    ``failed(message)`` or ``cancelled()`` ends it. The view returns to the step it was on.
    """

    _encoded = Signal(object, str)  # from the worker: (path or None, error message)

    def __init__(self, exports: ExportController, path: str | Path, *, max_frames: int = 120,
                 fps: float = 8.0, scale: float = 1.0, parent: QObject | None = None):
        super().__init__(parent or exports)
        self.exports = exports
        self.path = Path(path)
        self.fps, self.scale = fps, scale
        session = self.session = exports.session
        if session.trace is None or session.num_steps == 0:
            raise ValueError("nothing to animate: the session has no trace")
        self.title = exports.current_title()
        self.steps = animation_steps(session.num_steps, max_frames)
        self.start_t = session.t
        self.frames: list[np.ndarray] = []
        self.keep: list[np.ndarray] = []
        self._cancel = threading.Event()
        self._moved = False
        self._worker: threading.Thread | None = None
        self.done = False
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next_frame)
        self._encoded.connect(self._on_encoded)

    @property
    def total(self) -> int:
        return 2 * len(self.steps)

    def start(self) -> None:
        self.keep = colour_maps(self.exports.view(self.title))
        self._timer.start()

    def cancel(self) -> None:
        """Stop: no file is written (an old one is kept); the view returns to its step."""
        if self.done:
            return
        self._cancel.set()
        if self._timer.isActive():
            self._timer.stop()
            self._end()
            self.cancelled.emit()

    def _next_frame(self) -> None:
        """One timer tick: move to the next frame's step, or (on the tick after, once the
        views have had their events) draw it."""
        exports = self.exports
        k = len(self.frames)
        if not self._moved:
            self.session.seek(self.steps[k])
            exports.show_view(self.title)
            self._moved = True
            return
        self._moved = False
        fig = view_figure(exports.view(self.title), exports.caption_text(self.title))
        self.frames.append(_rgb(figure_image(fig, self.scale)))
        self.progress.emit(len(self.frames), self.total)
        if len(self.frames) == len(self.steps):
            self._timer.stop()
            self.session.seek(self.start_t)
            self._worker = threading.Thread(target=self._encode, name="lstm-viz animation",
                                            daemon=True)
            self._worker.start()

    def _encode(self) -> None:  # worker thread
        n = len(self.steps)
        try:
            path = write_animation(
                self.frames, self.path, fps=self.fps, keep=self.keep,
                progress=lambda done, _total: self.progress.emit(n + done, 2 * n),
                cancelled=self._cancel.is_set)
            self._encoded.emit(path, "")
        except ExportCancelled:
            self._encoded.emit(None, "")
        except (OSError, ValueError) as exc:
            self._encoded.emit(None, str(exc))

    def _on_encoded(self, path, error: str) -> None:
        self._end()
        self._report(path, error)

    def _end(self) -> None:
        self.done = True
        self.frames = []
        self.session.seek(self.start_t)

    def wait(self, timeout_s: float = 300.0) -> None:
        """Run the export to its end here (headless use): frames, then the worker."""
        while self._timer.isActive():
            self._timer.stop()  # driven from here: no tick may run inside processEvents
            self._next_frame()
            QApplication.processEvents()
            if not self.done and len(self.frames) < len(self.steps):
                self._timer.start()
        if self._worker is not None:
            self._worker.join(timeout_s)
        settle()


# ----- the whole trace, streamed ------------------------------------------------------------
STREAM_FILE = "trace_stream.npz"
STREAM_LABEL = "Full trace, streamed (NPZ chunks)"


class StreamExport(ExportJob):
    """Writes every step of the session's trace to an NPZ archive chunk by chunk on a worker
    thread (``lstm_viz.formats.export.TraceStream``): a windowed session's whole input, window after
    window, in the memory one window needs. The stream is taken from the session when the
    job is made (on the GUI thread); the views keep their own window meanwhile.
    ``progress(done, total)`` counts steps written; ``finished(path)``, ``failed(message)`` or
    ``cancelled()`` ends it (a cancel leaves no file, and keeps an old one)."""

    _written = Signal(object, str)  # from the worker: (path or None, error message)
    _stepped = Signal(int, int)  # from the worker: progress, passed on on the GUI thread

    def __init__(self, session: Session, path: str | Path, *, chunk_steps: int | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.path = Path(path)
        self.stream: TraceStream | None = TraceStream.from_session(session, chunk_steps)
        self.steps = self.stream.num_steps
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self.done = False
        self._written.connect(self._on_written)
        self._stepped.connect(self.progress.emit)

    @property
    def total(self) -> int:
        return self.steps

    def start(self) -> None:
        self._worker = threading.Thread(target=self._write, name="lstm-viz stream export",
                                        daemon=True)
        self._worker.start()

    def cancel(self) -> None:
        """Stop after the chunk being written: no file is left."""
        self._cancel.set()

    def _write(self) -> None:  # worker thread
        path, error, stream = None, "", self.stream
        try:
            if stream is None:
                raise ValueError("this export has run already")
            path = stream.write(self.path, progress=self._stepped.emit,
                                cancelled=self._cancel.is_set)
        except ExportCancelled:
            pass
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: torch's own
            error = str(exc) or type(exc).__name__
        try:
            self._written.emit(path, error)
        except RuntimeError:  # the window closed under it: nobody to tell (and no file)
            pass

    def _on_written(self, path, error: str) -> None:
        self.done = True
        self.stream = None  # the chunk source holds the session's checkpoints
        self._report(path, error)

    def wait(self, timeout_s: float = 300.0) -> None:
        """Block until the worker is done and its result is delivered (headless use)."""
        if self._worker is not None:
            self._worker.join(timeout_s)
        settle()


FORMAT_LABELS = {"png": "PNG", "svg": "SVG", "pdf": "PDF", "csv": "CSV", "npz": "NPZ",
                 "py": "Code (script + NPZ)"}


class ExportDialog(QDialog):
    """Choose folder, formats and resolution; export the current view or every view."""

    def __init__(self, exports: ExportController, everything: bool,
                 formats: tuple[str, ...] | None = None):
        super().__init__(exports.window)
        self.exports = exports
        self.everything = everything
        self.setWindowTitle("Export everything" if everything else "Export current view")
        self.folder = QLineEdit(str(Path.cwd() / "lstm-viz-export"))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.checks = {f: QCheckBox(FORMAT_LABELS[f]) for f in ALL_FORMATS}
        self.checks["py"].setToolTip("lstm_check.py and lstm_check.npz: a script that needs"
                                     " torch and numpy only and checks the app's numbers")
        chosen = formats if formats is not None else \
            (ALL_FORMATS if everything else ("png", "svg", "csv"))
        for f, box in self.checks.items():
            box.setChecked(f in chosen)
        formats_row = QHBoxLayout()
        for box in self.checks.values():
            formats_row.addWidget(box)
        self.stream = QCheckBox(STREAM_LABEL)
        self.stream.setObjectName("export_stream")
        self.stream.setToolTip(f"{STREAM_FILE}: every step of the trace, also of an input too"
                               " long to hold at once, written chunk by chunk with progress"
                               " (read it back with lstm_viz.formats.export.read_stream)")
        if exports.session.windowed:
            self.stream.setText(f"{STREAM_LABEL}: every step, not only the window")
        self._figure: Figure | TimelineFigure | None = None  # made when first needed
        self.scale = QSpinBox()
        self.scale.setRange(1, 4)
        self.scale.setSuffix(" ×")
        self.scale.valueChanged.connect(self._show_size)
        self.size_label = QLabel()
        form = QFormLayout(self)
        form.addRow("folder", row)
        form.addRow("formats", formats_row)
        form.addRow("", self.stream)
        form.addRow("PNG resolution", self.scale)
        form.addRow("", self.size_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._export)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._show_size()

    def _show_size(self) -> None:
        """The PNG's pixels at the chosen scale: the current view's figure, painted larger."""
        if self._figure is None:
            self._figure = self.exports.figure(self.exports.current_title())
        scale = self.scale.value()
        try:
            size = png_size(self._figure, scale)
        except ValueError as exc:
            self.size_label.setText(str(exc))
            return
        dpi = round(self._figure.view.logicalDpiX() * scale)
        self.size_label.setText(f"{size.width()} × {size.height()} pixels (the figure at"
                                f" {scale} ×, {dpi} dpi)")
        self.size_label.setAlignment(Qt.AlignmentFlag.AlignLeft)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _export(self) -> None:
        formats = [f for f, box in self.checks.items() if box.isChecked()]
        exports = self.exports
        titles = None if self.everything else [exports.current_title()]
        try:
            written = exports.export_views(self.folder.text(), formats, titles=titles,
                                           scale=self.scale.value(),
                                           include_window=self.everything)
            if self.stream.isChecked():  # last: it goes on behind its progress dialog
                exports.start_stream_export(Path(self.folder.text()) / STREAM_FILE)
        except (OSError, ValueError) as exc:
            exports.post(f"Export failed: {exc}", 10000)
            return
        if not self.stream.isChecked():
            exports.post(f"Exported {len(written)} files to {self.folder.text()}", 8000)
        self.accept()
