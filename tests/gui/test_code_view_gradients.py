"""The Code view's script takes the gradients of the focus unit at the cursor."""

from __future__ import annotations

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz_app.panels.code import CodeView


def test_code_view_script_targets_the_focus_unit_at_the_cursor(qtbot, make_ctx, wait_traced):
    ctx = make_ctx(Session(LSTMConfig(3, 5, num_layers=2, bidirectional=True),
                           InputSpec(seq_len=8, batch_size=2)))
    wait_traced(ctx)
    view = CodeView(ctx)
    qtbot.addWidget(view)
    view.show()
    ctx.select(layer=1, direction=1, unit=3, batch=1)
    ctx.session.seek(6)
    assert ('TARGET = {"state": "h", "layer": 1, "direction": 1, "t": 6, "unit": 3,'
            ' "batch": 1}') in view.code()
    view.gradient_state.setCurrentIndex(view.gradient_state.findData("c"))
    assert 'TARGET = {"state": "c", "layer": 1, "direction": 1, "t": 6' in view.code()
