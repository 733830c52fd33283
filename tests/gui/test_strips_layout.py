"""The input and prediction strips share the heatmaps' time axis, pixel for pixel."""

from __future__ import annotations

import pytest

from lstm_viz_app.file_menu import open_demo

pytestmark = pytest.mark.gui


def _left_edges(plots):
    return [round(p.getViewBox().sceneBoundingRect().left(), 1) for p in plots]


def test_strips_line_up_with_the_heatmaps_after_switching_demos(make_window, wait_traced,
                                                                 qtbot):
    w = make_window()
    for name in ("char_python", "sine"):  # the embedding heatmap first, then lines
        open_demo(w, name)
        wait_traced(w.ctx)
        for title, heat in (("States", "c_map"), ("Gates", None)):
            w.show_view(title)
            view = w.panels[title]
            first = getattr(view, heat).plot if heat else view.heatmaps["i"].plot
            strips = view.strips
            plots = [first, strips.input_plot, strips.pred_plot, strips.loss_plot]
            vb = first.getViewBox()
            qtbot.waitUntil(lambda vb=vb: vb.sceneBoundingRect().width() > 10)
            edges = _left_edges(plots)
            assert len(set(edges)) == 1, (name, title, edges)
            assert strips.input_plot.getViewBox().viewRange()[0] == \
                pytest.approx(first.getViewBox().viewRange()[0])
