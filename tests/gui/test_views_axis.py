"""The unit axes of the heatmaps and bar charts stay readable from 4 to 1024 units at any zoom:
whole-unit ticks only, labels that never touch, and the unit each row shows when the rows are
reordered."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter, QTextDocumentFragment

from lstm_viz_app.plots import Bars, Heatmap, short_title

pytestmark = pytest.mark.gui


def drawn_labels(axis: pg.AxisItem) -> list[tuple]:
    """(rect, text) of every tick label the axis paints now."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _, text in texts]


def assert_readable(labels: list[tuple], vertical: bool, line: int) -> None:
    """Labels are whole numbers, 1.25 lines apart (vertical) or 4 px clear (horizontal)."""
    assert labels, "no tick label at all"
    for _, text in labels:
        assert text.lstrip("-").isdigit(), text
    if vertical:
        centres = sorted(rect.center().y() for rect, _ in labels)
        gaps = np.diff(centres)
        assert (gaps >= 1.25 * line).all(), f"labels {gaps.min():.1f} px apart: {labels}"
    else:
        rects = sorted((rect for rect, _ in labels), key=lambda r: r.left())
        for a, b in zip(rects, rects[1:]):
            assert b.left() - a.right() >= 4, f"labels touch: {[t for _, t in labels]}"


def heatmap(qtbot, units: int, height: int, order=None):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    graphics.resize(600, height)
    hm = Heatmap(graphics.addPlot(), "g", "units")
    hm.graphics = graphics  # the widget lives as long as the heatmap the test holds
    graphics.show()
    qtbot.waitExposed(graphics)
    hm.set_data(np.zeros((units, 50), dtype=np.float32))
    if order is not None:
        hm.set_order(order, "by variance")
    qtbot.waitUntil(lambda: hm.plot.getViewBox().height() > 20)
    return hm


@pytest.mark.parametrize("units", [4, 24, 128, 512, 1024])
@pytest.mark.parametrize("height", [110, 400])
def test_heatmap_unit_ticks_thin_out_at_any_unit_count(qtbot, units, height):
    hm = heatmap(qtbot, units, height)
    line = QFontMetrics(hm.axis.style["tickFont"] or QFont()).height()
    labels = drawn_labels(hm.axis)
    assert_readable(labels, vertical=True, line=line)
    # the first unit is always named, and no label names a row that does not exist
    values = [int(text) for _, text in labels]
    assert 0 in values and max(values) < units


@pytest.mark.parametrize("rows", [(500, 530), (1000, 1023), (0, 3), (200, 600)])
def test_heatmap_unit_ticks_follow_the_zoom(qtbot, rows):
    hm = heatmap(qtbot, 1024, 180)
    hm.plot.getViewBox().setYRange(rows[0] - 0.5, rows[1] + 0.5, padding=0)
    qtbot.wait(10)
    line = QFontMetrics(QFont()).height()
    labels = drawn_labels(hm.axis)
    assert_readable(labels, vertical=True, line=line)
    values = [int(text) for _, text in labels]
    assert all(rows[0] <= v <= rows[1] for v in values)
    if rows[1] - rows[0] <= 3:  # zoomed in to a few rows: every row is named
        assert values == list(range(rows[0], rows[1] + 1))


def test_reordered_rows_are_labelled_with_the_unit_they_show(qtbot):
    order = np.random.default_rng(0).permutation(256)
    hm = heatmap(qtbot, 256, 400, order=order)
    labels = drawn_labels(hm.axis)
    for rect, text in labels:
        row = int(round(hm.plot.getViewBox().mapSceneToView(
            hm.axis.mapToScene(rect.center())).y()))
        assert int(text) == order[row]
    assert "rows by variance" in hm.plot.titleLabel.text  # the rows are said to be permuted


@pytest.mark.parametrize("units", [6, 32, 128, 512, 1024])
def test_bar_chart_unit_ticks_never_touch(qtbot, units):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    graphics.resize(190, 150)  # one of the six bar charts of the States view at 1280x800
    bars = Bars(graphics.addPlot(), "i", "i", (0.0, 1.0), "#1e88e5")
    graphics.show()
    qtbot.waitExposed(graphics)
    bars.set_values(np.linspace(0, 1, units), 0)
    qtbot.waitUntil(lambda: bars.plot.getViewBox().width() > 20)
    assert_readable(drawn_labels(bars.axis), vertical=False, line=0)


def test_short_titles_drop_the_explanation_only():
    assert short_title("c: cell state (colour symmetric around 0)") == "c: cell state"
    assert short_title("i: input gate, σ(…) ∈ (0, 1): how much of g enters c") == \
        "i: input gate, σ(…) ∈ (0, 1)"
    assert short_title("h: hidden state = o * tanh(c)") == "h: hidden state = o * tanh(c)"


@pytest.mark.parametrize("width", [420, 700, 1600])
def test_a_heatmap_title_fits_its_plot_and_keeps_what_the_rows_are(qtbot, width):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    graphics.resize(width, 140)
    title = "i: input gate, σ(…) ∈ (0, 1): how much of g enters c"
    hm = Heatmap(graphics.addPlot(), "i", title)
    graphics.show()
    qtbot.waitExposed(graphics)
    hm.set_data(np.zeros((1024, 50), dtype=np.float32))
    hm.set_order(np.arange(1024)[::-1], "by variance")
    qtbot.waitUntil(lambda: hm.rows_per_px > 1)
    shown = QTextDocumentFragment.fromHtml(hm.plot.titleLabel.text).toPlainText()
    font = QFont()
    font.setPointSizeF(9)
    assert QFontMetrics(font).horizontalAdvance(shown) <= hm.plot.width()
    assert shown.startswith("i: input gate")
    if width >= 700:  # room for the order and the downsampling, the explanation if it fits
        assert "rows by variance" in shown and "units/px" in shown
    if width >= 1600:
        assert shown.startswith(title)


@pytest.mark.parametrize("height", [130, 600])
def test_the_unit_axis_label_is_never_longer_than_the_rows_are_tall(qtbot, height):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    graphics.resize(500, height)
    hm = Heatmap(graphics.addPlot(), "c", "c", y_label="c unit (hidden_size 24)")
    graphics.show()
    qtbot.waitExposed(graphics)
    hm.set_data(np.zeros((24, 50), dtype=np.float32))
    vb = hm.plot.getViewBox()
    qtbot.waitUntil(lambda: vb.height() > 20)
    label = hm.axis.labelText
    font = QFont()
    font.setPointSizeF(8)
    assert QFontMetrics(font).horizontalAdvance(label) <= vb.height()
    assert label == ("c unit (hidden_size 24)" if height > 300 else "c unit")
