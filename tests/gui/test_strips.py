"""The input and prediction strips: what they draw is the input and the head run by torch, and
they follow the cursor."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from lstm_refs import head_linear

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.demos import open_demo
from lstm_viz.formats.loader import Head
from lstm_viz_app.panels.gates import GatesView
from lstm_viz_app.panels.states import StatesView

pytestmark = pytest.mark.gui


def _demo_session(name: str) -> Session:
    session = Session()
    open_demo(session, name)
    return session


def _torch_head(session) -> torch.Tensor:
    """nn.Linear with the head's weights on nn.LSTM's own output: (T, out_features)."""
    linear = head_linear(session)
    with torch.no_grad():
        out, _ = session.lstm(session.input)
        return linear(out[:, 0] if out.ndim == 3 else out)


def test_sine_demo_first_screen_shows_the_wave_and_its_forecast(make_panels):
    host = make_panels(StatesView, GatesView, session=_demo_session("sine"))
    x = host.session.input_tm[:, 0, 0].numpy()
    expected = _torch_head(host.session)[:, 0].numpy()
    for view in host.panels.values():
        strips = view.strips
        assert strips.pred_plot.isVisible() and strips.loss_plot.isVisible()
        wave = strips.input_lines[0].yData  # every step, not only those on screen
        np.testing.assert_allclose(wave, x, atol=1e-6)
        forecast = strips.forecast_line.yData  # every step, not only those on screen
        np.testing.assert_allclose(forecast, expected, atol=1e-5)
        truth = strips.target_line.yData  # every step, not only those on screen
        np.testing.assert_allclose(truth[:-1], x[1:], atol=1e-6)
        loss = strips.loss_line.yData  # every step, not only those on screen
        np.testing.assert_allclose(loss[:-1], (expected[:-1] - x[1:]) ** 2, rtol=1e-4,
                                   atol=1e-7)
        assert "forecast" in strips.pred_plot.titleLabel.text


def test_char_demo_shows_the_true_next_character_and_the_top_5_at_the_cursor(make_panels):
    host = make_panels(GatesView, session=_demo_session("char_python"))
    session = host.session
    strips = host.panels["Gates"].strips
    probs = _torch_head(session).softmax(-1).numpy()
    vocab = list(session.input_spec.params["vocab"])
    text = [ch for ch in session.input_spec.text][: session.num_steps]
    t = 40
    session.seek(t)
    true_next = vocab.index(text[t + 1])
    p_true = strips.forecast_line.yData  # every step, not only those on screen
    np.testing.assert_allclose(p_true[:-1], probs[np.arange(len(text) - 1),
                                                  [vocab.index(c) for c in text[1:]]],
                               atol=1e-5)
    readout = strips.readout.text()
    assert f"t={t}" in readout and f"p={probs[t, true_next]:.3f}" in readout
    for k in np.argsort(-probs[t])[:5]:
        assert f"{probs[t, k]:.2f}" in readout.split("top 5:")[1]
    # the characters read are written along the input strip
    assert strips.token_axis.tokens[:len(text)] == text


def test_random_lstm_shows_the_input_only(make_panels):
    session = Session(LSTMConfig(input_size=6, hidden_size=5), InputSpec(seq_len=30))
    host = make_panels(GatesView, StatesView, session=session)
    x = session.input_tm[:, 0].numpy()
    for view in host.panels.values():
        strips = view.strips
        assert not strips.pred_plot.isVisible() and not strips.loss_plot.isVisible()
        assert strips.input_map.image.isVisible()
        np.testing.assert_allclose(strips.input_map.data, x.T)


def test_strips_follow_the_cursor(make_panels):
    host = make_panels(GatesView, session=_demo_session("sine"))
    strips = host.panels["Gates"].strips
    for t in (7, 0, 119):
        host.session.seek(t)
        assert all(cursor.value() == t for cursor in strips.cursors)
        assert strips.readout.text().startswith(f"t={t}:")


def test_the_input_strip_says_when_its_character_labels_skip_some(qtbot, show_view):
    _, view = show_view(StatesView, _demo_session("char_python"))
    strips = view.strips
    vb = strips.input_plot.getViewBox()

    def labelled_every():
        (x0, x1), _ = vb.viewRange()
        return strips.token_axis.label_step(x0, x1, strips.token_axis.geometry().width())

    view.overview.set_width(300)  # 300 characters in a strip a few hundred pixels wide
    qtbot.waitUntil(lambda: labelled_every() > 1)
    step = labelled_every()
    suffix = {2: "nd", 3: "rd"}.get(step, "th")
    title = strips.input_plot.titleLabel.text
    assert f"every {step}{suffix} character labelled" in title
    view.overview.set_width(20)  # every character fits: nothing to say
    qtbot.waitUntil(lambda: labelled_every() == 1)
    assert "labelled" not in strips.input_plot.titleLabel.text


def _seen(colour, vision: str) -> np.ndarray:
    """sRGB (0..1) of ``colour`` as seen with ``vision`` (Viénot, Brettel & Mollon 1999)."""
    rgb = np.array([colour.redF(), colour.greenF(), colour.blueF()])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = {"normal": np.eye(3),
              "protanopia": [[0.11238, 0.88762, 0], [0.11238, 0.88762, 0],
                             [0.00401, -0.00401, 1]],
              "deuteranopia": [[0.29275, 0.70725, 0], [0.29275, 0.70725, 0],
                               [-0.02234, 0.02234, 1]]}[vision]
    seen = np.clip(np.asarray(matrix) @ linear, 0, 1)
    return np.where(seen <= 0.0031308, 12.92 * seen, 1.055 * seen ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize("vision", ["normal", "protanopia", "deuteranopia"])
def test_cursor_forecast_and_error_have_colours_of_their_own(make_panels, vision):
    host = make_panels(StatesView, session=_demo_session("sine"))
    view = host.panels["States"]
    strips = view.strips
    colours = {
        "cursor": [strips.cursors[0].pen.color(), view.c_map.cursor.pen.color(),
                   view.lines_cursor.pen.color(),
                   pg.mkBrush(view.bars["i"].focus.opts["brush"]).color()],
        "forecast": [strips.forecast_line.opts["pen"].color()],
        "error": [strips.error_line.opts["pen"].color(), strips.loss_line.opts["pen"].color()],
    }
    for name, same in colours.items():  # one colour per meaning, wherever it is drawn
        assert len({c.name() for c in same}) == 1, name
    seen = {name: _seen(same[0], vision) for name, same in colours.items()}
    names = list(seen)
    for k, a in enumerate(names):
        for b in names[k + 1:]:
            assert np.linalg.norm(seen[a] - seen[b]) >= 0.22, (a, b)


def test_a_head_with_no_target_shows_a_note_instead_of_an_empty_loss_strip(make_panels):
    torch.manual_seed(0)
    session = Session(LSTMConfig(input_size=3, hidden_size=5), InputSpec(seq_len=20))
    # five outputs from three inputs: not a forecast of the next input, so no loss
    session.load_module(session.lstm, head=Head("fc", torch.randn(5, 5), torch.randn(5)))
    host = make_panels(StatesView, session=session)
    strips = host.panels["States"].strips
    assert strips.loss_plot.isVisible()
    assert strips.loss_note.item.isVisible() and "no loss" in strips.loss_note.text
    assert not strips.loss_plot.getAxis("left").isVisible()
    assert strips.loss_line.yData is None or len(strips.loss_line.yData) == 0
