"""Heatmaps at any size: honest downsampling, the detail window, the shared unit order, the
colour scale on the colour bar, and each gate's colour bar beside its own row."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz_app.panels.gates import GATES, GatesView
from lstm_viz_app.panels.states import StatesView
from lstm_viz_app.plots import DIVERGING, Bars, Heatmap

pytestmark = pytest.mark.gui


def test_a_single_spike_in_10000_steps_stays_visible_and_the_axis_says_so(qtbot):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    graphics.resize(900, 300)
    hm = Heatmap(graphics.addPlot(), "g", "spike")
    hm.attach_bar(pg.ColorBarItem(colorMap=DIVERGING), "g")
    graphics.show()
    qtbot.waitExposed(graphics)
    data = np.zeros((64, 10_000), dtype=np.float32)
    data[41, 6543] = -0.97
    hm.set_data(data)
    hm.set_window(0, 10_000)
    image = hm.image.image
    width = hm.plot.getViewBox().width()
    assert image.shape[1] <= width < 10_000  # fewer columns than steps: downsampled
    assert image.min() == pytest.approx(-0.97)  # ... and the spike is still there
    assert hm.steps_per_px > 1 and "most extreme value" in hm.downsampling_note()
    # a narrow window shows every step unmerged
    hm.set_window(6500, 6600)
    assert hm.image.image.shape[1] == 100 and hm.steps_per_px == 1


def _host(make_panels, seq_len=600, hidden=6):
    session = Session(LSTMConfig(input_size=3, hidden_size=hidden),
                      InputSpec(seq_len=seq_len, batch_size=1))
    return make_panels(GatesView, StatesView, session=session)


def test_detail_window_is_150_steps_and_follows_the_cursor(make_panels):
    host = _host(make_panels)
    gates, states = host.panels["Gates"], host.panels["States"]
    for view in (gates, states):
        assert view.overview.window == (0, 150)
    host.session.seek(500)
    for hm in (gates.heatmaps["i"], gates.heatmaps["o"], states.c_map):
        x0, x1 = hm.plot.getViewBox().viewRange()[0]
        assert x0 < 500 < x1 and x1 - x0 == pytest.approx(150)
    # the strips share the window
    x0, x1 = gates.strips.input_plot.getViewBox().viewRange()[0]
    assert x0 < 500 < x1
    # resizing from the control changes every heatmap of the view
    gates.controls.window_box.setValue(300)
    x0, x1 = gates.heatmaps["f"].plot.getViewBox().viewRange()[0]
    assert x1 - x0 == pytest.approx(300)
    # dragging the overview's region moves the detail window
    gates.overview.region.setRegion((9.5, 59.5))
    assert gates.heatmaps["g"].plot.getViewBox().viewRange()[0] == pytest.approx([9.5, 59.5])


def test_unit_order_applies_to_every_view_and_shows_on_the_axis(make_panels):
    host = _host(make_panels, seq_len=40)
    gates, states = host.panels["Gates"], host.panels["States"]
    trace = host.session.trace
    c = trace.c[0, 0, :, 0].numpy()
    expected = np.argsort(-trace.c[0, 0].reshape(-1, 6).numpy().var(axis=0), kind="stable")
    gates.controls.order_box.setCurrentIndex(gates.controls.order_box.findData("variance"))
    assert states.display_controls.order_box.currentData() == "variance"  # shared
    for hm in list(gates.heatmaps.values()) + [states.c_map]:
        assert hm.order.tolist() == expected.tolist()
        assert hm.axis.tickStrings([0, 1, 5], 1, 1) == [str(u) for u in expected[[0, 1, 5]]]
        assert "variance" in hm.plot.titleLabel.text
    np.testing.assert_allclose(states.c_map.image.image, c.T[expected], atol=1e-6)
    gate_f = trace.gates[0, 0, :, 0, 1].numpy()
    np.testing.assert_allclose(gates.heatmaps["f"].image.image, gate_f.T[expected], atol=1e-6)
    # the bar charts of the current step follow the same order
    v = host.session.values_at(0, 0, 0, host.session.t)
    np.testing.assert_allclose(states.bars["c"].heights, v["c"][expected], atol=1e-6)
    # hovering reads the unit the row shows, not the row number
    hm = states.c_map
    scene = hm.plot.getViewBox().mapViewToScene(pg.Point(3, 0))
    unit, t, value = hm.lookup(scene)
    assert (unit, t) == (int(expected[0]), 3) and value == pytest.approx(c[3, expected[0]])


def test_colour_scale_toggles_and_the_colour_bar_says_which(qtbot, make_panels):
    host = _host(make_panels, seq_len=40)
    gates = host.panels["Gates"]
    bar = gates.bars["g"]
    gates.timeline.frame("g").set_plot_height(200)  # room along the bar for the scale's name
    qtbot.waitUntil(lambda: gates.heatmaps["g"].plot.getViewBox().height() >= 190)
    assert bar.levels() == (-1.0, 1.0)
    assert bar.getAxis("left").labelText == "g"
    gates.controls.scale_box.setCurrentIndex(gates.controls.scale_box.findData("percentile"))
    g = host.session.trace.gates[0, 0, :, 0, 2].numpy()
    p99 = float(np.percentile(np.abs(g), 99))
    assert bar.levels() == pytest.approx((-p99, p99), rel=1e-5)
    assert "p1–99" in bar.getAxis("left").labelText
    gates.controls.scale_box.setCurrentIndex(gates.controls.scale_box.findData("unit"))
    assert "per unit" in bar.getAxis("left").labelText
    f = host.session.trace.gates[0, 0, :, 0, 1].numpy().T
    stretched = (f - f.min(1, keepdims=True)) / (f.max(1, keepdims=True) - f.min(1,
                                                                              keepdims=True))
    np.testing.assert_allclose(gates.heatmaps["f"].image.image, stretched, atol=1e-5)


def test_each_gate_colour_bar_sits_beside_its_own_row(qtbot, make_panels):
    gates = _host(make_panels, seq_len=40).panels["Gates"]
    gates.resize(1010, 690)  # the Gates tab of a 1280x800 window
    qtbot.wait(50)
    spans = []
    for gate in GATES:
        # each track has a scene of its own: compare where they are on the screen
        vb = _on_screen(gates.heatmaps[gate].plot.getViewBox())
        bar = _on_screen(gates.bars[gate])
        middle = bar.center().y()
        assert vb.top() <= middle <= vb.bottom(), gate
        assert bar.left() >= vb.right()
        spans.append((bar.top(), bar.bottom()))
    for (_, bottom), (top, _) in zip(spans, spans[1:]):
        assert bottom <= top + 1  # no two bars (or their labels' rows) overlap
    expected = {"i": (0, 1), "f": (0, 1), "g": (-1, 1), "o": (0, 1)}
    assert {g: tuple(gates.bars[g].levels()) for g in GATES} == expected


def _on_screen(item) -> QRectF:
    """``item``'s bounding rectangle in global (screen) coordinates."""
    rect = item.sceneBoundingRect()
    view = item.scene().views()[0]
    top_left = view.mapToGlobal(view.mapFromScene(rect.topLeft()))
    return QRectF(QPointF(top_left), rect.size())


def _tinted(region) -> bool:
    brush = region.brush
    return brush.style() != Qt.BrushStyle.NoBrush and brush.color().alpha() > 0


def test_the_overview_tints_the_detail_window_only_when_steps_lie_outside_it(qtbot, show_view):
    # 40 steps under a 150-step detail window: the window is the whole overview
    _, view = show_view(StatesView, Session(LSTMConfig(input_size=3, hidden_size=8),
                                            InputSpec(seq_len=40)))
    overview = view.overview
    assert overview.window == (0, 40)
    assert not _tinted(overview.region)  # its outline only: the bands show their own colours
    assert overview.region.lines[0].pen.color().alpha() > 0
    overview.set_width(10)
    assert _tinted(overview.region)
    overview.set_width(400)
    assert overview.window == (0, 40) and not _tinted(overview.region)


def test_bars_of_more_units_than_pixels_lose_no_unit_and_say_so(qtbot):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    graphics.resize(220, 200)
    bars = Bars(graphics.addPlot(), "i", "i", (0.0, 1.0), "#1e88e5")
    graphics.show()
    qtbot.waitExposed(graphics)
    values = np.full(512, 0.1)
    spikes = [37, 101, 202, 303, 404, 505]
    values[spikes] = 0.9
    bars.set_values(values, focus=-1)
    qtbot.wait(20)
    assert bars.units_per_bar > 1 and "units per bar" in bars.axis.labelText
    np.testing.assert_array_equal(bars.heights, values)  # the values themselves are kept
    image = graphics.grab().toImage()
    vb = bars.plot.getViewBox()
    blue = QColor("#1e88e5")
    for unit in spikes:  # each lone tall bar reaches its height on screen
        p = graphics.mapFromScene(vb.mapViewToScene(QPointF(unit, 0.8)))
        row = [image.pixelColor(x, p.y()) for x in range(p.x() - 1, p.x() + 2)]
        assert any(c == blue for c in row), unit
    values[:] = 0.1
    bars.set_values(values[:16], focus=-1)  # few units: one bar each, nothing to say
    assert bars.units_per_bar == 1 and bars.axis.labelText == ""


def test_colour_bar_labels_have_at_most_five_characters_and_read_as_their_values():
    from lstm_viz_app.plots import bar_ticks
    cases = {(-0.00236, 0.00236): ["-2.4m", "0", "2.4m"], (-5.25, 5.25): ["-5.25", "0", "5.25"],
             (0.0, 1.0): ["0", "0.5", "1"], (-0.542, 0.542): ["-0.54", "0", "0.54"],
             (-52500.0, 52500.0): ["-52k", "0", "52k"], (-1e-12, 1e-12): ["-1p", "0", "1p"]}
    for (lo, hi), want in cases.items():
        ticks = bar_ticks(lo, hi)
        assert [v for v, _ in ticks] == [lo, 0.5 if lo == 0 else 0.0, hi]
        assert [text for _, text in ticks] == want
