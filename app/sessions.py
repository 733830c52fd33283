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


def ended_text(lengths, batch: int, t: int) -> str:
    """'sequence 2 ended at t = 4' when step ``t`` is past batch element ``batch``'s length
    (``lengths``: one per batch element), else ''."""
    if lengths is None or not 0 <= batch < len(lengths):
        return ""
    n = int(lengths[batch])
    return f"sequence {batch} ended at t = {n - 1}" if t >= n else ""


def sequence_end(lengths, batch: int, steps: int) -> tuple[int | None, str]:
    """Where batch element ``batch`` ends among ``steps`` input positions, for hatching what
    follows: (its length, or None without lengths; why the steps after it are blank, '' when
    it runs to the last step)."""
    end = int(lengths[batch]) if lengths is not None else None
    return end, ended_text(lengths, batch, steps - 1)
