"""Shrinking a (units, T) array to the pixels that show it, without hiding anything.

Skipping rows or columns would drop a one-step spike; averaging would dilute it. Here each
output cell is the input cell of its bucket that lies furthest from ``center`` (0 for tanh
values, 0.5 for sigmoid gates), sign kept: a single spike in 10 000 steps stays visible. NaN
cells are ignored; a bucket of NaN only stays NaN.
"""

from __future__ import annotations

import numpy as np


def buckets(n: int, n_out: int) -> np.ndarray:
    """Start index of each of ``min(n, n_out)`` consecutive, near-equal buckets over ``n``."""
    if n < 1 or n_out < 1:
        raise ValueError(f"need at least one element and one bucket (got {n}, {n_out})")
    n_out = min(n, n_out)
    return (np.arange(n_out, dtype=np.int64) * n) // n_out


def extreme(a: np.ndarray, n_out: int, axis: int, center: float = 0.0) -> np.ndarray:
    """``a`` with ``axis`` shrunk to at most ``n_out`` buckets, each holding its value furthest
    from ``center``. Returns ``a`` itself when it already fits."""
    a = np.asarray(a)
    n = a.shape[axis]
    if n <= n_out:
        return a
    moved = np.moveaxis(a, axis, -1)
    starts = buckets(n, n_out)
    dev = np.abs(moved - center)
    dev = np.where(np.isnan(dev), -1.0, dev)
    if n % n_out == 0:  # equal buckets: one reshape, no loop
        k = n // n_out
        shape = (*moved.shape[:-1], n_out, k)
        pick = np.argmax(dev.reshape(shape), axis=-1)
        out = np.take_along_axis(moved.reshape(shape), pick[..., None], -1)[..., 0]
    else:
        best = np.maximum.reduceat(dev, starts, axis=-1)
        # the first index of each bucket where the deviation reaches the bucket's best
        bucket_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
        hit = dev == best[..., bucket_of]
        idx = np.where(hit, np.arange(n), n)
        first = np.minimum.reduceat(idx, starts, axis=-1)
        out = np.take_along_axis(moved, np.minimum(first, n - 1), -1)
    return np.moveaxis(out, -1, axis)


def extreme_2d(a: np.ndarray, rows: int, cols: int, center: float = 0.0) -> np.ndarray:
    """(units, T) shrunk to at most (rows, cols) with ``extreme`` on both axes."""
    return extreme(extreme(a, cols, axis=1, center=center), rows, axis=0, center=center)
