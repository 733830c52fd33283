"""Small helpers over lstm_viz.Session that the GUI needs in more than one place."""

from __future__ import annotations

from lstm_viz import Session


def call_sizes(session) -> tuple[int, int]:
    """(batch, seq_len) of the call nn.LSTM sees (a file source sets its own sizes)."""
    x = session.input_tm
    T, B = int(x.shape[0]), int(x.shape[1])
    lengths = session.input_spec.lengths
    if lengths and len(set(lengths)) == 1:
        T = min(T, int(lengths[0]))
    return B, T


def apply_session_dict(session, data: dict) -> None:
    """Make ``session`` match a session JSON dict (config, input, weight seed, device, step).

    Everything is validated first (ValueError, nothing changes) by building a new Session.
    """
    new = Session.from_dict(data)
    if str(new.device) != str(session.device):
        session.set_device(str(new.device))
    if new.config != session.config:
        session.set_config(new.config)
    if new.input_spec != session.input_spec:
        session.set_input(new.input_spec)
    if new.seed != session.seed:
        session.reinitialize(new.seed)
    session.retrace()
    session.seek(int(data.get("step", 0)))
