"""The gradients the exported script computes in plain torch equal torch's autograd through
nn.LSTM itself: every ∂target/∂x, ∂target/∂h and ∂target/∂c it saves, and ∏f."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.codegen import GradientTarget, build_code, focus_target
from lstm_viz.demos import open_demo
from lstm_viz.formats.export import save_check_script
from lstm_viz.formats.loader import Head

CASES = {
    "one_layer_h": (LSTMConfig(3, 5), InputSpec(source="sine", seq_len=9, batch_size=2),
                    GradientTarget("h", 0, 0, 7, 2, 1)),
    "bidirectional_2_layers_proj_c_reverse": (
        LSTMConfig(3, 5, num_layers=2, bidirectional=True, proj_size=2),
        InputSpec(source="random", seq_len=8, batch_size=2),
        GradientTarget("c", 1, 1, 3, 4, 0)),
    "bidirectional_2_layers_proj_h_lower_layer": (
        LSTMConfig(3, 5, num_layers=2, bidirectional=True, proj_size=2),
        InputSpec(source="random", seq_len=8, batch_size=2),
        GradientTarget("h", 0, 0, 5, 1, 1)),
    "packed_ragged": (
        LSTMConfig(3, 4, num_layers=2, bidirectional=True),
        InputSpec(source="random", seq_len=7, batch_size=3, lengths=(7, 3, 5)),
        GradientTarget("h", 1, 0, 4, 3, 2)),
    "batch_first_no_bias": (
        LSTMConfig(2, 3, batch_first=True, bias=False, num_layers=2),
        InputSpec(seq_len=8, batch_size=2, lengths=(6, 6)),
        GradientTarget("c", 1, 0, 5, 0, 1)),
}


def _run(script, tmp_path, *args) -> subprocess.CompletedProcess:
    """A fresh interpreter, from another folder, without lstm_viz on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    other = tmp_path / "elsewhere"
    other.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-I", str(script), *args], capture_output=True,
                          text=True, cwd=other, env=env, timeout=300)


def _one_layer(lstm: nn.LSTM, layer: int, d: int, input_size: int) -> nn.LSTM:
    """A one-layer nn.LSTM holding (layer, direction d)'s weights."""
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    one = nn.LSTM(input_size, lstm.hidden_size, bias=lstm.bias, proj_size=lstm.proj_size,
                  dtype=lstm.weight_ih_l0.dtype)
    one.load_state_dict({k[: -len(sfx)] + "_l0": v for k, v in lstm.state_dict().items()
                         if k.endswith(sfx)})
    return one


def _state_value(target: GradientTarget):
    """The target h or c, from the states by (layer, direction, step)."""
    def value(hs, cs):
        return (hs if target.state == "h" else cs)[target.layer, target.direction,
                                                    target.t][0, 0, target.unit]
    return value


def _nn_lstm_gradients(lstm: nn.LSTM, x: torch.Tensor, h_0, c_0, value_of):
    """Autograd through nn.LSTM's own kernel, one step per call, for one sequence x (n, 1, in):
    zero probes added to every h and to every carried c (c after h is computed from it)
    give ∂target/∂h and ∂target/∂c; ``value_of(hs, cs)`` picks the target from the states,
    keyed (layer, direction, step). Returns dx (n, in), dh (L, D, n, H_out), dc (L, D, n, H),
    dh_0, dc_0 (L*D, H_out / H) and f (L, D, n, H), the forget gates."""
    L, D = lstm.num_layers, 2 if lstm.bidirectional else 1
    n, H = x.shape[0], lstm.hidden_size
    H_out = lstm.proj_size or H
    x = x.clone().requires_grad_(True)
    h_0, c_0 = h_0.clone().requires_grad_(True), c_0.clone().requires_grad_(True)
    probe_h = torch.zeros(L, D, n, 1, H_out, dtype=x.dtype, requires_grad=True)
    probe_c = torch.zeros(L, D, n, 1, H, dtype=x.dtype, requires_grad=True)
    f = torch.zeros(L, D, n, H, dtype=torch.float64)
    hs, cs = {}, {}
    layer_in = x
    for layer in range(L):
        outs = []
        for d in range(D):
            one = _one_layer(lstm, layer, d, layer_in.shape[-1])
            h, c = h_0[layer * D + d][None], c_0[layer * D + d][None]
            steps = [None] * n
            for s in (range(n) if d == 0 else range(n - 1, -1, -1)):
                with torch.no_grad():  # the forget gate, for ∏f: sigmoid of its pre-activation
                    z = layer_in[s] @ one.weight_ih_l0.T + h[0] @ one.weight_hh_l0.T
                    if lstm.bias:
                        z = z + one.bias_ih_l0 + one.bias_hh_l0
                    f[layer, d, s] = torch.sigmoid(z[0, H:2 * H]).double()
                _, (h, c) = one(layer_in[s:s + 1], (h, c))
                h = h + probe_h[layer, d, s][None]
                c = c + probe_c[layer, d, s][None]
                steps[s] = h[0]
                hs[layer, d, s], cs[layer, d, s] = h, c
            outs.append(torch.stack(steps))
        layer_in = torch.cat(outs, dim=-1)
    grads = torch.autograd.grad(value_of(hs, cs), (x, probe_h, probe_c, h_0, c_0),
                                allow_unused=True, materialize_grads=True)
    dx, dh, dc, dh_0, dc_0 = (g.detach() for g in grads)
    return dx[:, 0], dh[:, :, :, 0], dc[:, :, :, 0], dh_0[:, 0], dc_0[:, 0], f


def _forget_product(f: np.ndarray, t: int, n: int, T: int, d: int) -> np.ndarray:
    """∏ f from s to t, by hand: the share of the cell state handed on at s still in c at t."""
    out = np.full(T, np.nan)
    for s in range(n):
        if d == 0 and s <= t:
            out[s] = np.prod(f[s + 1:t + 1])
        elif d == 1 and s >= t:
            out[s] = np.prod(f[t:s])
    return out


@pytest.mark.parametrize("name", CASES)
def test_script_gradients_equal_autograd_through_nn_lstm(name, tmp_path):
    cfg, spec, target = CASES[name]
    session = Session(cfg, spec, seed=7)
    session.retrace()
    script, _ = save_check_script(session, tmp_path / "check.py")
    script.write_text(build_code(session, data_file="check.npz", target=target))
    res = _run(script, tmp_path, str(tmp_path / "grads.npz"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "d/dx by autograd through nn.LSTM itself" in res.stdout
    with np.load(tmp_path / "grads.npz") as f:
        got = {k: f[k] for k in f.files}

    x_tm = session.input_tm  # (T, B, in), time-major whatever batch_first says
    T, B = got["dx"].shape[:2]
    lengths = list(spec.lengths or (x_tm.shape[0],) * B)
    b, n = target.batch, lengths[target.batch]
    h_0, c_0 = session.trace.h_0[:, b:b + 1], session.trace.c_0[:, b:b + 1]
    dx, dh, dc, dh_0, dc_0, f = _nn_lstm_gradients(session.lstm, x_tm[:n, b:b + 1], h_0, c_0,
                                                   _state_value(target))
    L, D = cfg.num_layers, cfg.num_directions
    assert got["dx"].shape == (T, B, cfg.input_size)
    assert got["dh"].shape == (L, D, T, B, cfg.h_out)
    assert got["dc"].shape == (L, D, T, B, cfg.hidden_size)
    tol = {"rtol": 1e-4, "atol": 1e-6}
    np.testing.assert_allclose(got["dx"][:n, b], dx.numpy(), **tol)
    np.testing.assert_allclose(got["dh"][:, :, :n, b], dh.numpy(), **tol)
    np.testing.assert_allclose(got["dc"][:, :, :n, b], dc.numpy(), **tol)
    np.testing.assert_allclose(got["dh_0"][:, b], dh_0.numpy(), **tol)
    np.testing.assert_allclose(got["dc_0"][:, b], dc_0.numpy(), **tol)
    # the target cannot move other sequences; nothing is computed past a sequence's length
    for other in range(B):
        past = np.arange(T) >= lengths[other]
        assert np.isnan(got["dx"][past, other]).all()
        assert np.isnan(got["dh"][:, :, past, other]).all()
        if other != b:
            assert not np.any(got["dx"][~past, other])
    # the per-step norms are of these gradients, for the target's batch element
    np.testing.assert_allclose(got["x_norm"][:n], np.linalg.norm(dx.numpy(), axis=-1), **tol)
    np.testing.assert_allclose(got["c_norm"][:, :, :n], np.linalg.norm(dc.numpy(), axis=-1),
                               **tol)
    np.testing.assert_allclose(got["h_norm"][:, :, :n], np.linalg.norm(dh.numpy(), axis=-1),
                               **tol)
    want_f = _forget_product(f[target.layer, target.direction, :, target.unit].numpy(),
                             target.t, n, T, target.direction)
    np.testing.assert_allclose(got["forget_product"], want_f, rtol=1e-5, atol=1e-7)


def test_script_gradient_of_the_top_h_equals_autograd_through_one_nn_lstm_call(tmp_path):
    cfg = LSTMConfig(2, 4, num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
    session = Session(cfg, InputSpec(source="sine", seq_len=10, batch_size=2), seed=2,
                      dtype=torch.float64)
    session.retrace()
    target = GradientTarget("h", 1, 1, 4, 2, 1)
    script, _ = save_check_script(session, tmp_path / "check.py")
    script.write_text(build_code(session, data_file="check.npz", target=target))
    res = _run(script, tmp_path, str(tmp_path / "grads.npz"))
    assert res.returncode == 0, res.stdout + res.stderr
    x = session.input_tm.transpose(0, 1).clone().requires_grad_(True)  # (B, T, in)
    output, _ = session.lstm(x)
    output[1, 4, 3 + 2].backward()  # the reverse direction's h[2] sits after the forward 3
    with np.load(tmp_path / "grads.npz") as f:
        np.testing.assert_allclose(f["dx"], x.grad.transpose(0, 1).numpy(), rtol=1e-9,
                                   atol=1e-12)


def test_script_target_from_the_command_line(tmp_path):
    session = Session(*CASES["packed_ragged"][:2], seed=7)
    session.retrace()
    script, _ = save_check_script(session, tmp_path / "check.py")
    res = _run(script, tmp_path, str(tmp_path / "grads.npz"), "state=c", "layer=0",
               "direction=1", "t=1", "unit=0", "batch=1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Gradients of c[0] at t=1 (layer 0, direction 1, batch 1)" in res.stdout
    with np.load(tmp_path / "grads.npz") as f:
        dc = f["dc"]
    assert dc[0, 1, 1, 1, 0] == 1.0  # the target itself
    res = _run(script, tmp_path, "t=3", "batch=1")  # batch element 1 has 3 steps
    assert res.returncode == 1 and "no such target" in res.stderr
    res = _run(script, tmp_path, "time=3")
    assert res.returncode == 1 and "unknown target field 'time'" in res.stderr


def test_script_exits_non_zero_when_its_gradients_differ_from_nn_lstm(tmp_path):
    session = Session(*CASES["packed_ragged"][:2], seed=7)
    session.retrace()
    script, _ = save_check_script(session, tmp_path / "check.py")
    code = script.read_text()
    wrong = "g_s, c_s = gates_and_c(layer_in[s] * 1.01, h, c, p)"
    script.write_text(code.replace("g_s, c_s = gates_and_c(layer_in[s], h, c, p)", wrong))
    res = _run(script, tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "MISMATCH gradients" in res.stdout


@pytest.mark.parametrize("target, message", [
    (GradientTarget(state="forecast"), "state must be one of h, c, prediction, loss"),
    (GradientTarget(layer=2), r"layer must be in \[0, 1\]"),
    (GradientTarget(unit=3), r"unit must be in \[0, 2\]"),  # h has proj_size = 3 features
    (GradientTarget(state="c", unit=5), r"unit must be in \[0, 4\]"),
    (GradientTarget(batch=1, t=3), r"t must be in \[0, 2\]: batch element 1 has 3 steps"),
])
def test_build_code_refuses_a_target_the_session_does_not_have(target, message):
    session = Session(LSTMConfig(3, 5, num_layers=2, proj_size=3),
                      InputSpec(seq_len=6, batch_size=2, lengths=(6, 3)))
    with pytest.raises(ValueError, match=message):
        build_code(session, target=target)


def test_focus_target_falls_back_to_c_where_h_has_no_such_feature_and_keeps_t_in_length():
    session = Session(LSTMConfig(3, 5, num_layers=2, proj_size=3),
                      InputSpec(seq_len=6, batch_size=2, lengths=(6, 3)))
    session.seek(5)
    assert focus_target(session, "h", 1, 0, 2, 0) == GradientTarget("h", 1, 0, 5, 2, 0)
    assert focus_target(session, "h", 1, 0, 4, 1) == GradientTarget("c", 1, 0, 2, 4, 1)
    assert focus_target(session, "c", 3, 0, 0, 0) == GradientTarget("h", 0, 0, 5, 0, 0)


# ----- the output head's prediction and loss ---------------------------------------------------

def _forecaster() -> Session:
    """A bidirectional 2-layer proj_size batch_first LSTM with a head forecasting the next
    input (3 outputs for 3 features), on a packed batch."""
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
    session = Session(LSTMConfig(3, 5), InputSpec(source="random", seq_len=8, batch_size=2,
                                                  lengths=(8, 6)))
    session.load_module(lstm, head=Head("fc", torch.randn(3, 4), torch.randn(3)))
    session.retrace()
    return session


def _char_model() -> Session:
    """The character demo on 30 characters in 2 sequences: its head predicts the next one."""
    session = Session()
    open_demo(session, "char_python")
    session.set_input(session.input_spec.replace(seq_len=30, batch_size=2))
    session.retrace()
    return session


def _linear(session) -> nn.Linear:
    head = session.head
    linear = nn.Linear(head.weight.shape[1], head.out_features, dtype=session.dtype)
    with torch.no_grad():
        linear.weight.copy_(head.weight)
        linear.bias.copy_(head.bias)
    return linear


def _head_value(session, target: GradientTarget, want):
    """The head's prediction or loss at t from the top layer's states (both directions)."""
    linear, cfg = _linear(session), session.config
    top = cfg.num_layers - 1

    def value(hs, cs):
        out = linear(torch.cat([hs[top, d, target.t][0] for d in range(cfg.num_directions)],
                               dim=-1))[0]
        if target.state == "prediction":
            return out[target.unit]
        if isinstance(want, int):
            return nn.functional.cross_entropy(out[None], torch.tensor([want]))
        return ((out - want) ** 2).mean()
    return value


def _close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal up to float32 rounding, relative to the largest gradient of the array (a float32
    model with large weights rounds differently in the fused kernel and the equations)."""
    scale = float(np.abs(want).max()) or 1.0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)


def _next_char(session, t: int, b: int) -> int:
    """The index of the character after position t of sequence b, read from the text."""
    spec = session.input_spec
    vocab = list(spec.params["vocab"])
    return vocab.index(spec.text[b * spec.seq_len + t + 1])


@pytest.mark.parametrize("make, target", [
    (_forecaster, GradientTarget("prediction", 1, 0, 4, 2, 1)),
    (_forecaster, GradientTarget("loss", 1, 0, 3, 0, 0)),
    (_forecaster, GradientTarget("loss", 1, 0, 4, 0, 1)),
    (_char_model, GradientTarget("loss", 0, 0, 20, 0, 1)),
    (_char_model, GradientTarget("prediction", 0, 0, 12, 7, 0)),
], ids=["forecast_prediction", "forecast_loss", "forecast_loss_short_sequence", "char_loss",
        "char_prediction"])
def test_script_gradients_of_the_heads_prediction_and_loss_equal_autograd_through_nn_lstm(
        make, target, tmp_path):
    session = make()
    script, _ = save_check_script(session, tmp_path / "check.py")
    script.write_text(build_code(session, data_file="check.npz", target=target))
    res = _run(script, tmp_path, str(tmp_path / "grads.npz"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert ("loss at" if target.state == "loss" else "prediction[") in res.stdout
    with np.load(tmp_path / "grads.npz") as f:
        got = {k: f[k] for k in f.files}
    b, t = target.batch, target.t
    x_tm = session.input_tm
    lengths = list(session.input_spec.lengths or (x_tm.shape[0],) * x_tm.shape[1])
    n = lengths[b]
    if session.input_spec.source == "tokens":
        want = _next_char(session, t, b)
    else:
        want = x_tm[t + 1, b]  # the next input
    value_of = _head_value(session, target, want)
    h_0, c_0 = session.trace.h_0[:, b:b + 1], session.trace.c_0[:, b:b + 1]
    dx, dh, dc, dh_0, dc_0, _ = _nn_lstm_gradients(session.lstm, x_tm[:n, b:b + 1], h_0, c_0,
                                                   value_of)
    pairs = [(got["dx"][:n, b], dx), (got["dh"][:, :, :n, b], dh), (got["dc"][:, :, :n, b], dc),
             (got["dh_0"][:, b], dh_0), (got["dc_0"][:, b], dc_0)]
    for have, want_grad in pairs:
        _close(have, want_grad.numpy())
    assert np.isnan(got["forget_product"]).all()  # a product of one unit's f: h and c only
    # and the whole ∂/∂x through one nn.LSTM call and the head
    x = x_tm[:n, b:b + 1].clone().requires_grad_(True)
    lstm = session.lstm
    out, _ = lstm(x.transpose(0, 1) if lstm.batch_first else x)
    out = out[0] if lstm.batch_first else out[:, 0]
    logits = _linear(session)(out[t])
    value = logits[target.unit] if target.state == "prediction" else \
        nn.functional.cross_entropy(logits[None], torch.tensor([want])) \
        if isinstance(want, int) else ((logits - want) ** 2).mean()
    value.backward()
    _close(got["dx"][:n, b], x.grad[:, 0].numpy())


def test_head_targets_need_a_head_and_the_last_layer():
    session = _forecaster()
    with pytest.raises(ValueError, match="a loss target has layer=1 and direction=0"):
        build_code(session, target=GradientTarget("loss", 0, 0, 2, 0, 0))
    with pytest.raises(ValueError, match=r"unit must be in \[0, 2\]"):
        build_code(session, target=GradientTarget("prediction", 1, 0, 2, 3, 0))
    plain = Session(LSTMConfig(3, 5))
    with pytest.raises(ValueError, match="needs an output head"):
        build_code(plain, target=GradientTarget("prediction"))
    # the Code view's choice falls back to h of the selection without a head
    assert focus_target(plain, "loss", 0, 0, 4, 0) == GradientTarget("h", 0, 0, 0, 4, 0)


def test_focus_target_for_the_prediction_is_the_heads_top_output_at_the_cursor():
    session = _forecaster()
    session.seek(5)
    out = _linear(session)(torch.cat([session.trace.h[1, d, 5, 1] for d in range(2)]))
    want = int(out.argmax())
    assert focus_target(session, "prediction", 0, 1, 4, 1) == \
        GradientTarget("prediction", 1, 0, 5, want, 1)


def test_script_with_a_head_needs_only_torch_and_numpy_and_stays_readable():
    code = build_code(_forecaster(), target=GradientTarget("loss", 1, 0, 3, 0, 0))
    imports = set(re.findall(r"^(?:import|from) (\w+)", code, flags=re.M))
    assert imports == {"sys", "warnings", "pathlib", "numpy", "torch"}
    assert "lstm_viz" not in code
    assert max(len(line) for line in code.splitlines()) <= 100
    compile(code, "lstm_check.py", "exec")


def test_focus_target_while_the_trace_on_show_is_of_the_previous_model():
    session = _forecaster()  # traced: its trace reads 4 features into the head
    torch.manual_seed(1)
    session.load_module(nn.LSTM(3, 7), head=Head("fc", torch.randn(3, 7), torch.randn(3)))
    assert session.trace.config != session.config  # the new trace is not made yet
    assert focus_target(session, "prediction", 0, 0, 0, 0) == GradientTarget("prediction")
