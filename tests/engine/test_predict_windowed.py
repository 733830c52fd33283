"""A head's predictions on a windowed trace equal those of the whole input's trace at the same
input positions, targets included (the step after the window's last has its target too)."""

from __future__ import annotations

import numpy as np
import torch

from lstm_viz import InputSpec, LSTMConfig, Session, trace
from lstm_viz.explain.predict import predict
from lstm_viz.formats.loader import Head

T = 6000
BUDGET = 5_000_000  # 6000 steps of hidden 16 (input_size <= 13) fit in windows, not in full


def windowed_at(spec: InputSpec, cfg: LSTMConfig, t: int) -> Session:
    s = Session(cfg, spec, seed=2, memory_budget=BUDGET)
    s.seek(t)
    s.retrace()
    assert s.trace.windowed and s.trace.start < t < s.trace.stop - 1
    return s


def whole(s: Session):
    with torch.no_grad():
        ref = trace(s.lstm, s.input_tm, memory_budget=1 << 34)
        out, _ = s.lstm(s.input_tm)
    torch.testing.assert_close(ref.h[0, 0], out, atol=1e-5, rtol=0)
    return ref


def check_same(p, q, a: int, b: int) -> None:
    np.testing.assert_allclose(p.outputs, q.outputs[a:b], atol=1e-5)
    np.testing.assert_array_equal(np.isnan(p.target), np.isnan(q.target[a:b]))
    np.testing.assert_allclose(p.target, q.target[a:b], atol=1e-6)
    np.testing.assert_allclose(p.loss, q.loss[a:b], atol=1e-4)


def test_forecast_on_a_windowed_trace_equals_the_whole_inputs_at_its_steps():
    cfg = LSTMConfig(input_size=4, hidden_size=16)
    s = windowed_at(InputSpec(source="sine", seq_len=T, batch_size=1), cfg, 3000)
    head = Head("out", torch.randn(4, 16, generator=torch.Generator().manual_seed(0)))
    p, q = predict(s.trace, head), predict(whole(s), head)
    assert p.kind == q.kind == "forecast"
    a, b = s.trace.start, s.trace.stop
    check_same(p, q, a, b)
    assert np.isfinite(p.target[-1]).all()  # the next step is past the window, not the input


def test_next_token_on_a_windowed_trace_equals_the_whole_inputs_at_its_steps():
    text = ("the cat sat on a mat\n" * 300)[:T]
    V = len(set(text))
    spec = InputSpec(source="text", text=text, seq_len=T, batch_size=1)
    s = windowed_at(spec, LSTMConfig(input_size=V, hidden_size=16), 4000)
    head = Head("out", torch.randn(V, 16, generator=torch.Generator().manual_seed(1)))
    p, q = predict(s.trace, head, spec), predict(whole(s), head, spec)
    assert p.kind == q.kind == "next token"
    a, b = s.trace.start, s.trace.stop
    np.testing.assert_array_equal(p.target, q.target[a:b])
    assert p.target[-1] >= 0
    np.testing.assert_allclose(p.p_target, q.p_target[a:b], atol=1e-6)
