"""The Influence view against lstm_viz.influence and torch, and ablation from the views."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from lstm_viz import Ablation, LSTMConfig, Session, influence
from lstm_viz_app.ablation_menu import AblationDialog, ablation_menu
from lstm_viz_app.panels.gates import GatesView
from lstm_viz_app.panels.influence import InfluenceView
from lstm_viz_app.panels.states import StatesView
from lstm_viz_app.panels.units import UnitsView

pytestmark = pytest.mark.gui


def _session(**kw) -> Session:
    cfg = LSTMConfig(**({"input_size": 3, "hidden_size": 6, "num_layers": 2} | kw))
    return Session(cfg, dtype=torch.float64)


def _wait_result(qtbot, view, **want):
    def ready():
        r = view.result
        return r is not None and all(getattr(r, k) == v for k, v in want.items()) \
            and view._latest is not None and view.runner.busy is False
    qtbot.waitUntil(ready, timeout=15000)
    return view.result


def _expected(session, ctx, state="h"):
    return influence(session.lstm, session.input, layer=ctx.layer, direction=ctx.direction,
                     t=session.t, unit=ctx.unit, batch=ctx.batch, state=state)


def test_view_shows_the_gradients_of_the_focus_unit_at_the_cursor(qtbot, make_panels):
    host = make_panels(InfluenceView, session=_session(bidirectional=True))
    ctx, session, view = host.ctx, host.session, host.panels["Influence"]
    ctx.select(layer=1, direction=1, unit=4)
    session.seek(5)
    inf = _wait_result(qtbot, view, t=5, unit=4, layer=1, direction=1)
    want = _expected(session, ctx)
    np.testing.assert_allclose(view.maps["dx"].data, want.x[:, 0].numpy().T, atol=1e-12)
    np.testing.assert_allclose(view.maps["dc"].data, want.c[1, 1, :, 0].numpy().T, atol=1e-12)
    np.testing.assert_allclose(view.maps["dh"].data, want.h[1, 1, :, 0].numpy().T, atol=1e-12)
    # and the gradient w.r.t. x is torch autograd's through nn.LSTM itself
    x = session.input_tm.clone().requires_grad_(True)
    out, _ = session.lstm(x)
    out[5, 0, session.config.hidden_size + 4].backward()
    np.testing.assert_allclose(view.maps["dx"].data, x.grad[:, 0].numpy().T, atol=1e-10)
    _, norms = view.norm_lines["x"].getOriginalDataset()
    np.testing.assert_allclose(norms, np.linalg.norm(x.grad[:, 0].numpy(), axis=1), rtol=1e-9)
    assert inf.value == pytest.approx(float(out[5, 0, 10].detach()))


def test_view_recomputes_when_the_cursor_the_unit_or_the_target_changes(qtbot, make_panels):
    host = make_panels(InfluenceView, session=_session())
    ctx, session, view = host.ctx, host.session, host.panels["Influence"]
    _wait_result(qtbot, view, t=0, unit=0)
    session.seek(7)
    _wait_result(qtbot, view, t=7, unit=0)
    ctx.select(unit=3)
    _wait_result(qtbot, view, t=7, unit=3, state="h")
    view.target.setCurrentIndex(view.target.findData("c"))
    inf = _wait_result(qtbot, view, t=7, unit=3, state="c")
    want = _expected(session, ctx, "c")
    np.testing.assert_allclose(view.maps["dc"].data, want.c[0, 0, :, 0].numpy().T, atol=1e-12)
    # ∏f from s to the cursor, from the trace's own forget gates
    f = session.trace.gates[0, 0, :, 0, 1, 3].double().numpy()
    np.testing.assert_allclose(view.forget[:7], [np.prod(f[s + 1:8]) for s in range(7)])
    assert view.forget[7] == 1.0 and np.isnan(view.forget[8:]).all()
    assert inf.unit == 3


def test_view_survives_config_changes(qtbot, make_panels, wait_traced):
    host = make_panels(InfluenceView, session=_session())
    ctx, session, view = host.ctx, host.session, host.panels["Influence"]
    ctx.select(layer=1, unit=5)
    session.seek(9)
    _wait_result(qtbot, view, unit=5, t=9, layer=1)
    session.set_config(LSTMConfig(input_size=2, hidden_size=3, num_layers=1))
    wait_traced(ctx)
    inf = _wait_result(qtbot, view, layer=0, unit=2)
    assert inf.config == session.config
    assert view.maps["dc"].data.shape == (3, session.num_steps)
    np.testing.assert_allclose(view.maps["dx"].data, _expected(session, ctx).x[:, 0].numpy().T,
                               atol=1e-12)


def test_an_over_budget_map_is_refused_with_the_engine_message(qtbot, make_panels):
    session = _session()
    host = make_panels(InfluenceView, session=session)
    view = host.panels["Influence"]
    _wait_result(qtbot, view)
    session.memory_budget = 1000
    view.recompute()
    assert "over the memory budget" in view.status.text()


def test_right_click_in_states_zeroes_a_unit_and_the_difference_shows_it(
        qtbot, make_panels, wait_traced):
    host = make_panels(StatesView, InfluenceView, session=_session())
    ctx, session = host.ctx, host.session
    states, view = host.panels["States"], host.panels["Influence"]
    states.resize(1000, 700)
    qtbot.wait(50)
    before = session.trace
    # a right click on row 2, step 4 of the c heatmap
    vb = states.c_map.plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(4, 2))
    graphics = states.timeline.track("c").graphics  # the c track's own scene
    widget_pos = graphics.mapFromScene(scene_pos)
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.RightButton, pos=widget_pos)
    menu = states.ablation_menu
    actions = {a.data(): a for a in menu.actions() if a.data()}
    actions[("c", 0.0)].trigger()
    assert session.edits.ablations == [Ablation("c", 0, 0, 0, (2,), 0.0, start=4)]
    wait_traced(ctx)
    assert session.original is before
    assert (session.trace.c[0, 0, 4:, 0, 2] == 0).all()
    view.diff_quantity.setCurrentIndex(view.diff_quantity.findData("h"))
    original, diff = view.difference_block("h")
    np.testing.assert_array_equal(view.edit_map.data, diff)
    np.testing.assert_allclose(diff, (session.trace.h - before.h)[0, 0, :, 0].double().numpy().T)
    assert float(np.abs(diff[:, :4]).max()) < 1e-12 and float(np.abs(diff[2, 4:]).max()) > 0
    assert "zero c[2] from t=4" in view.diff_caption.text()


def test_units_table_menu_clamps_a_gate_from_the_cursor(qtbot, make_panels, wait_traced):
    host = make_panels(UnitsView, session=_session())
    ctx, session, units = host.ctx, host.session, host.panels["Units"]
    session.seek(3)
    row = next(r for r in range(units.proxy.rowCount()) if units.unit_in_row(r) == 5)
    pos = units.table.visualRect(units.proxy.index(row, 0)).center()
    units.table.customContextMenuRequested.emit(pos)
    actions = {a.data(): a for a in units.ablation_menu.actions() if a.data()}
    actions[("f", 0.0)].trigger()
    assert session.edits.ablations == [Ablation("f", 0, 0, 0, (5,), 0.0, start=3)]
    wait_traced(ctx)
    assert (session.trace.gates[0, 0, 3:, 0, 1, 5] == 0).all()
    assert session.trace.gates[0, 0, 2, 0, 1, 5] > 0


def test_the_span_dialog_ablates_over_a_span(qtbot, make_panels, wait_traced):
    host = make_panels(InfluenceView, session=_session())
    ctx, session = host.ctx, host.session
    dialog = AblationDialog(ctx, unit=1, t=2, kind="o")
    qtbot.addWidget(dialog)
    dialog.value.setValue(1.0)
    dialog.stop.setValue(6)
    dialog._apply()
    assert session.edits.ablations == [Ablation("o", 0, 0, 0, (1,), 1.0, start=2, stop=6)]
    dialog.kind.setCurrentIndex(dialog.kind.findData("f"))
    dialog.value.setValue(-0.5)
    dialog._apply()
    assert "clamp it to a value in [0, 1]" in dialog.message.text()
    wait_traced(ctx)
    assert (session.trace.gates[0, 0, 2:6, 0, 3, 1] == 1).all()


def test_the_menu_offers_every_ablation_kind(qtbot, make_ctx):
    ctx = make_ctx(_session(proj_size=2))
    menu = ablation_menu(ctx, unit=4, t=0)
    kinds = {a.data()[0] for a in menu.actions() if a.data()}
    assert kinds == {"c", "f", "i", "o", "g"}  # no h[4]: h has only proj_size=2 units
    menu = ablation_menu(ctx, 1, 0)
    assert "h" in {a.data()[0] for a in menu.actions() if a.data()}


def test_exports_write_the_view_and_the_gradients(qtbot, make_panels, tmp_path):
    host = make_panels(InfluenceView, session=_session())
    ctx, session, view = host.ctx, host.session, host.panels["Influence"]
    session.seek(6)
    inf = _wait_result(qtbot, view, t=6)
    view.resize(900, 700)
    assert view.export(tmp_path / "v.png").stat().st_size > 1000
    svg = view.export(tmp_path / "v.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    npz = np.load(view.export(tmp_path / "v.npz"))
    want = _expected(session, ctx)
    np.testing.assert_allclose(npz["dc_all"], want.c.numpy())
    np.testing.assert_allclose(npz["dx"], want.x[:, 0].numpy())
    assert int(npz["t"]) == 6 == inf.t
    with view.export(tmp_path / "v.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, data = rows[1], rows[2:]
    assert len(data) == session.num_steps
    col = header.index("dx[1]")
    np.testing.assert_allclose([float(r[col]) for r in data], want.x[:, 0, 1].numpy())
    col = header.index("norm_dc")
    np.testing.assert_allclose([float(r[col]) for r in data], want.c_norm[0, 0])


def _save_as(monkeypatch, path) -> None:
    """The save dialog answers ``path``, as a user choosing it would."""
    from lstm_viz_app.panels import influence as module
    monkeypatch.setattr(module.QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(path), ""))


def test_the_figure_buttons_write_off_the_gui_thread_while_the_window_goes_on(
        qtbot, make_panels, tmp_path, monkeypatch, slowed, loop_ticks):
    import threading
    import xml.etree.ElementTree as ET

    from PySide6.QtGui import QImage

    from lstm_viz_app import figure_writers
    from lstm_viz_app.export import _rgb

    host = make_panels(InfluenceView, session=_session())
    view = host.panels["Influence"]
    host.session.seek(6)
    _wait_result(qtbot, view, t=6)
    view.resize(900, 700)
    spans = slowed(figure_writers, "write_bytes")  # a large figure on a slow disk
    posted: list[str] = []
    host.ctx.messages.posted.connect(lambda text, ms: posted.append(text))
    expected = _rgb(figure_writers.figure_image(view.figure()))
    for fmt in ("PNG", "SVG", "PDF"):
        path = tmp_path / f"influence.{fmt.lower()}"
        _save_as(monkeypatch, path)
        qtbot.mouseClick(view.export_buttons[fmt], Qt.MouseButton.LeftButton)
        assert not path.exists()  # the click came back before the file was written
        qtbot.waitUntil(lambda: not view.writes.busy, timeout=15000)
        assert f"Wrote {path}" in posted
    assert len(spans) == 3
    assert all(thread != threading.main_thread().name for _, _, thread in spans)
    assert all(any(start < t < end for t in loop_ticks) for start, end, _ in spans)
    # the files hold the figure on screen
    np.testing.assert_array_equal(_rgb(QImage(str(tmp_path / "influence.png"))), expected)
    svg = ET.parse(tmp_path / "influence.svg").getroot()
    assert "∂" in "".join(svg.itertext())
    assert (tmp_path / "influence.pdf").read_bytes().startswith(b"%PDF")


def test_a_figure_that_cannot_be_saved_says_why_and_leaves_the_file_that_was_there(
        qtbot, make_panels, tmp_path, monkeypatch):
    from lstm_viz_app import figure_writers

    host = make_panels(InfluenceView, session=_session())
    view = host.panels["Influence"]
    _wait_result(qtbot, view)
    posted: list[str] = []
    host.ctx.messages.posted.connect(lambda text, ms: posted.append(text))
    (tmp_path / "a file").write_text("not a folder")
    _save_as(monkeypatch, tmp_path / "a file" / "influence.png")
    qtbot.mouseClick(view.export_buttons["PNG"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.writes.busy, timeout=15000)
    text = view.status.text()
    assert str(tmp_path / "a file" / "influence.png") in text and "Not a directory" in text
    assert posted[-1] == f"Export failed: {text}"
    # a disk full while encoding: the figure saved there before is still whole
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"the figure saved before")

    def full(image, fmt="PNG"):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(figure_writers, "image_bytes", full)
    _save_as(monkeypatch, kept)
    qtbot.mouseClick(view.export_buttons["PNG"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.writes.busy, timeout=15000)
    assert posted[-1] == f"Export failed: could not save {kept}: No space left on device"
    assert kept.read_bytes() == b"the figure saved before"


def test_a_figure_still_being_written_when_the_window_closes_is_written(
        qtbot, make_window, tmp_path, monkeypatch, slowed):
    from lstm_viz_app import figure_writers

    w = make_window(_session(), view="Influence")
    view = w.panels["Influence"]
    _wait_result(qtbot, view)
    slowed(figure_writers, "write_bytes", 0.5)
    path = tmp_path / "influence.pdf"
    _save_as(monkeypatch, path)
    qtbot.mouseClick(view.export_buttons["PDF"], Qt.MouseButton.LeftButton)
    assert view.writes.busy and not path.exists()
    w.close()
    assert path.read_bytes().startswith(b"%PDF")


def test_right_click_on_a_gate_row_offers_that_gates_clamps_first(qtbot, make_panels,
                                                                   wait_traced):
    host = make_panels(GatesView, session=_session())
    ctx, session, gates = host.ctx, host.session, host.panels["Gates"]
    gates.resize(1000, 700)
    qtbot.wait(50)
    vb = gates.heatmaps["g"].plot.getViewBox()
    graphics = gates.timeline.track("g").graphics  # the g track's own scene
    pos = graphics.mapFromScene(vb.mapViewToScene(QPointF(6, 1)))
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.RightButton, pos=pos)
    first = [a for a in gates.ablation_menu.actions() if a.data()][:3]
    assert [a.data() for a in first] == [("g", -1.0), ("g", 0.0), ("g", 1.0)]
    first[2].trigger()
    wait_traced(ctx)
    assert session.edits.ablations == [Ablation("g", 0, 0, 0, (1,), 1.0, start=6)]
    assert (session.trace.gates[0, 0, 6:, 0, 2, 1] == 1).all()


def _headed_session():
    from lstm_viz.formats.loader import Head
    torch.manual_seed(3)
    s = _session(num_layers=1, bidirectional=True)
    head = Head("fc", torch.randn(3, 12, dtype=torch.float64),
                torch.randn(3, dtype=torch.float64))
    s.load_module(s.lstm, head=head)  # three outputs = input_size: a next-step forecaster
    return s, head


def test_a_head_adds_prediction_and_loss_targets_equal_to_influence(qtbot, make_panels):
    session, head = _headed_session()
    host = make_panels(InfluenceView, session=session)
    view = host.panels["Influence"]
    states = [view.target.itemData(k) for k in range(view.target.count())]
    assert states == ["h", "c", "prediction", "loss"]
    lin = torch.nn.Linear(12, 3).double()
    with torch.no_grad():
        lin.weight.copy_(head.weight)
        lin.bias.copy_(head.bias)
    session.seek(4)
    view.target.setCurrentIndex(view.target.findData("prediction"))
    inf = _wait_result(qtbot, view, state="prediction", t=4)
    with torch.no_grad():
        top = int(lin(session.lstm(session.input_tm)[0][4, 0]).argmax())
    want = influence(session.lstm, session.input, t=4, unit=top, state="prediction", head=lin)
    assert inf.unit == top
    np.testing.assert_allclose(view.maps["dx"].data, want.x[:, 0].numpy().T, atol=1e-12)
    view.target.setCurrentIndex(view.target.findData("loss"))
    _wait_result(qtbot, view, state="loss", t=4)
    want = influence(session.lstm, session.input, t=4, state="loss", head=lin,
                     target=session.input_tm[5, 0])
    np.testing.assert_allclose(view.maps["dx"].data, want.x[:, 0].numpy().T, atol=1e-12)
    np.testing.assert_allclose(view.maps["dc"].data, want.c[0, 0, :, 0].numpy().T, atol=1e-12)
    session.reinitialize()  # new weights: the head no longer belongs to them
    qtbot.waitUntil(lambda: view.target.count() == 2)


def test_difference_shows_the_heads_prediction_and_loss_in_both_runs(qtbot, make_panels,
                                                                      wait_traced):
    session, head = _headed_session()
    host = make_panels(InfluenceView, session=session)
    ctx, view = host.ctx, host.panels["Influence"]
    before = session.trace
    session.ablate(Ablation("o", 0, 1, 0, (0, 1, 2, 3, 4, 5), 0.0, start=0), rerun=False)
    wait_traced(ctx)
    out0 = torch.cat([before.h[0, 0], before.h[0, 1]], -1)[:, 0] @ head.weight.T + head.bias
    out1 = torch.cat([session.trace.h[0, 0], session.trace.h[0, 1]], -1)[:, 0] @ head.weight.T \
        + head.bias
    view.diff_quantity.setCurrentIndex(view.diff_quantity.findData("prediction"))
    np.testing.assert_allclose(view.orig_map.data, out0.numpy().T, atol=1e-12)
    np.testing.assert_allclose(view.edit_map.data, (out1 - out0).numpy().T, atol=1e-12)
    view.diff_quantity.setCurrentIndex(view.diff_quantity.findData("loss"))
    nxt = session.input_tm[1:, 0]
    loss0 = ((out0[:-1] - nxt) ** 2).mean(-1)
    loss1 = ((out1[:-1] - nxt) ** 2).mean(-1)
    np.testing.assert_allclose(view.orig_map.data[0, :-1], loss0.numpy(), atol=1e-12)
    np.testing.assert_allclose(view.edit_map.data[0, :-1], (loss1 - loss0).numpy(), atol=1e-12)
    assert np.isnan(view.edit_map.data[0, -1])


# ----- colours: each heatmap is drawn with the levels its colour bar shows ------------------

def _drawn_colour(widget, heatmap, t: float, row: float) -> QColor:
    """The colour ``widget`` (a GraphicsLayoutWidget, grabbed as on screen) shows at the centre
    of cell (t, row) of ``heatmap``."""
    scene = heatmap.plot.getViewBox().mapViewToScene(QPointF(t, row))
    at = widget.mapFromScene(scene)
    image = widget.grab().toImage()
    ratio = image.devicePixelRatio()
    return image.pixelColor(int(at.x() * ratio), int(at.y() * ratio))


def _bar_drawn_colour(widget, bar, value: float) -> QColor:
    """The colour the colour bar ``bar`` draws at ``value`` (read from its pixels)."""
    lo, hi = bar.levels()
    rect = bar.bar.sceneBoundingRect()  # the vertical gradient: hi at the top
    y = rect.top() + (hi - value) / (hi - lo) * rect.height()
    at = widget.mapFromScene(QPointF(rect.center().x(), y))
    image = widget.grab().toImage()
    ratio = image.devicePixelRatio()
    return image.pixelColor(int(at.x() * ratio), int(at.y() * ratio))


def _close(a: QColor, b: QColor, tol: int = 8) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.getRgb()[:3], b.getRgb()[:3]))


def _check_drawn_as_the_bar_says(widget, heatmap, bar) -> None:
    """Levels of the image = the bar's = the data's symmetric range, and a cell of known value
    (about 60% of the largest) is drawn in the colour the bar gives that value."""
    data = heatmap.data
    lim = float(np.nanmax(np.abs(data)))
    assert lim > 0
    np.testing.assert_allclose(bar.levels(), (-lim, lim), rtol=1e-6)
    np.testing.assert_allclose(heatmap.image.levels, (-lim, lim), rtol=1e-6)
    # the bar has room for its end values (pyqtgraph skips a label wider than the axis)
    assert bar.axis.textWidth <= bar.axis.width()
    distance = np.abs(np.abs(data) - 0.6 * lim)
    cursor = int(round(heatmap.cursor.value())) - heatmap.offset
    if 0 <= cursor < data.shape[1]:
        distance[:, cursor] = np.inf  # the cursor line is drawn over that column
    row, col = np.unravel_index(np.nanargmin(distance), data.shape)
    value = float(data[row, col])
    assert heatmap.rows_per_px == heatmap.steps_per_px == 1  # the cell is its own pixels
    drawn = _drawn_colour(widget, heatmap, heatmap.offset + col, row)
    want = bar.colorMap().map((value + lim) / (2 * lim), mode="qcolor")
    assert _close(drawn, want), (heatmap.name, value, drawn.getRgb(), want.getRgb())
    assert _close(drawn, _bar_drawn_colour(widget, bar, value), tol=12)


def test_gradient_heatmaps_are_drawn_with_the_levels_their_colour_bars_show(qtbot, show_view):
    ctx, view = show_view(InfluenceView, _session())
    ctx.session.seek(12)
    ctx.select(unit=2)
    _wait_result(qtbot, view, t=12, unit=2)
    qtbot.wait(50)
    # gradients are often small: on a fixed ±1 scale they would look blank
    assert float(np.nanmax(np.abs(view.maps["dx"].data))) < 0.5
    for name, kind in (("dx", "grad_x"), ("dc", "grad_c"), ("dh", "grad_h")):
        view.gradients.frame(kind).set_plot_height(200)  # a bar tall enough to read back
        qtbot.wait(50)
        _check_drawn_as_the_bar_says(view.graphics_of(kind), view.maps[name], view.bars[name])


def test_difference_heatmaps_are_drawn_with_the_levels_their_colour_bars_show(
        qtbot, show_view, wait_traced):
    ctx, view = show_view(InfluenceView, _session())
    view.pages.setCurrentIndex(1)
    ctx.session.ablate(Ablation("h", 0, 0, 0, (1,), 0.0, start=8), rerun=False)
    wait_traced(ctx)
    qtbot.wait(50)
    for kind, heatmap, bar in (("before:c", view.orig_map, view.orig_bar),
                               ("diff:c", view.edit_map, view.diff_bar)):
        view.whatif.frame(kind).set_plot_height(200)
        qtbot.wait(50)
        _check_drawn_as_the_bar_says(view.graphics_of(kind), heatmap, bar)


def test_the_difference_shows_every_step_of_an_ablation_after_earlier_what_ifs(
        qtbot, show_view, wait_traced):
    from lstm_viz import InputSpec
    ctx, view = show_view(InfluenceView, _session())
    session = ctx.session
    view.pages.setCurrentIndex(1)
    session.edit_state("c", 3, 0, 0, 0, 1, 2.0, rerun=False)  # a what-if on 20 steps
    wait_traced(ctx)
    session.set_input(InputSpec(seq_len=120, batch_size=2))  # drops it: nothing to compare
    wait_traced(ctx)
    session.ablate(Ablation("h", 0, 0, 0, (2,), 0.0, start=90), rerun=False)
    wait_traced(ctx)
    qtbot.wait(50)
    for heatmap in (view.orig_map, view.edit_map):
        (x0, x1), _ = heatmap.plot.getViewBox().viewRange()
        assert x0 <= 0 and x1 >= 119, (x0, x1)
    # and what is drawn there holds the change from t = 90 on
    rect = view.edit_map.image.mapRectToView(view.edit_map.image.boundingRect())
    assert rect.left() <= 0 and rect.right() >= 119
    assert float(np.abs(view.edit_map.data[:, 90:]).max()) > 0


def test_gradient_titles_follow_proj_size(qtbot, show_view, wait_traced):
    ctx, view = show_view(InfluenceView, _session(proj_size=2))
    _wait_result(qtbot, view)
    assert "per projected feature (proj_size 2)" in view.maps["dh"].plot.titleLabel.text
    ctx.session.set_config(ctx.session.config.replace(proj_size=0))
    wait_traced(ctx)
    qtbot.waitUntil(lambda: view.result is not None and view.result.config.proj_size == 0,
                    timeout=15000)
    assert view.maps["dh"].plot.titleLabel.text.startswith("∂target/∂h: per unit")


def test_an_svg_of_the_influence_view_draws_the_gradients_in_the_bars_colours(
        qtbot, show_view, tmp_path):
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    from lstm_viz_app.timeline import BAR_COLUMN_WIDTH
    ctx, view = show_view(InfluenceView, _session())
    ctx.session.seek(12)
    _wait_result(qtbot, view, t=12)
    view.resize(1200, 760)  # redrawn at another size, as a user's window is
    qtbot.wait(100)
    path = view.export(tmp_path / "influence.svg")
    renderer = QSvgRenderer(str(path))
    size = renderer.defaultSize()
    image = QImage(size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    # the heatmaps' pixels: left of the colour bars' column (which holds every colour)
    heat_right = view.graphics_of("grad_x").width() - BAR_COLUMN_WIDTH - 20
    assert 0 < heat_right < size.width()
    pixels = {image.pixelColor(x, y).getRgb()[:3] for x in range(0, heat_right, 2)
              for y in range(0, size.height(), 2)}
    # a gradient of about 60% of each map's largest is drawn in the colour its bar gives it
    for name in ("dx", "dc"):
        data, bar = view.maps[name].data, view.bars[name]
        lo, hi = bar.levels()
        value = float(data.flat[np.nanargmin(np.abs(np.abs(data) - 0.6 * hi))])
        assert 0.4 * hi < abs(value) < 0.8 * hi
        want = bar.colorMap().map((value - lo) / (hi - lo), mode="qcolor")
        assert any(_close(QColor(*p), want, tol=4) for p in pixels), (name, want.getRgb())


# ----- the What-if timeline -----------------------------------------------------------------

def test_after_an_ablation_the_difference_page_shows_where_the_change_is(
        qtbot, show_view, wait_traced):
    from lstm_viz import InputSpec
    session = _session()
    session.set_input(InputSpec(seq_len=900, batch_size=1))
    ctx, view = show_view(InfluenceView, session)
    view.pages.setCurrentIndex(1)
    qtbot.wait(50)
    t0, t1 = view.whatif.overview.window
    assert t1 <= 700  # the window starts far from where the ablation will be
    before = session.trace
    session.ablate(Ablation("c", 0, 0, 0, (3,), 0.0, start=700), rerun=False)
    wait_traced(ctx)
    qtbot.wait(50)
    t0, t1 = view.whatif.overview.window
    assert t0 <= 700 < t1
    # before, after and their difference: the runs themselves, (units, T)
    after = session.trace
    c0 = before.c[0, 0, :, 0].double().numpy().T
    c1 = after.c[0, 0, :, 0].double().numpy().T
    tracks = {t.kind: t for t in view.whatif.tracks()}
    np.testing.assert_array_equal(tracks["before:c"].map.data, c0)
    np.testing.assert_array_equal(tracks["after:c"].map.data, c1)
    np.testing.assert_array_equal(tracks["diff:c"].map.data, c1 - c0)
    assert tracks["diff:c"].span == (700, 900)
    assert "changed at t 700–899" in view.diff_caption.text()
    # the ablated unit is marked in every track that has something to draw
    for track in view.whatif.tracks():
        if track.available:
            assert track.marks.items, track.kind


def test_every_kind_with_values_of_a_run_has_before_after_and_difference_kinds():
    from lstm_viz_app.timeline import track_kinds
    known = track_kinds()
    compared = {k.partition(":")[2] for k in known if ":" in k}
    assert compared == {"i", "f", "g", "o", "c", "h", "input", "prediction", "loss"}
    for base in compared:
        assert {f"before:{base}", f"after:{base}", f"diff:{base}"} <= set(known)
    assert not any(k.endswith(("grad_x", "grad_norms", "bars", "units")) and ":" in k
                   for k in known)


def test_a_hidden_influence_tab_waits_and_draws_what_happened_when_shown(
        qtbot, make_window, wait_traced):
    w = make_window(_session(), view="States")
    session, view = w.session, w.views["Influence"]
    session.ablate(Ablation("c", 0, 0, 0, (1,), 0.0, start=5), rerun=False)
    wait_traced(w)
    session.seek(9)
    assert view._behind  # nothing drawn while hidden
    assert view.source.result is None or view.source.result.t != 9
    w.show_view("Influence")
    view.pages.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.whatif.track("diff:c").span is not None, timeout=5000)
    diff = view.whatif.track("diff:c")
    assert diff.span[0] == 5 and diff.map.cursor.value() == 9
    view.pages.setCurrentIndex(0)
    _wait_result(qtbot, view, t=9)
    # and a figure of it says what was done
    assert "0 input and 0 state what-if edits and 1 ablation;" in \
        w.exports.caption_text("Influence") + ";"


def test_every_track_of_the_influence_timeline_shares_the_time_axis_pixels(qtbot, show_view):
    ctx, view = show_view(InfluenceView, _session())
    ctx.session.seek(12)
    _wait_result(qtbot, view, t=12)
    qtbot.wait(50)
    assert float(np.nanmax(np.abs(view.maps["dx"].data))) < 0.1  # long labels, unless cut short
    boxes = {track.kind: track.plot.getViewBox().sceneBoundingRect()
             for track in view.gradients.tracks()}
    edges = {kind: (round(box.left()), round(box.right())) for kind, box in boxes.items()}
    assert len(set(edges.values())) == 1, edges


def test_both_influence_pages_keep_their_tracks_in_the_settings(qtbot, make_window):
    w = make_window(_session(), view="Influence")
    view = w.views["Influence"]
    view.gradients.remove_track("input")
    view.gradients.frame("grad_c").set_plot_height(150)
    view.diff_quantity.setCurrentIndex(view.diff_quantity.findData("f"))
    view.whatif.add_track("diff:h")
    gradients, whatif = view.gradients.state(), view.whatif.state()
    assert [s.kind for s in whatif][1:4] == ["before:f", "after:f", "diff:f"]
    assert w.save_settings()
    again = make_window(restore=True)
    other = again.views["Influence"]
    assert other.gradients.state() == gradients and other.whatif.state() == whatif
    assert other.diff_quantity.currentData() == "f"  # the tracks say which quantity
