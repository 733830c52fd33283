"""A windowed session whose caller traces windows itself (a GUI, on its worker): ``seek`` only
moves t, ``request_window()`` traces the window around t from the runs on show, and the result
equals the whole input's trace, itself checked against nn.LSTM."""

from __future__ import annotations

import pytest
import torch

from lstm_viz import InputSpec, LSTMConfig, Session, trace

T = 6000
BUDGET = 4_800_000  # 6000 steps of hidden 16 fit in windows, not in full
TOL = 1e-5


def deferred(cfg: LSTMConfig) -> Session:
    s = Session(cfg, InputSpec(source="sine", seq_len=T, batch_size=1), seed=1,
                memory_budget=BUDGET)
    s.defer_windows = True
    s.retrace()
    return s


def full(session: Session, x: torch.Tensor | None = None):
    x = session.input_tm if x is None else x
    with torch.no_grad():
        ref = trace(session.lstm, x, memory_budget=1 << 34)
        out, _ = session.lstm(x)
    torch.testing.assert_close(torch.cat(list(ref.h[-1]), -1), out, atol=TOL, rtol=0)
    return ref


@pytest.mark.parametrize("bidirectional", [False, True])
def test_deferred_seek_moves_t_only_and_the_window_request_traces_there(bidirectional):
    cfg = LSTMConfig(input_size=4, hidden_size=16, bidirectional=bidirectional)
    if bidirectional:
        cfg = cfg.replace(hidden_size=8)
    s = deferred(cfg)
    assert s.windowed and s.trace.windowed
    before = s.trace
    assert s.seek(5000) == 5000
    assert s.trace is before and s.window_due
    req = s.request_window()
    assert s.accept(req, req.run())
    tr = s.trace
    assert tr.start <= 5000 < tr.stop and not s.window_due
    ref = full(s)
    torch.testing.assert_close(tr.gates, ref.gates[:, :, tr.start:tr.stop], atol=TOL, rtol=0)
    torch.testing.assert_close(tr.c, ref.c[:, :, tr.start:tr.stop], atol=TOL, rtol=0)
    v = s.values_at(0, 0, 0, 5000)
    torch.testing.assert_close(torch.as_tensor(v["h"]), ref.h[0, 0, 5000, 0], atol=TOL,
                               rtol=0)


def test_a_window_request_is_stale_once_the_session_changes():
    s = deferred(LSTMConfig(input_size=4, hidden_size=16))
    s.seek(4000)
    req = s.request_window()
    s.edit_input(10, 0, 0, 1.0, rerun=False)
    newer = s.request()
    assert not s.accept(req, req.run())
    assert s.accept(newer, newer.run())


def test_the_run_before_the_edits_moves_with_the_window():
    s = deferred(LSTMConfig(input_size=4, hidden_size=16))
    s.edit_input(100, 0, 2, 3.0)
    assert s.original is not None and s.trace.meta["edited"]
    s.seek(5500)
    req = s.request_window()
    assert s.accept(req, req.run())
    assert s.original.start == s.trace.start and s.original.start <= 5500 < s.original.stop
    assert "original" not in s.trace.meta
    ref = full(s)
    x = s.input_tm.clone()
    x[100, 0, 2] = 3.0
    edited = full(s, x)
    a, b = s.trace.start, s.trace.stop
    torch.testing.assert_close(s.original.h, ref.h[:, :, a:b], atol=TOL, rtol=0)
    torch.testing.assert_close(s.trace.h, edited.h[:, :, a:b], atol=TOL, rtol=0)


def test_request_window_without_a_windowed_trace_says_what_to_do():
    s = Session(LSTMConfig(input_size=4, hidden_size=8))
    with pytest.raises(ValueError, match="request"):
        s.request_window()
