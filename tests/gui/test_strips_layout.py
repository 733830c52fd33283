"""The input and prediction strips share the heatmaps' time axis, pixel for pixel."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def _left_edges(plots):
    return [round(p.getViewBox().sceneBoundingRect().left(), 1) for p in plots]


def test_strips_line_up_with_the_heatmaps_after_switching_demos(make_window, wait_traced,
                                                                 qtbot):
    w = make_window()
    for name in ("char_python", "sine"):  # the embedding heatmap first, then lines
        w.documents.open_demo(name)
        wait_traced(w.ctx)
        for title, heat in (("States", "c_map"), ("Gates", None)):
            w.show_view(title)
            view = w.panels[title]
            first = getattr(view, heat).plot if heat else view.heatmaps["i"].plot
            strips = view.strips
            plots = [first, strips.input_plot, strips.pred_plot, strips.loss_plot]
            shown = [p for p in plots if p.isVisible()]
            assert strips.input_plot in shown and (name != "sine" or strips.pred_plot in shown)

            def laid_out(shown=shown):  # every plot placed, all on one left edge
                widths = [p.getViewBox().sceneBoundingRect().width() for p in shown]
                return min(widths) > 10 and len(set(_left_edges(shown))) == 1

            try:
                qtbot.waitUntil(laid_out, timeout=3000)
            except AssertionError:
                pytest.fail(f"{name}, {title}: left edges {_left_edges(shown)}")
            assert strips.input_plot.getViewBox().viewRange()[0] == \
                pytest.approx(first.getViewBox().viewRange()[0])


def _heights(w) -> dict[str, float]:
    """The data area's height of every heatmap and the chosen-units plot, in pixels."""
    states, gates = w.panels["States"], w.panels["Gates"]
    plots = {"c": states.c_map.plot, "h": states.h_map.plot, "units": states.lines_plot}
    plots |= {gate: hm.plot for gate, hm in gates.heatmaps.items()}
    return {name: plot.getViewBox().height() for name, plot in plots.items()}


def test_an_ablation_takes_no_room_from_the_heatmaps(make_window, wait_traced, qtbot):
    from lstm_viz import Ablation
    w = make_window()
    # a forecaster: the strips then draw the original and the edited run
    w.documents.open_demo("sine")
    wait_traced(w.ctx)

    def shown_heights():
        for title in ("Gates", "States"):
            w.show_view(title)
            qtbot.wait(100)
        return _heights(w)

    before = shown_heights()
    assert min(before.values()) > 15
    w.session.seek(40)
    w.session.ablate(Ablation("h", 0, 0, 0, (3,), 0.0, start=40), rerun=False)
    wait_traced(w.ctx)
    assert w.panels["States"].before_lines  # both runs drawn
    after = shown_heights()
    for name, height in before.items():
        assert after[name] >= height - 1, (name, height, after[name])
