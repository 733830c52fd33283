"""trace() against nn.LSTM itself, on generated configurations, and against the LSTM equations."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
                with_hx=draw(st.booleans()), method=draw(st.sampled_from(["auto", "loop",
                                                                           "fused"])),
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
    """B * 4H * H_out >= 4M multiply-adds a step: auto picks the loop, whose input projection
    is one addmm into the trace's buffer and whose recurrent matmul uses MKL with the weight
    packed (where this torch has it)."""
    from lstm_viz.tracing import LOOP_THRESHOLD, _kernels

    if not _kernels.mkl_ok():
        pytest.skip("this torch build has no working MKL packed linear")
    H, B, T = 256, 16, 12
    assert B * 4 * H * H >= max(LOOP_THRESHOLD, _kernels.MKL_MIN_MACS)
    torch.manual_seed(5)
    lstm = nn.LSTM(64, H, bidirectional=bidirectional).eval()
    assert _kernels.recurrent_linear(lstm.weight_hh_l0.detach(), B).__name__ == "mkl_packed"
    x = torch.randn(T, B, 64)
    inp = x if lengths is None else pack_padded_sequence(x, torch.tensor(lengths),
                                                         enforce_sorted=False)
    tr = trace(lstm, inp)
    assert tr.method == "loop"
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
