"""influence() against torch autograd through nn.LSTM itself, never through its recomputation.

∂/∂x comes from x.requires_grad on nn.LSTM's own forward. ∂/∂h_s and ∂/∂c_s come from split
runs: nn.LSTM up to s, its (h, c) at s made leaf tensors, nn.LSTM run on from them. A split
inside a lower layer of a deep or bidirectional LSTM is done on the module cut into its
one-layer, one-direction pieces (nn.LSTMs holding the same weights), whose composition is
checked against the whole module first.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_viz import LSTMConfig, TraceBudgetError, forget_product, influence, trace

warnings.filterwarnings("ignore", message="LSTM with projections is not supported")


def _lstm(dtype=torch.float64, seed=0, **kw) -> nn.LSTM:
    torch.manual_seed(seed)
    lstm = nn.LSTM(**kw).to(dtype).eval()
    with torch.no_grad():  # larger weights than the default init: gradients far from zero
        for p in lstm.parameters():
            p.mul_(2.0)
    return lstm


# ----- the reference: nn.LSTM cut into its layers and directions --------------------------------

def _pieces(lstm: nn.LSTM) -> list[list[nn.LSTM]]:
    """One single-layer, single-direction nn.LSTM per (layer, direction), same weights."""
    cfg = LSTMConfig.from_module(lstm)
    dtype = lstm.weight_ih_l0.dtype
    out = []
    for layer in range(cfg.num_layers):
        row = []
        for d in range(cfg.num_directions):
            piece = nn.LSTM(cfg.layer_input_size(layer), cfg.hidden_size, bias=cfg.bias,
                            proj_size=cfg.proj_size).to(dtype)
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            with torch.no_grad():
                for name, _ in piece.named_parameters():
                    getattr(piece, name).copy_(getattr(lstm, name.replace("_l0", sfx)))
            row.append(piece)
        out.append(row)
    return out


def _composed(lstm, x, hx=None, *, cut=None, read=None):
    """Run ``lstm`` on time-major x (T, B, in) as its pieces, optionally cutting one state.

    cut: (layer, direction, s, "h" | "c"): at input position s that state becomes a new leaf
    tensor (the rest of the run continues from it); read: (layer, direction, t) whose c to
    return. Returns (top output (T, B, D*H_out), per-(layer, direction) outputs, c read, leaf).
    """
    pieces = _pieces(lstm)
    cfg = LSTMConfig.from_module(lstm)
    T, B = x.shape[:2]
    D = cfg.num_directions
    leaf = c_read = None
    outs = {}
    layer_in = x
    for layer, row in enumerate(pieces):
        for d, piece in enumerate(row):
            k = layer * D + d
            state = None if hx is None else (hx[0][k:k + 1], hx[1][k:k + 1])
            seq = layer_in if d == 0 else layer_in.flip(0)
            order = (lambda s: s) if d == 0 else (lambda s: T - 1 - s)  # noqa: E731
            stops = set()
            if cut is not None and cut[:2] == (layer, d):
                stops.add(order(cut[2]))
            if read is not None and read[:2] == (layer, d):
                stops.add(order(read[2]))
            pieces_out, a = [], 0
            for p in sorted(stops) + [T - 1]:
                if p < a:
                    continue
                out, (h_n, c_n) = piece(seq[a:p + 1], state)
                if cut is not None and cut[:2] == (layer, d) and order(cut[2]) == p:
                    if cut[3] == "h":
                        h_n = leaf = h_n.detach().requires_grad_(True)
                        out = torch.cat([out[:-1], leaf], 0)
                    else:
                        c_n = leaf = c_n.detach().requires_grad_(True)
                if read is not None and read[:2] == (layer, d) and order(read[2]) == p:
                    c_read = c_n[0]
                pieces_out.append(out)
                state, a = (h_n, c_n), p + 1
            seq_out = torch.cat(pieces_out, 0)
            outs[layer, d] = seq_out if d == 0 else seq_out.flip(0)
        layer_in = torch.cat([outs[layer, d] for d in range(D)], -1)
    return layer_in, outs, c_read, leaf


def _target(outs, top, c_read, *, state, layer, direction, t, unit, batch, head=None,
            target=None):
    if state == "h":
        return outs[layer, direction][t, batch, unit]
    if state == "c":
        return c_read[batch, unit]
    y = head(top[t, batch:batch + 1])
    if state == "prediction":
        return y[0, unit]
    if not torch.is_floating_point(target):
        return F.cross_entropy(y, target.reshape(1))
    return F.mse_loss(y.reshape(target.shape), target)


def _reference(lstm, x, hx=None, **spec):
    """(dx (T, B, in), dh (L, D, T, B, H_out), dc (L, D, T, B, H)) by split nn.LSTM runs."""
    cfg = LSTMConfig.from_module(lstm)
    L, D, T, B = cfg.num_layers, cfg.num_directions, x.shape[0], x.shape[1]
    layer, direction = spec.get("layer"), spec.get("direction")
    read = (layer, direction, spec["t"]) if spec["state"] == "c" else None
    xl = x.detach().clone().requires_grad_(True)
    top, outs, c_read, _ = _composed(lstm, xl, hx, read=read)
    dx, = torch.autograd.grad(_target(outs, top, c_read, **spec), xl, allow_unused=True,
                              materialize_grads=True)
    dh = torch.zeros(L, D, T, B, cfg.h_out, dtype=x.dtype)
    dc = torch.zeros(L, D, T, B, cfg.hidden_size, dtype=x.dtype)
    for lay in range(L):
        for d in range(D):
            for s in range(T):
                for kind, buf in (("h", dh), ("c", dc)):
                    top, outs, c_read, leaf = _composed(lstm, x, hx, cut=(lay, d, s, kind),
                                                        read=read)
                    g, = torch.autograd.grad(_target(outs, top, c_read, **spec), leaf,
                                             allow_unused=True, materialize_grads=True)
                    buf[lay, d, s] = g[0]
    return dx, dh, dc


def _close(a, b, tol=1e-9):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol, equal_nan=True)


# ----- the reference itself ------------------------------------------------------------------

def test_pieces_compose_to_the_whole_nn_lstm():
    lstm = _lstm(input_size=3, hidden_size=5, num_layers=3, bidirectional=True, proj_size=2)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    top, *_ = _composed(lstm, x, cut=(1, 1, 2, "c"), read=(2, 0, 4))
    _close(top, lstm(x)[0], 1e-12)


# ----- ∂/∂x through nn.LSTM's own forward ------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(num_layers=1), dict(num_layers=2, bidirectional=True),
    dict(num_layers=3, proj_size=3), dict(num_layers=2, bidirectional=True, proj_size=2)])
def test_input_gradient_of_top_layer_h_matches_nn_lstm_output(kw):
    lstm = _lstm(input_size=3, hidden_size=5, **kw)
    x = torch.randn(7, 3, 3, dtype=torch.float64, requires_grad=True)
    Ho = lstm.proj_size or 5
    for direction in range(2 if lstm.bidirectional else 1):
        for t, unit, batch in ((0, 0, 0), (4, Ho - 1, 2), (6, 1, 1)):
            got = influence(lstm, x, layer=lstm.num_layers - 1, direction=direction, t=t,
                            unit=unit, batch=batch)
            out, _ = lstm(x)
            want, = torch.autograd.grad(out[t, batch, direction * Ho + unit], x)
            _close(got.x, want)
            assert got.value == pytest.approx(out[t, batch, direction * Ho + unit].item())


def test_input_gradient_of_lower_layer_h_and_c_matches_a_prefix_run():
    lstm = _lstm(input_size=4, hidden_size=6, num_layers=3)
    x = torch.randn(8, 2, 4, dtype=torch.float64, requires_grad=True)
    t, unit, batch = 5, 3, 1
    for layer in range(3):
        for state in ("h", "c"):
            got = influence(lstm, x, layer=layer, t=t, unit=unit, batch=batch, state=state)
            _, (h_n, c_n) = lstm(x[:t + 1])
            value = (h_n if state == "h" else c_n)[layer, batch, unit]
            want, = torch.autograd.grad(value, x)
            _close(got.x, want)


def test_reverse_direction_of_first_layer_matches_a_suffix_run():
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x = torch.randn(6, 1, 3, dtype=torch.float64, requires_grad=True)
    t, unit = 2, 1
    for state in ("h", "c"):
        got = influence(lstm, x, layer=0, direction=1, t=t, unit=unit, state=state)
        _, (h_n, c_n) = lstm(x[t:])
        want, = torch.autograd.grad((h_n if state == "h" else c_n)[1, 0, unit], x)
        _close(got.x, want)
        assert got.x[:t].abs().max() == 0  # the reverse direction at t never reads x before t


def test_initial_state_gradient_matches_nn_lstm_hx():
    lstm = _lstm(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=3)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    h0 = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 2, 5, dtype=torch.float64, requires_grad=True)
    got = influence(lstm, x, layer=1, direction=0, t=3, unit=2, batch=1, hx=(h0, c0))
    out, _ = lstm(x, (h0, c0))
    want_h, want_c = torch.autograd.grad(out[3, 1, 2], (h0, c0))
    _close(got.h_0, want_h)
    _close(got.c_0, want_c)


# ----- ∂/∂h_s and ∂/∂c_s by split runs ----------------------------------------------------------

STATE_CASES = [
    ("one_layer", dict(num_layers=1), dict(layer=0, direction=0, t=4, unit=2, state="h")),
    ("one_layer_c", dict(num_layers=1), dict(layer=0, direction=0, t=3, unit=1, state="c")),
    ("three_layers_lower", dict(num_layers=3), dict(layer=1, direction=0, t=4, unit=0,
                                                    state="h")),
    ("three_layers_top_c", dict(num_layers=3), dict(layer=2, direction=0, t=5, unit=3,
                                                    state="c")),
    ("bidirectional_top", dict(num_layers=2, bidirectional=True),
     dict(layer=1, direction=0, t=2, unit=1, state="h")),
    ("bidirectional_reverse_c", dict(num_layers=2, bidirectional=True),
     dict(layer=1, direction=1, t=2, unit=3, state="c")),
    ("bidirectional_lower", dict(num_layers=3, bidirectional=True),
     dict(layer=0, direction=1, t=1, unit=2, state="h")),
    ("projection", dict(num_layers=2, proj_size=2, bidirectional=True),
     dict(layer=1, direction=1, t=3, unit=1, state="h")),
]


@pytest.mark.parametrize("name,kw,spec", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_state_gradients_match_split_nn_lstm_runs(name, kw, spec):
    lstm = _lstm(input_size=3, hidden_size=4, **kw)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    got = influence(lstm, x, batch=1, **spec)
    dx, dh, dc = _reference(lstm, x, batch=1, **spec)
    _close(got.x, dx)
    _close(got.h, dh)
    _close(got.c, dc)
    assert got.h[:, :, :, 0].abs().max() == 0  # another batch element never matters
    assert dh.abs().max() > 0 and dc.abs().max() > 0


def test_state_gradients_with_a_given_hx_match_split_runs():
    lstm = _lstm(input_size=2, hidden_size=3, num_layers=2, proj_size=2)
    x = torch.randn(5, 1, 2, dtype=torch.float64)
    hx = (torch.randn(2, 1, 2, dtype=torch.float64), torch.randn(2, 1, 3, dtype=torch.float64))
    spec = dict(layer=1, direction=0, t=4, unit=0, state="c", batch=0)
    got = influence(lstm, x, hx=hx, **spec)
    dx, dh, dc = _reference(lstm, x, hx, **spec)
    _close(got.x, dx)
    _close(got.h, dh)
    _close(got.c, dc)


def test_the_target_itself_has_gradient_one_and_a_unidirectional_future_zero():
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2)
    x = torch.randn(7, 1, 3, dtype=torch.float64)
    got = influence(lstm, x, layer=1, t=3, unit=2)
    assert got.h[1, 0, 3, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert got.c[1, 0, 3, 0].abs().max() == 0  # c handed on after t cannot reach h at t
    assert got.x[4:].abs().max() == 0 and got.h[:, :, 4:].abs().max() == 0
    assert got.c[:, :, 4:].abs().max() == 0


def test_float32_matches_nn_lstm():
    lstm = _lstm(dtype=torch.float32, input_size=3, hidden_size=8, num_layers=2,
                 bidirectional=True)
    x = torch.randn(9, 2, 3, requires_grad=True)
    got = influence(lstm, x, layer=1, direction=1, t=4, unit=5, batch=0)
    assert got.x.dtype == torch.float32
    want, = torch.autograd.grad(lstm(x)[0][4, 0, 8 + 5], x)
    _close(got.x, want, 1e-5)


# ----- input forms -------------------------------------------------------------------------

def test_packed_input_matches_per_sequence_runs_and_is_nan_past_its_length():
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    lengths = torch.tensor([4, 6, 2])
    x = torch.randn(6, 3, 3, dtype=torch.float64, requires_grad=True)
    for batch, t, unit in ((0, 2, 1), (2, 1, 3), (1, 5, 0)):
        n = int(lengths[batch])
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        got = influence(lstm, packed, layer=1, direction=1, t=t, unit=unit, batch=batch)
        out, _ = pad_packed_sequence(lstm(packed)[0])
        want, = torch.autograd.grad(out[t, batch, 4 + unit], x)
        _close(got.x[:n, batch], want[:n, batch])
        for b in range(3):  # NaN past each sequence's length, zero for the other sequences
            nb = int(lengths[b])
            assert torch.isnan(got.x[nb:, b]).all() and torch.isnan(got.h[:, :, nb:, b]).all()
            assert torch.isnan(got.c[:, :, nb:, b]).all()
            if b != batch:
                assert got.h[:, :, :nb, b].abs().max() == 0 == got.x[:nb, b].abs().max()
        spec = dict(layer=1, direction=1, t=t, unit=unit, state="h", batch=0)
        dx, dh, dc = _reference(lstm, x.detach()[:n, batch:batch + 1], **spec)
        _close(got.h[:, :, :n, batch], dh[:, :, :, 0])
        _close(got.c[:, :, :n, batch], dc[:, :, :, 0])


def test_batch_first_input_gives_time_major_gradients():
    lstm = _lstm(input_size=3, hidden_size=4, batch_first=True, num_layers=2)
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)  # (B, T, in)
    got = influence(lstm, x, layer=1, t=3, unit=1, batch=1)
    assert got.x.shape == (5, 2, 3) and got.h.shape == (2, 1, 5, 2, 4)
    want, = torch.autograd.grad(lstm(x)[0][1, 3, 1], x)
    _close(got.x, want.transpose(0, 1))


def test_unbatched_input_has_a_batch_of_one():
    lstm = _lstm(input_size=3, hidden_size=4)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    got = influence(lstm, x, t=2, unit=0)
    want, = torch.autograd.grad(lstm(x)[0][2, 0], x)
    _close(got.x[:, 0], want)


# ----- a head: prediction and loss -----------------------------------------------------------

def _head(lstm, n_out=3):
    torch.manual_seed(1)
    features = (2 if lstm.bidirectional else 1) * (lstm.proj_size or lstm.hidden_size)
    return nn.Linear(features, n_out).to(torch.float64)


@pytest.mark.parametrize("state,target", [
    ("prediction", None), ("loss", torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)),
    ("loss", 2)])
def test_head_prediction_and_loss_match_autograd_through_nn_lstm(state, target):
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, proj_size=2)
    head = _head(lstm)
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    unit = 1 if state == "prediction" else None
    target_t = None if target is None else torch.as_tensor(target)
    got = influence(lstm, x, t=3, unit=unit, batch=1, state=state, head=head, target=target)
    y = head(lstm(x)[0][3, 1:2])
    if state == "prediction":
        value = y[0, 1]
    elif isinstance(target, int):
        value = F.cross_entropy(y, target_t.reshape(1))
    else:
        value = F.mse_loss(y[0], target_t)
    want, = torch.autograd.grad(value, x)
    _close(got.x, want)
    assert got.value == pytest.approx(value.item())
    spec = dict(state=state, layer=None, direction=None, t=3, unit=unit, batch=1, head=head,
                target=target_t)
    dx, dh, dc = _reference(lstm, x.detach(), **spec)
    _close(got.h, dh)
    _close(got.c, dc)


# ----- norms and the forget-gate product --------------------------------------------------------

def test_norms_are_the_per_step_norms_of_the_gradients():
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    got = influence(lstm, x, layer=0, t=2, unit=1, batch=1)
    np.testing.assert_allclose(got.x_norm, [float(v.norm()) for v in got.x[:, 1]])
    assert got.h_norm.shape == got.c_norm.shape == (2, 2, 6)
    np.testing.assert_allclose(got.c_norm[1, 0, 4], float(got.c[1, 0, 4, 1].norm()))
    np.testing.assert_allclose(got.h_norm[0, 1, 0], float(got.h[0, 1, 0, 1].norm()))


def _forget_gates(lstm, x):
    """(T, H) f of a one-layer unidirectional lstm on x (T, 1, in), by hand from its output."""
    out, _ = lstm(x)
    h_prev = torch.cat([torch.zeros_like(out[:1]), out[:-1]])[:, 0]
    z = x[:, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h_prev @ lstm.weight_hh_l0.T + \
        lstm.bias_hh_l0
    H = lstm.hidden_size
    return torch.sigmoid(z[:, H:2 * H]).detach()


def test_forget_product_is_the_running_product_of_f():
    lstm = _lstm(input_size=3, hidden_size=4)
    x = torch.randn(8, 1, 3, dtype=torch.float64)
    f = _forget_gates(lstm, x)[:, 2]
    got = forget_product(trace(lstm, x), layer=0, unit=2, start=2, stop=6)
    np.testing.assert_allclose(got, [math.prod(f[2:p + 1].tolist()) for p in range(2, 6)],
                               rtol=1e-10)


def test_forget_product_of_the_reverse_direction_runs_backwards_and_stops_at_the_length():
    lstm = _lstm(input_size=3, hidden_size=4, bidirectional=True)
    lengths = torch.tensor([6, 4])
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    packed = pack_padded_sequence(x, lengths)
    rev = nn.LSTM(3, 4).to(torch.float64)
    with torch.no_grad():
        for name, p in rev.named_parameters():
            p.copy_(getattr(lstm, name + "_reverse"))
    f = _forget_gates(rev, x[:4, 1:2].flip(0)).flip(0)[:, 1]  # at input positions 0..3
    got = forget_product(trace(lstm, packed), layer=0, direction=1, unit=1, start=1, batch=1)
    want = [math.prod(f[p:4].tolist()) for p in range(1, 4)] + [math.nan, math.nan]
    np.testing.assert_allclose(got, want, rtol=1e-10)


# ----- limits and bad input ----------------------------------------------------------------

def test_over_budget_raises_before_computing():
    lstm = _lstm(input_size=3, hidden_size=4)
    with pytest.raises(TraceBudgetError, match="over the memory budget of 1.0 KiB; reduce"):
        influence(lstm, torch.randn(50, 1, 3, dtype=torch.float64), t=0, unit=0,
                  memory_budget=1024)


@pytest.mark.parametrize("kw,message", [
    (dict(t=6, unit=0), r"t must be an input position in \[0, 5\]"),
    (dict(t=1, unit=4), r"unit must be in \[0, 3\]"),
    (dict(t=1, unit=0, layer=2), r"layer must be in \[0, 1\]"),
    (dict(t=1, unit=0, direction=1), "direction must be 0"),
    (dict(t=1, unit=0, state="g"), "state must be one of h, c, prediction, loss"),
    (dict(t=1, state="loss"), "needs an output head"),
    (dict(t=1, unit=0, batch=2), r"batch must be in \[0, 1\]"),
])
def test_bad_targets_raise_a_value_error_naming_the_fix(kw, message):
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2)
    with pytest.raises(ValueError, match=message):
        influence(lstm, torch.randn(6, 2, 3, dtype=torch.float64), **kw)


def test_packed_target_past_its_length_is_refused():
    lstm = _lstm(input_size=3, hidden_size=4)
    packed = pack_padded_sequence(torch.randn(5, 2, 3, dtype=torch.float64), [5, 3])
    with pytest.raises(ValueError, match="whose sequence has 3 steps"):
        influence(lstm, packed, t=3, unit=0, batch=1)


@pytest.mark.parametrize("kw,message", [
    (dict(state="prediction", unit=3), r"unit must be in \[0, 2\]: the head has 3 outputs"),
    (dict(state="loss", target=3), r"class-index target must be one integer in \[0, 2\]"),
    (dict(state="loss", target=torch.zeros(2, dtype=torch.float64)),
     "float target must have the head's 3 outputs"),
])
def test_bad_head_targets_raise_a_value_error(kw, message):
    lstm = _lstm(input_size=3, hidden_size=4)
    with pytest.raises(ValueError, match=message):
        influence(lstm, torch.randn(5, 1, 3, dtype=torch.float64), t=2, head=_head(lstm), **kw)


def test_training_mode_with_dropout_warns_and_uses_eval_semantics():
    lstm = _lstm(input_size=3, hidden_size=4, num_layers=2, dropout=0.5).train()
    x = torch.randn(5, 1, 3, dtype=torch.float64, requires_grad=True)
    with pytest.warns(UserWarning, match="eval semantics"):
        got = influence(lstm, x, t=3, unit=1)
    want, = torch.autograd.grad(lstm.eval()(x)[0][3, 0, 1], x)
    _close(got.x, want)


# ----- the forget-gate memory up to a cursor, and how far back a gradient reaches -------------

@pytest.mark.parametrize("direction", [0, 1])
def test_forget_memory_is_the_forget_product_from_each_step_to_the_cursor(direction):
    from lstm_viz.explain.gradients import forget_memory
    lstm = _lstm(input_size=2, hidden_size=3, bidirectional=True)
    x = torch.randn(9, 1, 2, dtype=torch.float64)
    tr = trace(lstm, x)
    t = 4
    got = forget_memory(tr, 0, direction, 2, t, 0)
    assert got[t] == 1.0
    f = tr.gates[0, direction, :, 0, 1, 2].numpy()
    for s in range(9):
        if direction == 0 and s < t:
            assert got[s] == pytest.approx(np.prod(f[s + 1:t + 1]))
            assert got[s] == pytest.approx(forget_product(tr, layer=0, unit=2, start=s + 1,
                                                          stop=t + 1)[-1])
        elif direction == 1 and s > t:
            assert got[s] == pytest.approx(np.prod(f[t:s]))
        elif s != t:
            assert math.isnan(got[s])


def test_forget_memory_is_the_cell_path_gradient_of_a_lone_unit():
    # with no recurrent weights, c_t depends on c_s only through the forget gates
    lstm = _lstm(input_size=2, hidden_size=3)
    with torch.no_grad():
        lstm.weight_hh_l0.zero_()
    x = torch.randn(8, 1, 2, dtype=torch.float64)
    from lstm_viz.explain.gradients import forget_memory
    inf = influence(lstm, x, t=6, unit=1, state="c")
    np.testing.assert_allclose(forget_memory(trace(lstm, x), 0, 0, 1, 6, 0)[:7],
                               inf.c[0, 0, :7, 0, 1].numpy(), rtol=1e-12)


def test_fade_distance_counts_steps_back_to_the_last_large_gradient():
    from lstm_viz.explain.gradients import fade_distance
    norms = np.array([0.001, 0.5, 0.2, 0.009, 1.0, 0.0])
    assert fade_distance(norms, 4) == 4  # step 1 (0.5) is 3 back; below 1% from 4 back
    assert fade_distance(norms, 4, fraction=0.6) == 1
    assert fade_distance(np.array([0.5, 1.0]), 1) is None
    assert fade_distance(np.zeros(3), 2) is None


def test_reach_spans_every_step_the_target_depends_on_and_the_target_itself():
    from lstm_viz.explain.gradients import reach
    lstm = nn.LSTM(2, 3).double()
    x = torch.randn(40, 2, dtype=torch.float64)
    inf = influence(lstm, x, t=25, unit=1)
    first, last = reach([inf.x_norm, inf.c_norm[0, 0]], 25)
    assert last == 25  # nothing after t reaches a forward LSTM's target
    assert inf.x_norm[first] >= 1e-4 * inf.x_norm.max() or \
        inf.c_norm[0, 0, first] >= 1e-4 * inf.c_norm[0, 0].max()
    assert (inf.x_norm[:first] < 1e-4 * inf.x_norm.max()).all()
    assert reach([np.array([0.0, 2.0, 1e-5, 0.0])], 0) == (0, 1)
    assert reach([np.zeros(5)], 3) == (3, 3)
