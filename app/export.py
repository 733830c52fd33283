"""Export views as figures (SVG and PDF: the plots themselves, with a caption; PNG: the view as
on screen, at a chosen scale), animations of stepping (GIF with the colour maps kept exact
enough to read, or lossless WebP), the data behind them, the check script and the whole trace
streamed chunk by chunk (via ``lstm_viz.formats.export``). The window's export
controller (``app/controllers/export.py``) runs them for the File menu and ``lstm-viz export``.

SVG and PDF are painted with QPainter onto QSvgGenerator / QPdfWriter (``app/figure.py``):
pyqtgraph's SVGExporter fails with PySide6 6.11 and later, and this also covers the views
that are not pyqtgraph (shapes, code, text). Every file is written atomically.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMarginsF,
    QObject,
    QPoint,
    QRect,
    QSize,
    QSizeF,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontInfo, QImage, QPageSize, QPainter, QPdfWriter, QRegion
from PySide6.QtSvg import QSvgGenerator
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
from .timeline import Timeline
from .timeline.figure import TimelineFigure, timeline_figure
from .timeline.track import plain

if TYPE_CHECKING:
    from .controllers.export import ExportController

IMAGE_FORMATS = ("png", "svg", "pdf")
ALL_FORMATS = ("png", "svg", "pdf", "csv", "npz", "py")
DATA_FORMATS = ("csv", "npz", "json", "py")
_RENDER_FLAGS = QWidget.RenderFlag.DrawWindowBackground | QWidget.RenderFlag.DrawChildren


def view_figure(view, caption: str):
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


def figure_image(fig: Figure, scale: float = 1.0) -> QImage:
    """``fig`` as an RGB image, ``scale`` x its size."""
    w, h = fig.size.width(), fig.size.height()
    image = QImage(max(1, round(w * scale)), max(1, round(h * scale)),
                   QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.scale(scale, scale)
    fig.paint(painter)
    painter.end()
    return image


def _image_bytes(image: QImage, fmt: str = "PNG") -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6 takes the format as a str here (its stubs say bytes, which it refuses)
    if not image.save(buf, fmt):  # type: ignore[call-overload]
        raise OSError(f"Qt could not encode a {fmt} image")
    buf.close()
    return bytes(data.data())


def save_png(widget: QWidget, path, scale: float = 1.0) -> Path:
    """``widget`` as on screen, as a PNG of ``scale`` x its size."""
    return write_bytes(Path(path), _image_bytes(widget_image(widget, scale)))


def _as_figure(view, caption: str) -> Figure | TimelineFigure:
    return view if isinstance(view, (Figure, TimelineFigure)) else Figure(view, caption)


def save_svg(view, path, title: str = "lstm-viz", caption: str = "") -> Path:
    """A view (or a Figure) as an SVG figure: text and lines as vectors, heatmaps as images."""
    fig = _as_figure(view, caption)
    w, h = round(fig.size.width()), round(fig.size.height())
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buf)
    # the resolution the view was laid out at: font sizes in pt become the same pixels
    generator.setResolution(fig.view.logicalDpiX())
    generator.setSize(QSize(w, h))
    generator.setViewBox(QRect(0, 0, w, h))
    generator.setTitle(title)
    generator.setDescription(caption or "Exported from lstm-viz")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"could not write {path}")
    fig.paint(painter)
    painter.end()
    buf.close()
    return write_bytes(Path(path), _portable(bytes(data.data()), w, h))


def _portable(svg: bytes, width: int, height: int) -> bytes:
    """The SVG as other programs should read it: its size in pixels (Qt writes millimetres,
    which readers convert at 90 or 96 dpi), and the fonts Qt actually drew with, with a
    generic family after them (Qt writes its own aliases, "Sans Serif", which other programs
    replace by a font of other widths, so the text no longer fits its place)."""
    text = svg.decode("utf-8")
    text = re.sub(r'<svg width="[^"]*" height="[^"]*"',
                  f'<svg width="{width}" height="{height}"', text, count=1)

    def family(match: re.Match) -> str:
        info = QFontInfo(QFont(match.group(1)))
        generic = "monospace" if info.fixedPitch() else "sans-serif"
        names = dict.fromkeys([info.family(), match.group(1)])
        return "font-family=\"" + ", ".join(f"'{n}'" for n in names) + f", {generic}\""

    return re.sub(r'font-family="([^"]*)"', family, text).encode("utf-8")


def save_pdf(view, path, title: str = "lstm-viz", caption: str = "") -> Path:
    """A view (or a Figure) as a one-page PDF the figure's size, text and lines as vectors."""
    fig = _as_figure(view, caption)
    dpi = fig.view.logicalDpiX()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setTitle(title)
    writer.setCreator("lstm-viz")
    writer.setResolution(dpi)
    points = QSizeF(fig.size.width() * 72.0 / dpi, fig.size.height() * 72.0 / dpi)
    writer.setPageSize(QPageSize(points, QPageSize.Unit.Point, "figure"))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"could not write {path}")
    fig.paint(painter)
    painter.end()
    buf.close()
    return write_bytes(Path(path), bytes(data.data()))


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
        size = self.exports.view(self.exports.current_title()).size() * self.scale.value()
        self.size_label.setText(f"{size.width()} × {size.height()} pixels")
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
