"""The loop's kernels: the packed matmuls and plain addmm, and both ways of activating the gates,
give the same trace as nn.LSTM; a packed kernel that is missing or wrong here falls back to addmm
with one log line."""

from __future__ import annotations

import dataclasses
import logging
import warnings

import pytest
import torch
from lstm_refs import model_and_input, native_or_skip, real_native
from torch import nn

from lstm_viz import trace
from lstm_viz.tracing import _kernels, _native
from lstm_viz.tracing.edits import StateEdit

CASES = [  # (nn.LSTM keyword arguments, packed lengths or None)
    (dict(input_size=5, hidden_size=16), None),
    (dict(input_size=5, hidden_size=16, bidirectional=True), None),
    (dict(input_size=5, hidden_size=16, num_layers=3, bidirectional=True), [7, 3, 7, 5]),
    (dict(input_size=5, hidden_size=16, num_layers=2, proj_size=6), None),
    (dict(input_size=5, hidden_size=16, num_layers=2, proj_size=6, bidirectional=True,
          batch_first=True), [2, 7, 4, 7]),
    (dict(input_size=5, hidden_size=16, batch_first=True, bias=False), [7, 1, 6, 7]),
]
T, B = 7, 4


@pytest.fixture
def kernel(monkeypatch, request):
    """Force the recurrent matmul to MKL's packed kernel at every size ("mkl_packed") or
    to plain addmm ("plain")."""
    if request.param == "mkl_packed":
        if not _kernels.mkl_ok():
            pytest.skip("this torch build has no working MKL packed linear")
        monkeypatch.setattr(_kernels, "MKL_MIN_MACS", 0)
    else:
        monkeypatch.setattr(_kernels, "_MKL_OK", False)
    return request.param


def use_native(monkeypatch, mode):
    """Make run_loop take ``mode``: "native_loop" (runs of steps in C), "native_step" (each
    step's element-wise work in C), or None (torch calls only)."""
    if mode is None:
        monkeypatch.setattr(_native, "native", lambda: None)
        return
    compiled = native_or_skip(loop=mode == "native_loop")
    if mode == "native_step":
        compiled = dataclasses.replace(compiled, loop=None)
    monkeypatch.setattr(_native, "native", lambda: compiled)


@pytest.fixture
def torch_steps(monkeypatch):
    """The loop without compiled code: every step in torch calls."""
    use_native(monkeypatch, None)


STEPS = ["native_loop", "native_step", "one_sigmoid", "sigmoid_tanh"]


@pytest.fixture(params=STEPS)
def step(monkeypatch, request):
    """Force the loop's steps: in C (float32 only; float64 takes torch's sigmoid and tanh), or
    in torch calls with one sigmoid over all four, or with sigmoid and tanh."""
    native = request.param.startswith("native")
    use_native(monkeypatch, request.param if native else None)
    monkeypatch.setattr(_kernels, "one_sigmoid_pays", lambda: request.param == "one_sigmoid")
    return request.param


def _model_and_input(kw, lengths, dtype):
    return model_and_input(kw, lengths, T, B, seed=3, dtype=dtype)


def _run(lstm, x):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        tr = trace(lstm, x, method="loop")
        with torch.no_grad():
            out, (h_n, c_n) = lstm(x)
    return tr, out, h_n, c_n


def _data(out):
    return out.data if isinstance(out, nn.utils.rnn.PackedSequence) else out


@pytest.mark.parametrize("kernel", ["mkl_packed", "plain"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw, lengths", CASES)
def test_loop_matches_nn_lstm_with_either_recurrent_kernel_and_step(kernel, step, dtype, kw,
                                                                      lengths):
    lstm, x = _model_and_input(kw, lengths, dtype)
    tr, out, h_n, c_n = _run(lstm, x)
    # MKL's packed kernel and the compiled steps are float32 only: float64 always takes addmm
    # and torch's sigmoid and tanh. The C loop calls MKL's packed GEMM itself.
    f32 = dtype == torch.float32
    want = "mkl_packed" if step == "native_loop" and f32 else kernel if f32 else "plain"
    assert f"recurrent={want}" in tr.meta["kernels"]
    want_step = step + "_" if step.startswith("native") and f32 else \
        "sigmoid_tanh" if step.startswith("native") else step
    assert f"step={want_step}" in tr.meta["kernels"]
    tol = dict(atol=2e-6, rtol=0) if dtype == torch.float32 else dict(atol=1e-13, rtol=0)
    torch.testing.assert_close(_data(tr.output), _data(out), **tol)
    torch.testing.assert_close(tr.h_n, h_n, **tol)
    torch.testing.assert_close(tr.c_n, c_n, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw, lengths", CASES)
def test_packed_and_plain_recurrent_kernels_give_the_same_trace(monkeypatch, torch_steps, dtype,
                                                                 kw, lengths):
    if not _kernels.mkl_ok():
        pytest.skip("this torch build has no working MKL packed linear")
    lstm, x = _model_and_input(kw, lengths, dtype)
    monkeypatch.setattr(_kernels, "MKL_MIN_MACS", 0)
    packed = _run(lstm, x)[0]
    monkeypatch.setattr(_kernels, "_MKL_OK", False)
    plain = _run(lstm, x)[0]
    assert packed.meta["kernels"] != plain.meta["kernels"] or dtype == torch.float64
    tol = dict(atol=2e-6, rtol=0) if dtype == torch.float32 else dict(atol=0, rtol=0)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(packed, name), getattr(plain, name), equal_nan=True,
                                   **tol)


class _BrokenMKL:
    """Stands in for torch.ops.mkl: its packed linear raises, or answers wrongly."""

    def __init__(self, wrong: bool) -> None:
        self.wrong = wrong

    def _mkl_reorder_linear_weight(self, w, rows):
        return w

    def _mkl_linear(self, x, packed, w, b, rows):
        if not self.wrong:
            raise RuntimeError("no MKL here")
        return torch.addmm(b, x, w.t()) + 1.0


@pytest.mark.parametrize("wrong, level", [(False, logging.INFO), (True, logging.WARNING)])
def test_a_packed_kernel_that_fails_its_self_check_falls_back_to_addmm(monkeypatch, caplog,
                                                                       torch_steps, wrong,
                                                                       level):
    monkeypatch.setattr(_kernels, "_MKL_OK", None)  # check again, against the stand-in
    monkeypatch.setattr(torch.ops, "mkl", _BrokenMKL(wrong))
    monkeypatch.setattr(_kernels, "MKL_MIN_MACS", 0)
    lstm, x = _model_and_input(CASES[2][0], CASES[2][1], torch.float32)
    with caplog.at_level(logging.INFO, logger="lstm_viz.tracing"):
        tr, out, h_n, c_n = _run(lstm, x)
        trace(lstm, x, method="loop")  # checked once: no second log line
    assert "recurrent=plain" in tr.meta["kernels"]
    lines = [r for r in caplog.records if "MKL's packed linear" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == level
    torch.testing.assert_close(_data(tr.output), _data(out), atol=2e-6, rtol=0)
    torch.testing.assert_close(tr.c_n, c_n, atol=2e-6, rtol=0)


def test_trace_names_the_kernels_it_used(monkeypatch):
    lstm = nn.LSTM(2, 8, num_layers=2).eval()
    x = torch.randn(T, B, 2)
    monkeypatch.setattr(_kernels, "_MKL_OK", False)
    monkeypatch.setattr(_kernels, "one_sigmoid_pays", lambda: False)
    use_native(monkeypatch, None)
    tr = trace(lstm, x, method="loop")
    assert tr.meta["kernels"] == "input=plain, recurrent=plain, step=sigmoid_tanh"
    assert trace(lstm, x, method="fused").meta["kernels"] == "torch.lstm + bulk recompute"
    compiled = native_or_skip()
    monkeypatch.setattr(_native, "native", lambda: compiled)
    tr = trace(lstm, x, method="loop")
    assert tr.meta["kernels"] == \
        f"input=plain, recurrent=mkl_packed, step=native_loop_{compiled.isa}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw, lengths", CASES)
def test_every_element_wise_step_gives_the_same_trace_with_what_if_edits(monkeypatch, dtype,
                                                                          kw, lengths):
    lstm, x = _model_and_input(kw, lengths, dtype)
    D = 2 if kw.get("bidirectional") else 1
    last = kw.get("num_layers", 1) - 1
    edits = [StateEdit(kind, t, layer, d, 0, 3, value)
             for kind, t, value in (("g", 1, -0.7), ("i", 2, 0.9), ("c", 3, 1.5), ("h", 4, -0.4))
             for layer in {0, last} for d in range(D)]
    compiled = real_native()
    traces = {}
    for mode in STEPS:
        if mode.startswith("native") and (compiled is None or compiled.loop is None):
            continue  # tests of the compiled steps say whether that is allowed here
        use_native(monkeypatch, mode if mode.startswith("native") else None)
        monkeypatch.setattr(_kernels, "one_sigmoid_pays", lambda mode=mode: mode == "one_sigmoid")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
            traces[mode] = trace(lstm, x, overrides=edits)
    b = traces["sigmoid_tanh"]
    # the edited values are held as given, whichever way the step was computed
    for a in traces.values():
        assert float(a.gates[0, 0, 1, 0, 2, 3]) == pytest.approx(-0.7, abs=1e-6)
    tol = dict(atol=2e-6, rtol=0) if dtype == torch.float32 else dict(atol=1e-13, rtol=0)
    for a in traces.values():
        for name in ("gates", "c", "h"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), equal_nan=True,
                                       **tol)


# ----- the pieces for CUDA devices, their logic on the CPU ---------------------------------
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_scan_in_torch_ops_equals_the_step_by_step_scan(dtype, backwards):
    """The GPU's fallback scan (activations, then a log-depth scan) against c computed one
    step after another in reading order."""
    from lstm_viz.tracing import _scan

    torch.manual_seed(0)
    z = torch.randn(37, 3, 4, 6, dtype=dtype) * 3
    c0 = torch.randn(3, 6, dtype=dtype)
    gates, c = z.clone(), torch.empty(37, 3, 6, dtype=dtype)
    assert _scan.torch_act_scan(gates, c0, c, backwards) == "torch_log_scan"
    want_g = torch.stack([z[:, :, 0].sigmoid(), z[:, :, 1].sigmoid(), z[:, :, 2].tanh(),
                          z[:, :, 3].sigmoid()], dim=2)
    want_c = torch.empty_like(c)
    prev = c0
    for t in (range(36, -1, -1) if backwards else range(37)):
        i, f, g, _ = want_g[t].unbind(1)
        want_c[t] = f * prev + i * g
        prev = want_c[t]
    tol = dict(atol=1e-5, rtol=0) if dtype == torch.float32 else dict(atol=1e-12, rtol=0)
    torch.testing.assert_close(gates, want_g, **tol)
    torch.testing.assert_close(c, want_c, **tol)


def test_without_cuda_the_scan_takes_torch_ops_and_no_triton_kernel_is_made():
    from lstm_viz.tracing import _cuda

    if torch.cuda.is_available():
        pytest.skip("checks the machine without a CUDA device")
    assert _cuda._triton_kernel() is None
    gates, c = torch.randn(5, 2, 4, 3), torch.empty(5, 2, 3)
    assert _cuda.act_scan(gates, torch.zeros(2, 3), c) == "torch_log_scan"


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_graph_replayed_loop_equals_the_step_loop_with_edits(monkeypatch, torch_steps, dtype,
                                                                 backwards):
    """The step loop as a GPU runs it: runs of ``chunk`` unedited steps through the graph
    wrapper (here its eager fallback), edited steps one by one; every gate, c and h equals the
    plain step loop, reading forwards and backwards."""
    from lstm_viz.tracing import _cuda

    torch.manual_seed(1)
    lstm = nn.LSTM(3, 6, bidirectional=backwards, proj_size=4).to(dtype).eval()
    x = torch.randn(100, 2, 3, dtype=dtype)
    edits = [StateEdit("c", 40, 0, 0, 1, 2, 0.5), StateEdit("f", 41, 0, 0, 0, 1, 0.0)]
    if backwards:
        edits.append(StateEdit("h", 10, 0, 1, 1, 3, -0.5))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        want = trace(lstm, x, method="torch", overrides=edits)
        chunks: list[int] = []
        real_run = _cuda.GraphSteps._run

        def run(self):
            chunks.append(self.chunk)
            return real_run(self)

        monkeypatch.setattr(_cuda, "pays", lambda x, T: True)
        monkeypatch.setattr(_cuda.GraphSteps, "_run", run)
        got = trace(lstm, x, method="torch", overrides=edits)
    # forward: steps [0, 32) and [42, 74) in chunks, the rest one by one; the reverse direction
    # reads 89 steps before its edit: [0, 32) and [32, 64) in chunks
    assert len(chunks) == (4 if backwards else 2)
    tol = dict(atol=1e-6, rtol=0) if dtype == torch.float32 else dict(atol=1e-13, rtol=0)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), **tol)


def test_the_graph_wrapper_runs_eagerly_where_there_are_no_cuda_graphs():
    from lstm_viz.tracing import _cuda

    ran: list[int] = []
    steps = _cuda.GraphSteps(2, 3, 3, torch.empty(0), lambda project: lambda *a: ran.append(1),
                             proj=False, chunk=4)
    assert not steps.use_graphs
    steps._run()
    assert (len(ran), steps.replays, steps.graph) == (4, 0, None)


def test_one_graph_per_shape_serves_every_layer_and_model_of_that_shape(monkeypatch,
                                                                        torch_steps):
    """The graph wrapper is made once per shape and takes each layer's weights when used: two
    models of one shape, each with two layers, trace as the plain step loop does."""
    from lstm_viz.tracing import _cuda

    made: list[int] = []
    real_init = _cuda.GraphSteps.__init__

    def init(self, *args, **kw):
        made.append(1)
        real_init(self, *args, **kw)

    monkeypatch.setattr(_cuda, "_GRAPHS", type(_cuda._GRAPHS)())
    monkeypatch.setattr(_cuda.GraphSteps, "__init__", init)
    x = torch.randn(70, 2, 6)
    wanted, got = [], []
    for seed in (1, 2):
        torch.manual_seed(seed)
        lstm = nn.LSTM(6, 8, num_layers=2, proj_size=6).eval()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
            monkeypatch.setattr(_cuda, "pays", lambda x, T: False)
            wanted.append(trace(lstm, x, method="torch"))
            monkeypatch.setattr(_cuda, "pays", lambda x, T: True)
            got.append(trace(lstm, x, method="torch"))
    assert len(made) == 1
    for a, b in zip(got, wanted):
        for name in ("gates", "c", "h"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=1e-6, rtol=0)


_TRITON_CHECK = """
import torch
from lstm_viz.tracing import _cuda, _scan
kernel = _cuda._build_triton()
torch.manual_seed(0)
worst = 0.0
for T, B, H in [(7, 3, 5), (40, 2, 33), (1, 4, 16)]:
    for backwards in (False, True):
        z, c0 = torch.randn(T, B, 4, H) * 3, torch.randn(B, H)
        mine, theirs = z.clone(), z.clone()
        c_mine, c_theirs = torch.empty(T, B, H), torch.empty(T, B, H)
        _cuda._launch(kernel, mine, c0, c_mine, backwards)
        _scan.torch_act_scan(theirs, c0, c_theirs, backwards)
        worst = max(worst, float((mine - theirs).abs().max()),
                    float((c_mine - c_theirs).abs().max()))
print(worst)
"""


def test_the_triton_scan_in_triton_s_interpreter_equals_the_torch_ops():
    """The GPU's one-kernel scan, run on the CPU by Triton's interpreter (TRITON_INTERPRET=1,
    read when the kernel is defined: a fresh process), against the torch ops."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("triton") is None:
        pytest.skip("Triton is not installed")
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run([sys.executable, "-c", _TRITON_CHECK], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 1e-5
