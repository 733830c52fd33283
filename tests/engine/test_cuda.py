"""The engine on a CUDA device: traces, windows, gradients, edits and files saved on a GPU.

Every check compares with torch itself (nn.LSTM on the same device, autograd through it, or
a float64 run on the CPU); the whole module is skipped where no CUDA device is present.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_viz import Ablation, InputSpec, LSTMConfig, Session, influence, trace, verify
from lstm_viz.formats.loader import load_model
from lstm_viz.torch_devices import rnn_uses_tf32

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

OPTIONS = [
    dict(num_layers=1, bidirectional=False, proj_size=0, batch_first=False, packed=False),
    dict(num_layers=2, bidirectional=True, proj_size=0, batch_first=True, packed=False),
    dict(num_layers=2, bidirectional=True, proj_size=3, batch_first=False, packed=True),
    dict(num_layers=3, bidirectional=False, proj_size=4, batch_first=True, packed=True),
]


@pytest.fixture
def ieee(monkeypatch):
    """cuDNN's recurrent layers in IEEE float32 (torch's default there is TF32 on recent
    GPUs), set through the API this torch has."""
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if getattr(rnn, "fp32_precision", None) is not None:
        monkeypatch.setattr(rnn, "fp32_precision", "ieee")
    else:
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    assert not rnn_uses_tf32("cuda")


def _float32_tolerance(tf32: bool) -> dict:
    """TF32 (cuDNN's default for nn.LSTM on recent GPUs) rounds each product's inputs to a
    10-bit mantissa (about 5e-4 relative). The trace multiplies in TF32 too, but cuDNN's kernels
    sum in another order, and over a recurrence the two drift apart by up to about 1e-4 (seen on
    an H200: 5e-5 after 17 steps, 1.6e-4 after 20 steps with an ablation)."""
    return dict(atol=3e-4, rtol=1e-3) if tf32 else dict(atol=1e-5, rtol=1e-4)


def _ids(o: dict) -> str:
    return (f"L{o['num_layers']}{'bi' if o['bidirectional'] else 'uni'}"
            f"{'-proj' if o['proj_size'] else ''}{'-bf' if o['batch_first'] else ''}"
            f"{'-packed' if o['packed'] else ''}")


def _model_and_input(opt: dict, dtype: torch.dtype, T: int = 17, B: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    lstm = nn.LSTM(5, 8, num_layers=opt["num_layers"], bidirectional=opt["bidirectional"],
                   proj_size=opt["proj_size"], batch_first=opt["batch_first"]).to(dtype).eval()
    x = torch.randn(B, T, 5, dtype=dtype) if opt["batch_first"] else torch.randn(T, B, 5,
                                                                                 dtype=dtype)
    lengths = torch.tensor([T, 5, 11][:B])
    return lstm, x, lengths


def _as_input(opt: dict, x: torch.Tensor, lengths: torch.Tensor):
    if not opt["packed"]:
        return x
    return pack_padded_sequence(x, lengths, batch_first=opt["batch_first"], enforce_sorted=False)


def _padded(out):
    return pad_packed_sequence(out)[0] if isinstance(out, torch.nn.utils.rnn.PackedSequence) \
        else out


@pytest.mark.parametrize("precision", ["default", "ieee"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opt", OPTIONS, ids=_ids)
def test_cuda_trace_equals_nn_lstm_there_and_the_float64_cpu_trace(opt, dtype, precision,
                                                                  request):
    if precision == "ieee":
        request.getfixturevalue("ieee")
    tf32 = dtype == torch.float32 and rnn_uses_tf32("cuda")
    lstm, x, lengths = _model_and_input(opt, dtype)
    gpu = copy.deepcopy(lstm).cuda()
    inp = _as_input(opt, x.cuda(), lengths)
    tr = trace(gpu, inp)
    assert tr.gates.device.type == "cuda"
    with torch.no_grad():
        out, (h_n, c_n) = gpu(inp)
    tol = dict(atol=1e-12, rtol=0) if dtype == torch.float64 else _float32_tolerance(tf32)
    torch.testing.assert_close(_padded(tr.output), _padded(out), **tol)
    torch.testing.assert_close(tr.h_n, h_n, **tol)
    torch.testing.assert_close(tr.c_n, c_n, **tol)
    # every gate, c and h against the CPU trace in float64 (itself checked against nn.LSTM)
    ref = trace(lstm.cpu().double(), _as_input(opt, x.double(), lengths))
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name).cpu().double(), getattr(ref, name),
                                   atol=(5e-3 if tf32 else 2e-5) if dtype == torch.float32
                                   else 1e-12, rtol=0, equal_nan=True, msg=name)
    checked = verify(gpu, inp, tr)
    assert checked.ok and checked.tf32 == tf32
    assert checked.status == "match" or tf32


@pytest.mark.parametrize("method", ["torch", "fused", "layered"])
@pytest.mark.parametrize("opt", OPTIONS, ids=_ids)
def test_cuda_every_method_equals_nn_lstm_there_and_the_float64_cpu_trace(opt, method, ieee):
    """cuDNN's h layer by layer (layered), the loop in torch calls, and the fused method, in
    IEEE float32: every gate, c and h."""
    lstm, x, lengths = _model_and_input(opt, torch.float32, seed=3)
    gpu = copy.deepcopy(lstm).cuda()
    inp = _as_input(opt, x.cuda(), lengths)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single")
        tr = trace(gpu, inp, method=method)
        with torch.no_grad():
            out, (h_n, c_n) = gpu(inp)
    assert tr.method == method and tr.gates.device.type == "cuda"
    if method == "layered":
        assert tr.meta["kernels"].endswith(("scan=triton_act_scan", "scan=torch_log_scan"))
    tol = _float32_tolerance(False)
    torch.testing.assert_close(_padded(tr.output), _padded(out), **tol)
    torch.testing.assert_close(tr.h_n, h_n, **tol)
    torch.testing.assert_close(tr.c_n, c_n, **tol)
    ref = trace(lstm.cpu().double(), _as_input(opt, x.double(), lengths), method="torch")
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name).cpu().double(), getattr(ref, name),
                                   atol=2e-5, rtol=0, equal_nan=True, msg=name)


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("triton", ["triton", "torch_ops"])
def test_cuda_the_cell_state_scan_equals_the_step_by_step_scan(triton, backwards, monkeypatch):
    """The layered method's scan on a GPU: one Triton kernel where Triton imports (else the
    torch ops' log-depth scan), against c computed step after step on the CPU in float64."""
    import importlib.util

    from lstm_viz.tracing import _cuda

    if triton == "triton":
        if importlib.util.find_spec("triton") is None:
            pytest.skip("Triton is not installed")
        assert _cuda._triton_kernel() is not None, "the Triton scan failed its check here"
    else:
        monkeypatch.setattr(_cuda, "_TRITON", [None])
    torch.manual_seed(0)
    z = torch.randn(300, 5, 4, 70) * 3
    c0 = torch.randn(5, 70)
    gates, c = z.cuda(), torch.empty(300, 5, 70, device="cuda")
    name = _cuda.act_scan(gates, c0.cuda(), c, backwards)
    assert name == ("triton_act_scan" if triton == "triton" else "torch_log_scan")
    zd = z.double()
    want_g = torch.stack([zd[:, :, 0].sigmoid(), zd[:, :, 1].sigmoid(), zd[:, :, 2].tanh(),
                          zd[:, :, 3].sigmoid()], dim=2)
    want_c = torch.empty(300, 5, 70, dtype=torch.float64)
    prev = c0.double()
    for t in (range(299, -1, -1) if backwards else range(300)):
        want_c[t] = want_g[t, :, 1] * prev + want_g[t, :, 0] * want_g[t, :, 2]
        prev = want_c[t]
    torch.testing.assert_close(gates.cpu().double(), want_g, atol=1e-6, rtol=0)
    torch.testing.assert_close(c.cpu().double(), want_c, atol=2e-5, rtol=0)


@pytest.mark.parametrize("method", ["torch", "layered"])
@pytest.mark.parametrize("opt", OPTIONS, ids=_ids)
def test_cuda_what_if_edits_replay_the_step_loop_from_a_graph_and_equal_the_cpu_trace(
        opt, method, ieee):
    """Edits on a GPU: runs of unedited steps replayed from a CUDA graph ("torch"), or the
    layered method up to the first edit and the graph-replayed loop from there; every gate, c
    and h against the CPU's float64 step loop with the same edits."""
    from lstm_viz.tracing.edits import StateEdit

    lstm, x, lengths = _model_and_input(opt, torch.float32, T=100, seed=4)
    x = torch.randn_like(x)
    lengths = torch.tensor([100, 61, 87])
    D = 2 if opt["bidirectional"] else 1
    edits = [StateEdit("c", 50, 0, 0, 0, 1, 0.5), StateEdit("f", 51, 0, 0, 2, 3, 0.0),
             StateEdit("h", 8, opt["num_layers"] - 1, D - 1, 0, 2, -0.5)]
    gpu = copy.deepcopy(lstm).cuda()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single")
        tr = trace(gpu, _as_input(opt, x.cuda(), lengths), method=method, overrides=edits)
    assert "+cuda_graph" in tr.meta["kernels"]
    ref = trace(lstm.cpu().double(), _as_input(opt, x.double(), lengths), method="torch",
                overrides=edits)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name).cpu().double(), getattr(ref, name),
                                   atol=5e-5, rtol=0, equal_nan=True, msg=name)


def test_cuda_auto_measures_the_gpu_methods_once_and_names_the_gpu(monkeypatch, tmp_path):
    from lstm_viz.tracing import _native, method_choice

    monkeypatch.setattr(_native, "_cache_dir", lambda: tmp_path / "native")
    monkeypatch.delenv(method_choice.ENV_METHOD, raising=False)
    method_choice.forget()
    torch.manual_seed(4)
    lstm = nn.LSTM(16, 64, num_layers=2, bidirectional=True).cuda().eval()
    x = torch.randn(300, 8, 16, device="cuda")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single")
        tr = trace(lstm, x)
        with torch.no_grad():
            out = lstm(x)[0]
    assert tr.method in ("torch", "fused", "layered")
    assert tr.meta["method_why"].startswith("measured on the first trace of this size")
    assert method_choice.last_choice().size_class.startswith(
        f"cuda({torch.cuda.get_device_name(0)})/float32/")
    torch.testing.assert_close(tr.output, out, **_float32_tolerance(rnn_uses_tf32("cuda")))
    method_choice.forget()


@pytest.mark.parametrize("opt", OPTIONS, ids=_ids)
def test_cuda_windowed_trace_equals_the_full_trace_in_that_window(opt):
    lstm, x, lengths = _model_and_input(opt, torch.float64, T=300, seed=1)
    gpu = copy.deepcopy(lstm).cuda()
    inp = _as_input(opt, x.cuda(), lengths.clamp(max=300))
    full = trace(gpu, inp)
    for start, stop in ((0, 40), (123, 180), (260, 300)):
        win = trace(gpu, inp, window=(start, stop))
        assert win.start == start and win.gates.device.type == "cuda"
        for name in ("gates", "c", "h"):
            torch.testing.assert_close(getattr(win, name), getattr(full, name)[:, :, start:stop],
                                       atol=1e-12, rtol=0, equal_nan=True, msg=name)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_cuda_influence_equals_autograd_through_nn_lstm(bidirectional):
    torch.manual_seed(2)
    lstm = nn.LSTM(4, 6, num_layers=2, bidirectional=bidirectional, proj_size=3).double().cuda()
    x = torch.randn(12, 2, 4, dtype=torch.float64, device="cuda")
    t, unit, batch = 7, 2, 1
    for direction in range(2 if bidirectional else 1):
        got = influence(lstm, x, layer=1, direction=direction, t=t, unit=unit, batch=batch)
        xr = x.clone().requires_grad_(True)
        out, _ = lstm(xr)
        out[t, batch, direction * 3 + unit].backward()
        assert got.x.device.type == "cuda"
        torch.testing.assert_close(got.x, xr.grad, atol=1e-12, rtol=0)


def test_cuda_session_ablation_equals_a_hand_edited_nn_lstm_run():
    cfg = LSTMConfig(input_size=3, hidden_size=6)
    s = Session(cfg, InputSpec(seq_len=20, batch_size=1, seed=3), seed=4, device="cuda")
    s.retrace()
    start, unit = 8, 4
    tr = s.ablate(Ablation("c", layer=0, direction=0, batch=0, units=(unit,), start=start))
    lstm, x = s.lstm, s.input_tm
    h = torch.zeros(1, 1, 6, device="cuda")
    c = torch.zeros(1, 1, 6, device="cuda")
    hs = []
    with torch.no_grad():
        for p in range(x.shape[0]):
            _, (h, c) = lstm(x[p:p + 1], (h, c))
            if p >= start:  # c handed on is zero; h is recomputed from it: o * tanh(0) = 0
                c = c.clone()
                c[..., unit] = 0.0
                h = h.clone()
                h[..., unit] = 0.0
            hs.append(h[0, 0])
    assert tr is not None and tr.h.device.type == "cuda"
    torch.testing.assert_close(tr.h[0, 0, :, 0], torch.stack(hs),
                               **_float32_tolerance(rnn_uses_tf32("cuda")))


def test_cuda_windowed_session_seeks_to_the_values_of_the_full_trace():
    cfg = LSTMConfig(input_size=2, hidden_size=6)
    spec = InputSpec(seq_len=9000, batch_size=1, seed=5)
    s = Session(cfg, spec, seed=6, device="cuda", memory_budget=2_500_000)
    s.window_size = 200
    assert s.windowed
    s.retrace()
    ref = trace(s.lstm, s.input_tm)  # the whole input at once, on the same device
    for t in (2500, 17, 1499):
        s.seek(t)
        tr = s.trace
        assert tr.start <= t < tr.stop and tr.h.device.type == "cuda"
        k = t - tr.start
        torch.testing.assert_close(tr.h[:, :, k], ref.h[:, :, t], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(tr.c[:, :, k], ref.c[:, :, t], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("form", ["state_dict", "checkpoint", "whole_module", "torchscript"])
def test_a_model_saved_on_the_gpu_opens_and_runs_like_the_gpu_module(form, tmp_path, ieee):
    torch.manual_seed(7)
    net = nn.Sequential()
    net.add_module("rnn", nn.LSTM(3, 5, num_layers=2, batch_first=True))
    net = net.cuda()
    path = tmp_path / "model.pt"
    if form == "state_dict":
        torch.save(net.state_dict(), path)
    elif form == "checkpoint":
        opt = torch.optim.Adam(net.parameters())
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    elif form == "whole_module":
        torch.save(net, path)
    else:
        with warnings.catch_warnings():  # torch.jit.script is deprecated, not yet gone
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.script(net.rnn).save(str(path))
    loaded = load_model(path)
    cpu_lstm = loaded.pick().build(batch_first=True)
    assert next(cpu_lstm.parameters()).device.type == "cpu"
    x = torch.randn(2, 9, 3)
    with torch.no_grad():
        theirs, _ = net.rnn(x.cuda())
        ours, _ = cpu_lstm(x)
    torch.testing.assert_close(ours, theirs.cpu(), atol=1e-5, rtol=1e-4)
