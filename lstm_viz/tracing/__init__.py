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

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from ..config import LSTMConfig
from ..torch_devices import rnn_precision
from . import _buffers, _kernels, _native, method_choice
from .budget import check_budget, check_windowed_budget, overview_buckets
from .edits import StateEdit
from .windowed import CHUNK_STEPS, DEFAULT_EVERY, Checkpoints

log = logging.getLogger(__name__)
Tensor = torch.Tensor
GATE_NAMES = ("i", "f", "g", "o")
"""The gates in the order of ``Trace.gates``' gate axis (and of nn.LSTM's weight rows)."""
METHODS = ("auto", *method_choice.METHODS)


@dataclass
class Trace:
    """What an nn.LSTM computed, step by step.

    gates: (L, D, T, B, 4, H) activated i, f, g, o; c: (L, D, T, B, H); h: (L, D, T, B, H_out);
    x: (T, B, input_size) the input, time-major; lengths: (B,) int64 on the CPU.
    output, h_n, c_n: as ``lstm(input, hx)`` returns them (tensor or PackedSequence).
    meta["kernels"]: what computed it (the matmul kernels, for benchmarks and logs);
    meta["method"], meta["method_why"]: the method and why it was chosen (measured times).
    """

    output: Tensor | PackedSequence
    h_n: Tensor
    c_n: Tensor
    gates: Tensor
    c: Tensor
    h: Tensor
    x: Tensor
    h_0: Tensor
    c_0: Tensor
    lengths: Tensor
    config: LSTMConfig
    eval_semantics: bool = False
    unbatched: bool = False
    packed: bool = False
    elapsed_s: float = 0.0
    method: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    start: int = 0  # a window's first input position: gates[:, :, i] is position start + i
    checkpoints: Checkpoints | None = None  # a windowed session's kept states and overview

    @property
    def num_steps(self) -> int:
        """Steps held here (the window's length for a windowed trace)."""
        return int(self.gates.shape[2])

    @property
    def stop(self) -> int:
        """One past the last input position held here."""
        return self.start + self.num_steps

    @property
    def windowed(self) -> bool:
        """Whether this holds only a window of a longer input."""
        return bool(self.meta.get("total_steps", self.num_steps) != self.num_steps)

    @property
    def batch_size(self) -> int:
        return int(self.gates.shape[3])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.gates, self.c, self.h, self.x))


def _normalize_input(lstm: nn.LSTM, input: Tensor | PackedSequence
                     ) -> tuple[Tensor, Tensor, bool, PackedSequence | None]:
    """-> (x (T, B, in) time-major, lengths (B,) CPU, unbatched, the PackedSequence or None)."""
    if isinstance(input, PackedSequence):
        x, lengths = pad_packed_sequence(input, batch_first=False)
        return x, lengths.to(torch.int64), False, input
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
    return x, torch.full((B,), T, dtype=torch.int64), unbatched, None


def _normalize_hx(cfg: LSTMConfig, hx: Any, B: int, unbatched: bool, like: Tensor
                  ) -> tuple[Tensor, Tensor]:
    """(h_0 (L*D, B, H_out), c_0 (L*D, B, H)) from the caller's hx (zeros when None)."""
    LD = cfg.num_layers * cfg.num_directions
    if hx is None:
        return (like.new_zeros(LD, B, cfg.h_out), like.new_zeros(LD, B, cfg.hidden_size))
    if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise ValueError("hx must be a tuple (h_0, c_0)")
    h0, c0 = hx
    want_h: tuple[int, ...]
    want_c: tuple[int, ...]
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




@dataclass
class _Call:
    """One call of the LSTM in time-major form: x (T, B, in), lengths (B,) on the CPU, and the
    initial states h_0 (L*D, B, H_out), c_0 (L*D, B, H)."""

    x: Tensor
    lengths: Tensor
    unbatched: bool
    packed_in: PackedSequence | None
    h_0: Tensor
    c_0: Tensor

    @cached_property
    def full_length(self) -> bool:
        """Whether every sequence runs the whole T steps (no padding)."""
        return bool((self.lengths == self.x.shape[0]).all())


@dataclass
class _Run:
    """The trace's buffers while the layers run: gates (L, D, T, B, 4, H), c, h, and the final
    states h_n (L*D, B, H_out), c_n (L*D, B, H)."""

    call: _Call
    method: str
    gates: Tensor
    c: Tensor
    h: Tensor
    h_n: Tensor
    c_n: Tensor
    rev_idx: Tensor | None  # reverses each sequence within its length; None: a plain flip
    kernels: dict[str, set[str]] = field(default_factory=dict)  # the loop's matmul kernels

    @classmethod
    def allocate(cls, cfg: LSTMConfig, call: _Call, method: str) -> _Run:
        L, D, H, Ho = cfg.num_layers, cfg.num_directions, cfg.hidden_size, cfg.h_out
        T, B = call.x.shape[0], call.x.shape[1]
        x = call.x
        rev_idx = None if D == 1 or call.full_length else \
            _kernels.reverse_index(call.lengths, T, x.device)
        return cls(call=call, method=method,
                   gates=_buffers.empty(L, D, T, B, 4, H, like=x),
                   c=_buffers.empty(L, D, T, B, H, like=x),
                   h=_buffers.empty(L, D, T, B, Ho, like=x),
                   h_n=x.new_empty(L * D, B, Ho), c_n=x.new_empty(L * D, B, H), rev_idx=rev_idx)

    def layer_output(self, layer: int) -> Tensor:
        """(T, B, D*H_out): the layer's h, directions concatenated (a view when D = 1)."""
        return torch.cat(list(self.h[layer]), dim=-1) if self.h.shape[1] == 2 else \
            self.h[layer, 0]


def trace(lstm: nn.LSTM, input: Tensor | PackedSequence, hx: Any = None, *,
          window: tuple[int, int] | None = None, memory_budget: int | None = None,
          method: str = "auto", overrides: Sequence[StateEdit] | None = None) -> Trace:
    """Run ``lstm`` on ``input`` (tensor or PackedSequence) and record every gate and state.

    Returns a Trace whose output, h_n, c_n equal ``lstm(input, hx)``. ``method`` is "auto"
    (measured once per size class, lstm_viz.tracing.method_choice; ``LSTM_VIZ_METHOD`` forces one),
    "loop", "torch", "fused" or "layered" (same numbers; a speed choice). ``overrides``: what-if
    edits of the state at input position ``t`` (each layer and direction runs the method up to
    its first edited step and the step loop from there). ``window=(start, stop)``:
    keep input positions [start, stop) only (gates (L, D, stop - start, B, 4, H), ``.start``
    recorded; output is that window of the output, padded time-major for a PackedSequence; h_n,
    c_n the whole run's), tracing the whole input once in bounded memory
    (lstm_viz.tracing.windowed).
    """
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"trace needs an nn.LSTM, got {type(lstm).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    start = time.perf_counter()
    cfg = LSTMConfig.from_module(lstm)
    x, lengths, unbatched, packed_in = _normalize_input(lstm, input)
    _check_input(lstm, cfg, x)
    if window is not None:
        ckpt = checkpoints(lstm, input, hx, memory_budget=memory_budget, overrides=overrides,
                           method=method)
        return trace_window(ckpt, *_check_window(window, x.shape[0]), unbatched=unbatched,
                            packed=packed_in is not None)
    check_budget(cfg, x.shape[1], x.shape[0], x.dtype, memory_budget)
    eval_semantics = bool(lstm.training and cfg.dropout > 0 and cfg.num_layers > 1)
    if eval_semantics:
        warnings.warn("the LSTM is in training mode with dropout > 0; torch's dropout draws"
                      " cannot be replayed, so it is traced with eval semantics (no dropout)",
                      UserWarning, stacklevel=2)
    h_0, c_0 = _normalize_hx(cfg, hx, x.shape[1], unbatched, x)
    call = _Call(x.detach(), lengths, unbatched, packed_in, h_0, c_0)
    edits = tuple(overrides or ())
    method, why = _choose_method(method, edits, lstm, cfg, call)
    with torch.no_grad(), rnn_precision(x.device):
        run = _Run.allocate(cfg, call, method)
        layer_in = call.x
        for layer in range(cfg.num_layers):
            for d in range(cfg.num_directions):
                _trace_direction(lstm, run, layer, d, layer_in,
                                 [e for e in edits if (e.layer, e.direction) == (layer, d)])
            layer_in = run.layer_output(layer)
        # The output is the last layer's h (the same memory, as a view) unless padding is
        # masked in it: nn.LSTM pads with 0 where the trace holds NaN.
        out_tm = layer_in if cfg.num_directions == 2 or call.full_length else \
            layer_in.clone()
        if not call.full_length:
            _mask_padding(run, out_tm)
    output, h_n, c_n = _caller_form(cfg, call, out_tm, run.h_n, run.c_n)
    result = Trace(output=output, h_n=h_n, c_n=c_n, gates=run.gates, c=run.c, h=run.h,
                   x=call.x, h_0=h_0, c_0=c_0, lengths=lengths, config=cfg,
                   eval_semantics=eval_semantics, unbatched=unbatched,
                   packed=packed_in is not None, method=method,
                   meta={"kernels": _kernel_summary(method, run.kernels), "method": method,
                         "method_why": why})
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    result.elapsed_s = time.perf_counter() - start
    log.info("trace: method=%s (%s), %d layer(s) x %d direction(s), input (T=%d, B=%d, %d),"
             " hidden %d, %.1f ms", method, result.meta["kernels"], cfg.num_layers,
             cfg.num_directions, x.shape[0], x.shape[1], x.shape[2], cfg.hidden_size,
             result.elapsed_s * 1e3)
    return result


def release_buffers(keep: int = 0) -> None:
    """Unmap the large buffers that freed traces left for the next trace to reuse, but the
    ``keep`` largest (one serves a run of traces of similar sizes: a corpus's batches)."""
    _buffers.release(keep)


def trace_steps(build: bool = True) -> str:
    """How traces of float32 inputs on the CPU compute their steps here, in a line for people:
    "compiled C loop (native_loop_avx2)", or "torch calls (<why not>)". The compiled loop is
    built on the first call that needs it; ``build=False`` says "not built yet" instead."""
    return _native.describe(build)


def _check_window(window: Any, T: int) -> tuple[int, int]:
    """(start, stop) from ``window``, or ValueError naming the valid range."""
    if not (isinstance(window, (tuple, list)) and len(window) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in window)):
        raise ValueError(f"window must be a pair of ints (start, stop), got {window!r}")
    start, stop = int(window[0]), int(window[1])
    if not 0 <= start < stop <= T:
        raise ValueError(f"window must satisfy 0 <= start < stop <= seq_len={T}"
                         f" (got ({start}, {stop}))")
    return start, stop


def checkpoints(lstm: nn.LSTM, input: Tensor | PackedSequence, hx: Any = None, *,
                memory_budget: int | None = None, overrides: Sequence[StateEdit] | None = None,
                every: int | None = None, base: Checkpoints | None = None,
                method: str = "auto") -> Checkpoints:
    """Trace ``input`` once in bounded memory, keeping states every ``every`` steps and an
    overview (lstm_viz.tracing.windowed.Checkpoints); windows are then traced with ``trace_window``.
    ``base``: an earlier run's checkpoints, reused up to where this run differs. ``method``: as
    ``trace``'s, for every span and window ("auto": chosen by measuring on the first piece of
    the input, the length the pass traces at once)."""
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"trace needs an nn.LSTM, got {type(lstm).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    cfg = LSTMConfig.from_module(lstm)
    x, lengths, unbatched, _ = _normalize_input(lstm, input)
    _check_input(lstm, cfg, x)
    check_windowed_budget(cfg, x.shape[1], x.shape[0], x.dtype, memory_budget)
    buckets = overview_buckets(cfg, x.shape[1], x.shape[0], x.dtype, memory_budget)
    if lstm.training and cfg.dropout > 0 and cfg.num_layers > 1:
        warnings.warn("the LSTM is in training mode with dropout > 0; torch's dropout draws"
                      " cannot be replayed, so it is traced with eval semantics (no dropout)",
                      UserWarning, stacklevel=2)
    h_0, c_0 = _normalize_hx(cfg, hx, x.shape[1], unbatched, x)
    start = time.perf_counter()
    with torch.no_grad():
        if method == "auto":
            method = method_choice.choose(lstm, cfg, x[:CHUNK_STEPS].detach(), h_0, c_0).method
        ckpt = Checkpoints(lstm, x.detach(), lengths, h_0, c_0,
                           every=DEFAULT_EVERY if every is None else every, buckets=buckets,
                           edits=tuple(overrides or ()), method=method, base=base)
    ckpt.elapsed_s = time.perf_counter() - start
    return ckpt


def trace_window(ckpt: Checkpoints, start: int, stop: int, *, unbatched: bool = False,
                 packed: bool = False, method: str | None = None) -> Trace:
    """The Trace of input positions [start, stop), traced from ``ckpt``'s nearest states."""
    t0 = time.perf_counter()
    start, stop = _check_window((start, stop), ckpt.num_steps)
    w = ckpt.window(start, stop, method)
    cfg = LSTMConfig.from_module(ckpt.lstm)
    L, D = cfg.num_layers, cfg.num_directions
    h_last = w.h[L - 1]
    out = h_last[0] if D == 1 else torch.cat(list(h_last), dim=-1)
    out = torch.nan_to_num(out, nan=0.0) if not bool((ckpt.lengths >= stop).all()) else out
    if unbatched:
        output: Tensor = out[:, 0]
        h_n, c_n = ckpt.h_n[:, 0], ckpt.c_n[:, 0]
    else:
        output = out.transpose(0, 1) if cfg.batch_first and not packed else out
        h_n, c_n = ckpt.h_n, ckpt.c_n
    result = Trace(output=output, h_n=h_n, c_n=c_n, gates=w.gates, c=w.c, h=w.h,
                   x=ckpt.x[start:stop], h_0=w.h_b, c_0=w.c_b, lengths=ckpt.lengths,
                   config=cfg, unbatched=unbatched, packed=packed,
                   method=method or ckpt.method, start=start, checkpoints=ckpt,
                   meta={"total_steps": ckpt.num_steps})
    result.elapsed_s = time.perf_counter() - t0
    return result


def _check_input(lstm: nn.LSTM, cfg: LSTMConfig, x: Tensor) -> None:
    """ValueError unless x (T, B, F) fits the LSTM: its features, at least one step, and the
    parameters' dtype and device."""
    T, _, F = x.shape
    if F != cfg.input_size:
        raise ValueError(f"input has {F} features in its last dimension but the LSTM expects"
                         f" input_size={cfg.input_size}")
    if T == 0:
        raise ValueError("input has no timesteps (seq_len = 0)")
    w0 = lstm.weight_ih_l0
    if x.dtype != w0.dtype or x.device != w0.device:
        raise ValueError(f"input is {x.dtype} on {x.device} but the LSTM's parameters are"
                         f" {w0.dtype} on {w0.device}; move one to match"
                         " (e.g. input.to(lstm_device))")


def _choose_method(method: str, edits: Sequence[StateEdit], lstm: nn.LSTM, cfg: LSTMConfig,
                   call: _Call) -> tuple[str, str]:
    """(method, why): "auto" is measured (lstm_viz.tracing.method_choice). With what-if edits,
    "fused" and "layered" run each layer and direction up to its first edited step, and the
    step loop from there."""
    if method == "auto":
        choice = method_choice.choose(lstm, cfg, call.x, call.h_0, call.c_0)
        method, why = choice.method, choice.why
    else:
        why = "asked for by the caller"
    if edits and method in ("fused", "layered"):
        why += "; the step loop from each layer's first edited step"
    return method, why


def _reading_order(edits: Sequence[StateEdit], direction: int, lengths: Tensor
                   ) -> list[StateEdit]:
    """The edits with ``t`` counted in the direction's reading order (the reverse direction
    reads each sequence from its own last step); edits past a sequence's end are dropped."""
    out = []
    for e in edits:
        n = int(lengths[e.batch])
        step = n - 1 - e.t if direction == 1 else e.t
        if 0 <= step < n:
            out.append(replace(e, t=step))
    return out


def _trace_direction(lstm: nn.LSTM, run: _Run, layer: int, d: int, layer_in: Tensor,
                     edits: Sequence[StateEdit]) -> None:
    """Run one layer and direction on ``layer_in`` (T, B, in) into ``run``'s buffers."""
    call, D = run.call, run.h.shape[1]
    params = _kernels.layer_params(lstm, layer, d)
    k = layer * D + d
    # With full-length sequences the loop reads the reverse direction backwards in place;
    # otherwise each sequence is reversed within its length, run forwards, and its results put
    # back at the positions they belong to.
    backwards = d == 1 and run.rev_idx is None and run.method != "fused"
    in_place = d == 0 or backwards
    if in_place:
        xin = layer_in
        g_buf = run.gates[layer, d]
        c_buf, h_buf = run.c[layer, d], run.h[layer, d]
    else:
        xin = _kernels.reverse(layer_in, run.rev_idx)
        g_buf, c_buf, h_buf = (_buffers.empty(*buf[layer, d].shape, like=buf)
                               for buf in (run.gates, run.c, run.h))
    used: dict[str, str] = {}
    _kernels.run_direction(run.method, xin, call.h_0[k], call.c_0[k], params, g_buf, c_buf,
                           h_buf, _reading_order(edits, d, call.lengths), backwards=backwards,
                           kernels=used)
    for role, name in used.items():
        run.kernels.setdefault(role, set()).add(name)
    _final_state(run, k, h_buf, c_buf, backwards)
    if not in_place:
        run.gates[layer, d] = _kernels.reverse(g_buf, run.rev_idx)
        run.c[layer, d] = _kernels.reverse(c_buf, run.rev_idx)
        run.h[layer, d] = _kernels.reverse(h_buf, run.rev_idx)


def _kernel_summary(method: str, kernels: dict[str, set[str]]) -> str:
    """What computed a trace, for logs and benchmarks: e.g. "input=plain, recurrent=mkl_packed,
    step=native_loop_avx2" for the loops (names joined by "/" where layers differ), "torch.lstm
    + bulk recompute" for the fused method, and that with its scan for the layered one; then,
    where what-if edits ran the step loop, "; from the first edit: step=..."."""
    edit = {role.removeprefix("edit_"): names for role, names in kernels.items()
            if role.startswith("edit_")}
    own = {role: names for role, names in kernels.items() if not role.startswith("edit_")}
    if method == "fused":
        out = "torch.lstm + bulk recompute"
    elif method == "layered":
        out = "torch.lstm + bulk recompute, scan=" + "/".join(sorted(own.get("scan", ())))
    else:
        out = ", ".join(f"{role}={'/'.join(sorted(names))}" for role, names in sorted(own.items()))
    if edit:
        out += "; from the first edit: " + _kernel_summary("loop", edit)
    return out


def _final_state(run: _Run, k: int, h_buf: Tensor, c_buf: Tensor, backwards: bool) -> None:
    """h_n[k], c_n[k]: each sequence's last valid step in its own reading order."""
    call = run.call
    if call.full_length:
        end = 0 if backwards else call.x.shape[0] - 1
        run.h_n[k], run.c_n[k] = h_buf[end], c_buf[end]
    else:
        last = (call.lengths - 1).to(h_buf.device)
        bidx = torch.arange(h_buf.shape[1], device=h_buf.device)
        run.h_n[k] = h_buf[last, bidx]
        run.c_n[k] = c_buf[last, bidx]


def _mask_padding(run: _Run, out_tm: Tensor) -> None:
    """Set the gates, c and h past each sequence's length to NaN, and the output there to 0
    (as nn.LSTM pads a packed output)."""
    lengths = run.call.lengths
    T, B = out_tm.shape[0], out_tm.shape[1]
    pad = (torch.arange(T).unsqueeze(1) >= lengths.unsqueeze(0)).to(out_tm.device)  # (T, B)
    for buf in (run.gates, run.c, run.h):
        buf.masked_fill_(pad.view(1, 1, T, B, *([1] * (buf.dim() - 4))), math.nan)
    out_tm.masked_fill_(pad.unsqueeze(-1), 0.0)


def _caller_form(cfg: LSTMConfig, call: _Call, out_tm: Tensor, h_n: Tensor, c_n: Tensor
                 ) -> tuple[Tensor | PackedSequence, Tensor, Tensor]:
    """(output, h_n, c_n) in the form ``lstm(input, hx)`` returns them for this input."""
    pi = call.packed_in
    if pi is not None:
        device = out_tm.device
        sorted_b = pi.sorted_indices.to(device) if pi.sorted_indices is not None else \
            torch.arange(out_tm.shape[1], device=device)
        sizes = pi.batch_sizes.tolist()
        t_idx = torch.cat([torch.full((int(n),), t, dtype=torch.int64)
                           for t, n in enumerate(sizes)]).to(device)
        b_idx = torch.cat([sorted_b[: int(n)] for n in sizes])
        output = PackedSequence(out_tm[t_idx, b_idx], pi.batch_sizes, pi.sorted_indices,
                                pi.unsorted_indices)
        return output, h_n, c_n
    if call.unbatched:
        return out_tm[:, 0], h_n[:, 0], c_n[:, 0]
    return (out_tm.transpose(0, 1) if cfg.batch_first else out_tm), h_n, c_n
