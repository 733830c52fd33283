"""GUI tests for what-if edits, as a user: set a value in the States view's What-if box, wait for
the worker, and check the session's trace and what the plots show against the trace's own
tensors and the LSTM equations."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from lstm_viz import LSTMConfig, Session, StateEdit

pytestmark = pytest.mark.gui


def choose(combo, value):
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)


def type_into(qtbot, spinbox, value):
    """Select the spin box text and type a number (what a user does)."""
    spinbox.setFocus()
    spinbox.selectAll()
    qtbot.keyClicks(spinbox, str(value))


def apply_edit(qtbot, w, kind, index, value):
    box = w.panels["States"].whatif
    choose(box.kind, kind)
    box.index.setValue(index)
    type_into(qtbot, box.value, value)
    qtbot.mouseClick(box.apply_button, Qt.MouseButton.LeftButton)


def test_c_edit_through_the_box_reruns_on_the_worker_and_flows_forward(qtbot, window,
                                                                     record_trace_threads,
                                                                     wait_traced):
    w, session = window, window.session
    threads = record_trace_threads()
    t, unit = 5, 3
    session.seek(t)
    before = session.trace
    apply_edit(qtbot, w, "c", unit, 2.5)
    assert session.edits.states == [StateEdit("c", t, 0, 0, 0, unit, 2.5)]
    wait_traced(w)
    assert threads and threading.main_thread() not in threads  # traced on the worker
    trace = session.trace
    assert trace.meta["edited"] and trace.meta["nn_lstm_max_abs_diff"] is None
    assert session.original is before
    assert float(trace.c[0, 0, t, 0, unit]) == pytest.approx(2.5)
    # setting c also sets h_t = o * tanh(c_t) at that step
    o = trace.gates[0, 0, t, 0, 3, unit]
    assert float(trace.h[0, 0, t, 0, unit]) == pytest.approx(float(o * torch.tanh(
        torch.tensor(2.5))), abs=1e-6)
    # the forward direction read the steps before t before the edit: unchanged
    torch.testing.assert_close(trace.c[:, :, :t], before.c[:, :, :t])
    torch.testing.assert_close(trace.h[:, :, :t], before.h[:, :, :t])
    torch.testing.assert_close(trace.gates[:, :, :t], before.gates[:, :, :t])
    # ... and the change flows forward
    assert not torch.allclose(trace.c[0, 0, t + 1, 0], before.c[0, 0, t + 1, 0])


def test_before_edit_curves_show_the_original_run(qtbot, window, wait_traced):
    w, session = window, window.session
    states = w.panels["States"]
    states.units_edit.setText("1, 3")
    states.units_edit.editingFinished.emit()
    assert states.before_lines == []
    session.seek(4)
    apply_edit(qtbot, w, "c", 3, -1.75)
    wait_traced(w)
    original = session.original.c.numpy(), session.original.h.numpy()
    edited = session.trace.c.numpy(), session.trace.h.numpy()
    # c then h of units 1 and 3, each before the edit: thin dashed grey, one legend entry
    assert len(states.before_lines) == 4
    expected = [original[0][0, 0, :, 0, 1], original[1][0, 0, :, 0, 1],
                original[0][0, 0, :, 0, 3], original[1][0, 0, :, 0, 3]]
    for item, want in zip(states.before_lines, expected):
        np.testing.assert_array_equal(item.getData()[1], want)
        assert item.opts["pen"].style() == Qt.PenStyle.DashLine
    names = [item.name() for item in states.before_lines]
    assert names[0] == "before edit" and names[1:] == [None, None, None]
    # the edited run's curves are the trace on screen
    np.testing.assert_array_equal(states.lines[2].getData()[1], edited[0][0, 0, :, 0, 3])
    assert states.lines[2].getData()[1][4] == pytest.approx(-1.75)
    # the c bar chart and the equation say this is a what-if run
    assert "what-if" in states.bars["c"].plot.titleLabel.text
    assert "what-if run" in states.equation.text()
    session.seek(4)
    w.ctx.select(unit=3)
    assert "set by edit: -1.750" in states.equation.text()
    # another edit updates the curves in place (same items, new numbers)
    items = list(states.lines + states.before_lines)
    apply_edit(qtbot, w, "c", 3, 0.25)
    wait_traced(w)
    assert states.lines + states.before_lines == items
    np.testing.assert_array_equal(states.lines[2].getData()[1],
                                  session.trace.c.numpy()[0, 0, :, 0, 3])
    np.testing.assert_array_equal(states.before_lines[2].getData()[1], original[0][0, 0, :, 0, 3])


def test_clear_edits_restores_the_original_trace(qtbot, window, wait_traced):
    w, session = window, window.session
    box = w.panels["States"].whatif
    assert not box.clear_button.isEnabled()
    original = session.trace
    session.seek(6)
    apply_edit(qtbot, w, "h", 2, 0.9)
    wait_traced(w)
    apply_edit(qtbot, w, "x", 1, -3)
    wait_traced(w)
    assert box.edit_list.count() == 2
    assert box.edit_list.item(0).text().startswith("h[2] = +0.9 at t 6")
    assert box.edit_list.item(1).text().startswith("x[1] = -3 at t 6")
    assert float(session.trace.x[6, 0, 1]) == -3.0
    qtbot.mouseClick(box.clear_button, Qt.MouseButton.LeftButton)
    wait_traced(w)
    assert session.trace is original and session.original is None
    assert not session.edits and not box.clear_button.isEnabled()
    assert w.panels["States"].before_lines == []
    assert "what-if" not in w.panels["States"].bars["c"].plot.titleLabel.text
    assert "matches nn.LSTM" in w.status_bar.truth_label.text()


def test_clear_while_an_edited_run_is_on_its_way_keeps_the_original(qtbot, window, wait_traced):
    w, session = window, window.session
    box = w.panels["States"].whatif
    apply_edit(qtbot, w, "c", 0, 4.0)
    box.clear()  # before the worker reports
    wait_traced(w)
    assert not session.edits and not session.trace.meta["edited"]


def test_box_is_prefilled_with_the_current_value(qtbot, window):
    w, session = window, window.session
    box = w.panels["States"].whatif
    session.seek(7)
    w.ctx.select(unit=5)
    assert box.index.value() == 5
    assert box.value.value() == pytest.approx(float(session.trace.c[0, 0, 7, 0, 5]), abs=1e-4)
    choose(box.kind, "x")
    box.index.setValue(2)
    assert box.index_label.text() == "feature"
    assert box.value.value() == pytest.approx(float(session.input_tm[7, 0, 2]), abs=1e-4)
    assert "t = 7" in box.title()


def test_invalid_edit_shows_the_engines_message_and_changes_nothing(qtbot, wait_traced,
                                                                    make_window):
    # h has proj_size features: unit 5 of the focus range is past it
    cfg = LSTMConfig(input_size=3, hidden_size=8, proj_size=4)
    w = make_window(Session(cfg), view="States")
    box = w.panels["States"].whatif
    trace = w.session.trace
    apply_edit(qtbot, w, "h", 5, 0.5)
    assert box.message.isVisible()
    assert box.message.text() == "unit must be in [0, 3] (got 5)"
    assert not w.session.edits and w.session.trace is trace and w.ctx.up_to_date
    apply_edit(qtbot, w, "h", 3, 0.5)  # a valid one clears the message
    assert not box.message.isVisible()
    wait_traced(w)
    assert float(w.session.trace.h[0, 0, w.session.t, 0, 3]) == pytest.approx(0.5)


def test_reverse_direction_edit_flows_towards_t0(qtbot, wait_traced, make_window):
    cfg = LSTMConfig(input_size=3, hidden_size=6, bidirectional=True, num_layers=2)
    w = make_window(Session(cfg), view="States")
    session, before = w.session, w.session.trace
    w.ctx.select(direction=1)
    session.seek(5)
    apply_edit(qtbot, w, "c", 1, 1.25)
    wait_traced(w)
    assert session.edits.states == [StateEdit("c", 5, 0, 1, 0, 1, 1.25)]
    trace = session.trace
    assert float(trace.c[0, 1, 5, 0, 1]) == pytest.approx(1.25)
    # the reverse direction read the steps after t first: unchanged; so is the forward one
    torch.testing.assert_close(trace.c[0, 1, 6:], before.c[0, 1, 6:])
    torch.testing.assert_close(trace.h[0, 0], before.h[0, 0])
    assert not torch.allclose(trace.c[0, 1, 4, 0], before.c[0, 1, 4, 0])
    assert not torch.allclose(trace.h[1, 0, 5, 0], before.h[1, 0, 5, 0])  # the layer above


def test_clear_edits_of_a_restored_session_retraces_nn_lstms_own_run(qtbot, wait_traced,
                                                                     make_window):
    data = Session().to_dict()
    data["edits"] = {"inputs": [[2, 0, 1, 5.0]], "states": []}
    w = make_window(Session.from_dict(data), view="States")  # traced with its edit
    session, box = w.session, w.panels["States"].whatif
    # the run before the edit was traced along: "before edit" has something to show
    assert session.trace.meta["edited"] and not session.original.meta["edited"]
    assert box.edit_list.item(0).text() == "x[1] = +5 at t 2, batch 0"
    qtbot.mouseClick(box.clear_button, Qt.MouseButton.LeftButton)
    wait_traced(w)
    assert not session.trace.meta["edited"]
    torch.testing.assert_close(session.trace.x, session.input_tm)
    assert "matches nn.LSTM" in w.status_bar.truth_label.text()


def test_an_ablated_unit_says_so_in_the_equation_and_the_edit_list(qtbot, window, wait_traced):
    from lstm_viz import Ablation
    w, session = window, window.session
    w.show_view("States")  # a tab behind another moves to the step when it comes to the front
    states = w.panels["States"]
    box = states.whatif
    session.ablate(Ablation("h", 0, 0, 0, (3,), 0.0, start=5), rerun=False)
    wait_traced(w)
    assert [box.edit_list.item(i).text() for i in range(box.edit_list.count())] == \
        ["ablation: zero h[3] from t=5 (layer 0, direction 0, batch 0)"]
    assert box.edit_list.isEnabled() and box.clear_button.isEnabled()
    w.ctx.select(unit=3)
    session.seek(7)
    text = states.equation.text()
    v = session.values_at(0, 0, 0, t=7)
    # the LSTM update would give o * tanh(c); the ablation set h to 0 instead
    assert float(v["h"][3]) == 0.0 and abs(float(v["o"][3] * np.tanh(v["c"][3]))) > 1e-3
    assert "unit ablated: h set to +0.000" in text and "trace: +0.000" not in text
    session.seek(4)  # before the ablation's span: the trace's own value
    assert "ablated" not in states.equation.text()
    # a clamped gate is named too
    session.ablate(Ablation("f", 0, 0, 0, (3,), 1.0, start=2), rerun=False)
    wait_traced(w)
    session.seek(6)
    assert "f clamped to 1" in states.equation.text()
    assert box.edit_list.count() == 2
