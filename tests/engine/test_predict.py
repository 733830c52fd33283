"""The head's predictions, checked against torch running the same Linear on nn.LSTM's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.demos import open_demo
from lstm_viz.explain.predict import head_outputs, predict
from lstm_viz.formats.loader import Head
from lstm_viz.text.textinput import tokens_spec


def _linear(in_features: int, out_features: int, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features)


def _head(linear: nn.Linear) -> Head:
    return Head("head", linear.weight.detach().clone(), linear.bias.detach().clone())


@pytest.mark.parametrize("cfg", [
    LSTMConfig(input_size=3, hidden_size=6),
    LSTMConfig(input_size=3, hidden_size=6, num_layers=2, bidirectional=True),
    LSTMConfig(input_size=3, hidden_size=6, num_layers=2, proj_size=4, batch_first=True),
])
def test_head_outputs_equal_linear_on_nn_lstm_output(cfg):
    session = Session(cfg, InputSpec(seq_len=9, batch_size=2))
    trace = session.retrace()
    with torch.no_grad():
        out, _ = session.lstm(session.input)
        if cfg.batch_first:
            out = out.transpose(0, 1)
        linear = _linear(out.shape[-1], 5)
        expected = linear(out).double().numpy()
    got = head_outputs(trace, _head(linear))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_forecast_target_is_next_input_and_loss_is_squared_error():
    cfg = LSTMConfig(input_size=2, hidden_size=5)
    session = Session(cfg, InputSpec(source="sine", seq_len=12))
    trace = session.retrace()
    x = session.input_tm
    with torch.no_grad():
        out, _ = session.lstm(x)
        linear = _linear(5, 2, seed=3)
        y = linear(out)
        mse = nn.functional.mse_loss(y[:-1], x[1:], reduction="none").sum(-1)
    p = predict(trace, _head(linear))
    assert p.kind == "forecast"
    np.testing.assert_allclose(p.target[:-1], x[1:].numpy(), atol=1e-6)
    assert np.isnan(p.target[-1]).all() and np.isnan(p.loss[-1]).all()
    np.testing.assert_allclose(p.loss[:-1], mse.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p.error[:-1], (y[:-1] - x[1:]).numpy(), atol=1e-5)


def test_next_token_probability_and_loss_equal_softmax_and_cross_entropy():
    vocab = list("abcdef ")
    text = "a bad face fed a cab"
    session = Session(LSTMConfig(input_size=len(vocab), hidden_size=8),
                      tokens_spec(text, vocab=vocab))
    trace = session.retrace()
    idx = torch.tensor([vocab.index(ch) for ch in text])
    with torch.no_grad():
        out, _ = session.lstm(nn.functional.one_hot(idx, len(vocab)).float()[:, None])
        linear = _linear(8, len(vocab), seed=2)
        logits = linear(out[:, 0])
        ce = nn.functional.cross_entropy(logits[:-1], idx[1:], reduction="none")
        probs = logits.softmax(-1)
    p = predict(trace, _head(linear), session.input_spec)
    assert p.kind == "next token"
    assert list(p.target[:-1, 0]) == idx[1:].tolist() and p.target[-1, 0] == -1
    np.testing.assert_allclose(p.loss[:-1, 0], ce.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.probs[:, 0], probs.numpy(), atol=1e-6)
    top = p.top(3, k=5)
    assert [tok for tok, _ in top] == [vocab[i] for i in probs[3].argsort(descending=True)[:5]]


def test_packed_batch_has_no_prediction_past_a_sequence_end():
    cfg = LSTMConfig(input_size=2, hidden_size=4)
    session = Session(cfg, InputSpec(seq_len=6, batch_size=2, lengths=(6, 3)))
    p = predict(session.retrace(), _head(_linear(4, 2)))
    assert np.isnan(p.outputs[3:, 1]).all() and np.isfinite(p.outputs[:, 0]).all()
    assert np.isnan(p.loss[2:, 1]).all() and np.isfinite(p.loss[:5, 0]).all()


def test_a_head_that_reads_another_size_is_refused():
    session = Session(LSTMConfig(input_size=2, hidden_size=4))
    with pytest.raises(ValueError, match="reads 7 features"):
        head_outputs(session.retrace(), _head(_linear(7, 2)))


def test_demos_bring_their_head_into_the_session_and_a_new_seed_drops_it():
    session = Session()
    open_demo(session, "sine")
    assert session.head is not None and session.head.out_features == 1
    p = predict(session.retrace(), session.head, session.input_spec)
    assert p.kind == "forecast"
    # a trained forecaster beats "the next value equals this one" on its own demo input
    x = session.input_tm[:, 0, 0].double().numpy()
    naive = np.mean((x[1:] - x[:-1]) ** 2)
    assert np.nanmean(p.loss) < naive
    open_demo(session, "char_python")
    p = predict(session.retrace(), session.head, session.input_spec)
    assert p.kind == "next token" and len(p.vocab) == session.head.out_features
    assert np.nanmean(p.loss) < np.log(len(p.vocab)) / 2  # far better than guessing
    session.reinitialize(5)
    assert session.head is None
