"""The status bar's truth badge: what the check found, where, and what it compared."""

from __future__ import annotations

import torch
from torch import nn

from lstm_viz import trace, verify


def _show(w, check):
    w.session.trace.meta["nn_lstm_max_abs_diff"] = check
    w.session.trace_changed.emit()
    return w.status_bar.truth_label


def test_the_badge_says_it_matches_and_its_tooltip_says_what_was_compared(make_window):
    w = make_window()
    label = w.status_bar.truth_label
    assert label.text().strip().startswith("✓ matches nn.LSTM")
    tip = label.toolTip()
    assert "gates i, f, g, o" in tip and "h_n and c_n" in tip
    assert "✓ c:" in tip and "✓ output:" in tip


def test_a_corrupted_trace_shows_differs_with_the_place(make_window):
    w = make_window()
    s = w.session
    tr = trace(s.lstm, s.input)
    tr.c[0, 0, 3, 0, 1] += 0.01
    label = _show(w, verify(s.lstm, s.input, tr))
    assert "⚠ differs from nn.LSTM" in label.text()
    assert "c at layer 0, direction 0, t 3, batch 0, unit 1" in label.text()
    assert "#c62828" in label.styleSheet()
    assert "✗ c:" in label.toolTip()


def test_a_chaotic_float32_run_shows_within_torchs_spread(make_window):
    w = make_window()
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 32).eval()
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(4.0 / p.std())
    x = torch.randn(2000, 1, 4)
    label = _show(w, verify(lstm, x, trace(lstm, x, method="loop")))
    assert "within torch's own float32 spread" in label.text()
    assert "#c62828" not in label.styleSheet()
    assert "nn.LSTM float32 vs float64" in label.toolTip()
