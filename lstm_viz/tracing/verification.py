"""Check a trace against the LSTM equations and against nn.LSTM itself: the app's truth badge.

Two kinds of check, both on every layer, direction, step and batch element:

- the recurrence: the gate pre-activations are recomputed from the trace's own x and previous
  h in a few large matrix products (``X @ W_ih^T + H_prev @ W_hh^T + b`` for all t at once),
  and i, f, g, o, ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)`` (times W_hr with
  proj_size) are checked against the trace's values; past a packed sequence's length every
  value must be NaN. A wrong value anywhere inside the trace shows here, with its place.
- the result: output, h_n and c_n against ``lstm(input, hx)``. When float32 rounding grows
  over many steps of a chaotic model, torch's own float32 run differs from its float64 run
  too; a difference no larger than that spread is reported as such, not as a mismatch.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from ..config import LSTMConfig
from ..torch_devices import rnn_precision, rnn_uses_tf32
from . import GATE_NAMES, Trace, _kernels, _normalize_hx, _normalize_input

Tensor = torch.Tensor

# rtol, atol per dtype: the recomputation is exact math in float64, so what remains is the
# trace's own rounding, a few ulps of each value's size (sums of hundreds of products).
TOLERANCES = {torch.float64: (1e-9, 1e-9), torch.float32: (1e-4, 1e-4),
              torch.float16: (1e-2, 1e-2), torch.bfloat16: (5e-2, 5e-2)}
# torch's float32 run has lost its float64 trajectory when they differ by this share of the
# values' size: then any two float32 runs may differ as much, and no finer check is possible
_DECORRELATED = 0.25
_CHUNK_ELEMENTS = 1 << 22  # rows of a recomputation block: T-chunks of about 4M values

#: what the badge compares, in words
COMPARED = ("every step's gates i, f, g, o recomputed from the trace's own x and previous h,"
            " c_t = f*c_{t-1} + i*g and h_t = o*tanh(c_t) at every layer, direction and step,"
            " and output, h_n and c_n against torch's own nn.LSTM on the same input")


@dataclass(frozen=True)
class Place:
    """Where a difference is: tensor name and indices (None where they do not apply)."""

    tensor: str
    layer: int | None = None
    direction: int | None = None
    t: int | None = None
    batch: int | None = None
    unit: int | None = None

    def __str__(self) -> str:
        parts = [f"{name} {value}" for name, value in
                 (("layer", self.layer), ("direction", self.direction), ("t", self.t),
                  ("batch", self.batch), ("unit", self.unit)) if value is not None]
        return f"{self.tensor} at {', '.join(parts)}" if parts else self.tensor


@dataclass(frozen=True)
class Check:
    """One comparison: its largest absolute difference, where, and whether it is in tolerance."""

    name: str
    max_abs_diff: float
    place: Place | None
    ok: bool


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found. Behaves as a float (its largest absolute difference) where one is
    expected: ``verify(...) < 1e-5``, ``f"{v:.1e}"``, ``float(v)``.

    status: "match" (everything within tolerance), "within_spread" (the recurrence holds
    everywhere and output, h_n, c_n differ from torch's float32 run by no more than torch's own
    float32 run differs from its float64 run), or "differs".
    """

    max_abs_diff: float
    place: Place | None
    status: str
    checks: tuple[Check, ...]
    torch_spread: float | None = None  # max |nn.LSTM float32 - nn.LSTM float64|, if measured
    dtype: str = "float32"
    tf32: bool = False  # nn.LSTM (cuDNN) and the trace both multiplied in TF32 on this GPU

    @property
    def ok(self) -> bool:
        """True unless the trace really differs (a match, or within torch's own spread)."""
        return self.status != "differs"

    @property
    def worst(self) -> Check:
        """The check that failed with the largest difference (or the largest of all)."""
        failed = [c for c in self.checks if not c.ok and c.name not in _RESULT_CHECKS] or \
            [c for c in self.checks if not c.ok] or list(self.checks)
        return max(failed, key=lambda c: c.max_abs_diff)

    def summary(self) -> str:
        """One line: the verdict, the largest difference and where it is."""
        worst = self.worst
        where = f" at {worst.place}" if worst.place is not None else ""
        if self.status == "match":
            return f"matches nn.LSTM: max |Δ| {self.max_abs_diff:.1e}{where}"
        if self.status == "within_spread":
            return (f"within torch's own {self.dtype} spread: max |Δ| {self.max_abs_diff:.1e}"
                    f"{where}; nn.LSTM in {self.dtype} differs from float64 by"
                    f" {self.torch_spread:.1e}")
        return f"differs: |Δ| {worst.max_abs_diff:.1e}{where}"

    def details(self) -> str:
        """Several lines for a tooltip: what was compared, each check's worst, the verdict."""
        lines = [f"Compared: {COMPARED}.", ""]
        for c in self.checks:
            mark = "✓" if c.ok else "✗"
            where = f" at {c.place}" if c.place is not None else ""
            lines.append(f"{mark} {c.name}: max |Δ| {c.max_abs_diff:.1e}{where}")
        if self.tf32:
            lines.append("cuDNN runs nn.LSTM's float32 matrix products in TF32 on this GPU"
                         " (torch's default); the trace's products use TF32 too.")
        if self.torch_spread is not None:
            lines.append(f"nn.LSTM {self.dtype} vs float64 on this input: max |Δ|"
                         f" {self.torch_spread:.1e}")
        lines += ["", self.summary()]
        return "\n".join(lines)

    def __float__(self) -> float:
        return self.max_abs_diff

    def __format__(self, spec: str) -> str:
        return format(self.max_abs_diff, spec)

    def __lt__(self, other: float) -> bool:
        return self.max_abs_diff < float(other)

    def __le__(self, other: float) -> bool:
        return self.max_abs_diff <= float(other)

    def __gt__(self, other: float) -> bool:
        return self.max_abs_diff > float(other)

    def __ge__(self, other: float) -> bool:
        return self.max_abs_diff >= float(other)


_RESULT_CHECKS = ("output", "h_n", "c_n")


def verify(lstm: nn.LSTM, input: Tensor | PackedSequence, result: Trace,
           hx: Any = None) -> Verification:
    """Check ``result`` (a trace of ``lstm`` on ``input``, ``hx``) step by step against the LSTM
    equations and its output, h_n, c_n against ``lstm(input, hx)`` itself (eval semantics, no
    grad; the caller's module is never changed). Returns a Verification (float-compatible)."""
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"verify needs an nn.LSTM, got {type(lstm).__name__}")
    module = copy.deepcopy(lstm).eval() if lstm.training else lstm
    cfg = LSTMConfig.from_module(module)
    if result.config.replace(batch_first=cfg.batch_first, dropout=0.0) != \
            cfg.replace(dropout=0.0):
        raise ValueError("the trace was made by an LSTM of another shape: trace and verify"
                         " the same module")
    dtype = result.gates.dtype
    rtol, atol = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    tf32 = dtype == torch.float32 and rnn_uses_tf32(result.gates.device)
    with torch.no_grad(), rnn_precision(result.gates.device):
        checks = _recurrence_checks(module, cfg, input, result, hx, rtol, atol)
        theirs = _run(module, input, hx)
        result_checks = _result_checks(cfg, result, theirs, rtol, atol)
        checks += result_checks
        spread = None
        recurrence_ok = all(c.ok for c in checks if c.name not in _RESULT_CHECKS)
        if all(c.ok for c in checks):
            status = "match"
        elif recurrence_ok and dtype != torch.float64 and _has_float64(result.gates.device):
            spreads = _torch_spread(module, input, hx, theirs)
            spread = max(s for s, _ in spreads.values())
            status = "within_spread" if all(
                c.ok or c.max_abs_diff <= 2 * spreads[c.name][0] + atol
                or spreads[c.name][0] >= _DECORRELATED * spreads[c.name][1]
                for c in result_checks) else "differs"
        else:
            status = "differs"
    top = max(checks, key=lambda c: c.max_abs_diff)
    return Verification(max_abs_diff=top.max_abs_diff, place=top.place, status=status,
                        checks=tuple(checks), torch_spread=spread,
                        dtype=str(dtype).replace("torch.", ""), tf32=tf32)


# ----- the recurrence ----------------------------------------------------------------------
def _recurrence_checks(lstm: nn.LSTM, cfg: LSTMConfig, input: Tensor | PackedSequence,
                       tr: Trace, hx: Any, rtol: float, atol: float) -> list[Check]:
    """x, h_0, c_0, then the gates, c and h of every layer and direction."""
    x, lengths, unbatched, _ = _normalize_input(lstm, input)
    x = x.to(tr.x.device)
    acc = {name: _Worst(name) for name in ("x", "h_0", "c_0", *GATE_NAMES, "c", "h")}
    if tuple(x.shape) != tuple(tr.x.shape):
        raise ValueError(f"the trace's input has shape {tuple(tr.x.shape)} but this input is"
                         f" {tuple(x.shape)} time-major: verify the trace with its own input")
    T, B = x.shape[0], x.shape[1]
    valid = (torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)).to(x.device)  # (T, B)
    # padding is 0 in both (pad_packed_sequence)
    acc["x"].add(tr.x, x, None, rtol, atol, ("t", "batch", "unit"))
    h_0, c_0 = _normalize_hx(cfg, hx, B, unbatched, x)
    for name, ours, want in (("h_0", tr.h_0, h_0), ("c_0", tr.c_0, c_0)):
        acc[name].add(ours, want.to(ours.device), None, rtol, atol,
                      ("layer_direction", "batch", "unit"), directions=cfg.num_directions)
    work = tr.gates.dtype  # rounding of the recomputation: far below the tolerance
    D = cfg.num_directions
    for layer in range(cfg.num_layers):
        layer_in = tr.x if layer == 0 else torch.cat(list(tr.h[layer - 1]), dim=-1)
        for d in range(D):
            _check_direction(lstm, tr, layer, d, layer_in, lengths, valid, acc, work, rtol,
                             atol)
    return [a.result() for a in acc.values()] + _result_is_the_trace(cfg, tr, lengths)


def _result_is_the_trace(cfg: LSTMConfig, tr: Trace, lengths: Tensor) -> list[Check]:
    """output is the last layer's h (0 past each length), h_n and c_n each sequence's last
    step of h and c in its reading order: exactly, as they are the same values."""
    top = torch.cat(list(tr.h[-1]), dim=-1).nan_to_num(0.0)
    w = _Worst("output = last layer's h")
    w.add(_time_major(cfg, tr.output, tr.unbatched), top, None, 0.0, 0.0,
          ("t", "batch", "unit"))
    checks = [w.result()]
    B = tr.h.shape[3]
    last = (lengths - 1).to(tr.h.device)
    bidx = torch.arange(B, device=tr.h.device)
    for name, final, steps in (("h_n", tr.h_n, tr.h), ("c_n", tr.c_n, tr.c)):
        want = torch.stack([steps[layer, d, last if d == 0 else torch.zeros_like(last), bidx]
                            for layer in range(cfg.num_layers)
                            for d in range(cfg.num_directions)])
        got = final.unsqueeze(1) if tr.unbatched else final
        w = _Worst(f"{name} = last step's {name[0]}")
        w.add(got, want, None, 0.0, 0.0, ("layer_direction", "batch", "unit"),
              directions=cfg.num_directions)
        checks.append(w.result())
    return checks


def _check_direction(lstm: nn.LSTM, tr: Trace, layer: int, d: int, layer_in: Tensor,
                     lengths: Tensor, valid: Tensor, acc: dict[str, _Worst],
                     work: torch.dtype, rtol: float, atol: float) -> None:
    """Recompute one layer and direction's steps in T-chunks of large matrix products."""
    w_ih, w_hh, b_ih, b_hh, w_hr = (None if p is None else p.to(work)
                                    for p in _kernels.layer_params(lstm, layer, d))
    assert w_ih is not None and w_hh is not None
    bias = None if b_ih is None or b_hh is None else b_ih + b_hh
    k = layer * tr.h.shape[1] + d
    T, B = valid.shape
    H = tr.c.shape[-1]
    gates, c, h = tr.gates[layer, d], tr.c[layer, d], tr.h[layer, d]
    h_prev, c_prev = _previous(h, tr.h_0[k], d, lengths), _previous(c, tr.c_0[k], d, lengths)
    full = bool((lengths == T).all())
    chunk = max(1, _CHUNK_ELEMENTS // max(1, B * 4 * H))
    for t0 in range(0, T, chunk):
        sl = slice(t0, min(T, t0 + chunk))
        ok = None if full else valid[sl].unsqueeze(-1)

        def check(name: str, ours: Tensor, want: Tensor, ok: Tensor | None = ok,
                  t0: int = t0) -> None:
            acc[name].add(ours, want, ok, rtol, atol, ("t", "batch", "unit"), layer, d, t0=t0)

        rows = layer_in[sl].reshape(-1, layer_in.shape[-1]).to(work)
        z = rows @ w_ih.T if bias is None else torch.addmm(bias, rows, w_ih.T)
        z.addmm_(h_prev[sl].reshape(-1, h_prev.shape[-1]).to(work), w_hh.T)
        z = z.view(-1, B, 4, H)
        z[:, :, :2].sigmoid_()
        z[:, :, 2].tanh_()
        z[:, :, 3].sigmoid_()
        got = gates[sl]
        for gi, name in enumerate(GATE_NAMES):
            check(name, got[:, :, gi], z[:, :, gi])
        del z
        g = got.to(work)
        c_want = torch.addcmul(g[:, :, 0] * g[:, :, 2], g[:, :, 1], c_prev[sl].to(work))
        check("c", c[sl], c_want)
        del c_want
        h_want = c[sl].to(work).tanh().mul_(g[:, :, 3])
        if w_hr is not None:
            h_want = h_want @ w_hr.T
        check("h", h[sl], h_want)


def _previous(buf: Tensor, init: Tensor, d: int, lengths: Tensor) -> Tensor:
    """(T, B, X): the state each step of direction ``d`` starts from (the initial state
    ``init`` (B, X) at each sequence's first step in reading order)."""
    T, B = buf.shape[0], buf.shape[1]
    if bool((lengths == T).all()):
        return torch.cat([init.unsqueeze(0), buf[:-1]]) if d == 0 else \
            torch.cat([buf[1:], init.unsqueeze(0)])
    t_idx = torch.arange(T, device=buf.device).unsqueeze(1).expand(T, B)
    prev = t_idx - 1 if d == 0 else t_idx + 1
    has_prev = (prev >= 0) & (prev < lengths.to(buf.device).unsqueeze(0))
    bidx = torch.arange(B, device=buf.device).unsqueeze(0).expand(T, B)
    return torch.where(has_prev.unsqueeze(-1), buf[prev.clamp(0, T - 1), bidx],
                       init.unsqueeze(0))


class _Worst:
    """The largest difference seen for one tensor name, and the place of the worst value out
    of tolerance (``|ours - want| > atol + rtol * |want|``; NaN where a value is due, or a value
    where NaN is due, counts as infinitely far), else of the largest difference."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.diff = 0.0
        self.place: Place | None = None
        self.place_diff = -1.0
        self.ok = True

    def add(self, ours: Tensor, want: Tensor, valid: Tensor | None, rtol: float, atol: float,
            dims: tuple[str, ...], layer: int | None = None, direction: int | None = None,
            directions: int = 1, t0: int = 0) -> None:
        """Compare ``ours`` with ``want`` (same shape, named by ``dims``) where ``valid``
        (None: everywhere)."""
        if ours.numel() == 0:
            return
        diff = torch.sub(ours.to(want.dtype), want).abs_()
        if valid is not None:
            valid = valid.expand_as(ours)
            diff.masked_fill_(~valid, 0.0)
            diff.masked_fill_(~valid & ~torch.isnan(ours), math.inf)  # must be NaN
        top = float(diff.max())
        if top <= atol:  # within tolerance everywhere (the usual case: one pass, no mask)
            failed = False
            self.diff = max(self.diff, top)
            if top <= self.place_diff or not self.ok:
                return
            flat = int(diff.reshape(-1).argmax())
        else:
            diff.nan_to_num_(nan=math.inf)
            limit = want.abs().mul_(rtol).add_(atol)
            if valid is not None:
                limit.masked_fill_(~valid, 0.0)
            bad = diff > limit
            failed = bool(bad.any())
            self.diff = max(self.diff, float(diff.max()))
            flat = int((torch.where(bad, diff, -1.0) if failed else diff).reshape(-1).argmax())
        value = float(diff.reshape(-1)[flat])
        if failed and self.ok:
            self.place_diff = -1.0  # a failing place replaces any passing one
        if (not failed and not self.ok) or value <= self.place_diff:
            self.ok = self.ok and not failed
            return
        self.ok = self.ok and not failed
        self.place_diff = value
        at: dict[str, int | None] = {"layer": layer, "direction": direction}
        for name, i in zip(dims, torch.unravel_index(torch.tensor(flat), diff.shape)):
            if name == "layer_direction":
                at["layer"], at["direction"] = divmod(int(i), directions)
            else:
                at[name] = int(i) + (t0 if name == "t" else 0)
        tensor = f"gate {self.name}" if self.name in GATE_NAMES else self.name
        if valid is not None and not bool(valid.reshape(-1)[flat]):
            tensor += " past the sequence's length (must be NaN)"
        self.place = Place(tensor, at["layer"], at["direction"], at.get("t"), at.get("batch"),
                           at.get("unit"))

    def result(self) -> Check:
        return Check(self.name, self.diff, self.place, self.ok)


# ----- against nn.LSTM ---------------------------------------------------------------------
def _run(module: nn.LSTM, input: Tensor | PackedSequence, hx: Any
         ) -> tuple[Tensor | PackedSequence, Tensor, Tensor]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        out, (h_n, c_n) = module(input, hx) if hx is not None else module(input)
    return out, h_n, c_n


def _time_major(cfg: LSTMConfig, out: Tensor | PackedSequence, unbatched: bool) -> Tensor:
    """Output as (T, B, D*H_out), padding as 0."""
    if isinstance(out, PackedSequence):
        return pad_packed_sequence(out, batch_first=False)[0]
    if unbatched:
        return out.unsqueeze(1)
    return out.transpose(0, 1) if cfg.batch_first else out


def _result_checks(cfg: LSTMConfig, tr: Trace, theirs: tuple, rtol: float, atol: float
                   ) -> list[Check]:
    out, h_n, c_n = theirs
    checks = []
    o_ours = _time_major(cfg, tr.output, tr.unbatched)
    o_theirs = _time_major(cfg, out, tr.unbatched)
    w = _Worst("output")
    w.add(o_ours, o_theirs.to(o_ours.dtype), None, rtol, atol, ("t", "batch", "unit"))
    if w.place is not None and w.place.unit is not None and cfg.num_directions == 2:
        d, unit = divmod(w.place.unit, cfg.h_out)
        w.place = Place("output", cfg.num_layers - 1, d, w.place.t, w.place.batch, unit)
    checks.append(w.result())
    for name, ours, want in (("h_n", tr.h_n, h_n), ("c_n", tr.c_n, c_n)):
        if tr.unbatched:
            ours, want = ours.unsqueeze(1), want.unsqueeze(1)
        w = _Worst(name)
        w.add(ours, want.to(ours.dtype), None, rtol, atol, ("layer_direction", "batch", "unit"),
              directions=cfg.num_directions)
        checks.append(w.result())
    return checks


def _has_float64(device: torch.device) -> bool:
    return device.type != "mps"


def _torch_spread(module: nn.LSTM, input: Tensor | PackedSequence, hx: Any,
                  theirs: tuple) -> dict[str, tuple[float, float]]:
    """{"output"/"h_n"/"c_n": (max |nn.LSTM in the trace's dtype - nn.LSTM in float64|,
    max |nn.LSTM in float64|)}."""
    wide = copy.deepcopy(module).double()
    if isinstance(input, PackedSequence):
        wide_in: Tensor | PackedSequence = PackedSequence(
            input.data.double(), input.batch_sizes, input.sorted_indices,
            input.unsorted_indices)
    else:
        wide_in = input.double()
    wide_hx = None if hx is None else tuple(t.double() for t in hx)
    out64, h64, c64 = _run(wide, wide_in, wide_hx)
    out32, h32, c32 = theirs
    if isinstance(out32, PackedSequence):
        out32 = out32.data
    if isinstance(out64, PackedSequence):
        out64 = out64.data
    return {name: ((float((a.double() - b).abs().max()), float(b.abs().max())) if a.numel()
                   else (0.0, 0.0))
            for name, a, b in (("output", out32, out64), ("h_n", h32, h64), ("c_n", c32, c64))}
