"""The kernels behind ``lstm_viz.trace``: one layer and direction of an LSTM, step by step.

Private: ``tracing.trace`` chooses a kernel and assembles the layers. ``run_loop`` steps through
time: the input projection of all steps is one addmm straight into the trace's gates buffer,
then each step is the recurrent matmul and the element-wise work. Where the compiled code builds
(``_native``), runs of steps are one C call (MKL's packed GEMM and a fused element-wise pass);
otherwise each step is one recurrent matmul (MKL's packed GEMM where it pays) and a few in-place
torch calls on preallocated buffers. ``run_fused`` lets torch's fused kernel compute h and
recomputes the gates for all steps at once, with a log-depth scan for c; ``run_layered`` does the
same with c as a plain recurrence over time (one compiled pass that also activates the gates,
where it builds) and reads a full-length reverse direction backwards in place.
``run_direction`` runs one layer and direction by any of these
(lstm_viz.tracing.method_choice times them); with what-if edits, the fused methods run up to the
first edited step and the loop from there. On a CUDA device ``_cuda`` scans the layered
method's c in one kernel and replays the loop's unedited steps from a CUDA graph.

Each packed kernel is checked against addmm once, on first use, and falls back to addmm (with one
log line) where it is missing or disagrees. A per-step ``torch.compile`` of the element-wise part
was measured and is not used: on the CPU its call costs about 23 us against 12 us for the whole
eager step at small sizes, and its kernel is no faster than the eager calls at large ones.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import nn

from . import _cuda, _native
from ._scan import activate, log_scan
from .edits import StateEdit

log = logging.getLogger("lstm_viz.tracing")
Tensor = torch.Tensor
Linear = Callable[..., Tensor]

_GATE_SLOT = {"i": 0, "f": 1, "g": 2, "o": 3}  # a gate edit's index in gates[..., 4, H]

LayerParams = tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]


def layer_params(lstm: nn.LSTM, layer: int, direction: int) -> LayerParams:
    """(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) of one layer and direction, detached;
    None for the ones this LSTM does not have."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    out: list[Tensor | None] = []
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        param = getattr(lstm, name + sfx, None)
        out.append(None if param is None else param.detach())
    w_ih, w_hh, b_ih, b_hh, w_hr = out
    assert w_ih is not None and w_hh is not None
    return w_ih, w_hh, b_ih, b_hh, w_hr


def reverse_index(lengths: Tensor, T: int, device: torch.device) -> Tensor:
    """(T, B) index that reverses each sequence within its length (positions past it stay)."""
    t = torch.arange(T).unsqueeze(1)
    lens = lengths.unsqueeze(0)
    idx = torch.where(t < lens, lens - 1 - t, t)
    return idx.to(device)


def reverse(x: Tensor, idx: Tensor | None) -> Tensor:
    """Reverse (T, B, ...) in time per sequence; ``idx`` from reverse_index, or None when
    every sequence is full length (a plain flip)."""
    if idx is None:
        return x.flip(0)
    full = idx.view(idx.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(0, full)


def _scale_g_rows(w_ih: Tensor, w_hh: Tensor, bias: Tensor | None
                  ) -> tuple[Tensor, Tensor, Tensor | None]:
    """The weights (and bias) with the g rows multiplied by -2, for the loop's "one sigmoid"
    step. Scaling by a power of two is exact in floating point: the pre-activation is exactly
    -2 times torch's."""
    H = w_ih.shape[0] // 4

    def scaled(w: Tensor) -> Tensor:
        w = w.clone()
        w[2 * H:3 * H].mul_(-2.0)
        return w

    return scaled(w_ih), scaled(w_hh), None if bias is None else scaled(bias)


def one_sigmoid_pays() -> bool:
    """Whether the loop's gates take one sigmoid over all four (tanh(g) = 1 - 2 sigmoid(-2g))
    rather than sigmoid on i, f, o and tanh on g. Measured per step on a 2-core CPU: with two
    or more threads the one contiguous call is 10-30% faster; with one thread the separate
    calls are (benchmarks/bench_trace.py shows which step a trace used)."""
    return torch.get_num_threads() > 1


def _plain(weight: Tensor) -> Linear:
    """``f(x, bias=None, out=None) = x @ weight.T + bias`` by addmm. The transposed weight is
    made contiguous once: MKL multiplies a row-major (in, out) matrix faster than a transposed
    view of an (out, in) one (about 1.3x for a recurrence's small matrices)."""
    w_t = weight.t().contiguous()

    def plain(x: Tensor, bias: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        if bias is None:
            return torch.mm(x, w_t, out=out)
        return torch.addmm(bias, x, w_t, out=out)

    return plain


def _plain_on_first_use(weight: Tensor) -> Linear:
    """``_plain(weight)``, made when it is first called: the C loop calls it only for a step
    with an edit, and most traces have none (the transposed copy costs about 1 ms for a
    hidden-512 layer, on every window traced)."""
    made: list[Linear] = []

    def plain(x: Tensor, bias: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        if not made:
            made.append(_plain(weight))
        return made[0](x, bias, out)

    return plain


def recurrent_linear(weight: Tensor, rows: int) -> Linear:
    """``f(x, bias=None, out=None) = x @ weight.T + bias`` for one step of a recurrence (x of
    ``rows`` rows, the batch), made once per weight and called once a step.

    On the CPU in float32 and for large products this uses MKL's packed GEMM with the weight
    packed once (about 1.1-1.5x faster than oneDNN's prepacked linear or addmm for these
    short, wide products); elsewhere, or where that private op is missing or disagrees, plain
    addmm. The function's ``__name__`` names the kernel.
    """
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        return _plain(weight)
    if rows * weight.numel() < MKL_MIN_MACS or not mkl_ok():
        return _plain(weight)
    ops = torch.ops.mkl
    packed = ops._mkl_reorder_linear_weight(weight, rows)

    def mkl_packed(x: Tensor, bias: Tensor | None = None, out: Tensor | None = None
                   ) -> Tensor:
        y = ops._mkl_linear(x, packed, weight, bias, rows)
        return y if out is None else out.copy_(y)

    return mkl_packed


_MKL_OK: bool | None = None
MKL_MIN_MACS = 1 << 21  # below this, plain addmm is as fast (benchmarks/bench_trace.py)


def _agrees(linear: Callable[[Tensor, Tensor, Tensor], Tensor], name: str) -> bool:
    """Whether ``linear(x, w, b)`` runs here and equals addmm on a small case (checked once,
    logged when it does not)."""
    w = torch.linspace(-1, 1, 24).view(6, 4)
    x = torch.linspace(1, -1, 12).view(3, 4)
    b = torch.linspace(0, 1, 6)
    try:
        ok = torch.allclose(linear(x, w, b), torch.addmm(b, x, w.t()), rtol=1e-5, atol=1e-6)
    except (AttributeError, RuntimeError, TypeError, NotImplementedError) as exc:
        log.info("%s is not available here (%s); using addmm", name, exc)
        return False
    if not ok:
        log.warning("%s disagrees with addmm here; using addmm", name)
    return bool(ok)


def mkl_ok() -> bool:
    """Whether MKL's packed linear exists here and agrees with addmm (checked once)."""
    global _MKL_OK
    if _MKL_OK is None:
        ops = torch.ops.mkl
        _MKL_OK = bool(torch.backends.mkl.is_available()) and _agrees(
            lambda x, w, b: ops._mkl_linear(x, ops._mkl_reorder_linear_weight(w, 3), w, b, 3),
            "MKL's packed linear")
    return _MKL_OK


def run_loop(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor | None,
             w_hr: Tensor | None, gates: Tensor, c: Tensor, h: Tensor,
             overrides: Sequence[StateEdit] = (), backwards: bool = False,
             kernels: dict[str, str] | None = None, compiled: bool = True) -> None:
    """One direction of one layer, step by step. x (T, B, in); writes c (T, B, H),
    h (T, B, H_out) and the gates (T, B, 4, H) into the buffers given. ``overrides``: edits
    applied after step ``edit.t``, counted in reading order (0 is the first step read).
    ``backwards`` reads positions T-1 down to 0 (and writes each result at its own position).
    ``kernels``, when given, gets the names of the kernels used ("input", "recurrent",
    "step"). ``compiled=False`` keeps every step in torch calls (the "torch" method).

    Each step is the recurrent matmul, then the element-wise work: the add, the gates'
    activations, c = i * g + f * c_prev and h = o * tanh(c) (then projected by W_hr). Where the
    compiled step builds here (``_native``), that is one call on float32 CPU tensors; otherwise,
    and on a step with an edit, about eight torch calls in place on views made once. The torch
    activations are sigmoid on i and f (adjacent) and on o and tanh on g, or, where
    ``one_sigmoid_pays``, one sigmoid over all four with the g rows of the weights scaled by
    -2 (tanh(z) = 1 - 2 sigmoid(-2z), equal to float rounding; then i * tanh(z_g) =
    i - 2 i s_g is one addcmul, and g is turned into tanh(z_g) for all steps at the end).
    """
    T, B, _ = x.shape
    H = c.shape[-1]
    native = _native.native() if compiled and x.device.type == "cpu" else None
    if native is not None and not native.accepts(c, h, gates):
        native = None
    one_sigmoid = native is None and one_sigmoid_pays()
    if one_sigmoid:
        w_ih, w_hh, bias = _scale_g_rows(w_ih, w_hh, bias)
    # Straight into the trace's buffer: faster here than oneDNN's prepacked linear, whose
    # result would have to be copied in (or, kept as it is, would sit on small pages).
    project = _plain(w_ih)
    project(x.reshape(T * B, -1), bias, out=gates.view(T * B, 4 * H))
    in_c = native is not None and native.loop is not None  # the loop's GEMM: MKL's, packed
    # (an edited step's product, in torch: plain addmm, not worth packing the weight twice)
    recurrent = _plain_on_first_use(w_hh) if in_c else recurrent_linear(w_hh, B)
    if kernels is not None:
        kernels.update(input=project.__name__,
                       recurrent="mkl_packed" if in_c else recurrent.__name__,
                       step=native.name if native is not None
                       else "one_sigmoid" if one_sigmoid else "sigmoid_tanh")
    step = _TorchStep(B, H, c, None if w_hr is None else _plain(w_hr), one_sigmoid)
    by_step: dict[int, list[StateEdit]] = {}
    for edit in overrides:
        by_step.setdefault(edit.t, []).append(edit)
    if native is not None:
        _native_steps(native, gates, c, h, h0, c0, w_hh, w_hr, recurrent, step, by_step,
                      backwards)
        return
    if _cuda.pays(x, T):
        _graph_steps(gates, c, h, h0, c0, step, recurrent, w_hh, w_hr, by_step, backwards,
                     kernels)
        if one_sigmoid:
            gates[:, :, 2].mul_(-2.0).add_(1.0)
        return
    # Views made once: indexing a tensor costs more than the small ops themselves.
    order = slice(None, None, -1 if backwards else 1)  # reading order
    zs = gates.view(T, B, 4 * H).unbind(0)[order]
    views = list(zip(*(gates[:, :, k].unbind(0) for k in range(4))))[order]
    if_ = gates[:, :, :2].unbind(0)[order]
    cs, hs = c.unbind(0)[order], h.unbind(0)[order]
    h_prev, c_prev = h0, c0
    for t in range(T):
        step(zs[t], recurrent(h_prev), if_[t], views[t], c_prev, cs[t], hs[t], by_step.get(t))
        h_prev, c_prev = hs[t], cs[t]
    if one_sigmoid:
        gates[:, :, 2].mul_(-2.0).add_(1.0)  # s_g -> tanh(z_g), for all steps at once


def _graph_steps(gates: Tensor, c: Tensor, h: Tensor, h0: Tensor, c0: Tensor, step: _TorchStep,
                 recurrent: Linear, w_hh: Tensor, w_hr: Tensor | None,
                 by_step: dict[int, list[StateEdit]], backwards: bool,
                 kernels: dict[str, str] | None) -> None:
    """run_loop's steps on a CUDA device: runs of unedited steps replayed from the CUDA graph
    of this shape (``_cuda.GraphSteps``, captured on its first use), steps with edits eagerly.
    ``w_hh``, ``w_hr``: the weights ``recurrent`` and ``step`` use."""
    T, B, H = c.shape
    Ho, proj = h.shape[-1], w_hr is not None

    def eager(pos: int, h_prev: Tensor, c_prev: Tensor, edits: list[StateEdit] | None) -> None:
        g4 = gates[pos]
        step(g4.view(B, 4 * H), recurrent(h_prev), g4[:, :2], g4.unbind(1), c_prev, c[pos],
             h[pos], edits)

    key = _cuda.graph_key(B, H, Ho, c, proj, step.one_sigmoid)
    graph = _cuda.take(key, lambda: _cuda.GraphSteps(
        B, H, Ho, c, lambda project: _TorchStep(B, H, c, project, step.one_sigmoid), proj))
    graph.load(w_hh, w_hr)
    replays = graph.replays
    graph.run(gates, c, h, h0, c0, by_step, backwards, eager)
    _cuda.give_back(key, graph)
    if kernels is not None and graph.replays > replays:
        kernels["step"] += "+cuda_graph"


class _TorchStep:
    """One step's element-wise work in torch calls, in place on the step's views, with the
    step's edits applied: a clamped gate after the activations, c after c is computed, h after
    h (a g edit is held as s_g where tanh(z_g) = 1 - 2 s_g, in the one-sigmoid form)."""

    def __init__(self, B: int, H: int, like: Tensor, project_h: Linear | None,
                 one_sigmoid: bool) -> None:
        self.project_h, self.one_sigmoid = project_h, one_sigmoid
        self.tanh_c = torch.empty((B, H), dtype=like.dtype, device=like.device)
        self.o_tanh_c = torch.empty((B, H), dtype=like.dtype, device=like.device)

    def __call__(self, z: Tensor, rec: Tensor, i_f: Tensor, gate_views: Sequence[Tensor],
                 c_prev: Tensor, ct: Tensor, ht: Tensor, edits: list[StateEdit] | None
                 ) -> None:
        i, f, g, o = gate_views
        z.add_(rec)
        if self.one_sigmoid:
            z.sigmoid_()  # i, f, o; and s_g = sigmoid(-2 z_g)
        else:
            i_f.sigmoid_()
            g.tanh_()
            o.sigmoid_()
        for edit in edits or ():
            if edit.kind in _GATE_SLOT:
                value = (1.0 - edit.value) / 2 if self.one_sigmoid and edit.kind == "g" \
                    else edit.value
                gate_views[_GATE_SLOT[edit.kind]][edit.batch, edit.unit] = value
        if self.one_sigmoid:
            torch.addcmul(i, i, g, value=-2.0, out=ct)  # i * tanh(z_g)
        else:
            torch.mul(i, g, out=ct)
        ct.addcmul_(f, c_prev)
        for edit in edits or ():
            if edit.kind == "c":
                ct[edit.batch, edit.unit] = edit.value
        torch.tanh(ct, out=self.tanh_c)
        if self.project_h is None:
            torch.mul(o, self.tanh_c, out=ht)
        else:
            torch.mul(o, self.tanh_c, out=self.o_tanh_c)
            self.project_h(self.o_tanh_c, out=ht)
        for edit in edits or ():
            if edit.kind == "h":
                ht[edit.batch, edit.unit] = edit.value


def _native_steps(native: _native.Native, gates: Tensor, c: Tensor, h: Tensor, h0: Tensor,
                  c0: Tensor, w_hh: Tensor, w_hr: Tensor | None, recurrent: Linear,
                  torch_step: _TorchStep, by_step: dict[int, list[StateEdit]], backwards: bool
                  ) -> None:
    """run_loop's steps in compiled code, addressed by pointer arithmetic (making T views costs
    more than the steps' Python): each run of steps without edits is one ``loop`` call, or,
    where that is missing, each step its matmul in torch and one ``step`` call; a step with
    edits runs in torch."""
    T, B, H = c.shape
    threads = torch.get_num_threads()
    item = c.element_size()
    sign = -1 if backwards else 1  # from one step read to the next
    z_at, z_rs, z_t = gates.data_ptr(), gates.stride(1), gates.stride(0) * item
    c_at, c_rs, c_t = c.data_ptr(), c.stride(1), c.stride(0) * item
    h_at, h_rs, h_t = h.data_ptr(), h.stride(1), h.stride(0) * item
    m = torch_step.o_tanh_c  # o * tanh(c) where W_hr then projects it into h
    h0 = h0 if h0.stride(-1) == 1 else h0.contiguous()
    c0 = c0 if c0.stride(-1) == 1 else c0.contiguous()
    if native.loop is not None:
        whh = native.pack(w_hh, B)
        whr = None if w_hr is None else native.pack(w_hr, B)
    edited = sorted(by_step)
    t = 0
    while t < T:
        pos = T - 1 - t if backwards else t
        hp_at, hp_rs = (h0.data_ptr(), h0.stride(0)) if t == 0 else \
            (h_at + (pos - sign) * h_t, h_rs)
        cp_at, cp_rs = (c0.data_ptr(), c0.stride(0)) if t == 0 else \
            (c_at + (pos - sign) * c_t, c_rs)
        edits = by_step.get(t)
        if edits:
            g4 = gates[pos]
            torch_step(g4.view(B, 4 * H), recurrent(h0 if t == 0 else h[pos - sign]),
                       g4[:, :2], g4.unbind(1), c0 if t == 0 else c[pos - sign], c[pos],
                       h[pos], edits)
            t += 1
        elif native.loop is not None:
            stop = next((e for e in edited if e > t), T)
            native.loop(stop - t, B, H, h.shape[-1], threads, _native.MIN_PARALLEL,
                        native.compute, whh.data_ptr(),
                        None if whr is None else whr.data_ptr(),
                        z_at + pos * z_t, sign * gates.stride(0), z_rs, hp_at, hp_rs, cp_at,
                        cp_rs, c_at + pos * c_t, sign * c.stride(0), c_rs,
                        h_at + pos * h_t, sign * h.stride(0), h_rs, m.data_ptr(), m.stride(0))
            t = stop
        else:
            rec = recurrent(h0 if t == 0 else h[pos - sign])
            out_at, out_rs = (h_at + pos * h_t, h_rs) if w_hr is None else \
                (m.data_ptr(), m.stride(0))
            native.step(B, H, threads, _native.MIN_PARALLEL, z_at + pos * z_t, z_rs,
                        rec.data_ptr(), rec.stride(0), cp_at, cp_rs, c_at + pos * c_t, c_rs,
                        out_at, out_rs)
            if torch_step.project_h is not None:
                torch_step.project_h(m, out=h[pos])
            t += 1


def run_fused(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
              b_hh: Tensor | None, w_hr: Tensor | None, gates: Tensor, c: Tensor, h: Tensor
              ) -> None:
    """Like run_loop, but h comes from torch's fused kernel and the gates are then recomputed
    for all steps at once; only c needs a (cheap, elementwise) scan."""
    T, B, _ = x.shape
    H = c.shape[-1]
    out = fused_h(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
    h.copy_(out)
    h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
    flat = gates.view(T * B, 4 * H)
    bias = None if b_ih is None or b_hh is None else b_ih + b_hh
    _plain(w_ih)(x.reshape(T * B, -1), bias, out=flat)
    flat.addmm_(h_prev.reshape(T * B, -1), w_hh.t())
    activate(gates)
    log_scan(gates[:, :, 1], gates[:, :, 0] * gates[:, :, 2], c0, out=c)


def fused_h(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
            b_hh: Tensor | None, w_hr: Tensor | None) -> Tensor:
    """(T, B, H_out): every h of one layer and direction reading x (T, B, in) forwards, from
    torch's fused kernel (oneDNN or cuDNN) called with that layer's own weights."""
    params = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None and b_hh is not None else []) + \
        ([w_hr] if w_hr is not None else [])
    args = (x, (h0.unsqueeze(0), c0.unsqueeze(0)), params, b_ih is not None, 1, 0.0, False,
            False, False)
    with warnings.catch_warnings():
        # torch notes that oneDNN has no projection kernel and falls back: nothing to do.
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        # cuDNN copies one layer's weights into one buffer per call: a small copy, expected
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single")
        return torch.lstm(*args)[0]


def run_layered(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor,
                b_ih: Tensor | None, b_hh: Tensor | None, w_hr: Tensor | None, gates: Tensor,
                c: Tensor, h: Tensor, backwards: bool = False,
                kernels: dict[str, str] | None = None) -> None:
    """One direction of one layer with torch's fused kernel doing the recurrence: every h
    from one call of it, then i, f, g, o of all steps from x_t and h_{t-1} in two large
    products, then c_t = f_t c_{t-1} + i_t g_t as a plain recurrence over time (``cell_scan``).
    Buffers as run_loop's; ``backwards`` reads positions T-1 down to 0."""
    T, B, _ = x.shape
    H = c.shape[-1]
    if backwards:
        h.copy_(fused_h(x.flip(0), h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr).flip(0))
    else:
        h.copy_(fused_h(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr))
    flat = gates.view(T * B, 4 * H)
    bias = None if b_ih is None or b_hh is None else b_ih + b_hh
    _plain(w_ih)(x.reshape(T * B, -1), bias, out=flat)
    # h_{t-1} of each step read: the h one position earlier in reading order, h_0 for the first
    w_hh_t = w_hh.t()
    first, rest, prev = (flat[-B:], flat[:-B], h[1:]) if backwards else \
        (flat[:B], flat[B:], h[:-1])
    first.addmm_(h0, w_hh_t)
    if T > 1:
        rest.addmm_(prev.reshape((T - 1) * B, -1), w_hh_t)
    name = _activate_and_scan(gates, c0, c, backwards)
    if kernels is not None:
        kernels.update(recurrent="torch.lstm", scan=name)


def _activate_and_scan(gates: Tensor, c0: Tensor, c: Tensor, backwards: bool) -> str:
    """The gates (T, B, 4, H) activated in place and c scanned from them: in one compiled pass
    where it builds (float32 on the CPU), else torch's activations and ``cell_scan``."""
    T, B, H = c.shape
    if c.is_cuda:
        return _cuda.act_scan(gates, c0, c, backwards)
    fn = _native.act_scan(c)
    if fn is not None and _scan_layout(gates, c0, c):
        first, sign = (T - 1, -1) if backwards else (0, 1)
        fn(T, B, H, torch.get_num_threads(), _native.MIN_PARALLEL, gates[first].data_ptr(),
           sign * gates.stride(0), gates.stride(1), c0.data_ptr(), c0.stride(0),
           c[first].data_ptr(), sign * c.stride(0), c.stride(1))
        return "native_act_scan"
    activate(gates)
    return cell_scan(gates, c0, c, backwards)


def _scan_layout(gates: Tensor, c0: Tensor, c: Tensor) -> bool:
    """Whether the compiled scans can address these: rows of units, a gates row's four blocks
    back to back."""
    H = c.shape[-1]
    return all(t.stride(-1) == 1 for t in (gates, c0, c)) and gates.stride(-2) == H and \
        gates.stride(1) == 4 * H and c.stride(1) == H


def cell_scan(gates: Tensor, c0: Tensor, c: Tensor, backwards: bool = False) -> str:
    """c (T, B, H) from the activated gates (T, B, 4, H): c_t = i_t g_t + f_t c_{t-1}, c_{-1} =
    c0 (B, H), step after step in reading order, rounded as the loop's torch calls round it.
    In compiled code (CPU, float32 or float64) where it builds, else one torch call a step.
    Returns which ("native_scan" or "torch_scan")."""
    T, B, H = c.shape
    fn = _native.scan(c)
    if fn is not None and _scan_layout(gates, c0, c):
        first, sign = (T - 1, -1) if backwards else (0, 1)
        fn(T, B, H, torch.get_num_threads(), _native.MIN_PARALLEL, gates[first].data_ptr(),
           sign * gates.stride(0), gates.stride(1), c0.data_ptr(), c0.stride(0),
           c[first].data_ptr(), sign * c.stride(0), c.stride(1))
        return "native_scan"
    torch.mul(gates[:, :, 0], gates[:, :, 2], out=c)
    cs, fs = c.unbind(0), gates[:, :, 1].unbind(0)
    prev = c0
    for t in (range(T - 1, -1, -1) if backwards else range(T)):
        cs[t].addcmul_(fs[t], prev)
        prev = cs[t]
    return "torch_scan"


def run_direction(method: str, x: Tensor, h0: Tensor, c0: Tensor, params: LayerParams,
                  gates: Tensor, c: Tensor, h: Tensor, overrides: Sequence[StateEdit] = (),
                  backwards: bool = False, kernels: dict[str, str] | None = None) -> None:
    """One layer and direction by ``method``: "loop" (compiled where it builds), "torch" (the
    loop in torch calls), "fused" or "layered"; buffers and arguments as run_loop's ("fused"
    does not read backwards). With ``overrides``, "fused" and "layered" run up to the first
    edited step and the step loop (compiled where it builds) from there, from the state they
    carried; ``kernels`` then names the loop's kernels as "edit_<role>"."""
    if overrides and method in ("fused", "layered"):
        first = min(e.t for e in overrides)
        T = x.shape[0]
        if first > 0:
            # the steps read before the first edit: positions [T - first, T) when reading
            # backwards, [0, first) otherwise
            pre = slice(T - first, T) if backwards else slice(0, first)
            run_direction(method, x[pre], h0, c0, params, gates[pre], c[pre], h[pre],
                          backwards=backwards, kernels=kernels)
            at = T - first if backwards else first - 1
            h0, c0 = h[at], c[at]
            rest = slice(0, T - first) if backwards else slice(first, T)
            x, gates, c, h = x[rest], gates[rest], c[rest], h[rest]
            overrides = [replace(e, t=e.t - first) for e in overrides]
        used: dict[str, str] = {}
        run_direction("loop", x, h0, c0, params, gates, c, h, overrides, backwards, used)
        if kernels is not None:
            kernels.update({"edit_" + role: name for role, name in used.items()})
        return
    w_ih, w_hh, b_ih, b_hh, w_hr = params
    if method in ("loop", "torch"):
        bias = None if b_ih is None or b_hh is None else b_ih + b_hh
        run_loop(x, h0, c0, w_ih, w_hh, bias, w_hr, gates, c, h, overrides, backwards=backwards,
                 kernels=kernels, compiled=method == "loop")
    elif method == "layered":
        run_layered(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, gates, c, h, backwards, kernels)
    else:
        assert not backwards
        run_fused(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, gates, c, h)
