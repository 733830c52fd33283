"""Orders of a layer's units for the views: by index, memory timescale, saturation, variance,
or with similar units next to each other.

``unit_order(trace, layer, direction, key)`` returns a permutation ``order`` of 0..H-1: row r of
an ordered heatmap shows unit ``order[r]``. Ties keep index order, so an order is reproducible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .analysis import unit_stats

if TYPE_CHECKING:
    from ..tracing import Trace

#: key -> what the axis says
ORDERS = {
    "index": "unit index",
    "timescale": "memory timescale (longest first)",
    "saturation": "gate saturation (most first)",
    "variance": "variance of c (largest first)",
    "similarity": "similarity (correlated units together)",
}


def unit_order(trace: Trace, layer: int = 0, direction: int = 0, key: str = "index"
               ) -> np.ndarray:
    """A permutation of the H units of one layer and direction, ordered by ``key``."""
    if key not in ORDERS:
        raise ValueError(f"unknown unit order {key!r}; choose one of {', '.join(ORDERS)}")
    H = int(trace.config.hidden_size)
    if key == "index":
        return np.arange(H)
    stats = unit_stats(trace, layer, direction)
    if key == "timescale":
        return _descending(np.nan_to_num(stats.timescale, nan=0.0, posinf=np.inf))
    if key == "saturation":
        return _descending(stats.gate_saturation.sum(axis=0))
    if key == "variance":
        return _descending(stats.c_std ** 2)
    c = trace.c[layer, direction].detach().cpu().numpy().reshape(-1, H)
    return similarity_order(c[~np.isnan(c[:, 0])])


def _descending(values: np.ndarray) -> np.ndarray:
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


def similarity_order(acts: np.ndarray) -> np.ndarray:
    """Spectral seriation of (N, H) activations: units sorted by the Fiedler vector of the graph
    whose edge weights are |correlation|, so strongly correlated units land next to each other.
    Constant units (no correlation to speak of) go last, in index order."""
    acts = np.asarray(acts, dtype=np.float64)
    H = acts.shape[1]
    std = acts.std(axis=0) if len(acts) else np.zeros(H)
    live = np.flatnonzero(std > 1e-12)
    dead = np.setdiff1d(np.arange(H), live)
    if len(live) < 3:
        return np.concatenate([live, dead])
    z = (acts[:, live] - acts[:, live].mean(axis=0)) / std[live]
    w = np.abs(z.T @ z) / len(z)
    np.fill_diagonal(w, 0.0)
    laplacian = np.diag(w.sum(axis=1)) - w
    _, vectors = np.linalg.eigh(laplacian)
    fiedler = vectors[:, 1]
    if fiedler[0] > 0:  # the sign of an eigenvector is arbitrary: make the order stable
        fiedler = -fiedler
    return np.concatenate([live[np.argsort(fiedler, kind="stable")], dead])
