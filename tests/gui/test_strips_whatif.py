"""While a what-if edit or ablation is active, the prediction and loss strips draw both runs: the
original (dashed) and the edited one (solid), each equal to the head on a run computed here with
torch alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lstm_refs import head_linear
from torch import nn

from lstm_viz import Session
from lstm_viz.demos import open_demo
from lstm_viz.tracing.edits import Ablation
from lstm_viz_app.panels.states import StatesView

pytestmark = pytest.mark.gui


def _cell(lstm: nn.LSTM) -> nn.LSTMCell:
    """An nn.LSTMCell with the one-layer LSTM's weights."""
    cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, name + "_l0"))
    return cell


def _runs(session, kind: str, units: tuple[int, ...], start: int):
    """The head's outputs (T, out) on nn.LSTM's own run, and on a step loop of the same weights
    in which ``kind`` ("h" or "c") of ``units`` is set to 0 right after each step from
    ``start`` on (an edited c gives h = o * tanh(c), o from the cell's own gates)."""
    lstm, x = session.lstm, session.input_tm[:, 0]  # (T, input_size)
    head, cell = head_linear(session), _cell(lstm)
    H = lstm.hidden_size
    with torch.no_grad():
        out, _ = lstm(x)
        original = head(out)
        h, c = torch.zeros(1, H), torch.zeros(1, H)
        steps = []
        for t in range(x.shape[0]):
            z = x[t:t + 1] @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh
            o = torch.sigmoid(z[:, 3 * H:])
            h, c = cell(x[t:t + 1], (h, c))
            if t >= start:
                if kind == "c":
                    c[:, list(units)] = 0.0
                    h = o * torch.tanh(c)
                else:
                    h[:, list(units)] = 0.0
            steps.append(h)
        edited = head(torch.cat(steps))
    return original.numpy(), edited.numpy()


@pytest.fixture
def ablated(make_panels, wait_traced):
    """A States view on a demo, after an ablation made the way the app makes it."""

    def make(demo: str, kind: str, units: tuple[int, ...], start: int):
        session = Session()
        open_demo(session, demo)
        host = make_panels(StatesView, session=session)
        session.ablate(Ablation(kind, layer=0, direction=0, batch=0, units=units, start=start),
                       rerun=False)
        wait_traced(host.ctx)
        assert session.trace.meta["edited"] and session.original is not None
        return host, host.panels["States"].strips

    return make


def test_sine_forecast_strip_draws_the_original_and_the_ablated_run(ablated):
    units, start = (3, 20), 40
    host, strips = ablated("sine", "h", units, start)
    original, edited = _runs(host.session, "h", units, start)
    x = host.session.input_tm[:, 0, 0].numpy()
    assert strips.original_line.isVisible() and strips.forecast_line.isVisible()
    np.testing.assert_allclose(strips.original_line.yData, original[:, 0], atol=1e-5)
    np.testing.assert_allclose(strips.forecast_line.yData, edited[:, 0], atol=1e-5)
    # the ablation changes the forecast from its first step on, and not before
    assert np.abs(edited[start:, 0] - original[start:, 0]).max() > 1e-2
    np.testing.assert_allclose(edited[:start], original[:start], atol=1e-6)
    # the loss strip: the squared error of each run against the true next value
    np.testing.assert_allclose(strips.original_loss_line.yData[:-1],
                               (original[:-1, 0] - x[1:]) ** 2, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(strips.loss_line.yData[:-1], (edited[:-1, 0] - x[1:]) ** 2,
                               rtol=1e-4, atol=1e-7)
    for plot in (strips.pred_plot, strips.loss_plot):
        title = plot.titleLabel.text
        assert "original (dashed)" in title and "edited (solid)" in title
    host.session.seek(60)
    assert f"(original {original[60, 0]:+.3f})" in strips.readout.text()
    assert f"= {edited[60, 0]:+.3f}" in strips.readout.text()


def test_char_demo_strip_gives_the_true_next_character_probability_in_both_runs(ablated):
    units, start = (107,), 30
    host, strips = ablated("char_python", "c", units, start)
    session = host.session
    original, edited = _runs(session, "c", units, start)
    vocab = list(session.input_spec.params["vocab"])
    text = list(session.input_spec.text)[: session.num_steps]
    following = [vocab.index(ch) for ch in text[1:]]
    steps = np.arange(len(following))
    p_original = torch.from_numpy(original).softmax(-1).numpy()[steps, following]
    p_edited = torch.from_numpy(edited).softmax(-1).numpy()[steps, following]
    np.testing.assert_allclose(strips.original_line.yData[:-1], p_original, atol=1e-5)
    np.testing.assert_allclose(strips.forecast_line.yData[:-1], p_edited, atol=1e-5)
    assert np.abs(p_edited - p_original).max() > 1e-3
    np.testing.assert_allclose(strips.original_loss_line.yData[:-1], -np.log(p_original),
                               rtol=1e-4, atol=1e-5)
    session.seek(start + 5)
    readout = strips.readout.text()
    assert f"p={p_edited[start + 5]:.3f}" in readout
    assert f"(original p={p_original[start + 5]:.3f}" in readout


def test_clearing_the_edits_leaves_one_curve(ablated, wait_traced):
    host, strips = ablated("sine", "h", (3,), 10)
    host.session.clear_edits()
    wait_traced(host.ctx)
    assert not strips.original_line.isVisible() and not strips.original_loss_line.isVisible()
    assert "original" not in strips.pred_plot.titleLabel.text
    assert "original" not in strips.readout.text()
