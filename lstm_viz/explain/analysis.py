"""What units do: per-unit statistics over a whole input, and LSTMVis-style pattern search.

All functions take numpy arrays or a ``Trace`` and return numpy arrays; padded positions (NaN in a
trace) are ignored.

Thresholds. A sigmoid gate (i, f, o) counts as *saturated* at a step when its value is below
``SAT_LOW = 0.1`` ("closed") or above ``SAT_HIGH = 0.9`` ("open"); the candidate g (tanh, in
(-1, 1)) when ``|g| > SAT_HIGH``. At 0.1 / 0.9 the sigmoid's slope is 0.09, about a third of its
peak slope 0.25, so gradients through a saturated gate are already damped.

Memory timescale. If the forget gate held its mean value f, the cell state would shrink by f
each step, to 1/e of its value after tau steps: f**tau = 1/e, so ``tau = -1 / ln(mean f)``.
mean f = 0.5 gives 1.4 steps, 0.9 gives 9.5 steps, 0.99 gives 99.5 steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # this module itself needs only numpy
    from typing import TypeAlias

    import torch

    from ..tracing import Trace

    ArrayLike: TypeAlias = np.ndarray | torch.Tensor | Sequence[float]

SAT_LOW = 0.1
SAT_HIGH = 0.9
GATES = ("i", "f", "g", "o")


def _np(x: ArrayLike) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def memory_timescale(mean_f: ArrayLike) -> np.ndarray:
    """-1 / ln(mean f), in timesteps: how long the cell keeps 1/e of a value. Shape as mean_f."""
    f = np.clip(_np(mean_f), 1e-12, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(f >= 1.0, np.inf, -1.0 / np.log(f))


@dataclass(frozen=True)
class UnitStats:
    """Statistics of every unit of one layer and direction over all valid (t, batch) positions.

    gate_mean, gate_low, gate_high, gate_saturation: (4, H), rows in ``GATES`` order; gate_low is
    the fraction of steps below SAT_LOW (for g: below -SAT_HIGH), gate_high above SAT_HIGH, and
    gate_saturation their sum. timescale: (H,) in steps. h_*: (H_out,), c_*: (H,).
    """

    layer: int
    direction: int
    steps: int
    gate_mean: np.ndarray
    gate_low: np.ndarray
    gate_high: np.ndarray
    timescale: np.ndarray
    c_mean: np.ndarray
    c_std: np.ndarray
    c_absmax: np.ndarray
    h_mean: np.ndarray
    h_std: np.ndarray

    @property
    def gate_saturation(self) -> np.ndarray:
        return self.gate_low + self.gate_high

    @property
    def hidden_size(self) -> int:
        return self.gate_mean.shape[1]

    def columns(self) -> dict[str, np.ndarray]:
        """Named (H,) columns for a table: unit, mean/saturation of each gate, tau (in steps),
        c and h.

        h columns are present only when h has one value per unit (no proj_size).
        """
        cols: dict[str, np.ndarray] = {"unit": np.arange(self.hidden_size)}
        for k, g in enumerate(GATES):
            cols[f"{g} mean"] = self.gate_mean[k]
        for k, g in enumerate(GATES):
            cols[f"{g} sat"] = self.gate_saturation[k]
        cols["tau"] = self.timescale  # steps
        cols["c mean"] = self.c_mean
        cols["c std"] = self.c_std
        cols["|c| max"] = self.c_absmax
        if self.h_mean.shape[0] == self.hidden_size:
            cols["h mean"] = self.h_mean
            cols["h std"] = self.h_std
        return cols


def gate_statistics(gates: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low fraction, high fraction), each (4, H), of gates (T, B, 4, H) ignoring NaN."""
    g = _np(gates)
    if g.ndim != 4 or g.shape[2] != 4:
        raise ValueError(f"gates must be (T, B, 4, H), got shape {g.shape}")
    flat = g.reshape(-1, 4, g.shape[3])
    valid = ~np.isnan(flat)
    n = valid.sum(axis=0)
    if not n.all():
        raise ValueError("no valid timesteps to compute statistics over")
    mean = np.nansum(flat, axis=0) / n
    low_thr = np.array([SAT_LOW, SAT_LOW, -SAT_HIGH, SAT_LOW])[:, None]
    with np.errstate(invalid="ignore"):
        low = (flat < low_thr).sum(axis=0) / n
        high = (flat > SAT_HIGH).sum(axis=0) / n
    return mean, low, high


def unit_stats(trace: Trace, layer: int = 0, direction: int = 0) -> UnitStats:
    """``UnitStats`` of ``trace`` (a ``lstm_viz.Trace``) for one layer and direction."""
    L, D = trace.gates.shape[:2]
    if not (0 <= layer < L and 0 <= direction < D):
        raise ValueError(f"layer {layer}, direction {direction} not in this trace"
                         f" ({L} layer(s), {D} direction(s))")
    gates = _np(trace.gates[layer, direction])
    c = _np(trace.c[layer, direction]).reshape(-1, gates.shape[-1])
    h = _np(trace.h[layer, direction])
    h = h.reshape(-1, h.shape[-1])
    mean, low, high = gate_statistics(gates)
    return UnitStats(
        layer=layer, direction=direction,
        steps=int((~np.isnan(c[:, 0])).sum()),
        gate_mean=mean, gate_low=low, gate_high=high,
        timescale=memory_timescale(mean[1]),
        c_mean=np.nanmean(c, axis=0), c_std=np.nanstd(c, axis=0),
        c_absmax=np.nanmax(np.abs(c), axis=0),
        h_mean=np.nanmean(h, axis=0), h_std=np.nanstd(h, axis=0))


# ----- pattern search (LSTMVis "select" and "match") ---------------------------------------------
@dataclass(frozen=True)
class UnitMatch:
    """A unit whose activation over the selected span resembles the selected unit's."""

    unit: int
    score: float  # Pearson correlation over the span, in [-1, 1]


@dataclass(frozen=True)
class SpanMatch:
    """Another place where the selected units show the same pattern: [start, stop) in ``batch``."""

    batch: int
    start: int
    stop: int
    distance: float  # root mean square difference from the selected pattern


def _check_span(acts: np.ndarray, batch: int, start: int, stop: int) -> None:
    T, B = acts.shape[:2]
    if not 0 <= batch < B:
        raise ValueError(f"batch {batch} out of range (batch size {B})")
    if not (0 <= start < stop <= T):
        raise ValueError(f"span [{start}, {stop}) must lie within 0..{T} and be non-empty")


def similar_units(acts: ArrayLike, unit: int, start: int, stop: int, batch: int = 0, k: int = 10,
                  absolute: bool = False) -> list[UnitMatch]:
    """The ``k`` units whose activation over steps [start, stop) correlates best with ``unit``'s.

    acts: (T, B, H) one state (h or c, or a gate) of one layer and direction. The span needs at
    least 2 steps (a correlation needs variation); units that are constant over the span score
    0. With ``absolute`` anti-correlated units rank as high as correlated ones. The selected unit
    itself is left out.
    """
    a = _np(acts)
    _check_span(a, batch, start, stop)
    if not 0 <= unit < a.shape[2]:
        raise ValueError(f"unit {unit} out of range (0..{a.shape[2] - 1})")
    if stop - start < 2:
        raise ValueError("select at least 2 timesteps to compare units over")
    span = a[start:stop, batch, :]  # (S, H)
    if np.isnan(span).any():
        raise ValueError("the span reaches past the end of this sequence (padding)")
    centred = span - span.mean(axis=0)
    norms = np.sqrt((centred ** 2).sum(axis=0))
    ref = centred[:, unit]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (centred * ref[:, None]).sum(axis=0) / (norms * norms[unit])
    corr = np.where(np.isfinite(corr) & ~_constant(span), corr, 0.0)
    key = np.abs(corr) if absolute else corr
    order = [int(u) for u in np.argsort(-key, kind="stable") if u != unit]
    return [UnitMatch(u, float(corr[u])) for u in order[:k]]


def find_pattern(acts: ArrayLike, units: Sequence[int] | int, start: int, stop: int,
                 batch: int = 0, k: int = 10, include_self: bool = False) -> list[SpanMatch]:
    """Places where ``units`` trace the same curve as they do over [start, stop) in ``batch``.

    acts: (T, B, H). Every window of the same length in every sequence is compared with the
    selected one by root mean square difference over the selected units; the ``k`` closest
    windows that do not overlap each other (nor, unless ``include_self``, the selection) are
    returned, closest first.
    """
    a = _np(acts)
    _check_span(a, batch, start, stop)
    idx = np.atleast_1d(np.asarray(units, dtype=int))
    if idx.size == 0 or idx.min() < 0 or idx.max() >= a.shape[2]:
        raise ValueError(f"units must be indices in 0..{a.shape[2] - 1}, got {idx.tolist()}")
    width = stop - start
    template = a[start:stop, batch][:, idx]  # (S, K)
    if np.isnan(template).any():
        raise ValueError("the span reaches past the end of this sequence (padding)")
    T, B = a.shape[:2]
    if width > T:
        return []
    sel = a[:, :, idx]  # (T, B, K)
    windows = np.lib.stride_tricks.sliding_window_view(sel, width, axis=0)  # (T-S+1, B, K, S)
    diff = windows - template.T[None, None]
    dist = np.sqrt(np.mean(diff ** 2, axis=(2, 3)))  # (T-S+1, B); NaN where padding
    candidates = []
    for b in range(B):
        for s in np.argsort(dist[:, b], kind="stable"):
            d = dist[s, b]
            if np.isnan(d):
                break
            candidates.append((float(d), b, int(s)))
    candidates.sort()
    taken: list[tuple[int, int]] = [] if include_self else [(batch, start)]
    out: list[SpanMatch] = []
    for d, b, s in candidates:
        if any(b == tb and abs(s - ts) < width for tb, ts in taken):
            continue
        taken.append((b, s))
        out.append(SpanMatch(b, s, s + width, d))
        if len(out) >= k:
            break
    return out


def signal_correlation(acts: ArrayLike, signal: ArrayLike) -> np.ndarray:
    """Pearson correlation of each unit's activation with ``signal``: acts (T, H), signal (T,).

    Used to check a claim such as "unit 17 tracks bracket depth"; NaN steps are ignored and a
    constant unit gives 0.
    """
    a = _np(acts)
    s = _np(signal)
    if a.ndim != 2 or s.shape != (a.shape[0],):
        raise ValueError(f"acts must be (T, H) and signal (T,), got {a.shape} and {s.shape}")
    keep = ~np.isnan(a).any(axis=1) & ~np.isnan(s)
    a, s = a[keep], s[keep]
    a = a - a.mean(axis=0)
    s = s - s.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * s[:, None]).sum(axis=0) / np.sqrt((a ** 2).sum(axis=0) * (s ** 2).sum())
    return np.where(np.isfinite(r) & ~_constant(a), r, 0.0)


def _constant(x: np.ndarray) -> np.ndarray:
    """(H,) True where column x[:, k] is constant up to rounding."""
    scale = np.maximum(1.0, np.abs(x).max(axis=0))
    return (x.max(axis=0) - x.min(axis=0)) <= 1e-9 * scale
