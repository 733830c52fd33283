"""The kernels behind ``lstm_viz.trace``: one layer and direction of an LSTM, step by step.

Private: ``tracing.trace`` chooses a kernel and assembles the layers. ``run_loop`` steps through
time: the input projection of all steps is one matmul (oneDNN, weight prepacked, where it pays),
then each step is one recurrent matmul (MKL's packed GEMM where it pays) and a few in-place
element-wise calls on preallocated buffers. ``run_fused`` lets torch's fused kernel compute h and
recomputes the gates for all steps at once, with a log-depth scan for c.

Each packed kernel is checked against addmm once, on first use, and falls back to addmm (with one
log line) where it is missing or disagrees. A per-step ``torch.compile`` of the element-wise part
was measured and is not used: on the CPU its call costs about 23 us against 12 us for the whole
eager step at small sizes, and its kernel is no faster than the eager calls at large ones.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

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


def _activate(z4: Tensor) -> None:
    """In place on (..., 4, H) pre-activations: sigmoid on i, f (adjacent) and o, tanh on g."""
    z4[..., :2, :].sigmoid_()
    z4[..., 2, :].tanh_()
    z4[..., 3, :].sigmoid_()


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


def input_linear(weight: Tensor, rows: int) -> Linear:
    """``f(x, bias=None, out=None) = x @ weight.T + bias`` for the input projection of all
    steps at once (x of ``rows`` rows), made once per weight.

    On the CPU in float32 and for large products this uses oneDNN with the weight prepacked,
    the fastest here for a tall x; elsewhere, or where that private op is missing or
    disagrees, plain addmm. The function's ``__name__`` names the kernel.
    """
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        return _plain(weight)
    if rows * weight.numel() < ONEDNN_MIN_MACS or not onednn_ok():
        return _plain(weight)
    ops = torch.ops.mkldnn
    packed = ops._reorder_linear_weight(weight, rows)

    def prepacked(x: Tensor, bias: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        y = ops._linear_pointwise(x, packed, bias, "none", [], "")
        return y if out is None else out.copy_(y)

    return prepacked


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


_ONEDNN_OK: bool | None = None
_MKL_OK: bool | None = None
ONEDNN_MIN_MACS = 1 << 22  # below this, packing the weight costs more than it saves
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


def onednn_ok() -> bool:
    """Whether oneDNN's prepacked linear exists here and agrees with addmm (checked once)."""
    global _ONEDNN_OK
    if _ONEDNN_OK is None:
        ops = torch.ops.mkldnn
        _ONEDNN_OK = bool(torch.backends.mkldnn.is_available()) and _agrees(
            lambda x, w, b: ops._linear_pointwise(x, ops._reorder_linear_weight(w, 3), b,
                                                  "none", [], ""),
            "oneDNN's prepacked linear")
    return _ONEDNN_OK


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
             w_hr: Tensor | None, gates: Tensor | None, c: Tensor, h: Tensor,
             overrides: Sequence[StateEdit] = (), backwards: bool = False,
             kernels: dict[str, str] | None = None) -> Tensor:
    """One direction of one layer, step by step. x (T, B, in); writes c (T, B, H) and
    h (T, B, H_out), and the gates (T, B, 4, H) into ``gates``, or into a buffer of its own
    that it returns when ``gates`` is None. ``overrides``: edits applied after step ``edit.t``,
    counted in reading order (0 is the first step read). ``backwards`` reads positions T-1
    down to 0 (and writes each result at its own position). ``kernels``, when given, gets the
    names of the matmul kernels used ("input", "recurrent").

    About eight torch calls a step, all in place on views made once: the recurrent matmul and
    its add, the gates' activations, c = i * g then += f * c_prev, and h = o * tanh(c) (then
    projected by W_hr). The activations are sigmoid on i and f (adjacent) and on o and tanh on
    g, or, where ``one_sigmoid_pays``, one sigmoid over all four with the g rows of the
    weights scaled by -2 (tanh(z) = 1 - 2 sigmoid(-2z), equal to float rounding; then
    i * tanh(z_g) = i - 2 i s_g is one addcmul, and g is turned into tanh(z_g) for all steps
    at the end).
    """
    T, B, _ = x.shape
    H = c.shape[-1]
    one_sigmoid = one_sigmoid_pays()
    if one_sigmoid:
        w_ih, w_hh, bias = _scale_g_rows(w_ih, w_hh, bias)
    project = input_linear(w_ih, T * B)
    if gates is None:  # the caller takes this buffer as it is: no copy
        gates = project(x.reshape(T * B, -1), bias).view(T, B, 4, H)
    else:
        project(x.reshape(T * B, -1), bias, out=gates.view(T * B, 4 * H))
    recurrent = recurrent_linear(w_hh, B)
    if kernels is not None:
        kernels.update(input=project.__name__, recurrent=recurrent.__name__,
                       step="one_sigmoid" if one_sigmoid else "sigmoid_tanh")
    project_h = None if w_hr is None else _plain(w_hr)
    tanh_c = torch.empty((B, H), dtype=c.dtype, device=c.device)
    o_tanh_c = torch.empty((B, H), dtype=c.dtype, device=c.device)
    by_step: dict[int, list[StateEdit]] = {}
    for edit in overrides:
        by_step.setdefault(edit.t, []).append(edit)
    # Views made once: indexing a tensor costs more than the small ops themselves.
    zs = gates.view(T, B, 4 * H).unbind(0)
    i_, f_, g_, o_ = (gates[:, :, k].unbind(0) for k in range(4))
    if_ = gates[:, :, :2].unbind(0)
    cs, hs = c.unbind(0), h.unbind(0)
    if backwards:
        zs, i_, f_, g_, o_, if_, cs, hs = (v[::-1] for v in (zs, i_, f_, g_, o_, if_, cs, hs))
    gate_views = (i_, f_, g_, o_)
    h_prev, c_prev = h0, c0
    for t in range(T):
        zs[t].add_(recurrent(h_prev))
        if one_sigmoid:
            zs[t].sigmoid_()  # i, f, o; and s_g = sigmoid(-2 z_g)
        else:
            if_[t].sigmoid_()
            g_[t].tanh_()
            o_[t].sigmoid_()
        ov = by_step.get(t)
        if ov:
            for edit in ov:  # a clamped gate (g held as s_g, where tanh(z_g) = 1 - 2 s_g)
                if edit.kind in _GATE_SLOT:
                    value = (1.0 - edit.value) / 2 if one_sigmoid and edit.kind == "g" \
                        else edit.value
                    gate_views[_GATE_SLOT[edit.kind]][t][edit.batch, edit.unit] = value
        ct = cs[t]
        if one_sigmoid:
            torch.addcmul(i_[t], i_[t], g_[t], value=-2.0, out=ct)  # i * tanh(z_g)
        else:
            torch.mul(i_[t], g_[t], out=ct)
        ct.addcmul_(f_[t], c_prev)
        if ov:
            for edit in ov:
                if edit.kind == "c":
                    ct[edit.batch, edit.unit] = edit.value
        torch.tanh(ct, out=tanh_c)
        if project_h is None:
            torch.mul(o_[t], tanh_c, out=hs[t])
        else:
            torch.mul(o_[t], tanh_c, out=o_tanh_c)
            project_h(o_tanh_c, out=hs[t])
        if ov:
            for edit in ov:
                if edit.kind == "h":
                    hs[t][edit.batch, edit.unit] = edit.value
        h_prev, c_prev = hs[t], ct
    if one_sigmoid:
        gates[:, :, 2].mul_(-2.0).add_(1.0)  # s_g -> tanh(z_g), for all steps at once
    return gates


def run_fused(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
              b_hh: Tensor | None, w_hr: Tensor | None, gates: Tensor, c: Tensor, h: Tensor
              ) -> None:
    """Like run_loop, but h comes from torch's fused kernel and the gates are then recomputed
    for all steps at once; only c needs a (cheap, elementwise) scan."""
    T, B, _ = x.shape
    H = c.shape[-1]
    params = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None and b_hh is not None else []) + \
        ([w_hr] if w_hr is not None else [])
    args = (x, (h0.unsqueeze(0), c0.unsqueeze(0)), params, b_ih is not None, 1, 0.0, False,
            False, False)
    with warnings.catch_warnings():
        # torch notes that oneDNN has no projection kernel and falls back: nothing to do.
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        # cuDNN copies one layer's weights into one buffer per call: a small copy, expected
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single")
        out = torch.lstm(*args)[0]
    h.copy_(out)
    h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
    flat = gates.view(T * B, 4 * H)
    bias = None if b_ih is None or b_hh is None else b_ih + b_hh
    input_linear(w_ih, T * B)(x.reshape(T * B, -1), bias, out=flat)
    flat.add_(input_linear(w_hh, T * B)(h_prev.reshape(T * B, -1)))
    _activate(gates)
    _linear_scan(gates[:, :, 1], gates[:, :, 0] * gates[:, :, 2], c0, out=c)


def _linear_scan(a: Tensor, b: Tensor, c0: Tensor, out: Tensor) -> None:
    """out[t] = a[t] * out[t-1] + b[t] with out[-1] = c0, for (T, ...) tensors.

    A Hillis-Steele scan: log2(T) rounds of whole-tensor operations instead of T small steps
    (the pair (a, b) composes as (a1, b1) then (a2, b2) = (a1 * a2, a2 * b1 + b2)). Only
    products and sums of the same terms, so it equals the sequential recurrence to rounding.
    """
    T = a.shape[0]
    A = a.clone()
    out.copy_(b)
    out[0].addcmul_(A[0], c0)
    k = 1
    while k < T:
        new_b = torch.addcmul(out[k:], A[k:], out[:-k])
        A[k:] = A[k:] * A[:-k]
        out[k:] = new_b
        k *= 2


