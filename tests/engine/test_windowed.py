"""Windowed traces against full traces and nn.LSTM itself, on generated configurations."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lstm_refs import looped_steps
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm_viz import InputSpec, LSTMConfig, Session, TraceBudgetError, trace
from lstm_viz.formats.export import gates_table, trace_arrays
from lstm_viz.tracing import checkpoints, trace_window


@st.composite
def cases(draw):
    """A config torch accepts, an input (batched, unbatched or packed), an optional hx, a
    window, and how often states are kept."""
    hidden = draw(st.integers(1, 6))
    cfg = dict(
        input_size=draw(st.integers(1, 5)), hidden_size=hidden,
        num_layers=draw(st.integers(1, 3)), bias=draw(st.booleans()),
        batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()),
        proj_size=draw(st.sampled_from([0, 0] + list(range(1, hidden)))),
    )
    form = draw(st.sampled_from(["batched", "unbatched", "packed"]))
    T = draw(st.integers(1, 40))
    B = 1 if form == "unbatched" else draw(st.integers(1, 3))
    lengths = None
    if form == "packed":
        lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
        lengths[draw(st.integers(0, B - 1))] = T
    start = draw(st.integers(0, T - 1))
    stop = draw(st.integers(start + 1, T))
    return dict(cfg=cfg, form=form, T=T, B=B, lengths=lengths, start=start, stop=stop,
                every=draw(st.integers(1, 12)), with_hx=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


def _make(case):
    torch.manual_seed(case["seed"])
    lstm = nn.LSTM(**case["cfg"]).double().eval()
    cfg = LSTMConfig.from_module(lstm)
    T, B = case["T"], case["B"]
    if case["form"] == "unbatched":
        x = torch.randn(T, cfg.input_size, dtype=torch.float64)
    else:
        x = torch.randn(T, B, cfg.input_size, dtype=torch.float64)
        if cfg.batch_first:
            x = x.transpose(0, 1).contiguous()
    if case["lengths"] is not None:
        x = pack_padded_sequence(x, torch.tensor(case["lengths"]), batch_first=cfg.batch_first,
                                 enforce_sorted=False)
    hx = None
    if case["with_hx"]:
        LD = cfg.num_layers * cfg.num_directions
        lead = (LD,) if case["form"] == "unbatched" else (LD, B)
        hx = (torch.randn(*lead, cfg.h_out, dtype=torch.float64),
              torch.randn(*lead, cfg.hidden_size, dtype=torch.float64))
    return lstm, cfg, x, hx


def _time_major(out, cfg, unbatched):
    """nn.LSTM's output as (T, B, D*H_out), padded with zeros."""
    if isinstance(out, PackedSequence):
        return pad_packed_sequence(out)[0]
    if unbatched:
        return out.unsqueeze(1)
    return out.transpose(0, 1) if cfg.batch_first else out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_window_equals_full_trace_and_nn_lstm_on_generated_configs(case):
    lstm, cfg, x, hx = _make(case)
    s, e = case["start"], case["stop"]
    full = trace(lstm, x, hx)
    ckpt = checkpoints(lstm, x, hx, every=case["every"])
    unbatched = case["form"] == "unbatched"
    packed = case["form"] == "packed"
    win = trace_window(ckpt, s, e, unbatched=unbatched, packed=packed)
    assert win.start == s and win.num_steps == e - s
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(win, name), getattr(full, name)[:, :, s:e],
                                   atol=1e-10, rtol=0, equal_nan=True)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x, hx) if hx is not None else lstm(x)
    torch.testing.assert_close(win.h_n, h_n, atol=1e-10, rtol=0)
    torch.testing.assert_close(win.c_n, c_n, atol=1e-10, rtol=0)
    ours = win.output.unsqueeze(1) if unbatched else win.output
    if cfg.batch_first and not packed and not unbatched:
        ours = ours.transpose(0, 1)
    torch.testing.assert_close(ours, _time_major(out, cfg, unbatched)[s:e], atol=1e-10,
                               rtol=0)
    # A second window, overlapping or next to the first, starts from the first's states.
    s2, e2 = max(0, s - 3), min(case["T"], e + 5)
    win2 = trace_window(ckpt, s2, e2)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(win2, name), getattr(full, name)[:, :, s2:e2],
                                   atol=1e-10, rtol=0, equal_nan=True)


def test_trace_with_window_matches_the_full_trace_bidirectional_batch_first():
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, proj_size=2)
    x = torch.randn(2, 300, 3)
    full = trace(lstm, x)
    win = trace(lstm, x, window=(120, 180))
    assert win.start == 120 and win.gates.shape[2] == 60 and win.windowed
    torch.testing.assert_close(win.h, full.h[:, :, 120:180], atol=1e-5, rtol=0)
    torch.testing.assert_close(win.gates, full.gates[:, :, 120:180], atol=1e-5, rtol=0)
    assert win.output.shape == (2, 60, 4)


WINDOW_EDIT_CASES = [  # (nn.LSTM keyword arguments, packed lengths or None, with h_0 and c_0)
    (dict(input_size=3, hidden_size=5, num_layers=2), None, False),
    (dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True), [60, 37, 51], True),
    (dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=2), None,
     True),
]


@pytest.mark.parametrize("method", ["layered", "fused"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw, lengths, with_hx", WINDOW_EDIT_CASES)
def test_windows_with_edits_run_the_fast_route_and_equal_the_step_loop(method, dtype, kw,
                                                                       lengths, with_hx):
    """Windows of a run with what-if edits, each started from the kept states: the fast route
    up to a span's first edited step, the step loop from there; every gate, c and h equals the
    full trace that runs every step in torch calls with the same edits."""
    from lstm_viz.tracing.edits import StateEdit

    T, B = 60, 3
    torch.manual_seed(4)
    lstm = nn.LSTM(**kw).to(dtype).eval()
    cfg = LSTMConfig.from_module(lstm)
    LD = cfg.num_layers * cfg.num_directions
    x = torch.randn(T, B, 3, dtype=dtype)
    inp = x if lengths is None else pack_padded_sequence(x, torch.tensor(lengths),
                                                         enforce_sorted=False)
    hx = (torch.randn(LD, B, cfg.h_out, dtype=dtype),
          torch.randn(LD, B, cfg.hidden_size, dtype=dtype)) if with_hx else None
    D = cfg.num_directions
    edits = [StateEdit("c", 45, 0, 0, 0, 1, 0.5), StateEdit("h", 20, 0, D - 1, 2, 0, -0.8),
             StateEdit("i", 30, 1, D - 1, 1, 4, 0.0), StateEdit("g", 9, 1, 0, 0, 2, 1.0)]
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        want = trace(lstm, inp, hx, method="torch", overrides=edits)
        ckpt = checkpoints(lstm, inp, hx, every=8, overrides=edits, method=method)
        assert ckpt.method == method
        for s, e in ((13, 29), (40, 57), (0, 60), (50, 60), (44, 46)):
            win = trace_window(ckpt, s, e)
            for name in ("gates", "c", "h"):
                torch.testing.assert_close(getattr(win, name), getattr(want, name)[:, :, s:e],
                                           atol=tol, rtol=0, equal_nan=True)
        torch.testing.assert_close(ckpt.h_n, want.h_n, atol=tol, rtol=0)
        torch.testing.assert_close(ckpt.c_n, want.c_n, atol=tol, rtol=0)


@pytest.mark.parametrize("method", ["loop", "torch", "fused", "layered"])
def test_a_windowed_trace_runs_the_method_asked_for_in_its_pass_and_window(method):
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 5, bidirectional=True).eval()
    x = torch.randn(50, 2, 3)
    win = trace(lstm, x, window=(10, 30), method=method)
    assert win.method == method and win.checkpoints.method == method
    torch.testing.assert_close(win.h, trace(lstm, x, method="torch").h[:, :, 10:30], atol=2e-6,
                               rtol=0)
    with pytest.raises(ValueError, match="method must be one of auto, loop, torch, fused,"
                                         " layered"):
        checkpoints(lstm, x, method="scan")


def test_a_window_with_an_edit_runs_the_step_loop_only_from_the_edited_step(monkeypatch):
    from lstm_viz.tracing.edits import StateEdit

    torch.manual_seed(3)
    lstm = nn.LSTM(3, 5).eval()
    x = torch.randn(64, 2, 3)
    edits = [StateEdit("c", 45, 0, 0, 1, 2, 0.5)]
    ckpt = checkpoints(lstm, x, every=8, overrides=edits, method="layered")
    looped = looped_steps(monkeypatch)
    win = trace_window(ckpt, 40, 57)  # from the kept state at 40: steps 45..56 in the loop
    assert looped == [57 - 45] and win.method == "layered"
    want = trace(lstm, x, method="torch", overrides=edits)
    torch.testing.assert_close(win.c, want.c[:, :, 40:57], atol=2e-6, rtol=0)


def test_overview_holds_min_max_mean_of_each_bucket_ignoring_padding():
    torch.manual_seed(2)
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    x = pack_padded_sequence(torch.randn(50, 2, 2, dtype=torch.float64), torch.tensor([50, 23]),
                             enforce_sorted=False)
    full = trace(lstm, x)
    ckpt = checkpoints(lstm, x, every=7)
    ov = ckpt.overview
    bs = ov.bucket_size
    for j in range(ov.num_buckets):
        for name in ("gates", "c", "h"):
            chunk = getattr(full, name)[:, :, j * bs:(j + 1) * bs].numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets
                want = (np.nanmin(chunk, axis=2), np.nanmax(chunk, axis=2),
                        np.nanmean(chunk, axis=2))
            got = getattr(ov, name)[:, :, :, j].numpy()
            for k in range(3):
                np.testing.assert_allclose(got[k], want[k], atol=1e-12)


def test_window_outside_the_input_is_refused():
    lstm = nn.LSTM(2, 3)
    with pytest.raises(ValueError, match="0 <= start < stop <= seq_len=10"):
        trace(lstm, torch.randn(10, 2), window=(5, 11))
    with pytest.raises(ValueError, match="pair of ints"):
        trace(lstm, torch.randn(10, 2), window=5)


def _values_equal(a, b):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=2e-5, err_msg=k)


def test_session_over_the_budget_windows_and_its_values_equal_the_full_trace():
    cfg = LSTMConfig(input_size=3, hidden_size=8, num_layers=2, bidirectional=True)
    spec = InputSpec(seq_len=12000, batch_size=2)
    full = Session(cfg, spec)
    full.retrace()
    assert not full.windowed
    budget = 24_000_000
    with pytest.raises(TraceBudgetError):
        trace(full.lstm, full.input, memory_budget=budget)
    s = Session(cfg, spec, memory_budget=budget)
    s.window_size = 300
    assert s.windowed
    s.retrace()
    assert s.trace.windowed and s.window == (0, 300) and s.num_steps == 12000
    assert s.overview is not None and s.overview.gates.shape[3] > 16
    for t in (0, 299, 300, 301, 7000, 11999, 5, 6000):
        s.seek(t)
        assert s.window[0] <= t < s.window[1]
        for layer in range(2):
            for d in range(2):
                _values_equal(s.values_at(layer, d, 1), full.values_at(layer, d, 1, t=t))
    _values_equal(s.values_at(1, 1, 0, t=100), full.values_at(1, 1, 0, t=100))
    # exports write the window at its own positions, and the overview
    lo, hi = s.window
    _, rows = gates_table(s, 1, 0, 1)
    assert rows[0][0] == lo and rows[-1][0] == hi - 1
    np.testing.assert_allclose([float(v) for v in rows[-1][2:]],
                               full.trace.gates[1, 0, hi - 1, 1, :, -1].numpy(), atol=2e-5)
    arrays = trace_arrays(s)
    assert int(arrays["window_start"]) == lo and arrays["overview_gates"].shape[3] > 16


def test_a_windowed_session_with_edits_runs_its_method_in_each_window(monkeypatch):
    """With the layered method chosen, a windowed session's pass and windows run it up to each
    edit: every window equals the step loop over the whole input with the same edits."""
    monkeypatch.setenv("LSTM_VIZ_METHOD", "layered")
    cfg = LSTMConfig(input_size=2, hidden_size=6)
    s = Session(cfg, InputSpec(seq_len=9000, batch_size=1), memory_budget=2_500_000)
    s.window_size = 200
    assert s.windowed
    s.retrace()
    s.edit_state("c", 4000, 0, 0, 0, 2, 3.0)
    s.edit_state("h", 6000, 0, 0, 0, 1, -1.0)
    assert s.trace.checkpoints.method == "layered" and s.trace.method == "layered"
    req = s.request()
    want = trace(s.lstm, req.model_input(), method="loop", overrides=req.state_edits)
    for t in (3990, 4000, 5999, 6000, 8999):
        s.seek(t)
        tr = s.trace
        for name in ("gates", "c", "h"):
            torch.testing.assert_close(getattr(tr, name),
                                       getattr(want, name)[:, :, tr.start:tr.stop], atol=2e-5,
                                       rtol=0)


def test_windowed_session_replays_state_edits_as_the_full_trace_does():
    cfg = LSTMConfig(input_size=2, hidden_size=6)
    spec = InputSpec(seq_len=9000, batch_size=1)
    full = Session(cfg, spec)
    s = Session(cfg, spec, memory_budget=2_500_000)
    s.window_size = 200
    assert s.windowed
    s.retrace()
    full.retrace()
    for sess in (s, full):
        sess.edit_state("c", 4000, 0, 0, 0, 2, 3.0)
    assert s.original is not None
    # replayed from a kept state before the edit, not from the start
    assert 0 < s.trace.checkpoints.replayed_from <= 4000
    for sess in (s, full):
        sess.edit_input(6000, 0, 1, -4.0)
    assert 4000 < s.trace.checkpoints.replayed_from <= 6000  # from the edited run's states
    for t in (3999, 4000, 4001, 6000, 6001, 8999):
        s.seek(t)
        _values_equal(s.values_at(), full.values_at(t=t))
        if t in (4000, 4001):  # the edit shows against the run before it
            assert not math.isclose(float(s.values_at()["c"][2]),
                                    float(s.values_at(trace=s.original, t=t)["c"][2]))
