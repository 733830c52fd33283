"""Downsampling for display keeps the most extreme value of every bucket."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.downsample import extreme, extreme_2d
from lstm_viz.explain.ordering import ORDERS, similarity_order, unit_order


@pytest.mark.parametrize("cols", [1000, 937, 1])
def test_a_single_spike_in_10000_steps_survives_downsampling(cols):
    a = np.full((4, 10_000), 0.5, dtype=np.float32)
    a[2, 7321] = -0.9  # a dip on a sigmoid-like field
    a[1, 13] = 3.0
    out = extreme(a, cols, axis=1, center=0.5)
    assert out.shape == (4, cols)
    assert out.min() == pytest.approx(-0.9) and out.max() == pytest.approx(3.0)
    starts = (np.arange(cols) * 10_000) // cols
    bucket = np.searchsorted(starts, 7321, side="right") - 1
    assert out[2, bucket] == pytest.approx(-0.9)


def test_every_bucket_holds_its_value_furthest_from_zero_sign_kept():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 103))
    out = extreme(a, 10, axis=1)
    edges = (np.arange(11) * 103) // 10
    for k in range(10):
        block = a[:, edges[k]:edges[k + 1]]
        expected = block[np.arange(3), np.abs(block).argmax(axis=1)]
        np.testing.assert_array_equal(out[:, k], expected)


def test_nan_cells_are_ignored_unless_a_bucket_is_all_nan():
    a = np.array([[np.nan, 0.2, np.nan, np.nan, 0.1, -0.4]])
    np.testing.assert_array_equal(extreme(a, 3, axis=1), [[0.2, np.nan, -0.4]])


def test_rows_and_columns_shrink_together_and_a_fitting_array_is_untouched():
    a = np.zeros((512, 10_000), dtype=np.float32)
    a[300, 9999] = 1.0
    out = extreme_2d(a, 100, 800)
    assert out.shape == (100, 800) and out.max() == 1.0
    small = np.ones((4, 5))
    assert extreme_2d(small, 10, 10) is small


def _trace(hidden=6):
    session = Session(LSTMConfig(input_size=3, hidden_size=hidden), InputSpec(seq_len=40))
    return session.retrace()


@pytest.mark.parametrize("key", list(ORDERS))
def test_every_unit_order_is_a_permutation(key):
    order = unit_order(_trace(), key=key)
    assert sorted(order.tolist()) == list(range(6))


def test_timescale_order_sorts_units_by_mean_forget_gate():
    trace = _trace()
    mean_f = trace.gates[0, 0, :, :, 1].reshape(-1, 6).mean(dim=0)  # every step and sequence
    expected = torch.argsort(mean_f, descending=True, stable=True).tolist()
    assert unit_order(trace, key="timescale").tolist() == expected


def test_similarity_order_puts_correlated_units_side_by_side():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 500))
    # units 0, 2, 4 follow signal a; 1, 3, 5 follow signal b
    acts = np.stack([a, b, a + 0.01 * rng.normal(size=500), b, -a, b * 2], axis=1)
    order = similarity_order(acts).tolist()
    groups = [set(order[:3]), set(order[3:])]
    assert {0, 2, 4} in groups and {1, 3, 5} in groups


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match="unknown unit order 'size'"):
        unit_order(_trace(), key="size")
