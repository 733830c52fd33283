"""The States view's legend has a row of its own under the curves and as many columns as its
width holds, whatever the width was when the curves were chosen."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont, QFontMetrics

from lstm_viz import LSTMConfig, Session
from lstm_viz_app.panels.states import StatesView

pytestmark = pytest.mark.gui


def test_legend_takes_the_columns_of_the_width_it_is_shown_at(qtbot, show_view):
    # shown while narrow (a tab not shown yet, a small window)
    _, view = show_view(StatesView, Session(LSTMConfig(input_size=3, hidden_size=32)),
                        size=(260, 700))
    view.units_edit.setText("3, 20")
    view.units_edit.editingFinished.emit()
    assert len(view.legend.items) == 4
    view.resize(1280, 800)
    graphics = view.timeline.track("units").graphics
    qtbot.waitUntil(lambda: graphics.width() > 600)
    qtbot.wait(20)
    # c[3], h[3], c[20], h[20] on one line under the curves, none over them
    assert view.legend.columnCount >= 4
    rows = {round(label.sceneBoundingRect().center().y()) for _, label in view.legend.items}
    assert len(rows) == 1
    plot_area = view.lines_plot.getViewBox().sceneBoundingRect()
    assert not view.legend.sceneBoundingRect().intersects(plot_area)


def test_each_colour_bar_spans_its_heatmaps_rows_and_its_end_labels_clear_the_next(
        qtbot, show_view):
    _, view = show_view(StatesView, Session(LSTMConfig(input_size=3, hidden_size=32)))
    qtbot.wait(50)
    line = QFontMetrics(view.c_bar.axis.style["tickFont"] or QFont()).height()
    for heatmap, bar in ((view.c_map, view.c_bar), (view.h_map, view.h_bar)):
        rows = _top_bottom(heatmap.plot.getViewBox())
        gradient = _top_bottom(bar.getViewBox())
        # beside the rows only: not reaching up into the title or down into the time axis
        assert abs(gradient[0] - rows[0]) <= 1.5
        assert abs(gradient[1] - rows[1]) <= 1.5
    # an end label is centred on its end: c's lowest and h's highest are a line apart or more
    gap = _top_bottom(view.h_bar.getViewBox())[0] - _top_bottom(view.c_bar.getViewBox())[1]
    assert gap >= line


def _top_bottom(item) -> tuple[float, float]:
    """``item``'s top and bottom on the screen (each track has a scene of its own)."""
    rect = item.sceneBoundingRect()
    view = item.scene().views()[0]
    return (view.mapToGlobal(view.mapFromScene(rect.topLeft())).y(),
            view.mapToGlobal(view.mapFromScene(rect.bottomLeft())).y())
