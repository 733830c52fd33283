"""How a change flows: the session's events start exactly one trace per change, the views
refresh once, dragging the time cursor moves the session, and a window closed while a trace
runs hears nothing more."""

from __future__ import annotations

import time

import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

import lstm_viz_app.panels.code as code_module
import lstm_viz_app.panels.text_view as text_module
from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz_app.panels.code import CodeView
from lstm_viz_app.panels.config import InputPanel, ModelPanel
from lstm_viz_app.panels.text_view import TextView
from lstm_viz_app.panels.transport import TransportBar

pytestmark = pytest.mark.gui


def _counting(monkeypatch, module, name) -> list:
    """Replace ``module.name`` by a wrapper that records each call; returns the record."""
    calls, real = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.fixture
def text_ctx(make_ctx):
    spec = InputSpec(source="text", text="hello, world", seq_len=12, batch_size=1)
    return make_ctx(Session(LSTMConfig(input_size=128, hidden_size=8), spec))


def test_one_hidden_size_edit_submits_one_trace_and_refreshes_code_and_text_once(
        qtbot, text_ctx, type_value, wait_traced, monkeypatch):
    ctx = text_ctx
    model, code, text = ModelPanel(ctx), CodeView(ctx), TextView(ctx)
    for widget in (model, code, text):
        qtbot.addWidget(widget)
    builds = _counting(monkeypatch, code_module, "build_code")
    texts = _counting(monkeypatch, text_module, "spec_tokens")
    submitted = []
    real_submit = ctx.runner.submit
    monkeypatch.setattr(ctx.runner, "submit", lambda r: submitted.append(r) or real_submit(r))
    type_value(model.fields["hidden_size"].editor, 12)
    wait_traced(ctx)
    assert ctx.session.config.hidden_size == 12
    assert ctx.session.trace.config.hidden_size == 12
    assert len(submitted) == 1
    assert len(builds) == 1
    assert len(texts) == 1
    assert "hidden_size=12" in code.build.text.toPlainText()


def test_several_changes_in_one_turn_start_one_trace(qtbot, make_ctx, wait_traced,
                                                     monkeypatch):
    ctx = make_ctx()
    submitted = []
    real_submit = ctx.runner.submit
    monkeypatch.setattr(ctx.runner, "submit", lambda r: submitted.append(r) or real_submit(r))
    session = ctx.session
    session.set_config(LSTMConfig(input_size=4, hidden_size=5))
    session.set_input(InputSpec(seq_len=7))
    session.reinitialize(3)
    wait_traced(ctx)
    assert len(submitted) == 1
    trace = session.trace
    assert (trace.config.hidden_size, trace.num_steps) == (5, 7)
    with torch.no_grad():  # the weights of seed 3, not those before
        out, _ = session.lstm(session.input_tm)
    assert float((trace.output - out).abs().max()) < 1e-5


def test_the_field_being_typed_into_is_not_rewritten(qtbot, make_ctx, type_value, wait_traced,
                                                     monkeypatch):
    ctx = make_ctx()
    model = ModelPanel(ctx)
    qtbot.addWidget(model)
    rewritten = []
    for name, field in model.fields.items():
        real = field.set_value
        monkeypatch.setattr(field, "set_value",
                            lambda v, name=name, real=real: rewritten.append(name) or real(v))
    type_value(model.fields["hidden_size"].editor, 12)
    wait_traced(ctx)
    assert rewritten == []
    ctx.session.set_config(LSTMConfig(input_size=2, hidden_size=3))  # from elsewhere: shown
    assert sorted(rewritten) == ["hidden_size", "input_size"]
    assert model.fields["hidden_size"].value() == 3


def _drag(widget, start, end, steps=8):
    """Press the left button at ``start``, move to ``end`` with it held, release."""
    def send(kind, pos, buttons):
        event = QMouseEvent(kind, QPointF(pos), widget.mapToGlobal(QPointF(pos)),
                            Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)

    held = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, start, held)
    for k in range(1, steps + 1):
        send(QEvent.Type.MouseMove, start + (end - start) * k / steps, held)
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def test_dragging_the_time_slider_moves_the_session(qtbot, make_ctx):
    ctx = make_ctx(Session(input_spec=InputSpec(seq_len=30)))
    bar = TransportBar(ctx)
    qtbot.addWidget(bar)
    bar.resize(900, 40)
    bar.show()
    qtbot.waitExposed(bar)
    slider = bar.slider
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                           QStyle.SubControl.SC_SliderHandle, slider)
    assert ctx.session.t == 0
    start = QPointF(handle.center())
    _drag(slider, start, QPointF(slider.width() - 2, start.y()))
    assert ctx.session.t == 29
    _drag(slider, QPointF(slider.width() - 2, start.y()),
          QPointF(slider.width() / 2, start.y()))
    assert 10 <= ctx.session.t <= 19
    assert bar.t_label.text().strip() == f"t = {ctx.session.t} / 29"


def test_dragging_the_gates_cursor_moves_the_session(qtbot, make_window):
    w = make_window(Session(input_spec=InputSpec(seq_len=30)), view="Gates")
    cursor = w.panels["Gates"].heatmaps["i"].cursor
    cursor.setValue(17.2)  # what pyqtgraph does while the line is dragged
    cursor.sigDragged.emit(cursor)
    assert w.session.t == 17
    assert w.transport.slider.value() == 17


class _SlowRequest:
    """A trace request that takes its time (the worker is still busy when the window goes)."""

    def __init__(self, request, delay):
        self._request, self._delay = request, delay

    def __getattr__(self, name):
        return getattr(self._request, name)

    def run(self):
        time.sleep(self._delay)
        return self._request.run()


def test_closing_the_window_during_a_trace_reaches_no_deleted_widget(qtbot, make_window,
                                                                      monkeypatch):
    session = Session()
    w = make_window(session)
    real_request = session.request
    monkeypatch.setattr(session, "request", lambda: _SlowRequest(real_request(), 0.4))
    heard = []
    session.set_config(LSTMConfig(input_size=4, hidden_size=6))
    w.ctx.when_traced(lambda: heard.append(w.panels["Gates"].caption.text()))
    qtbot.waitUntil(lambda: w.ctx.runner.busy, timeout=5000)
    w.close()
    w.deleteLater()
    qtbot.wait(600)  # the trace ends, and its result would arrive now
    assert heard == []
    monkeypatch.undo()
    # the session lives on (a notebook, a test): its events must not reach the deleted views
    session.set_config(LSTMConfig(input_size=4, hidden_size=7))
    session.retrace()
    session.seek(3)
    assert session.trace.config.hidden_size == 7


def test_the_input_field_being_typed_into_is_not_rewritten(qtbot, make_ctx, type_value,
                                                           wait_traced, monkeypatch):
    ctx = make_ctx()
    inputs = InputPanel(ctx)
    qtbot.addWidget(inputs)
    rewritten = []
    for name, field in inputs.fields.items():
        real = field.set_value
        monkeypatch.setattr(field, "set_value",
                            lambda v, name=name, real=real: rewritten.append(name) or real(v))
    type_value(inputs.fields["seq_len"].editor, 9)
    wait_traced(ctx)
    assert ctx.session.trace.num_steps == 9
    assert rewritten == []
    ctx.session.set_input(InputSpec(seq_len=5, batch_size=3))  # from elsewhere: shown
    assert sorted(rewritten) == ["batch_size", "seq_len"]
    assert inputs.fields["seq_len"].value() == 5


def test_an_input_whose_full_trace_is_over_budget_is_traced_in_windows(
        qtbot, make_ctx, type_value, wait_traced):
    # 4.8 MB lets the engine trace 6000 steps in windows, but not in full: the panel takes it
    # and the session traces a window of it; the session's own check is the only one
    ctx = make_ctx(Session(LSTMConfig(4, 16), InputSpec(source="sine", seq_len=200, batch_size=1),
                           memory_budget=4_800_000))
    wait_traced(ctx)
    inputs = InputPanel(ctx)
    qtbot.addWidget(inputs)
    type_value(inputs.fields["seq_len"].editor, 6000)
    wait_traced(ctx, timeout=30000)
    assert ctx.session.input_spec.seq_len == 6000 and not inputs.errors.get("seq_len")
    assert ctx.trace_error == "" and ctx.session.trace.windowed
    assert ctx.session.num_steps == 6000
    # an input that even a window cannot hold is refused next to the field
    type_value(inputs.fields["seq_len"].editor, 600_000)
    qtbot.wait(50)
    assert ctx.session.input_spec.seq_len == 6000
    assert "over the memory budget" in inputs.errors.get("seq_len", "")
