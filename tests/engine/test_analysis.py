"""lstm_viz.explain.analysis: unit statistics and pattern search, checked against hand-computed
values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lstm_viz import trace
from lstm_viz.explain.analysis import (
    SAT_HIGH,
    SAT_LOW,
    find_pattern,
    gate_statistics,
    memory_timescale,
    signal_correlation,
    similar_units,
    unit_stats,
)


def test_memory_timescale_is_minus_one_over_log_f():
    f = np.array([0.5, 0.9, math.exp(-1 / 5), 1.0])
    tau = memory_timescale(f)
    np.testing.assert_allclose(tau[:3], [1 / math.log(2), -1 / math.log(0.9), 5.0])
    assert tau[3] == np.inf


def test_gate_statistics_by_hand():
    # T=4, B=1, 4 gates, H=2
    g = np.zeros((4, 1, 4, 2))
    g[:, 0, 0, 0] = [0.05, 0.5, 0.95, 0.99]  # i unit 0: 1 low, 2 high
    g[:, 0, 0, 1] = [0.5, 0.5, 0.5, 0.5]
    g[:, 0, 2, 0] = [-0.95, 0.0, 0.0, 0.91]  # g unit 0 (tanh): 1 low (< -0.9), 1 high
    g[:, 0, 1, :] = 0.5
    g[:, 0, 3, :] = 0.5
    mean, low, high = gate_statistics(g)
    assert mean.shape == (4, 2)
    np.testing.assert_allclose(mean[0], [(0.05 + 0.5 + 0.95 + 0.99) / 4, 0.5])
    np.testing.assert_allclose(low[0], [0.25, 0.0])
    np.testing.assert_allclose(high[0], [0.5, 0.0])
    np.testing.assert_allclose(low[2], [0.25, 0.0])
    np.testing.assert_allclose(high[2], [0.25, 0.0])
    assert (SAT_LOW, SAT_HIGH) == (0.1, 0.9)


def test_gate_statistics_ignore_padding():
    g = np.full((3, 2, 4, 1), 0.5)
    g[:, 1, 1, 0] = [0.95, 0.95, np.nan]  # f of sequence 1, which has length 2
    g[2, 1] = np.nan
    mean, _, high = gate_statistics(g)
    np.testing.assert_allclose(mean[1, 0], (0.5 * 3 + 0.95 * 2) / 5)
    np.testing.assert_allclose(high[1, 0], 2 / 5)


def _reference_gates(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """(T, B, 4, H) gates of a 1-layer LSTM, computed with the textbook equations."""
    H = lstm.hidden_size
    T, B, _ = x.shape
    h = torch.zeros(B, H)
    c = torch.zeros(B, H)
    out = []
    for t in range(T):
        z = x[t] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T \
            + lstm.bias_hh_l0
        i, f, g, o = z.split(H, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        out.append(torch.stack([i, f, g, o], dim=1))
    return torch.stack(out)


def test_unit_stats_of_a_real_trace_match_the_textbook_equations():
    torch.manual_seed(3)
    lstm = nn.LSTM(3, 5)
    with torch.no_grad():
        lstm.bias_ih_l0[5:10] += 2.0  # forget gates mostly open: long timescales
    x = torch.randn(40, 2, 3)
    tr = trace(lstm, x)
    stats = unit_stats(tr)
    with torch.no_grad():
        ref = _reference_gates(lstm, x).double().numpy()
        _, (h_n, c_n) = lstm(x)
    np.testing.assert_allclose(stats.gate_mean, ref.mean(axis=(0, 1)), rtol=1e-5, atol=1e-6)
    sat = ((ref < 0.1) | (ref > 0.9)).mean(axis=(0, 1))
    np.testing.assert_allclose(stats.gate_saturation[[0, 1, 3]], sat[[0, 1, 3]], atol=1e-9)
    np.testing.assert_allclose(stats.timescale, -1 / np.log(ref[:, :, 1].mean(axis=(0, 1))),
                               rtol=1e-4)
    assert stats.timescale.min() > 3  # bias +2 on f: mean f > 0.75
    assert stats.steps == 80
    np.testing.assert_allclose(stats.c_absmax.max() >= np.abs(c_n.numpy()).max() - 1e-6, True)
    cols = stats.columns()
    assert list(cols)[:6] == ["unit", "i mean", "f mean", "g mean", "o mean", "i sat"]
    assert all(len(v) == 5 for v in cols.values())


def test_unit_stats_reject_a_missing_layer():
    tr = trace(nn.LSTM(2, 3), torch.randn(4, 1, 2))
    with pytest.raises(ValueError, match="layer 1, direction 0 not in this trace"):
        unit_stats(tr, layer=1)


def _acts() -> np.ndarray:
    rng = np.random.default_rng(0)
    T, H = 60, 6
    a = rng.normal(size=(T, 1, H))
    a[:, 0, 3] = 2 * a[:, 0, 0] + 1  # perfectly correlated with unit 0
    a[:, 0, 4] = -a[:, 0, 0]  # perfectly anti-correlated
    a[:, 0, 5] = 0.7  # constant
    return a


def test_similar_units_rank_by_correlation_over_the_span():
    a = _acts()
    res = similar_units(a, unit=0, start=10, stop=30, k=5)
    assert res[0].unit == 3 and res[0].score == pytest.approx(1.0)
    assert res[-1].unit == 4 and res[-1].score == pytest.approx(-1.0)
    assert 0 not in [r.unit for r in res]
    const = next(r for r in res if r.unit == 5)
    assert const.score == 0.0
    span = a[10:30, 0]
    expected = np.corrcoef(span[:, 0], span[:, 1])[0, 1]
    assert next(r for r in res if r.unit == 1).score == pytest.approx(expected)


def test_similar_units_absolute_puts_anticorrelated_units_first():
    res = similar_units(_acts(), unit=0, start=10, stop=30, k=2, absolute=True)
    assert {r.unit for r in res} == {3, 4}


def test_similar_units_need_a_span_of_two_steps():
    with pytest.raises(ValueError, match="at least 2 timesteps"):
        similar_units(_acts(), unit=0, start=5, stop=6)
    with pytest.raises(ValueError, match="span"):
        similar_units(_acts(), unit=0, start=50, stop=70)


def test_find_pattern_finds_planted_copies_and_not_itself():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(80, 2, 4))
    motif = np.array([[0, 1], [3, -3], [0, 2], [5, 5]], dtype=float)
    a[10:14, 0, 1:3] = motif
    a[50:54, 0, 1:3] = motif
    a[20:24, 1, 1:3] = motif + 0.01
    res = find_pattern(a, units=[1, 2], start=10, stop=14, batch=0, k=3)
    assert [(m.batch, m.start, m.stop) for m in res[:2]] == [(0, 50, 54), (1, 20, 24)]
    assert res[0].distance == pytest.approx(0.0, abs=1e-12)
    assert res[1].distance == pytest.approx(0.01)
    assert all(not (m.batch == 0 and abs(m.start - 10) < 4) for m in res)
    starts = [(m.batch, m.start) for m in res]
    assert len(set(starts)) == len(starts)


def test_find_pattern_skips_padding():
    a = np.zeros((10, 2, 1))
    a[6:, 1] = np.nan  # sequence 1 has length 6
    res = find_pattern(a, units=[0], start=0, stop=3, batch=0, k=10)
    assert all(m.stop <= 6 for m in res if m.batch == 1)
    assert all(np.isfinite(m.distance) for m in res)


def test_signal_correlation_matches_numpy():
    rng = np.random.default_rng(2)
    acts = rng.normal(size=(50, 3))
    sig = acts[:, 1] * 3 + rng.normal(size=50) * 0.1
    acts[:, 2] = 1.0
    r = signal_correlation(acts, sig)
    np.testing.assert_allclose(r[:2], [np.corrcoef(acts[:, k], sig)[0, 1] for k in range(2)])
    assert r[2] == 0.0 and r[1] > 0.99
