"""Export views as PNG (at a chosen scale) and SVG, an animated GIF of stepping, and the data
behind them (via ``lstm_viz.export``). Used by the File menu and by ``lstm-viz export``.

SVG is rendered through QSvgGenerator + QPainter: pyqtgraph's SVGExporter fails with
PySide6 6.12 (pyqtgraph issue #3485), and this also covers non-pyqtgraph views (shapes, code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QRegion
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
    QPushButton,
    QSpinBox,
    QWidget,
)

from lstm_viz.export import export_data

IMAGE_FORMATS = ("png", "svg")
ALL_FORMATS = ("png", "svg", "csv", "npz")
_RENDER_FLAGS = QWidget.RenderFlag.DrawWindowBackground | QWidget.RenderFlag.DrawChildren


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")


def widget_image(widget: QWidget, scale: float = 1.0) -> QImage:
    """``widget`` rendered at ``scale`` x its size (vector items stay sharp)."""
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


def save_png(widget: QWidget, path, scale: float = 1.0) -> Path:
    path = Path(path)
    if not widget_image(widget, scale).save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def save_svg(widget: QWidget, path, title: str = "lstm-viz") -> Path:
    """``widget`` as an SVG file (text and lines as vectors, heatmaps as embedded images)."""
    path = Path(path)
    size = widget.size()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(size.width(), size.height()))
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    generator.setDescription("Exported from lstm-viz")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"could not write {path}")
    widget.render(painter, QPoint(), QRegion(QRect(QPoint(), size)), _RENDER_FLAGS)
    painter.end()
    return path


def _settle() -> None:
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()


def export_views(window, out_dir, formats=ALL_FORMATS, *, titles=None, scale: float = 1.0,
                 include_window: bool = True) -> list[Path]:
    """Write the chosen views (default: all) and the data behind them into ``out_dir``."""
    formats = {f.lower() for f in formats}
    unknown = formats - set(ALL_FORMATS) - {"json"}
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))};"
                         f" choose from {', '.join(ALL_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    current = window.tabs.currentIndex()
    views = window.views
    for title in titles or list(views):
        window.show_view(title)
        _settle()
        widget = views[title]
        if "png" in formats:
            written.append(save_png(widget, out / f"{_slug(title)}.png", scale))
        if "svg" in formats:
            written.append(save_svg(widget, out / f"{_slug(title)}.svg", title))
        if title == "Code" and formats & {"csv", "npz"}:
            path = out / "lstm_code.py"
            path.write_text(widget.code())
            written.append(path)
    window.tabs.setCurrentIndex(current)
    _settle()
    if include_window and "png" in formats:
        written.append(save_png(window, out / "window.png", scale))
    data = formats & {"csv", "npz", "json"}
    if data:
        ctx = window.ctx
        written += export_data(window.session, out, data, layer=ctx.layer,
                               direction=ctx.direction, batch=ctx.batch)
    return written


def _to_pil(image: QImage):
    from PIL import Image
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = image.width(), image.height()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    arr = buf.reshape(h, image.bytesPerLine())[:, : w * 4].reshape(h, w, 4)
    return Image.fromarray(arr[:, :, :3].copy(), "RGB")


def export_gif(window, path, *, max_frames: int = 120, fps: float = 8.0,
               scale: float = 0.75) -> Path:
    """An animated GIF of the current view stepping through the sequence."""
    session = window.session
    widget = window.tabs.currentWidget()
    n = session.num_steps
    if n == 0:
        raise ValueError("nothing to animate: the session has no trace")
    stride = max(1, int(np.ceil(n / max_frames)))
    start = session.t
    frames = []
    for t in range(0, n, stride):
        session.seek(t)
        _settle()
        frames.append(_to_pil(widget_image(widget, scale)).convert(
            "P", palette=1, colors=128))  # palette=1: Image.Palette.ADAPTIVE
    session.seek(start)
    path = Path(path)
    frames[0].save(path, save_all=True, append_images=frames[1:], loop=0,
                   duration=max(20, int(1000 / fps)), optimize=False)
    return path


class ExportDialog(QDialog):
    """Choose folder, formats and resolution; export the current view or every view."""

    def __init__(self, window, everything: bool):
        super().__init__(window)
        self.window_ = window
        self.everything = everything
        self.setWindowTitle("Export everything" if everything else "Export current view")
        self.folder = QLineEdit(str(Path.cwd() / "lstm-viz-export"))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.checks = {f: QCheckBox(f.upper()) for f in ALL_FORMATS}
        for f, box in self.checks.items():
            box.setChecked(f in ("png", "csv") or everything)
        formats = QHBoxLayout()
        for box in self.checks.values():
            formats.addWidget(box)
        self.scale = QSpinBox()
        self.scale.setRange(1, 4)
        self.scale.setSuffix(" ×")
        self.scale.valueChanged.connect(self._show_size)
        self.size_label = QLabel()
        form = QFormLayout(self)
        form.addRow("folder", row)
        form.addRow("formats", formats)
        form.addRow("PNG resolution", self.scale)
        form.addRow("", self.size_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._export)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._show_size()

    def _show_size(self) -> None:
        size = self.window_.tabs.currentWidget().size() * self.scale.value()
        self.size_label.setText(f"{size.width()} × {size.height()} pixels")
        self.size_label.setAlignment(Qt.AlignmentFlag.AlignLeft)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _export(self) -> None:
        formats = [f for f, box in self.checks.items() if box.isChecked()]
        window = self.window_
        titles = None if self.everything else [window.tabs.tabText(window.tabs.currentIndex())]
        try:
            written = export_views(window, self.folder.text(), formats, titles=titles,
                                   scale=self.scale.value(), include_window=self.everything)
        except (OSError, ValueError) as exc:
            window.ctx.post(f"Export failed: {exc}", 10000)
            return
        window.ctx.post(f"Exported {len(written)} files to {self.folder.text()}", 8000)
        self.accept()
