"""Small helpers over lstm_viz.Session that the GUI needs in more than one place."""

from __future__ import annotations


def call_sizes(session) -> tuple[int, int]:
    """(batch, seq_len) of the call nn.LSTM sees (a file source sets its own sizes)."""
    x = session.input_tm
    T, B = int(x.shape[0]), int(x.shape[1])
    lengths = session.input_spec.lengths
    if lengths and len(set(lengths)) == 1:
        T = min(T, int(lengths[0]))
    return B, T
