"""Figures to files: the one PNG, SVG and PDF writer of every figure the app draws (a view's
``app.figure.Figure``, a timeline's ``app.timeline.figure.TimelineFigure``), each file
written atomically.

A figure has ``view`` (the widget it was laid out from), ``size`` (QSizeF, in that view's
pixels), ``caption`` (a QTextDocument) and ``paint(painter)``. One resolution rule holds on
every device: the figure is painted at the resolution its view was laid out at (the view's
logical dpi, ``layout_dpi``). Font sizes in points then become the pixels they were on screen,
so tick labels (fonts in points) and legends and colour-bar labels (HTML laid out for the
screen) keep the sizes they have next to each other and to the plots. A PNG is the figure
painted ``scale`` times larger (text drawn at that size, not magnified) and says so in its
resolution (``scale`` x the layout dpi: printed, it is the figure's size); a PDF page is the
figure's size at the layout dpi; an SVG is the figure's size in pixels, with the fonts named
so that other programs draw the same widths.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRect, QSize, QSizeF
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontInfo,
    QImage,
    QPageSize,
    QPaintDevice,
    QPainter,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from lstm_viz.formats.atomic import write_bytes

#: dots per inch of a printed figure: how fine a heatmap is drawn in an SVG or PDF
PRINT_DPI = 300
#: the largest side of a PNG Qt can paint
MAX_PNG_SIDE = 32767
_INCH_M = 0.0254


class Paintable(Protocol):
    """What the writers need of a figure."""

    view: QWidget
    size: QSizeF
    caption: QTextDocument

    def paint(self, painter: QPainter) -> None: ...


def layout_dpi(fig: Paintable) -> int:
    """The resolution ``fig`` was laid out at (its view's logical dots per inch), which every
    device it is painted on gets."""
    return max(1, fig.view.logicalDpiX())


def _set_dpi(image: QImage, dpi: float) -> None:
    image.setDotsPerMeterX(round(dpi / _INCH_M))
    image.setDotsPerMeterY(round(dpi / _INCH_M))


def figure_image(fig: Paintable, scale: float = 1.0) -> QImage:
    """``fig`` as an RGB image ``scale`` x its size: text drawn at that scale (not magnified),
    a timeline's heatmaps with ``scale`` x as many pixels."""
    w, h = fig.size.width(), fig.size.height()
    image = QImage(max(1, round(w * scale)), max(1, round(h * scale)),
                   QImage.Format.Format_RGB32)
    dpi = layout_dpi(fig)
    _set_dpi(image, dpi)  # points become the pixels they were on screen
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.scale(scale, scale)
    fig.paint(painter)
    painter.end()
    _set_dpi(image, dpi * scale)  # printed, the image is the figure's size
    return image


def image_bytes(image: QImage, fmt: str = "PNG") -> bytes:
    """``image`` encoded as ``fmt``."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6 takes the format as a str here (its stubs say bytes, which it refuses)
    if not image.save(buf, fmt):  # type: ignore[call-overload]
        raise OSError(f"Qt could not encode a {fmt} image")
    buf.close()
    return bytes(data.data())


def png_size(fig: Paintable, scale: float) -> QSize:
    """The pixels of ``fig``'s PNG at ``scale``; ValueError for a scale that gives none or
    more than Qt can paint."""
    if not scale > 0:
        raise ValueError(f"the PNG scale must be above 0 (got {scale})")
    size = QSize(max(1, round(fig.size.width() * scale)),
                 max(1, round(fig.size.height() * scale)))
    if max(size.width(), size.height()) > MAX_PNG_SIDE:
        raise ValueError(f"a PNG at {scale:g} x would be {size.width()} x {size.height()}"
                         f" pixels, over Qt's {MAX_PNG_SIDE}: choose a smaller scale, or SVG"
                         " or PDF")
    return size


def write_png(image: QImage, path: str | Path) -> Path:
    """``image`` encoded as a PNG and written to ``path``; safe on a worker thread (a QImage
    is reentrant), where encoding a large figure keeps the window answering."""
    return write_bytes(Path(path), image_bytes(image))


def save_png(fig: Paintable, path: str | Path, scale: float = 1.0) -> Path:
    """``fig`` as a PNG of ``scale`` x its size (any scale > 0: 2 for a high-DPI screen or
    print)."""
    png_size(fig, scale)
    return write_png(figure_image(fig, scale), path)


def _description(fig: Paintable) -> str:
    return fig.caption.toPlainText() or "Exported from lstm-viz"


def svg_bytes(fig: Paintable, title: str = "lstm-viz") -> bytes:
    """``fig`` as an SVG the figure's size in pixels: text as <text>, lines as vectors,
    heatmaps as images; its caption as the SVG's description."""
    w, h = round(fig.size.width()), round(fig.size.height())
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buf)
    generator.setResolution(layout_dpi(fig))
    generator.setSize(QSize(w, h))
    generator.setViewBox(QRect(0, 0, w, h))
    generator.setTitle(title)
    generator.setDescription(_description(fig))
    _paint(fig, generator, "SVG")
    buf.close()
    return _portable(bytes(data.data()), w, h)


def save_svg(fig: Paintable, path: str | Path, title: str = "lstm-viz") -> Path:
    """``fig`` as an SVG file (``svg_bytes``)."""
    return write_bytes(Path(path), svg_bytes(fig, title))


def _paint(fig: Paintable, device: QPaintDevice, kind: str) -> None:
    """``fig`` painted onto a vector ``device`` (an SVG generator, a PDF writer); OSError
    where Qt cannot paint on it."""
    painter = QPainter()
    if not painter.begin(device):
        raise OSError(f"Qt could not paint the figure as {kind}")
    fig.paint(painter)
    painter.end()


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


def page_points(fig: Paintable) -> QSizeF:
    """The PDF page of ``fig``, in points: its pixels at the layout dpi."""
    k = 72.0 / layout_dpi(fig)
    return QSizeF(fig.size.width() * k, fig.size.height() * k)


def pdf_bytes(fig: Paintable, title: str = "lstm-viz") -> bytes:
    """``fig`` as a one-page PDF the figure's size, text and lines as vectors, heatmaps as
    images."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setTitle(title)
    writer.setCreator("lstm-viz")
    writer.setResolution(layout_dpi(fig))
    writer.setPageSize(QPageSize(page_points(fig), QPageSize.Unit.Point, "figure"))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    _paint(fig, writer, "PDF")
    buf.close()
    return bytes(data.data())


def save_pdf(fig: Paintable, path: str | Path, title: str = "lstm-viz") -> Path:
    """``fig`` as a PDF file (``pdf_bytes``)."""
    return write_bytes(Path(path), pdf_bytes(fig, title))


def painted(fig: Paintable, fmt: str, title: str = "lstm-viz",
            scale: float = 1.0) -> Callable[[str | Path], Path]:
    """``fig`` painted in ``fmt`` ("png", "svg" or "pdf") now, where Qt paints scenes (the GUI
    thread), and the function that encodes it (a PNG) and writes it to a path when called:
    safe on a worker thread, where a large figure is encoded and written while the window
    goes on. ValueError for an unknown format or a PNG scale Qt cannot paint."""
    fmt = fmt.lower()
    if fmt == "png":
        png_size(fig, scale)  # refused before painting
        image = figure_image(fig, scale)
        return lambda path: write_png(image, path)
    if fmt == "svg":
        data = svg_bytes(fig, title)
    elif fmt == "pdf":
        data = pdf_bytes(fig, title)
    else:
        raise ValueError(f"a figure is written as png, svg or pdf (got {fmt!r})")
    return lambda path: write_bytes(Path(path), data)


def save_figure(fig: Paintable, path: str | Path, fmt: str, title: str = "lstm-viz",
                scale: float = 1.0) -> Path:
    """``fig`` in ``fmt`` ("png", "svg" or "pdf"), written before returning."""
    return painted(fig, fmt, title, scale)(path)
