"""A windowed session in the window: an input whose full trace is over the memory budget opens,
the views draw the traced window at its input positions (checked against a full trace that is
itself checked against torch's nn.LSTM), moving t far away traces a new window on the worker,
the overview covers every step, the status bar says the trace is windowed, and what-if edits
work as on short inputs."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from lstm_viz import InputSpec, LSTMConfig, Session, StateEdit, trace

pytestmark = pytest.mark.gui

CFG = LSTMConfig(input_size=4, hidden_size=16)
T = 6000
#: lets the engine trace 6000 steps of hidden 16 in windows, but not in full
BUDGET = 5_000_000  # 6000 steps of hidden 16 (input_size <= 13) fit in windows, not in full
TOL = 1e-5


def windowed_session() -> Session:
    return Session(CFG, InputSpec(source="sine", seq_len=T, batch_size=1), seed=3,
                   memory_budget=BUDGET)


def full_trace(session: Session, edits=()):
    """The whole input's trace (no budget to speak of), its h checked against nn.LSTM."""
    x = session.input_tm.clone()
    for t, b, f, v in edits:
        x[t, b, f] = v
    with torch.no_grad():
        ref = trace(session.lstm, x, memory_budget=1 << 34)
        out, _ = session.lstm(x)
    torch.testing.assert_close(ref.h[0, 0], out, atol=TOL, rtol=0)
    return ref


def reading(heatmap, unit: int, t: int):
    """What hovering the cell (unit, t) of ``heatmap`` reads: (unit, t, value) or None."""
    vb = heatmap.plot.getViewBox()
    return heatmap.lookup(vb.mapViewToScene(QPointF(t, unit)))


@pytest.fixture
def opened(make_window, wait_traced):
    session = windowed_session()
    w = make_window(session, view="Gates")
    wait_traced(w, timeout=30000)
    return w, session


def test_an_input_over_the_budget_opens_windowed_without_an_error(opened):
    w, session = opened
    assert session.windowed and session.trace.windowed
    assert w.ctx.trace_error == ""
    assert session.trace.num_steps < T and session.num_steps == T
    assert session.trace.start <= session.t < session.trace.stop


def test_the_status_bar_says_which_steps_are_traced_in_full(opened):
    w, session = opened
    text = w.statusBar().window_label.text().replace("\u2009", "")
    tr = session.trace
    assert w.statusBar().window_label.isVisible()
    assert re.search(rf"windowed: steps {tr.start}–{tr.stop - 1} of {T} traced in full;"
                     " overview of all", text), text


def test_gates_and_states_at_the_cursor_equal_the_full_trace(qtbot, opened, wait_traced):
    w, session = opened
    ref = full_trace(session)
    t = 2500  # past the first window: the views hold steps that do not start at 0
    session.seek(t)
    wait_traced(w)
    qtbot.waitUntil(lambda: w.ctx.holds(t), timeout=15000)
    assert session.trace.start > 0
    gates = w.panels["Gates"]
    for k, gate in enumerate("ifgo"):
        hm = gates.heatmaps[gate]
        for unit in (0, 7, 15):
            hit = reading(hm, unit, t)
            assert hit is not None and hit[:2] == (unit, t)
            assert hit[2] == pytest.approx(float(ref.gates[0, 0, t, 0, k, unit]), abs=TOL)
    w.show_view("States")
    states = w.panels["States"]
    for name, hm in (("c", states.c_map), ("h", states.h_map)):
        hit = reading(hm, 5, t)
        assert hit is not None
        assert hit[2] == pytest.approx(float(getattr(ref, name)[0, 0, t, 0, 5]), abs=TOL)
    bars = states.bars["c"].heights
    np.testing.assert_allclose(bars, ref.c[0, 0, t, 0].numpy(), atol=TOL)


def test_seeking_far_outside_the_window_traces_there_on_the_worker(qtbot, opened,
                                                                   record_trace_threads,
                                                                   wait_traced):
    w, session = opened
    ref = full_trace(session)
    threads = record_trace_threads()
    before = session.trace
    t = 5500
    assert not before.start <= t < before.stop
    session.seek(t)
    # the GUI thread only moved t: the window around it is traced on the worker
    assert session.trace is before and session.t == t
    wait_traced(w)
    qtbot.waitUntil(lambda: w.ctx.holds(t), timeout=15000)
    assert threads and threading.main_thread() not in threads
    gates = w.panels["Gates"]
    lo, hi = gates.overview.window
    assert lo <= t < hi and session.trace.start <= lo and hi <= session.trace.stop
    for k, gate in enumerate("ifgo"):
        hit = reading(gates.heatmaps[gate], 3, t)
        assert hit is not None
        assert hit[2] == pytest.approx(float(ref.gates[0, 0, t, 0, k, 3]), abs=TOL)
    # the cursor, the heatmaps and the input strip stay at input positions
    assert gates.heatmaps["i"].cursor.value() == t
    strip = gates.strips.input_lines[0]
    xs, ys = strip.xData, strip.yData  # all it holds, not only what is in view
    assert xs[0] == session.trace.start
    np.testing.assert_allclose(ys[t - session.trace.start], session.input_tm[t, 0, 0].item(),
                               atol=1e-6)


def test_dragging_the_detail_window_past_the_traced_steps_traces_there(qtbot, opened,
                                                                       wait_traced):
    w, session = opened
    ref = full_trace(session)
    gates = w.panels["Gates"]
    gates.overview.set_window(4000, 4100)  # what a drag of the shaded region does
    wait_traced(w)
    qtbot.waitUntil(lambda: w.ctx.holds(4000) and w.ctx.holds(4099), timeout=15000)
    assert 4000 <= session.t < 4100
    hit = reading(gates.heatmaps["f"], 2, 4050)
    assert hit is not None
    assert hit[2] == pytest.approx(float(ref.gates[0, 0, 4050, 0, 1, 2]), abs=TOL)


def test_the_overview_shows_every_step_from_the_windowed_overview(opened):
    w, session = opened
    ref = full_trace(session)
    overview = w.panels["Gates"].overview
    ov = session.overview
    assert overview.steps == T and overview.bucket == ov.bucket_size > 1
    data = overview.bands[0][0]  # gate i: (units, buckets), the more extreme of min and max
    assert data.shape == (CFG.hidden_size, ov.num_buckets)
    i_gate = ref.gates[0, 0, :, 0, 0].numpy()  # (T, H)
    for j in (0, ov.num_buckets // 2, ov.num_buckets - 1):
        steps = i_gate[j * ov.bucket_size:(j + 1) * ov.bucket_size]
        lo, hi = steps.min(0), steps.max(0)
        want = np.where(np.abs(hi - 0.5) >= np.abs(lo - 0.5), hi, lo)
        np.testing.assert_allclose(data[:, j], want, atol=TOL)
    assert "min or max per bucket" in overview.plot.titleLabel.text


def test_a_what_if_edit_on_a_windowed_trace_matches_nn_lstm_on_the_edited_input(
        qtbot, opened, wait_traced):
    w, session = opened
    w.show_view("States")
    t, value = 3000, 2.5
    session.seek(t)
    wait_traced(w)
    qtbot.waitUntil(lambda: w.ctx.holds(t), timeout=15000)
    box = w.panels["States"].whatif
    box.kind.setCurrentIndex(box.kind.findData("x"))
    box.index.setValue(1)
    box.value.setValue(value)
    qtbot.mouseClick(box.apply_button, Qt.MouseButton.LeftButton)
    wait_traced(w)
    tr = session.trace
    assert tr.meta["edited"] and tr.windowed and w.ctx.trace_error == ""
    assert box.current_value() == pytest.approx(value)
    ref = full_trace(session, edits=[(t, 0, 1, value)])
    i = t + 1 - tr.start
    torch.testing.assert_close(tr.c[0, 0, i, 0], ref.c[0, 0, t + 1, 0], atol=TOL, rtol=0)
    hit = reading(w.panels["States"].h_map, 4, t + 1)
    assert hit[2] == pytest.approx(float(ref.h[0, 0, t + 1, 0, 4]), abs=TOL)
    # a state edit, then far away: the edited run's window is traced from its own checkpoints
    session.edit_state("c", t, 0, 0, 0, 2, -1.0, rerun=False)
    wait_traced(w)
    assert session.edits.states == [StateEdit("c", t, 0, 0, 0, 2, -1.0)]
    assert session.original is not None
    session.seek(5900)
    qtbot.waitUntil(lambda: w.ctx.holds(5900) and w.ctx.up_to_date, timeout=15000)
    assert session.original.start == session.trace.start  # the run before the edits moved too


def test_views_that_need_the_whole_input_say_they_see_only_the_window(qtbot, opened):
    w, session = opened
    tr = session.trace
    w.show_view("Units")
    units = w.panels["Units"]
    qtbot.waitUntil(lambda: "only" in units.caption.text(), timeout=5000)
    assert f"over steps {tr.start}–{tr.stop - 1} only" in units.caption.text()
    # the span and the plot are input positions inside the traced window
    assert units.start_box.minimum() == tr.start and units.stop_box.maximum() == tr.stop - 1
    assert units.curve.xData[0] == tr.start
    w.show_view("Influence")
    influence = w.panels["Influence"]
    qtbot.waitUntil(lambda: "windowed" in influence.status.text(), timeout=5000)


def test_the_text_view_shows_the_traced_steps_at_their_input_positions(qtbot, make_window,
                                                                       wait_traced):
    text = ("the cat sat on a mat\n" * 300)[:T]
    session = Session(LSTMConfig(input_size=len(set(text)), hidden_size=16),
                      InputSpec(source="text", text=text, seq_len=len(text), batch_size=1),
                      memory_budget=BUDGET)
    assert session.windowed
    w = make_window(session, view="Text")
    wait_traced(w, timeout=30000)
    session.seek(4321)
    wait_traced(w)
    qtbot.waitUntil(lambda: w.ctx.holds(4321), timeout=15000)
    view = w.panels["Text"]
    tr = session.trace
    assert f"over steps {tr.start}–{tr.stop - 1} of {len(text)}" in view.caption.text()
    assert "".join(view.tokens) == text[tr.start:tr.stop]
    ref = full_trace(session)
    view.set_kind("c")
    value = float(ref.c[0, 0, 4321, 0, w.ctx.unit])
    assert view.status.text() == f"t = 4321: {text[4321]!r}, c[{w.ctx.unit}] = {value:+.3f}"
    position = view.starts[4321 - view.start]
    assert view.step_at(position) == 4321


def test_a_unit_order_of_a_windowed_trace_says_which_steps_it_is_of(qtbot, opened):
    w, session = opened
    tr = session.trace
    w.ctx.display.set_unit_order("variance")
    gates = w.panels["Gates"]
    span = f"of steps {tr.start}–{tr.stop - 1}"
    qtbot.waitUntil(lambda: span in gates.heatmaps["i"].order_label, timeout=5000)
    assert gates.heatmaps["i"].order is not None
    w.ctx.display.set_unit_order("index")
    qtbot.waitUntil(lambda: gates.heatmaps["i"].order_label == "index order", timeout=5000)


def test_the_units_caption_of_a_windowed_trace_counts_the_pairs_it_is_over(qtbot, opened):
    w, session = opened
    w.show_view("Units")
    units = w.panels["Units"]
    qtbot.waitUntil(lambda: "windowed" in units.caption.text(), timeout=5000)
    text = units.caption.text()
    assert "{" not in text and "}" not in text
    assert f"{units.stats.steps} valid (step, sequence) pairs" in text
