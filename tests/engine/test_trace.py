"""trace() against nn.LSTM itself, on generated configurations, and against the LSTM equations."""

from __future__ import annotations

import json
import math
import stat
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lstm_refs import looped_steps, model_and_input
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from lstm_viz import LSTMConfig, TraceBudgetError, estimate_trace_bytes, trace


@st.composite
def cases(draw):
    """A config torch accepts, an input form, an optional (h_0, c_0) and a trace method."""
    hidden = draw(st.integers(1, 7))
    cfg = dict(
        input_size=draw(st.integers(1, 6)), hidden_size=hidden,
        num_layers=draw(st.integers(1, 3)), bias=draw(st.booleans()),
        batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()),
        proj_size=draw(st.sampled_from([0, 0] + list(range(1, hidden)))),
        dropout=draw(st.sampled_from([0.0, 0.0, 0.3])),
    )
    form = draw(st.sampled_from(["batched", "unbatched", "packed", "packed_unsorted"]))
    T = draw(st.integers(1, 6))
    B = 1 if form == "unbatched" else draw(st.integers(1, 4))
    lengths = None
    if form.startswith("packed"):
        lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
        lengths[draw(st.integers(0, B - 1))] = T  # pad_packed pads to the longest
        if form == "packed":
            lengths = sorted(lengths, reverse=True)
    return dict(cfg=cfg, form=form, T=T, B=B, lengths=lengths,
                with_hx=draw(st.booleans()), method=draw(st.sampled_from(["auto", "loop", "torch",
                                                                           "fused", "layered"])),
                dtype=draw(st.sampled_from([torch.float32, torch.float64])),
                seed=draw(st.integers(0, 2**16)))


def _make(case):
    torch.manual_seed(case["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dropout with one layer
        lstm = nn.LSTM(**case["cfg"]).to(case["dtype"]).eval()
    cfg = LSTMConfig.from_module(lstm)
    T, B, dt = case["T"], case["B"], case["dtype"]
    if case["form"] == "unbatched":
        x = torch.randn(T, cfg.input_size, dtype=dt)
    else:
        x = torch.randn(T, B, cfg.input_size, dtype=dt)
        if cfg.batch_first:
            x = x.transpose(0, 1).contiguous()
    if case["lengths"] is not None:
        x = pack_padded_sequence(x, torch.tensor(case["lengths"]), batch_first=cfg.batch_first,
                                 enforce_sorted=case["form"] == "packed")
    hx = None
    if case["with_hx"]:
        LD = cfg.num_layers * cfg.num_directions
        lead = (LD,) if case["form"] == "unbatched" else (LD, B)
        hx = (torch.randn(*lead, cfg.h_out, dtype=dt), torch.randn(*lead, cfg.hidden_size,
                                                                   dtype=dt))
    return lstm, cfg, x, hx


def _assert_same_output(ours, theirs, tol):
    if isinstance(theirs, PackedSequence):
        assert isinstance(ours, PackedSequence)
        assert torch.equal(ours.batch_sizes, theirs.batch_sizes)
        for a, b in ((ours.sorted_indices, theirs.sorted_indices),
                     (ours.unsorted_indices, theirs.unsorted_indices)):
            assert (a is None and b is None) or torch.equal(a, b)
        ours, theirs = ours.data, theirs.data
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=tol, rtol=0)


def _check_equations(lstm, cfg, tr, tol):
    """Recompute every gate from the module's weights and the traced previous state, and
    c and h from the gates: an independent step-by-step reference."""
    L, D, B = cfg.num_layers, cfg.num_directions, tr.batch_size
    H = cfg.hidden_size
    for layer in range(L):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih = getattr(lstm, "weight_ih" + sfx).detach()
            w_hh = getattr(lstm, "weight_hh" + sfx).detach()
            b = (getattr(lstm, "bias_ih" + sfx) + getattr(lstm, "bias_hh" + sfx)).detach() \
                if cfg.bias else torch.zeros(4 * H, dtype=w_ih.dtype)
            w_hr = getattr(lstm, "weight_hr" + sfx).detach() if cfg.proj_size else None
            for bi in range(B):
                n = int(tr.lengths[bi])
                order = range(n) if d == 0 else range(n - 1, -1, -1)
                h_prev = tr.h_0[layer * D + d, bi]
                c_prev = tr.c_0[layer * D + d, bi]
                for t in order:
                    x = tr.x[t, bi] if layer == 0 else torch.cat(
                        [tr.h[layer - 1, dd, t, bi] for dd in range(D)])
                    z = w_ih @ x + w_hh @ h_prev + b
                    i, f, g, o = z.view(4, H)
                    want = torch.stack([torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g),
                                        torch.sigmoid(o)])
                    torch.testing.assert_close(tr.gates[layer, d, t, bi], want, atol=tol,
                                               rtol=0)
                    c_want = want[1] * c_prev + want[0] * want[2]
                    torch.testing.assert_close(tr.c[layer, d, t, bi], c_want, atol=tol, rtol=0)
                    h_want = want[3] * torch.tanh(tr.c[layer, d, t, bi])
                    if w_hr is not None:
                        h_want = w_hr @ h_want
                    torch.testing.assert_close(tr.h[layer, d, t, bi], h_want, atol=tol, rtol=0)
                    h_prev, c_prev = tr.h[layer, d, t, bi], tr.c[layer, d, t, bi]
                # Past the sequence's end: NaN, so no view can mistake padding for data.
                assert torch.isnan(tr.gates[layer, d, n:, bi]).all()
                assert torch.isnan(tr.h[layer, d, n:, bi]).all()


@settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_trace_matches_nn_lstm_on_generated_configs(case):
    lstm, cfg, x, hx = _make(case)
    tol = 1e-5 if case["dtype"] == torch.float32 else 1e-10
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x, hx) if hx is not None else lstm(x)
    tr = trace(lstm, x, hx, method=case["method"])
    _assert_same_output(tr.output, out, tol)
    assert tr.h_n.shape == h_n.shape and tr.c_n.shape == c_n.shape
    torch.testing.assert_close(tr.h_n, h_n, atol=tol, rtol=0)
    torch.testing.assert_close(tr.c_n, c_n, atol=tol, rtol=0)
    L, D = cfg.num_layers, cfg.num_directions
    T = case["T"]
    B = case["B"]
    assert tr.gates.shape == (L, D, T, B, 4, cfg.hidden_size)
    assert tr.c.shape == (L, D, T, B, cfg.hidden_size)
    assert tr.h.shape == (L, D, T, B, cfg.h_out)
    _check_equations(lstm, cfg, tr, tol * 10)


def test_loop_and_fused_methods_agree_on_a_larger_bidirectional_model():
    torch.manual_seed(1)
    lstm = nn.LSTM(16, 64, num_layers=2, bidirectional=True).eval()
    x = torch.randn(40, 5, 16)
    a, b = trace(lstm, x, method="loop"), trace(lstm, x, method="fused")
    for name in ("gates", "c", "h", "output", "h_n", "c_n"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=2e-5, rtol=0)
    with torch.no_grad():
        out, _ = lstm(x)
    torch.testing.assert_close(a.output, out, atol=1e-5, rtol=0)


def test_reverse_direction_final_state_sits_at_t0_and_forward_at_last_step():
    """Seed 000's claim output[:, -1] == h_n[-1] holds only for the forward direction."""
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 4, bidirectional=True, batch_first=True).eval()
    x = torch.randn(2, 6, 3)
    tr = trace(lstm, x)
    torch.testing.assert_close(tr.output[:, -1, :4], tr.h_n[0])
    torch.testing.assert_close(tr.output[:, 0, 4:], tr.h_n[1])
    assert not torch.allclose(tr.output[:, -1, 4:], tr.h_n[1])
    # and the trace's reverse state at t=0 is the one it computed reading position 0, last
    torch.testing.assert_close(tr.h[0, 1, 0], tr.h_n[1])


def test_seed_004_worked_example_reproduces_printed_numbers():
    """Seed 004: torch.manual_seed(666), LSTM(3, 4) on a 2-step input with given h_0, c_0."""
    torch.manual_seed(666)
    x = torch.randn(2, 1, 3)
    h = torch.randn(1, 1, 4)
    c = torch.randn(1, 1, 4)
    lstm = nn.LSTM(input_size=3, hidden_size=4, num_layers=1, bias=True, batch_first=False,
                   dropout=0, bidirectional=False)
    torch.testing.assert_close(x, torch.tensor([[[-2.1188, 0.0635, -1.4555]],
                                                [[-0.0126, -0.1548, -0.0927]]]),
                               atol=1e-4, rtol=0)
    tr = trace(lstm, x, (h, c))
    printed_output = torch.tensor([[[0.1933, -0.0371, 0.1991, -0.4055]],
                                   [[0.2121, -0.0874, 0.0834, -0.1616]]])
    printed_hn = torch.tensor([[[0.2121, -0.0874, 0.0834, -0.1616]]])
    printed_cn = torch.tensor([[[0.5562, -0.1607, 0.2118, -0.3740]]])
    torch.testing.assert_close(tr.output, printed_output, atol=1e-4, rtol=0)
    torch.testing.assert_close(tr.h_n, printed_hn, atol=1e-4, rtol=0)
    torch.testing.assert_close(tr.c_n, printed_cn, atol=1e-4, rtol=0)


def test_training_mode_with_dropout_is_traced_with_eval_semantics_and_says_so():
    torch.manual_seed(3)
    lstm = nn.LSTM(3, 5, num_layers=2, dropout=0.5)  # training mode by default
    x = torch.randn(4, 2, 3)
    with pytest.warns(UserWarning, match="eval semantics"):
        tr = trace(lstm, x)
    assert tr.eval_semantics
    assert lstm.training  # the module is left as it was
    lstm.eval()
    with torch.no_grad():
        out, _ = lstm(x)
    torch.testing.assert_close(tr.output, out, atol=1e-6, rtol=0)
    assert not trace(lstm, x).eval_semantics


def test_trace_changes_neither_the_module_nor_the_rng():
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    before = {k: v.clone() for k, v in lstm.state_dict().items()}
    x = torch.randn(4, 2, 3)
    state = torch.get_rng_state()
    trace(lstm, x)
    assert torch.equal(torch.get_rng_state(), state)
    for k, v in lstm.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in lstm.parameters())


def test_trace_refuses_sizes_over_the_memory_budget_with_the_estimate():
    lstm = nn.LSTM(8, 16)
    x = torch.zeros(1000, 64, 8)
    need = estimate_trace_bytes(LSTMConfig(8, 16), 64, 1000)
    with pytest.raises(TraceBudgetError, match="reduce seq_len"):
        trace(lstm, x, memory_budget=need // 2)
    assert trace(lstm, x[:10], memory_budget=need).num_steps == 10


def test_estimate_covers_what_the_trace_keeps():
    for kw, B, T in [(dict(input_size=5, hidden_size=7, num_layers=2, bidirectional=True), 3,
                      11), (dict(input_size=4, hidden_size=9, proj_size=3), 2, 5)]:
        cfg = LSTMConfig(**kw)
        tr = trace(cfg.build(), torch.zeros(T, B, cfg.input_size))
        assert tr.nbytes <= estimate_trace_bytes(cfg, B, T) <= 4 * tr.nbytes


def test_a_huge_config_is_refused_before_allocating():
    lstm = nn.LSTM(1, 64)
    with pytest.raises(TraceBudgetError) as err:  # ~1.5 GiB of gates and states
        trace(lstm, torch.zeros(1_000_000, 1, 1))
    assert "GiB" in str(err.value) and "budget" in str(err.value)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(3, 2, 4), "input_size=5"),
    (torch.zeros(3), "2-D"),
    (torch.zeros(3, 2, 5, dtype=torch.float64), "float64"),
])
def test_bad_input_names_what_is_wrong(bad, match):
    with pytest.raises(ValueError, match=match):
        trace(nn.LSTM(5, 3), bad)


def test_bad_hx_names_the_expected_shape_and_batch_first_pitfall():
    lstm = nn.LSTM(5, 3, batch_first=True)
    x = torch.zeros(2, 4, 5)  # batch 2
    wrong = (torch.zeros(2, 1, 3), torch.zeros(2, 1, 3))  # (batch, layers, H): seed 002's claim
    with pytest.raises(ValueError, match=r"\(1, 2, 3\).*batch_first does not apply"):
        trace(lstm, x, wrong)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trace_on_cuda_matches_nn_lstm():
    torch.manual_seed(5)
    lstm = nn.LSTM(6, 32, num_layers=2, bidirectional=True, proj_size=8).cuda().eval()
    x = torch.randn(20, 3, 6, device="cuda")
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x)
    tr = trace(lstm, x)
    assert tr.gates.device.type == "cuda"
    # where cuDNN multiplies in TF32 (torch's default on recent GPUs) the trace does too
    torch.testing.assert_close(tr.output, out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tr.c_n, c_n, atol=1e-5, rtol=1e-4)


def test_nan_marks_positions_past_each_length_and_output_is_zero_there():
    torch.manual_seed(6)
    lstm = nn.LSTM(2, 3, bidirectional=True).eval()
    x = torch.randn(5, 3, 2)
    packed = pack_padded_sequence(x, torch.tensor([5, 2, 4]), enforce_sorted=False)
    tr = trace(lstm, packed)
    assert torch.isnan(tr.c[0, :, 2:, 1]).all() and not torch.isnan(tr.c[0, :, :2, 1]).any()
    assert not math.isnan(float(tr.h[0, 1, 0, 1, 0]))


def test_verify_leaves_a_training_module_in_training_mode_and_can_fail():
    from lstm_viz import verify
    torch.manual_seed(7)
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5)  # training mode
    x = torch.randn(5, 2, 3)
    with pytest.warns(UserWarning, match="eval semantics"):
        tr = trace(lstm, x)
    assert verify(lstm, x, tr) < 1e-6
    assert lstm.training
    other = nn.LSTM(3, 4, num_layers=2).eval()
    assert verify(other, x, tr) > 1e-3


@pytest.mark.parametrize("bidirectional, lengths", [(False, None), (True, [12, 7, 12, 3] * 4)])
def test_loop_with_packed_weights_matches_nn_lstm_at_the_sizes_that_take_them(
        bidirectional, lengths):
    """B * 4H * H_out >= 4M multiply-adds a step: the loop's input projection
    is one addmm into the trace's buffer and whose recurrent matmul uses MKL with the weight
    packed (where this torch has it)."""
    from lstm_viz.tracing import _kernels

    if not _kernels.mkl_ok():
        pytest.skip("this torch build has no working MKL packed linear")
    H, B, T = 256, 16, 12
    assert B * 4 * H * H >= _kernels.MKL_MIN_MACS
    torch.manual_seed(5)
    lstm = nn.LSTM(64, H, bidirectional=bidirectional).eval()
    assert _kernels.recurrent_linear(lstm.weight_hh_l0.detach(), B).__name__ == "mkl_packed"
    x = torch.randn(T, B, 64)
    inp = x if lengths is None else pack_padded_sequence(x, torch.tensor(lengths),
                                                         enforce_sorted=False)
    tr = trace(lstm, inp, method="torch")
    assert tr.method == "torch"
    assert tr.meta["kernels"].startswith("input=plain, recurrent=mkl_packed")
    with torch.no_grad():
        out, (h_n, c_n) = lstm(inp)
    if lengths is not None:
        out, tr_out = out.data, tr.output.data
    else:
        tr_out = tr.output
    torch.testing.assert_close(tr_out, out, atol=2e-5, rtol=0)
    torch.testing.assert_close(tr.h_n, h_n, atol=2e-5, rtol=0)
    torch.testing.assert_close(tr.c_n, c_n, atol=2e-5, rtol=0)
    # the recorded gates are the LSTM equations' at a step in the middle
    t = 5
    b = 1
    h_prev = tr.h[0, 0, t - 1, b]
    z = lstm.weight_ih_l0 @ x[t, b] + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h_prev \
        + lstm.bias_hh_l0
    i, f, g, o = z.detach().view(4, H)
    expected = torch.stack([i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()])
    torch.testing.assert_close(tr.gates[0, 0, t, b], expected, atol=2e-5, rtol=0)


LAYERED_CASES = [  # (nn.LSTM keyword arguments, packed lengths or None, with h_0 and c_0)
    (dict(input_size=5, hidden_size=9, num_layers=2), None, False),
    (dict(input_size=5, hidden_size=9, num_layers=3, bidirectional=True), None, True),
    (dict(input_size=5, hidden_size=9, num_layers=2, proj_size=4), None, True),
    (dict(input_size=5, hidden_size=9, num_layers=3, bidirectional=True), [8, 3, 8, 5], True),
    (dict(input_size=5, hidden_size=9, num_layers=2, proj_size=4, bidirectional=True,
          batch_first=True), [2, 8, 4, 8], True),
    (dict(input_size=5, hidden_size=9, num_layers=2, bias=False, bidirectional=True),
     [8, 1, 6, 8], False),
]


def _first_layers(lstm, n):
    """An nn.LSTM of the first ``n`` layers of ``lstm``, with their weights: its output is
    layer n-1's h."""
    kw = dict(input_size=lstm.input_size, hidden_size=lstm.hidden_size, num_layers=n,
              bias=lstm.bias, batch_first=lstm.batch_first, bidirectional=lstm.bidirectional,
              proj_size=lstm.proj_size)
    part = nn.LSTM(**kw).to(lstm.weight_ih_l0.dtype).eval()
    own = lstm.state_dict()
    part.load_state_dict({k: own[k] for k in part.state_dict()})
    return part


def _layered_case(kw, lengths, with_hx, dtype, T, B, *, seed):
    """(lstm, its config, the (T, B) input, h_0 and c_0 or None, the tolerance) of a
    LAYERED_CASES case."""
    lstm, inp = model_and_input(kw, lengths, T, B, seed=seed, dtype=dtype)
    cfg = LSTMConfig.from_module(lstm)
    n = cfg.num_layers * cfg.num_directions
    hx = (torch.randn(n, B, cfg.h_out, dtype=dtype),
          torch.randn(n, B, cfg.hidden_size, dtype=dtype)) if with_hx else None
    return lstm, cfg, inp, hx, 2e-6 if dtype == torch.float32 else 1e-12


@pytest.mark.parametrize("scan", ["native_act_scan", "native_scan", "torch_scan"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw, lengths, with_hx", LAYERED_CASES)
def test_the_layered_method_equals_nn_lstm_and_the_step_by_step_trace(monkeypatch, scan, dtype,
                                                                       kw, lengths, with_hx):
    """Every layer's h against nn.LSTM cut after that layer; every gate and c against the
    LSTM equations on those h; and gates, c, h against the loop in torch calls. The cell
    state's scan in compiled code (where it builds; with the activations fused in, for float32)
    and in torch calls."""
    from lstm_viz.tracing import _native

    if scan == "native_act_scan" and _native.act_scan(torch.empty(0, dtype=dtype)) is None:
        pytest.skip("the compiled scan with activations is float32 only, and needs to build")
    if scan != "native_act_scan":
        monkeypatch.setattr(_native, "act_scan", lambda t: None)
    if scan == "torch_scan":
        monkeypatch.setattr(_native, "scan", lambda t: None)
    elif _native.scan(torch.empty(0, dtype=dtype)) is None:
        pytest.skip("the compiled scan does not build here")
    T, B = 8, 4
    lstm, cfg, inp, hx, tol = _layered_case(kw, lengths, with_hx, dtype, T, B, seed=11)
    L, D = cfg.num_layers, cfg.num_directions
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        tr = trace(lstm, inp, hx, method="layered")
        step_by_step = trace(lstm, inp, hx, method="torch")
        with torch.no_grad():
            out, (h_n, c_n) = lstm(inp, hx)
            per_layer = [_first_layers(lstm, n + 1)(inp, None if hx is None else
                                                    (hx[0][:(n + 1) * D], hx[1][:(n + 1) * D]))
                         for n in range(L)]
    assert tr.method == "layered" and tr.meta["kernels"].endswith(f"scan={scan}")
    _assert_same_output(tr.output, out, tol)
    torch.testing.assert_close(tr.h_n, h_n, atol=tol, rtol=0)
    torch.testing.assert_close(tr.c_n, c_n, atol=tol, rtol=0)
    valid = torch.arange(T).unsqueeze(1) < tr.lengths.unsqueeze(0)  # (T, B)
    for n, (layer_out, _) in enumerate(per_layer):
        if lengths is not None:
            layer_out = nn.utils.rnn.pad_packed_sequence(layer_out, total_length=T)[0]
        elif cfg.batch_first:
            layer_out = layer_out.transpose(0, 1)
        ours = torch.cat(list(tr.h[n]), dim=-1)
        torch.testing.assert_close(ours[valid], layer_out[valid], atol=tol, rtol=0)
    _check_equations(lstm, cfg, tr, tol * 10)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name), getattr(step_by_step, name), atol=tol,
                                   rtol=0, equal_nan=True)


@pytest.fixture
def choices(monkeypatch, tmp_path):
    """A process that has chosen no method yet, with a cache folder of its own; yields the
    cache file's path and a list that records each measurement (its probes' lengths)."""
    from lstm_viz.tracing import _native, method_choice

    folder = tmp_path / "cache" / "native"
    monkeypatch.setattr(_native, "_cache_dir", lambda: folder)
    monkeypatch.delenv(method_choice.ENV_METHOD, raising=False)
    method_choice.forget()
    measured: list[list[int]] = []
    real_time_once = method_choice._time_once

    def recorded(*args, **kw):
        measured.append([])
        return real_measure(*args, **kw)

    def timed(method, x, *args):
        measured[-1].append(x.shape[0])
        return real_time_once(method, x, *args)

    real_measure = method_choice.measure
    monkeypatch.setattr(method_choice, "measure", recorded)
    monkeypatch.setattr(method_choice, "_time_once", timed)
    yield folder / method_choice.CACHE_FILE, measured
    method_choice.forget()


def _fake_times(monkeypatch, per_step_s, fixed_s=0.0):
    """Each method takes fixed_s + per_step_s[method] * steps when timed."""
    from lstm_viz.tracing import method_choice

    monkeypatch.setattr(method_choice, "_time_once",
                        lambda m, x, *a: fixed_s + per_step_s[m] * x.shape[0])


def test_auto_measures_once_per_size_class_and_then_reuses_the_cached_choice(choices):
    from lstm_viz.tracing import method_choice

    path, measured = choices
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 8, bidirectional=True).eval()
    x = torch.randn(300, 3, 4)
    first = trace(lstm, x)
    assert len(measured) == 1 and max(measured[0]) <= max(method_choice.PROBE_STEPS)
    assert sum(measured[0]) <= 2 * 300 / method_choice.MEASURE_FACTOR
    assert first.method in method_choice.candidates(x)
    assert first.meta["method"] == first.method
    assert first.meta["method_why"].startswith("measured on the first trace of this size: ")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = trace(lstm, x + 1)
    method_choice.forget()  # a new process: the choice comes from the cache file
    later = trace(lstm, x - 1)
    assert len(measured) == 1
    assert again.method == later.method == first.method
    assert "(cached)" in later.meta["method_why"]
    assert first.method in method_choice.describe()
    trace(lstm, torch.randn(1200, 3, 4))  # another size class: measured for itself
    assert len(measured) == 2
    with torch.no_grad():
        torch.testing.assert_close(later.output, lstm(x - 1)[0], atol=2e-6, rtol=0)


def test_the_method_estimated_fastest_over_the_whole_input_is_chosen(choices, monkeypatch):
    from lstm_viz.tracing import method_choice

    # fused pays a large fixed cost but the least per step: it wins only on long inputs
    per_step = {"loop": 3e-4, "torch": 4e-4, "fused": 1e-4, "layered": 2e-4}
    fixed = {"loop": 0.0, "torch": 0.0, "fused": 0.08, "layered": 0.0}
    monkeypatch.setattr(method_choice, "_time_once",
                        lambda m, x, *a: fixed[m] + per_step[m] * x.shape[0])
    lstm = nn.LSTM(3, 5).eval()
    short, long_ = trace(lstm, torch.randn(500, 2, 3)), trace(lstm, torch.randn(5000, 2, 3))
    assert (short.method, long_.method) == ("layered", "fused")
    chosen = method_choice.last_choice()
    assert chosen is not None
    assert chosen.times_ms["fused"] == pytest.approx((0.08 + 1e-4 * 5000) * 1e3)
    assert chosen.times_ms["layered"] == pytest.approx(2e-4 * 5000 * 1e3)
    assert "fused 580 ms, layered 1000 ms" in long_.meta["method_why"]


def _plant(path, key, entry, scope=None):
    from lstm_viz.tracing import method_choice

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.parent.chmod(0o700)
    path.write_text(json.dumps({"scope": scope or method_choice.scope(),
                                "choices": {key: entry}}))
    path.chmod(0o600)


def test_a_cached_choice_is_taken_without_measuring(choices):
    from lstm_viz.tracing import method_choice

    path, measured = choices
    lstm = nn.LSTM(3, 5).eval()
    x = torch.randn(500, 2, 3)
    key = method_choice.size_class(LSTMConfig.from_module(lstm), x)
    _plant(path, key, {"method": "fused", "times_ms": {"fused": 1.5, "torch": 2.0}})
    tr = trace(lstm, x)
    assert (tr.method, measured) == ("fused", [])
    assert "fused 1.5 ms, torch 2 ms" in tr.meta["method_why"]


@pytest.mark.parametrize("damage", ["not json", "another cpu", "another lstm-viz", "a command",
                                    "nan time", "extra field", "others may write"])
def test_a_corrupt_or_foreign_cache_file_is_ignored_and_replaced(choices, monkeypatch, damage):
    from lstm_viz.tracing import method_choice

    path, measured = choices
    _fake_times(monkeypatch, {"loop": 3e-4, "torch": 4e-4, "fused": 5e-4, "layered": 1e-4})
    lstm = nn.LSTM(3, 5).eval()
    x = torch.randn(500, 2, 3)
    key = method_choice.size_class(LSTMConfig.from_module(lstm), x)
    entry = {"method": "fused", "times_ms": {"fused": 1.0}}
    scope = dict(method_choice.scope())
    if damage == "another cpu":
        scope["cpu"] = "Some Other CPU @ 9 GHz"
    elif damage == "another lstm-viz":
        scope["lstm_viz"] = "0.0.1"
    elif damage == "a command":
        entry = {"method": "__import__('os').system('true')", "times_ms": {"fused": 1.0}}
    elif damage == "nan time":
        entry["times_ms"] = {"fused": math.nan}
    elif damage == "extra field":
        entry["run"] = "this"
    _plant(path, key, entry, scope)
    if damage == "not json":
        path.write_text("{'scope': ")
    elif damage == "others may write":
        path.chmod(0o666)
    tr = trace(lstm, x)
    assert tr.method == "layered" and len(measured) == 1
    kept = json.loads(path.read_text())
    assert kept["scope"] == method_choice.scope()
    assert kept["choices"][key]["method"] == "layered"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_trace_too_short_to_pay_for_measuring_takes_the_rule_and_says_so(choices):
    from lstm_viz.tracing import method_choice

    path, measured = choices
    lstm = nn.LSTM(3, 5, bidirectional=True).eval()
    x = torch.randn(10, 2, 3)
    tr = trace(lstm, x)
    assert measured == [] and not path.exists()
    assert tr.method == method_choice.rule(LSTMConfig.from_module(lstm), x)
    assert tr.meta["method_why"].startswith("a trace too short to pay for measuring")


def test_lstm_viz_method_forces_a_method_without_measuring(choices, monkeypatch):
    path, measured = choices
    monkeypatch.setenv("LSTM_VIZ_METHOD", "layered")
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True).eval()
    x = torch.randn(9, 2, 3)
    tr = trace(lstm, x)
    assert (tr.method, measured) == ("layered", [])
    assert tr.meta["method_why"] == "forced by LSTM_VIZ_METHOD=layered"
    with torch.no_grad():
        torch.testing.assert_close(tr.output, lstm(x)[0], atol=2e-6, rtol=0)
    assert not path.exists()


@pytest.mark.parametrize("value", ["fast", "auto", "LAYERED"])
def test_a_bad_lstm_viz_method_is_refused_naming_the_choices(choices, monkeypatch, value):
    monkeypatch.setenv("LSTM_VIZ_METHOD", value)
    with pytest.raises(ValueError, match=r"^LSTM_VIZ_METHOD must be one of loop, torch, fused,"
                                         rf" layered \(got '{value}'\); unset it"):
        trace(nn.LSTM(3, 5), torch.randn(4, 2, 3))


def _edits_for(cfg, last_batch):
    """What-if edits of every kind, in both directions and more than one layer: a state the
    step hands on (c, h) and a gate clamped, at steps well inside the sequence."""
    from lstm_viz.tracing.edits import StateEdit

    L, D = cfg.num_layers, cfg.num_directions
    return [StateEdit("c", 5, 0, 0, last_batch, 1, 0.5),
            StateEdit("h", 2, 0, D - 1, last_batch, 2, -0.7),
            StateEdit("f", 4, L - 1, 0, last_batch, 0, 0.0),
            StateEdit("g", 6, L - 1, D - 1, 1, 0, 0.9),
            StateEdit("o", 3, 0, D - 1, 0, 3, 1.0)]


@pytest.mark.parametrize("method", ["layered", "fused"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw, lengths, with_hx", LAYERED_CASES)
def test_what_if_edits_after_the_fast_route_equal_the_step_loop_with_the_same_edits(
        method, dtype, kw, lengths, with_hx):
    """The fast route up to each layer and direction's first edited step (the reverse
    direction's is at the end of the sequence), the step loop from there: every gate, c and h,
    the output and the final states equal the trace that runs every step in torch calls."""
    T, B = 8, 4
    lstm, cfg, inp, hx, tol = _layered_case(kw, lengths, with_hx, dtype, T, B, seed=5)
    edits = _edits_for(cfg, B - 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        tr = trace(lstm, inp, hx, method=method, overrides=edits)
        step_by_step = trace(lstm, inp, hx, method="torch", overrides=edits)
        unedited = trace(lstm, inp, hx, method="torch")
    assert tr.method == method and "from the first edit: " in tr.meta["kernels"]
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name), getattr(step_by_step, name), atol=tol,
                                   rtol=0, equal_nan=True)
    _assert_same_output(tr.output, step_by_step.output, tol)
    torch.testing.assert_close(tr.h_n, step_by_step.h_n, atol=tol, rtol=0)
    torch.testing.assert_close(tr.c_n, step_by_step.c_n, atol=tol, rtol=0)
    # the edits changed the run: the comparison above could fail
    assert not torch.allclose(tr.c, unedited.c, atol=1e-3, equal_nan=True)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_an_edit_near_the_end_runs_only_the_steps_from_it_step_by_step(monkeypatch,
                                                                         bidirectional):
    """An edit at step 36 of 40 runs 4 steps in the step loop, in each direction edited (the
    reverse direction reads step 3 as its 36th); the layer above, unedited, runs no loop."""
    from lstm_viz.tracing.edits import StateEdit

    looped = looped_steps(monkeypatch)
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 6, num_layers=2, bidirectional=bidirectional).eval()
    edits = [StateEdit("c", 36, 0, 0, 1, 2, 0.5)]
    if bidirectional:
        edits.append(StateEdit("h", 3, 0, 1, 0, 4, -0.5))
    x = torch.randn(40, 2, 3)
    tr = trace(lstm, x, method="layered", overrides=edits)
    assert looped == [4] * len(edits)
    looped.clear()
    want = trace(lstm, x, method="torch", overrides=edits)
    assert looped == [40] * (4 if bidirectional else 2)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name), getattr(want, name), atol=2e-6, rtol=0)


def test_what_if_edits_take_the_measured_method_and_say_where_the_loop_starts(choices,
                                                                             monkeypatch):
    from lstm_viz.tracing.edits import StateEdit

    path, measured = choices
    _fake_times(monkeypatch, {"loop": 3e-4, "torch": 4e-4, "fused": 5e-4, "layered": 1e-4})
    lstm = nn.LSTM(3, 5).eval()
    tr = trace(lstm, torch.randn(500, 2, 3), overrides=[StateEdit("c", 450, 0, 0, 1, 3, 0.5)])
    assert tr.method == "layered" and len(measured) == 1
    assert tr.meta["method_why"].endswith("; the step loop from each layer's first edited step")
    monkeypatch.setenv("LSTM_VIZ_METHOD", "torch")
    tr = trace(lstm, torch.randn(500, 2, 3), overrides=[StateEdit("c", 450, 0, 0, 1, 3, 0.5)])
    assert tr.method == "torch" and "from the first edit" not in tr.meta["kernels"]


def test_a_cache_folder_others_may_write_is_neither_read_nor_written(choices, monkeypatch):
    from lstm_viz.tracing import method_choice

    path, measured = choices
    _fake_times(monkeypatch, {"loop": 3e-4, "torch": 4e-4, "fused": 5e-4, "layered": 1e-4})
    lstm = nn.LSTM(3, 5).eval()
    x = torch.randn(500, 2, 3)
    key = method_choice.size_class(LSTMConfig.from_module(lstm), x)
    _plant(path, key, {"method": "fused", "times_ms": {"fused": 1.0}})
    path.parent.chmod(0o777)
    assert trace(lstm, x).method == "layered" and len(measured) == 1
    assert json.loads(path.read_text())["choices"][key]["method"] == "fused"  # left as it was
