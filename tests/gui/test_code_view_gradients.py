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


def test_code_view_offers_the_heads_prediction_and_loss_for_a_model_with_a_head(
        qtbot, make_ctx, wait_traced):
    from lstm_viz.demos import open_demo

    session = Session()
    open_demo(session, "sine")
    ctx = make_ctx(session)
    wait_traced(ctx)
    view = CodeView(ctx)
    qtbot.addWidget(view)
    view.show()
    states = [view.gradient_state.itemData(k) for k in range(view.gradient_state.count())]
    assert states == ["h", "c", "prediction", "loss"]
    view.gradient_state.setCurrentIndex(states.index("loss"))
    ctx.session.seek(30)
    assert 'TARGET = {"state": "loss", "layer": 0, "direction": 0, "t": 30' in view.code()
    assert 'head.load_state_dict({"weight": recorded["head_weight"]' in view.code()


def test_exported_script_takes_the_gradients_the_code_view_shows(make_window, wait_traced,
                                                                 tmp_path):

    window = make_window(Session(LSTMConfig(3, 5, num_layers=2, bidirectional=True),
                                 InputSpec(seq_len=8, batch_size=2)))
    wait_traced(window.ctx)
    window.ctx.select(layer=1, direction=1, unit=3, batch=1)
    window.session.seek(6)
    code = window.views["Code"]
    code.gradient_state.setCurrentIndex(code.gradient_state.findData("c"))
    window.exports.export_views(tmp_path, formats={"py"}, include_window=False)
    script = (tmp_path / "lstm_check.py").read_text()
    assert ('TARGET = {"state": "c", "layer": 1, "direction": 1, "t": 6, "unit": 3,'
            ' "batch": 1}') in script
