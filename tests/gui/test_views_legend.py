"""The States view's legend has a row of its own under the curves and as many columns as its
width holds, whatever the width was when the curves were chosen."""

from __future__ import annotations

import pytest

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
    qtbot.waitUntil(lambda: view.graphics.width() > 600)
    qtbot.wait(20)
    # c[3], h[3], c[20], h[20] on one line under the curves, none over them
    assert view.legend.columnCount >= 4
    rows = {round(label.sceneBoundingRect().center().y()) for _, label in view.legend.items}
    assert len(rows) == 1
    plot_area = view.lines_plot.getViewBox().sceneBoundingRect()
    assert not view.legend.sceneBoundingRect().intersects(plot_area)
