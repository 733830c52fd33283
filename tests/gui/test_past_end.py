"""Past a sequence's end (a packed batch) the Gates and Text views say why their cells are blank,
as the States view does, and show no number there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF
from PySide6.QtGui import QTextCursor

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz_app.panels.gates import GatesView
from lstm_viz_app.panels.states import StatesView
from lstm_viz_app.panels.text_view import TextView

pytestmark = pytest.mark.gui

ENDED = "sequence 2 ended at t = 4"


def packed(source: str = "sine") -> Session:
    text = "hello world, abc" if source == "text" else ""
    return Session(LSTMConfig(input_size=12, hidden_size=6),
                   InputSpec(seq_len=10, batch_size=3, lengths=(10, 7, 5), source=source,
                             text=text))


def view_on(show_view, cls, session):
    ctx, view = show_view(cls, session)
    ctx.select(batch=2)
    return ctx, view


def test_gates_past_the_end_are_hatched_and_the_hover_says_why(qtbot, show_view):
    ctx, view = view_on(show_view, GatesView, packed())
    trace = ctx.session.trace
    assert torch.isnan(trace.gates[0, 0, 5:, 2]).all()  # nn.LSTM computed nothing there
    assert torch.isfinite(trace.gates[0, 0, :5, 2]).all()
    for gate, hm in view.heatmaps.items():
        vb = hm.plot.getViewBox()
        qtbot.waitUntil(lambda vb=vb: vb.sceneBoundingRect().width() > 10)
        # the hatching covers exactly steps 5..9 of every row
        assert hm.ended.isVisible()
        assert hm.ended.rect().left() == pytest.approx(4.5)
        assert hm.ended.rect().right() == pytest.approx(9.5)
        assert hm.ended.rect().height() == pytest.approx(6)
        blank = vb.mapViewToScene(QPointF(7, 1))
        scene = vb.scene()  # each track has a scene of its own
        assert view.hover_text(blank, scene) == f"gate {gate}, unit 1, t 7: blank: {ENDED}"
        inside = vb.mapViewToScene(QPointF(3, 1))
        value = float(trace.gates[0, 0, 3, 2, "ifgo".index(gate), 1])
        assert view.hover_text(inside, scene) == f"gate {gate}, unit 1, t 3: {value:.4f}"
        # written on the hatching of every track (each may be scrolled to alone)
        assert hm.ended_label.isVisible() and hm.ended_label.textItem.toPlainText() == ENDED
    # and in the caption and on the shared time axis
    assert ENDED in view.caption.text()
    assert ENDED in view.timeline.axis_plot.getAxis("bottom").labelText
    # a sequence that runs to the last step has nothing hatched, nothing said
    ctx.select(batch=0)
    assert not any(hm.ended.isVisible() for hm in view.heatmaps.values())
    assert "ended" not in view.caption.text()


def test_text_past_the_end_is_hatched_and_says_why_without_a_number(qtbot, show_view):
    ctx, view = view_on(show_view, TextView, packed("text"))
    session = ctx.session
    h = session.trace.h[0, 0, :, 2, 0].numpy()
    assert np.isnan(h[5:]).all() and np.isfinite(h[:5]).all()
    session.seek(7)
    assert view.tokens[7] == ","  # sequence 2 starts 20 characters into the text
    assert view.status.text() == f"t = 7: ',', h[0]: blank: {ENDED}"
    assert view.hover_text(view.starts[8]) == f"t = 8: ' ', h[0]: blank: {ENDED}"
    assert ENDED in view.legend.text()
    # past the end the character's background is hatched; inside it is a plain colour
    cursor = QTextCursor(view.text.document())
    cursor.setPosition(view.starts[9] + 1)
    assert cursor.charFormat().background().style() != cursor.charFormat().background() \
        .style().SolidPattern
    cursor.setPosition(view.starts[2] + 1)
    assert cursor.charFormat().background().style() == cursor.charFormat().background() \
        .style().SolidPattern
    # inside the sequence the reading is the trace's number
    session.seek(3)
    assert view.status.text().endswith(f"= {h[3]:+.3f}")
    assert "ended" not in view.status.text()


def test_states_past_the_end_are_hatched_as_in_gates(qtbot, show_view):
    ctx, view = view_on(show_view, StatesView, packed())
    assert torch.isnan(ctx.session.trace.c[0, 0, 5:, 2]).all()
    for name, hm in (("c", view.c_map), ("h", view.h_map)):
        vb = hm.plot.getViewBox()
        qtbot.waitUntil(lambda vb=vb: vb.sceneBoundingRect().width() > 10)
        assert hm.ended.isVisible()
        assert hm.ended.rect().left() == pytest.approx(4.5)
        assert hm.ended.rect().right() == pytest.approx(9.5)
        assert view.hover_text(vb.mapViewToScene(QPointF(7, 1)), vb.scene()) == \
            f"{name}, unit 1, t 7: blank: {ENDED}"
        assert hm.ended_label.isVisible()  # labelled in every track
    ctx.select(batch=0)  # a sequence that runs to the last step: nothing hatched
    assert not view.c_map.ended.isVisible() and not view.h_map.ended.isVisible()


@pytest.mark.parametrize("features", [12, 3])  # drawn as a heatmap, or as lines
def test_the_input_strip_draws_padding_past_the_end_as_padding_not_input(qtbot, show_view,
                                                                          features):
    session = Session(LSTMConfig(input_size=features, hidden_size=6),
                      InputSpec(seq_len=10, batch_size=3, lengths=(10, 7, 5)))
    ctx, view = view_on(show_view, StatesView, session)
    strips = view.strips
    x = ctx.session.input_tm[:, 2].numpy()  # (T, F): what it holds from step 5 on is not read
    if features > 4:
        shown = strips.input_map.data  # (F, T)
        assert strips.input_map.end == 5 and strips.input_map.ended.isVisible()
        assert strips.input_map.ended_label.isVisible()
        assert strips.input_map.ended_text == f"padding: {ENDED}"
    else:
        shown = np.stack([line.yData for line in strips.input_lines[:features]])
        assert strips.padding.isVisible() and strips.padding.getRegion() == (4.5, 9.5)
        assert strips.padding_label.isVisible()
        assert strips.padding_label.textItem.toPlainText() == f"padding: {ENDED}"
    np.testing.assert_allclose(shown[:, :5], x[:5].T, atol=1e-6)  # the input as it is
    assert np.isnan(shown[:, 5:]).all()  # no value drawn for the padding
    ctx.select(batch=0)  # the longest sequence: nothing is padding
    assert not strips.padding.isVisible() and not strips.input_map.ended.isVisible()
