"""Run an nn.LSTM and record the gates, cell and hidden state of every layer, direction and step.

``nn.LSTM`` calls a fused kernel, so i, f, g, o and the intermediate c_t never exist as tensors.
``trace`` recomputes them from the module's own parameters with the LSTM equations

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)            (then h_t = W_hr h_t when proj_size > 0)

and returns output, h_n and c_n in exactly the form ``lstm(input, hx)`` returns them.

Both directions run as a forward scan: the reverse direction reads each sequence reversed
(within its own length), and its results are put back at the input positions they belong to.
Positions past a sequence's length are computed on padding and then set to NaN.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .config import LSTMConfig

GATE_NAMES = ("i", "f", "g", "o")
DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes

# Per-step matmul size (B * 4H * H_out multiply-adds) above which a per-step loop is faster
# than "fused kernel, then recompute the gates for all steps at once" (benchmarks/bench_trace.py).
_LOOP_THRESHOLD = 200_000


class TraceBudgetError(ValueError):
    """The trace would take more memory than the budget allows."""


@dataclass
class Trace:
    """What an nn.LSTM computed, step by step.

    gates: (L, D, T, B, 4, H) activated i, f, g, o; c: (L, D, T, B, H); h: (L, D, T, B, H_out);
    x: (T, B, input_size) the input, time-major; lengths: (B,) int64 on the CPU.
    output, h_n, c_n: as ``lstm(input, hx)`` returns them (tensor or PackedSequence).
    """

    output: torch.Tensor | PackedSequence
    h_n: torch.Tensor
    c_n: torch.Tensor
    gates: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor
    x: torch.Tensor
    h_0: torch.Tensor
    c_0: torch.Tensor
    lengths: torch.Tensor
    config: LSTMConfig
    eval_semantics: bool = False
    unbatched: bool = False
    packed: bool = False
    elapsed_s: float = 0.0
    method: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return self.gates.shape[2]

    @property
    def batch_size(self) -> int:
        return self.gates.shape[3]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.gates, self.c, self.h, self.x))


def estimate_trace_bytes(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                         dtype: torch.dtype = torch.float32) -> int:
    """Bytes a trace of this size keeps (gates, c, h, input) plus its largest scratch buffer."""
    B = batch_size or 1
    item = torch.empty((), dtype=dtype).element_size()
    H, Ho, L, D = cfg.hidden_size, cfg.h_out, cfg.num_layers, cfg.num_directions
    kept = L * D * seq_len * B * (4 * H + H + Ho) + seq_len * B * cfg.input_size
    # Transients: one direction's buffers (twice for the reverse direction, which is re-ordered
    # into place), and a layer's input with its reversed copy.
    scratch = seq_len * B * ((4 * H + H + Ho) * D + 2 * max(cfg.input_size, D * Ho))
    return int((kept + scratch) * item)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def check_budget(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                 dtype: torch.dtype = torch.float32, budget: int | None = None) -> int:
    """Return the bytes a session of this size needs (the trace, plus the weights twice: a
    module and the copy made while it is loaded or moved to another device), or raise
    TraceBudgetError naming the estimate and what to reduce. Call it before building anything."""
    from .shapes import parameter_count

    budget = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
    item = torch.empty((), dtype=dtype).element_size()
    weights = 2 * parameter_count(cfg) * item
    need = estimate_trace_bytes(cfg, batch_size, seq_len, dtype) + weights
    if need > budget:
        raise TraceBudgetError(
            f"this would need about {_fmt_bytes(need)} ({_fmt_bytes(weights)} of weights, the"
            f" rest for num_layers={cfg.num_layers} x directions={cfg.num_directions} x"
            f" seq_len={seq_len} x batch={batch_size or 1} x"
            f" {5 * cfg.hidden_size + cfg.h_out} traced values per step), over the memory"
            f" budget of {_fmt_bytes(budget)}; reduce seq_len, batch size, hidden_size or"
            " num_layers (or raise the budget)")
    return need


def _layer_params(lstm: nn.LSTM, layer: int, direction: int):
    """(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) of one layer and direction, detached;
    None for the ones this LSTM does not have."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    out = []
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        param = getattr(lstm, name + sfx, None)
        out.append(None if param is None else param.detach())
    return tuple(out)


def _reverse_index(lengths: torch.Tensor, T: int, device) -> torch.Tensor:
    """(T, B) index that reverses each sequence within its length (positions past it stay)."""
    t = torch.arange(T).unsqueeze(1)
    lens = lengths.unsqueeze(0)
    idx = torch.where(t < lens, lens - 1 - t, t)
    return idx.to(device)


def _reverse(x: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
    """Reverse (T, B, ...) in time per sequence; ``idx`` from _reverse_index, or None when
    every sequence is full length (a plain flip)."""
    if idx is None:
        return x.flip(0)
    full = idx.view(idx.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(0, full)


def _scale_g_rows(w_ih, w_hh, bias):
    """The weights (and bias) with the g rows multiplied by -2, for ``_activate``. Scaling by a
    power of two is exact in floating point: the pre-activation is exactly -2 times torch's."""
    H = w_ih.shape[0] // 4
    out = []
    for w in (w_ih, w_hh, bias):
        if w is not None:
            w = w.clone()
            w[2 * H:3 * H].mul_(-2.0)
        out.append(w)
    return tuple(out)


def _activate(z4: torch.Tensor) -> None:
    """In place on (..., 4, H) pre-activations whose g part was scaled by ``_scale_g_rows``:
    sigmoid on i, f, o, and tanh(g) = 1 - 2 * sigmoid(-2g) (equal to float rounding), so one
    sigmoid over the whole contiguous tensor does all four gates."""
    z4.sigmoid_()
    z4[..., 2, :].mul_(-2.0).add_(1.0)


def _linear(weight: torch.Tensor, rows: int):
    """``f(x, bias=None) = x @ weight.T + bias`` for x of ``rows`` rows, made once per weight.

    On the CPU in float32 this uses oneDNN with the weight prepacked once, as nn.LSTM's own CPU
    kernel does (2-3x faster than the default GEMM for the small matrices of a recurrence);
    elsewhere, or where that private op is missing or disagrees, plain addmm.
    """
    w_t = weight.t()
    plain = lambda x, bias=None: torch.mm(x, w_t) if bias is None else \
        torch.addmm(bias, x, w_t)  # noqa: E731
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        return plain
    if rows * weight.numel() < _ONEDNN_MIN_MACS or not _onednn_ok():
        return plain
    ops = torch.ops.mkldnn
    packed = ops._reorder_linear_weight(weight, rows)
    return lambda x, bias=None: ops._linear_pointwise(x, packed, bias, "none", [], "")


_ONEDNN_OK: bool | None = None
_ONEDNN_MIN_MACS = 1 << 22  # below this, packing the weight costs more than it saves


def _onednn_ok() -> bool:
    """Whether oneDNN's prepacked linear exists here and agrees with addmm (checked once)."""
    global _ONEDNN_OK
    if _ONEDNN_OK is None:
        try:
            ops = torch.ops.mkldnn
            w = torch.linspace(-1, 1, 24).view(6, 4)
            x = torch.linspace(1, -1, 12).view(3, 4)
            b = torch.linspace(0, 1, 6)
            got = ops._linear_pointwise(x, ops._reorder_linear_weight(w, 3), b, "none", [], "")
            _ONEDNN_OK = bool(torch.backends.mkldnn.is_available()) and torch.allclose(
                got, torch.addmm(b, x, w.t()), rtol=1e-5, atol=1e-6)
        except (AttributeError, RuntimeError, TypeError):
            _ONEDNN_OK = False
    return _ONEDNN_OK


def _run_loop(x, h0, c0, w_ih, w_hh, bias, w_hr, gates, c, h, overrides=(), backwards=False):
    """One direction of one layer, step by step. x (T, B, in); writes c (T, B, H) and
    h (T, B, H_out), and the gates (T, B, 4, H) into ``gates``, or into a buffer of its own
    that it returns when ``gates`` is None. overrides: (step, kind, b, unit, value) applied
    after the step-th step. ``backwards`` reads positions T-1 down to 0 (and writes each
    result at its own position).

    Eight torch calls a step. tanh is computed as tanh(z) = 1 - 2 * sigmoid(-2z) (equal to float
    rounding; torch's CPU sigmoid is several times faster than its tanh): with the g rows of
    the weights scaled by -2, one sigmoid covers all four gates, i * tanh(g) = i - 2 i s_g is
    one addcmul, and o * tanh(c) = o - 2 o sigmoid(-2c) another.
    """
    T, B, _ = x.shape
    H = c.shape[-1]
    w_ih, w_hh, bias = _scale_g_rows(w_ih, w_hh, bias)
    projected = _linear(w_ih, T * B)(x.reshape(T * B, -1), bias)
    if gates is None:  # the caller takes this buffer as it is: no copy
        gates = projected.view(T, B, 4, H)
    else:
        gates.view(T * B, 4 * H).copy_(projected)
    del projected
    recurrent = _linear(w_hh, B)
    w_hr_t = None if w_hr is None else w_hr.t()
    tmp = torch.empty((B, H), dtype=c.dtype, device=c.device)
    o_tanh_c = torch.empty((B, H), dtype=c.dtype, device=c.device) if w_hr is not None else None
    by_step: dict[int, list] = {}
    for ov in overrides:
        by_step.setdefault(ov[0], []).append(ov)
    # Views made once: indexing a tensor costs more than the small ops themselves.
    zs = gates.view(T, B, 4 * H).unbind(0)
    i_, f_, g_, o_ = (gates[:, :, k].unbind(0) for k in range(4))
    cs, hs = c.unbind(0), h.unbind(0)
    if backwards:
        zs, i_, f_, g_, o_, cs, hs = (v[::-1] for v in (zs, i_, f_, g_, o_, cs, hs))
    h_prev, c_prev = h0, c0
    for t in range(T):
        z = zs[t]
        z.add_(recurrent(h_prev))
        z.sigmoid_()  # i, f, o; and s_g = sigmoid(-2 z_g)
        ct = cs[t]
        torch.addcmul(i_[t], i_[t], g_[t], value=-2.0, out=ct)  # i * tanh(z_g)
        ct.addcmul_(f_[t], c_prev)
        ov = by_step.get(t)
        if ov:
            for _, kind, b, unit, value in ov:
                if kind == "c":
                    ct[b, unit] = value
        torch.mul(ct, -2.0, out=tmp)
        tmp.sigmoid_()
        if w_hr_t is None:
            torch.addcmul(o_[t], o_[t], tmp, value=-2.0, out=hs[t])  # o * tanh(c)
        else:
            torch.addcmul(o_[t], o_[t], tmp, value=-2.0, out=o_tanh_c)
            torch.mm(o_tanh_c, w_hr_t, out=hs[t])
        if ov:
            for _, kind, b, unit, value in ov:
                if kind == "h":
                    hs[t][b, unit] = value
        h_prev, c_prev = hs[t], ct
    gates[:, :, 2].mul_(-2.0).add_(1.0)  # s_g -> tanh(z_g), for all steps at once
    return gates


def _run_fused(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, gates, c, h):
    """Like _run_loop, but h comes from torch's fused kernel and the gates are then recomputed
    for all steps at once; only c needs a (cheap, elementwise) scan."""
    T, B, _ = x.shape
    H = c.shape[-1]
    params = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None else []) + \
        ([w_hr] if w_hr is not None else [])
    args = (x, (h0.unsqueeze(0), c0.unsqueeze(0)), params, b_ih is not None, 1, 0.0, False,
            False, False)
    if w_hr is None:
        out = torch.lstm(*args)[0]
    else:
        with warnings.catch_warnings():
            # torch notes that oneDNN has no projection kernel and falls back: nothing to do.
            warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
            out = torch.lstm(*args)[0]
    h.copy_(out)
    h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
    flat = gates.view(T * B, 4 * H)
    w_ih, w_hh, bias = _scale_g_rows(w_ih, w_hh, None if b_ih is None else b_ih + b_hh)
    flat.copy_(_linear(w_ih, T * B)(x.reshape(T * B, -1), bias))
    flat.add_(_linear(w_hh, T * B)(h_prev.reshape(T * B, -1)))
    _activate(gates)
    _linear_scan(gates[:, :, 1], gates[:, :, 0] * gates[:, :, 2], c0, out=c)


def _linear_scan(a: torch.Tensor, b: torch.Tensor, c0: torch.Tensor, out: torch.Tensor) -> None:
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


def _normalize_input(lstm: nn.LSTM, input):
    """-> (x (T, B, in) time-major, lengths (B,) CPU, unbatched, packed, packed_info)."""
    if isinstance(input, PackedSequence):
        x, lengths = pad_packed_sequence(input, batch_first=False)
        return x, lengths.to(torch.int64), False, True, input
    if not isinstance(input, torch.Tensor):
        raise ValueError(f"input must be a tensor or a PackedSequence, got {type(input).__name__}")
    if input.dim() == 2:
        x = input.unsqueeze(1)
        unbatched = True
    elif input.dim() == 3:
        x = input.transpose(0, 1) if lstm.batch_first else input
        unbatched = False
    else:
        layout = "(batch, seq_len, input_size)" if lstm.batch_first else \
            "(seq_len, batch, input_size)"
        raise ValueError(f"input must be 2-D (seq_len, input_size) or 3-D {layout},"
                         f" got {input.dim()}-D with shape {tuple(input.shape)}")
    T, B = x.shape[0], x.shape[1]
    return x, torch.full((B,), T, dtype=torch.int64), unbatched, False, None


def _normalize_hx(cfg: LSTMConfig, hx, B: int, unbatched: bool, like: torch.Tensor):
    LD = cfg.num_layers * cfg.num_directions
    if hx is None:
        z = dict(dtype=like.dtype, device=like.device)
        return torch.zeros(LD, B, cfg.h_out, **z), torch.zeros(LD, B, cfg.hidden_size, **z)
    if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise ValueError("hx must be a tuple (h_0, c_0)")
    h0, c0 = hx
    if unbatched:
        want_h, want_c = (LD, cfg.h_out), (LD, cfg.hidden_size)
    else:
        want_h, want_c = (LD, B, cfg.h_out), (LD, B, cfg.hidden_size)
    for name, t, want in (("h_0", h0, want_h), ("c_0", c0, want_c)):
        if tuple(t.shape) != want:
            raise ValueError(f"{name} must have shape {want} = (D*num_layers"
                             f"{'' if unbatched else ', batch'}, "
                             f"{'H_out' if name == 'h_0' else 'hidden_size'}), got "
                             f"{tuple(t.shape)}" + ("; batch_first does not apply to h_0/c_0"
                                                    if cfg.batch_first else ""))
    if unbatched:
        h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
    return h0.detach(), c0.detach()


def trace(lstm: nn.LSTM, input, hx=None, *, memory_budget: int | None = None,
          method: str = "auto", overrides: dict | None = None) -> Trace:
    """Run ``lstm`` on ``input`` (tensor or PackedSequence) and record every gate and state.

    Returns a Trace whose output, h_n, c_n equal ``lstm(input, hx)``. ``method`` is "auto",
    "loop" or "fused" (same numbers; a speed choice). ``overrides`` maps (layer, direction) to
    [(t, "h"|"c", batch, unit, value)]: a what-if edit of the state at input position t.
    """
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"trace needs an nn.LSTM, got {type(lstm).__name__}")
    if method not in ("auto", "loop", "fused"):
        raise ValueError(f"method must be 'auto', 'loop' or 'fused' (got {method!r})")
    start = time.perf_counter()
    cfg = LSTMConfig.from_module(lstm)
    x, lengths, unbatched, packed, packed_in = _normalize_input(lstm, input)
    T, B, F = x.shape
    if F != cfg.input_size:
        raise ValueError(f"input has {F} features in its last dimension but the LSTM expects"
                         f" input_size={cfg.input_size}")
    if T == 0:
        raise ValueError("input has no timesteps (seq_len = 0)")
    w0 = lstm.weight_ih_l0
    device, dtype = w0.device, w0.dtype
    if x.dtype != dtype or x.device != device:
        raise ValueError(f"input is {x.dtype} on {x.device} but the LSTM's parameters are"
                         f" {dtype} on {device}; move one to match (e.g. input.to(lstm_device))")
    check_budget(cfg, B, T, dtype, memory_budget)
    eval_semantics = bool(lstm.training and cfg.dropout > 0 and cfg.num_layers > 1)
    if eval_semantics:
        warnings.warn("the LSTM is in training mode with dropout > 0; torch's dropout draws"
                      " cannot be replayed, so it is traced with eval semantics (no dropout)",
                      UserWarning, stacklevel=2)
    h0_all, c0_all = _normalize_hx(cfg, hx, B, unbatched, x)
    L, D, H, Ho = cfg.num_layers, cfg.num_directions, cfg.hidden_size, cfg.h_out
    if method == "auto":
        method = "loop" if (overrides or B * 4 * H * Ho >= _LOOP_THRESHOLD) else "fused"
    if method == "fused" and overrides:
        raise ValueError("what-if overrides need method='loop'")
    z = dict(dtype=dtype, device=device)
    # One layer and direction: the loop's own projection buffer becomes the trace's gates.
    single = L * D == 1 and method == "loop"
    gates = None if single else torch.empty(L, D, T, B, 4, H, **z)
    c = torch.empty(L, D, T, B, H, **z)
    h = torch.empty(L, D, T, B, Ho, **z)
    full_length = bool((lengths == T).all())
    rev_idx = None if D == 1 or full_length else _reverse_index(lengths, T, device)
    last = (lengths - 1).to(device)
    bidx = torch.arange(B, device=device)
    h_n = torch.empty(L * D, B, Ho, **z)
    c_n = torch.empty(L * D, B, H, **z)
    with torch.no_grad():
        layer_in = x.detach()
        for layer in range(L):
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh, w_hr = _layer_params(lstm, layer, d)
                # With full-length sequences the loop reads the reverse direction backwards in
                # place; otherwise each sequence is reversed within its length, run forwards,
                # and its results put back at the positions they belong to.
                backwards = d == 1 and rev_idx is None and method == "loop"
                if d == 0 or backwards:
                    xin = layer_in
                    g_buf = None if single else gates[layer, d]
                    c_buf, h_buf = c[layer, d], h[layer, d]
                else:
                    xin = _reverse(layer_in, rev_idx)
                    g_buf = None if method == "loop" else torch.empty_like(gates[layer, d])
                    c_buf, h_buf = torch.empty_like(c[layer, d]), torch.empty_like(h[layer, d])
                k = layer * D + d
                if method == "loop":
                    ovs = []
                    for t, kind, b, unit, value in (overrides or {}).get((layer, d), ()):
                        tf = int(lengths[b]) - 1 - t if d == 1 else t
                        if 0 <= tf < int(lengths[b]):
                            ovs.append((tf, kind, b, unit, value))
                    bias = None if b_ih is None else b_ih + b_hh
                    g_buf = _run_loop(xin, h0_all[k], c0_all[k], w_ih, w_hh, bias, w_hr,
                                      g_buf, c_buf, h_buf, ovs, backwards=backwards)
                    if single:
                        gates = g_buf.view(1, 1, T, B, 4, H)
                else:
                    _run_fused(xin, h0_all[k], c0_all[k], w_ih, w_hh, b_ih, b_hh, w_hr,
                               g_buf, c_buf, h_buf)
                # Final state: each sequence's last valid step in its own reading order.
                if full_length:
                    end = 0 if backwards else T - 1
                    h_n[k], c_n[k] = h_buf[end], c_buf[end]
                else:
                    h_n[k] = h_buf[last, bidx]
                    c_n[k] = c_buf[last, bidx]
                if d == 1 and not backwards:
                    gates[layer, d] = _reverse(g_buf, rev_idx)
                    c[layer, d] = _reverse(c_buf, rev_idx)
                    h[layer, d] = _reverse(h_buf, rev_idx)
            if layer + 1 < L:
                layer_in = torch.cat(list(h[layer]), dim=-1) if D == 2 else h[layer, 0]
        out_tm = torch.cat(list(h[L - 1]), dim=-1) if D == 2 else h[L - 1, 0].clone()
        if not full_length:
            pad = (torch.arange(T).unsqueeze(1) >= lengths.unsqueeze(0)).to(device)  # (T, B)
            for buf in (gates, c, h):
                buf.masked_fill_(pad.view(1, 1, T, B, *([1] * (buf.dim() - 4))), math.nan)
            out_tm.masked_fill_(pad.unsqueeze(-1), 0.0)
    # Put results in the caller's form.
    if packed:
        pi = packed_in
        sorted_b = pi.sorted_indices.to(device) if pi.sorted_indices is not None else bidx
        t_idx = torch.cat([torch.full((int(n),), t, dtype=torch.int64)
                           for t, n in enumerate(pi.batch_sizes.tolist())]).to(device)
        b_idx = torch.cat([sorted_b[: int(n)] for n in pi.batch_sizes.tolist()])
        output = PackedSequence(out_tm[t_idx, b_idx], pi.batch_sizes, pi.sorted_indices,
                                pi.unsorted_indices)
        h_out, c_out = h_n, c_n
    elif unbatched:
        output, h_out, c_out = out_tm[:, 0], h_n[:, 0], c_n[:, 0]
    else:
        output = out_tm.transpose(0, 1) if cfg.batch_first else out_tm
        h_out, c_out = h_n, c_n
    result = Trace(output=output, h_n=h_out, c_n=c_out, gates=gates, c=c, h=h, x=x.detach(),
                   h_0=h0_all, c_0=c0_all, lengths=lengths, config=cfg,
                   eval_semantics=eval_semantics, unbatched=unbatched, packed=packed,
                   method=method)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    result.elapsed_s = time.perf_counter() - start
    return result


def verify(lstm: nn.LSTM, input, result: Trace, hx=None) -> float:
    """Run ``lstm(input, hx)`` itself (eval semantics, no grad) and return the largest absolute
    difference between its output, h_n, c_n and the trace's: the app's "matches nn.LSTM" check."""
    module = copy.deepcopy(lstm).eval() if lstm.training else lstm  # never touch the caller's
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        out, (h_n, c_n) = module(input, hx) if hx is not None else module(input)
    ours = result.output.data if isinstance(result.output, PackedSequence) else result.output
    theirs = out.data if isinstance(out, PackedSequence) else out
    return max(float((a - b).abs().max()) if a.numel() else 0.0
               for a, b in ((ours, theirs), (result.h_n, h_n), (result.c_n, c_n)))
