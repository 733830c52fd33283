"""Traces of long inputs in bounded memory: checkpoints, an overview, and windows on demand.

One pass over the whole input (``Checkpoints.build``) keeps, for every layer and direction,
h and c every ``every`` steps and a downsampled overview of every gate and state (per bucket of
steps: min, max and mean over time). A window [start, stop) is then traced from the nearest
kept states: the forward direction from the state before ``start``, the reverse direction from
the state after ``stop`` (it reads the positions after t first). The last window traced also
serves as a source of states, so a window next to it costs about its own length.

Works on time-major tensors (x (T, B, in), lengths (B,), h_0 (L*D, B, H_out),
c_0 (L*D, B, H)); ``tracing.trace(..., window=...)`` wraps the result into a Trace.
Positions past a sequence's length are NaN; the reverse direction of a shorter sequence starts
at its own last step from h_0, as nn.LSTM does with a PackedSequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..torch_devices import rnn_precision
from . import _buffers, _kernels, _native
from .edits import StateEdit

Tensor = torch.Tensor

DEFAULT_EVERY = 128  # steps between kept states: a window costs at most this many steps more
DEFAULT_BUCKETS = 2048  # overview columns at most
CHUNK_STEPS = 2048  # steps per piece of the first pass (a multiple of the bucket size)
STATS = ("min", "max", "mean")


@dataclass
class Overview:
    """Per-bucket statistics over time of every gate and state.

    gates: (3, L, D, NB, B, 4, H); c: (3, L, D, NB, B, H); h: (3, L, D, NB, B, H_out), where
    the first axis is (min, max, mean) over the bucket's steps (NaN where a bucket holds no
    valid step) and bucket j covers input positions [j * bucket_size, (j + 1) * bucket_size).
    """

    bucket_size: int
    num_steps: int
    gates: Tensor
    c: Tensor
    h: Tensor

    @property
    def num_buckets(self) -> int:
        return int(self.gates.shape[3])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.gates, self.c, self.h))

    def bucket_of(self, t: int) -> int:
        """The bucket that holds input position ``t``."""
        return int(t) // self.bucket_size


@dataclass
class Window:
    """The trace of input positions [start, stop): gates (L, D, n, B, 4, H), c (L, D, n, B, H),
    h (L, D, n, B, H_out); h_b (L*D, B, H_out), c_b (L*D, B, H) the states each direction
    starts the window from (forward: before ``start``; reverse: after ``stop``)."""

    start: int
    stop: int
    gates: Tensor
    c: Tensor
    h: Tensor
    h_b: Tensor
    c_b: Tensor


def plan(seq_len: int, buckets: int = DEFAULT_BUCKETS) -> tuple[int, int]:
    """(bucket_size, chunk_steps) for an input of ``seq_len`` steps."""
    bucket = max(1, math.ceil(seq_len / max(1, buckets)))
    chunk = bucket * max(1, CHUNK_STEPS // bucket)
    return bucket, chunk


def _reading_order(edits: Sequence[StateEdit], d: int, a: int, seg_len: Tensor
                   ) -> list[StateEdit]:
    """Edits at input positions of the segment starting at ``a``, with ``t`` counted in the
    direction's reading order within the segment; the others are dropped."""
    out = []
    for e in edits:
        n = int(seg_len[e.batch])
        step = n - 1 - (e.t - a) if d == 1 else e.t - a
        if 0 <= step < n:
            out.append(replace(e, t=step))
    return out


def trace_span(lstm: nn.LSTM, layer: int, d: int, xin: Tensor, seg_len: Tensor, h0: Tensor,
               c0: Tensor, method: str, edits: Sequence[StateEdit] = (), a: int = 0
               ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One layer and direction over a segment of ``xin`` (n, B, in) whose sequence b has
    ``seg_len[b]`` valid steps, from the state (h0 (B, H_out), c0 (B, H)).

    Returns gates (n, B, 4, H), c (n, B, H), h (n, B, H_out) at the segment's input positions
    (NaN past each length) and the state after the segment in reading order (h0, c0 where a
    sequence has no step in it). ``edits``: for this layer and direction, at input positions
    counted from ``a``, the segment's first position."""
    n, B = xin.shape[0], xin.shape[1]
    params = _kernels.layer_params(lstm, layer, d)
    w_ih, w_hr = params[0], params[4]
    H = w_ih.shape[0] // 4
    Ho = H if w_hr is None else w_hr.shape[0]
    full = bool((seg_len == n).all())
    rev_idx = None if full else _kernels.reverse_index(seg_len, n, xin.device)
    steps = _reading_order(edits, d, a, seg_len)
    backwards = d == 1 and full and method != "fused"
    xr = xin if d == 0 or backwards else _kernels.reverse(xin, rev_idx)
    g = _buffers.empty(n, B, 4, H, like=xin)
    c = _buffers.empty(n, B, H, like=xin)
    h = _buffers.empty(n, B, Ho, like=xin)
    # with edits: the method up to the segment's first edited step, the step loop from there
    _kernels.run_direction(method, xr, h0, c0, params, g, c, h, steps, backwards=backwards)
    if d == 1 and not backwards:
        g, c, h = (_kernels.reverse(v, rev_idx) for v in (g, c, h))
    dev = h.device
    has = (seg_len > 0).to(dev)
    if d == 0:
        last = (seg_len - 1).clamp(min=0).to(dev)
        bidx = torch.arange(B, device=dev)
        h_end, c_end = h[last, bidx], c[last, bidx]
    else:
        h_end, c_end = h[0], c[0]
    h_end = torch.where(has.unsqueeze(1), h_end, h0)
    c_end = torch.where(has.unsqueeze(1), c_end, c0)
    if not full:
        pad = (torch.arange(n).unsqueeze(1) >= seg_len.unsqueeze(0)).to(dev)  # (n, B)
        for buf in (g, c, h):
            buf.masked_fill_(pad.view(n, B, *([1] * (buf.dim() - 2))), math.nan)
    return g, c, h, h_end, c_end


def _bucket_stats(v: Tensor, bucket: int, exact: bool) -> Tensor:
    """(3, nb, ...) min, max, mean over buckets of ``bucket`` steps of v (n, ...), ignoring
    NaN (``exact``: n is a multiple of the bucket and v holds no NaN: the fast path)."""
    n = v.shape[0]
    nb = math.ceil(n / bucket)
    if exact and n == nb * bucket:
        r = v.reshape(nb, bucket, *v.shape[1:])
        return torch.stack((r.amin(1), r.amax(1), r.mean(1)))
    if n != nb * bucket:
        v = torch.cat([v, v.new_full((nb * bucket - n, *v.shape[1:]), math.nan)])
    r = v.reshape(nb, bucket, *v.shape[1:])
    nan = r.isnan()
    lo = r.masked_fill(nan, math.inf).amin(1)
    hi = r.masked_fill(nan, -math.inf).amax(1)
    empty = nan.all(1)
    return torch.stack((lo.masked_fill(empty, math.nan), hi.masked_fill(empty, math.nan),
                        r.nanmean(1)))


class Checkpoints:
    """Kept states and the overview of one LSTM call, and the windows traced from them.

    fwd_h (NP, L, B, H_out), fwd_c (NP, L, B, H): the forward direction's state before each
    kept position ``positions[j]`` (every ``every`` steps, and T); rev_h, rev_c (NP, L, B, ...):
    the reverse direction's state after it (None for a one-direction LSTM).

    ``base``: the checkpoints of an earlier run of the same LSTM (e.g. before a what-if edit);
    for a one-direction LSTM the pass then starts from its kept state before the first
    position where the two runs differ (input or state edits), keeping what precedes it.
    """

    def __init__(self, lstm: nn.LSTM, x: Tensor, lengths: Tensor, h_0: Tensor, c_0: Tensor,
                 every: int = DEFAULT_EVERY, buckets: int = DEFAULT_BUCKETS,
                 edits: Sequence[StateEdit] = (), method: str | None = None,
                 base: Checkpoints | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1 step (got {every})")
        self.lstm, self.x, self.lengths, self.h_0, self.c_0 = lstm, x, lengths, h_0, c_0
        self.edits = tuple(edits)
        # the method of every span (tracing.checkpoints chooses it by measuring); without one,
        # the loop where its steps run in C, else torch's fused kernel with the gates
        # recomputed. A span that holds an edit runs the step loop from its first edited step.
        self.method = method or ("loop" if _native.runs_loop(x) else "fused")
        self.L = lstm.num_layers
        self.D = 2 if lstm.bidirectional else 1
        self.every = int(every)
        T, B = x.shape[0], x.shape[1]
        self.num_steps = T
        self.positions = list(range(0, T, self.every)) + [T]
        NP = len(self.positions)
        Ho, H = h_0.shape[-1], c_0.shape[-1]
        self.fwd_h = x.new_empty(NP, self.L, B, Ho)
        self.fwd_c = x.new_empty(NP, self.L, B, H)
        self.rev_h = x.new_empty(NP, self.L, B, Ho) if self.D == 2 else None
        self.rev_c = x.new_empty(NP, self.L, B, H) if self.D == 2 else None
        self.h_n = x.new_empty(self.L * self.D, B, Ho)
        self.c_n = x.new_empty(self.L * self.D, B, H)
        bucket, self.chunk = plan(T, buckets)
        nb = math.ceil(T / bucket)
        shape = (3, self.L, self.D, nb, B)
        self.overview = Overview(bucket, T, x.new_empty(*shape, 4, H), x.new_empty(*shape, H),
                                 x.new_empty(*shape, Ho))
        self.last: Window | None = None
        self.elapsed_s = 0.0
        self.replayed_from = self._reuse(base)
        self._build(self.replayed_from)

    @property
    def nbytes(self) -> int:
        kept = [self.fwd_h, self.fwd_c, self.h_n, self.c_n]
        kept += [t for t in (self.rev_h, self.rev_c) if t is not None]
        return self.overview.nbytes + sum(t.numel() * t.element_size() for t in kept)

    def _seg_len(self, a: int, e: int) -> Tensor:
        return (self.lengths - a).clamp(0, e - a)

    def _reuse(self, base: Checkpoints | None) -> int:
        """Take ``base``'s states and overview up to the first position where this run can
        differ from it (rounded down to a kept position that starts a bucket); returns that
        position (0: nothing reused)."""
        if base is None or self.D != 1 or base.lstm is not self.lstm \
                or base.x.shape != self.x.shape or base.every != self.every \
                or base.overview.bucket_size != self.overview.bucket_size \
                or base.chunk != self.chunk or not torch.equal(base.lengths, self.lengths) \
                or not (torch.equal(base.h_0, self.h_0) and torch.equal(base.c_0, self.c_0)):
            return 0
        changed = set(base.edits) ^ set(self.edits)
        first = min((e.t for e in changed), default=self.num_steps)
        differs = (base.x != self.x).flatten(1).any(1).nonzero()
        if differs.numel():
            first = min(first, int(differs[0]))
        if first >= self.num_steps:
            first = self.num_steps - 1
        step = math.lcm(self.every, self.overview.bucket_size)
        p0 = first // step * step
        if p0 == 0:
            return 0
        j = p0 // self.every
        self.fwd_h[:j + 1], self.fwd_c[:j + 1] = base.fwd_h[:j + 1], base.fwd_c[:j + 1]
        nb = p0 // self.overview.bucket_size
        for mine, theirs in ((self.overview.gates, base.overview.gates),
                             (self.overview.c, base.overview.c),
                             (self.overview.h, base.overview.h)):
            mine[:, :, :, :nb] = theirs[:, :, :, :nb]
        return p0

    def _build(self, p0: int = 0) -> None:
        """The first pass: every layer and direction in chunks, keeping states and stats; from
        position p0 (a kept position that starts a bucket, one direction only) when the states
        before it are already kept."""
        x, lengths, T = self.x, self.lengths, self.num_steps
        ov, every = self.overview, self.every
        exact = bool((lengths == T).all())
        chunks = [(a, min(a + self.chunk, T)) for a in range(p0, T, self.chunk)]
        layer_in = x
        with torch.no_grad(), rnn_precision(x.device):
            for layer in range(self.L):
                out = None if layer == self.L - 1 else \
                    x.new_empty(T, x.shape[1], self.D * self.h_0.shape[-1])
                for d in range(self.D):
                    k = layer * self.D + d
                    hs, cs = self.h_0[k], self.c_0[k]
                    if p0:
                        j = p0 // every
                        hs, cs = self.fwd_h[j, layer].clone(), self.fwd_c[j, layer].clone()
                    edits = [e for e in self.edits if (e.layer, e.direction) == (layer, d)]
                    for a, e in (chunks if d == 0 else chunks[::-1]):
                        seg = self._seg_len(a, e)
                        h_init, c_init = hs, cs
                        g, c, h, hs, cs = trace_span(self.lstm, layer, d, layer_in[a:e], seg,
                                                     hs, cs, self.method, edits, a)
                        self._keep(layer, d, a, e, h, c, h_init, c_init, hs, cs, every)
                        j0 = a // ov.bucket_size
                        for buf, v in ((ov.gates, g), (ov.c, c), (ov.h, h)):
                            st = _bucket_stats(v, ov.bucket_size, exact)
                            buf[:, layer, d, j0:j0 + st.shape[1]] = st
                        if out is not None:
                            Ho = h.shape[-1]
                            out[a:e, :, d * Ho:(d + 1) * Ho] = h
                    self.h_n[k], self.c_n[k] = hs, cs
                if out is not None:
                    layer_in = out

    def _keep(self, layer: int, d: int, a: int, e: int, h: Tensor, c: Tensor, h_init: Tensor,
              c_init: Tensor, h_end: Tensor, c_end: Tensor, every: int) -> None:
        """Store the kept states that fall in the chunk [a, e)."""
        first = -(-a // every)
        for j in range(first, len(self.positions)):
            p = self.positions[j]
            if p > e:
                break
            if d == 0:
                if p == a:
                    self.fwd_h[j, layer], self.fwd_c[j, layer] = h_init, c_init
                elif p == e:
                    self.fwd_h[j, layer], self.fwd_c[j, layer] = h_end, c_end
                else:
                    self.fwd_h[j, layer], self.fwd_c[j, layer] = h[p - 1 - a], c[p - 1 - a]
            else:
                assert self.rev_h is not None and self.rev_c is not None
                if p == e:
                    self.rev_h[j, layer], self.rev_c[j, layer] = h_init, c_init
                elif p == a:
                    self.rev_h[j, layer], self.rev_c[j, layer] = h_end, c_end
                else:
                    self.rev_h[j, layer], self.rev_c[j, layer] = self._rev_state(
                        layer, p, h[p - a], c[p - a])

    def _rev_state(self, layer: int, p: int, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """The reverse direction's state after position p from its values at p: h_0, c_0
        for sequences that end at or before p (they start their reverse reading below p)."""
        k = layer * self.D + 1
        valid = (self.lengths > p).to(h.device).unsqueeze(1)
        return torch.where(valid, h, self.h_0[k]), torch.where(valid, c, self.c_0[k])

    # ----- windows -------------------------------------------------------------------
    def _forward_source(self, start: int) -> tuple[int, Tensor, Tensor]:
        """(p <= start, h (L, B, H_out), c (L, B, H)): the nearest known forward state."""
        j = start // self.every
        p, h, c = self.positions[j], self.fwd_h[j], self.fwd_c[j]
        w = self.last
        if w is not None and w.start <= start <= w.stop and start >= p:
            if start == w.start:
                return start, w.h_b[0::self.D], w.c_b[0::self.D]
            return start, w.h[:, 0, start - 1 - w.start], w.c[:, 0, start - 1 - w.start]
        return p, h, c

    def _reverse_source(self, stop: int) -> tuple[int, Tensor, Tensor]:
        """(p >= stop, h, c): the nearest known reverse state (after position p)."""
        assert self.rev_h is not None and self.rev_c is not None
        j = -(-stop // self.every)
        p, h, c = self.positions[j], self.rev_h[j], self.rev_c[j]
        w = self.last
        if w is not None and w.start <= stop <= w.stop and stop <= p:
            if stop == w.stop:
                return stop, w.h_b[1::2], w.c_b[1::2]
            pairs = [self._rev_state(layer, stop, w.h[layer, 1, stop - w.start],
                                     w.c[layer, 1, stop - w.start]) for layer in range(self.L)]
            return stop, torch.stack([q[0] for q in pairs]), torch.stack([q[1] for q in pairs])
        return p, h, c

    def window(self, start: int, stop: int, method: str | None = None) -> Window:
        """Trace input positions [start, stop) from the nearest known states; the window is
        kept as a source of states for the next one."""
        T = self.num_steps
        if not (0 <= start < stop <= T):
            raise ValueError(f"window must satisfy 0 <= start < stop <= {T} (got"
                             f" ({start}, {stop}))")
        method = method or self.method
        a, hf, cf = self._forward_source(start)
        b, hr, cr = (stop, None, None) if self.D == 1 else self._reverse_source(stop)
        seg = self._seg_len(a, b)
        layer_in = self.x[a:b]
        n, B = stop - start, self.x.shape[1]
        H, Ho = self.c_0.shape[-1], self.h_0.shape[-1]
        gates = _buffers.empty(self.L, self.D, n, B, 4, H, like=self.x)
        c_w = _buffers.empty(self.L, self.D, n, B, H, like=self.x)
        h_w = _buffers.empty(self.L, self.D, n, B, Ho, like=self.x)
        h_b = self.x.new_empty(self.L * self.D, B, Ho)
        c_b = self.x.new_empty(self.L * self.D, B, H)
        with torch.no_grad(), rnn_precision(self.x.device):
            for layer in range(self.L):
                outs = []
                for d in range(self.D):
                    k = layer * self.D + d
                    if d == 0:
                        h0, c0 = hf[layer], cf[layer]
                    else:
                        assert hr is not None and cr is not None
                        h0, c0 = hr[layer], cr[layer]
                    edits = [e for e in self.edits if (e.layer, e.direction) == (layer, d)]
                    g, c, h, _, _ = trace_span(self.lstm, layer, d, layer_in, seg, h0, c0,
                                               method, edits, a)
                    lo, hi = start - a, stop - a
                    gates[layer, d], c_w[layer, d], h_w[layer, d] = g[lo:hi], c[lo:hi], h[lo:hi]
                    # the state each direction enters the window with
                    if d == 0:
                        h_b[k], c_b[k] = (h0, c0) if lo == 0 else (h[lo - 1], c[lo - 1])
                    elif hi == b - a:
                        h_b[k], c_b[k] = h0, c0
                    else:
                        h_b[k], c_b[k] = self._rev_state(layer, stop, h[hi], c[hi])
                    outs.append(h)
                layer_in = outs[0] if self.D == 1 else torch.cat(outs, dim=-1)
        self.last = Window(start, stop, gates, c_w, h_w, h_b, c_b)
        return self.last
