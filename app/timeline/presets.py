"""Preset track sets (the tabs show them) and the plain data a session and the settings keep
of every timeline: {view title: [track state, ...]}."""

from __future__ import annotations

from typing import Any

from .track import TrackState

#: view title -> the kinds it starts with, top to bottom
PRESETS: dict[str, list[str]] = {
    "States": ["input", "prediction", "loss", "c", "h", "units", "bars"],
    "Gates": ["input", "prediction", "loss", "i", "f", "g", "o"],
    "Influence": ["input", "grad_x", "grad_c", "grad_h", "grad_norms"],
    "What-if": ["input", "before:c", "after:c", "diff:c", "diff:prediction", "diff:loss"],
}


def preset(name: str) -> list[TrackState]:
    """The track states of preset ``name``; an unknown name is a ValueError naming the known."""
    if name not in PRESETS:
        raise ValueError(f"unknown timeline preset {name!r}; choose one of {', '.join(PRESETS)}")
    return [TrackState(kind) for kind in PRESETS[name]]


def states_to_data(states: list[TrackState]) -> list[dict[str, Any]]:
    """Track states as plain data (JSON)."""
    return [s.to_dict() for s in states]


def states_from_data(data: Any) -> list[TrackState]:
    """Track states from plain data; anything but a list of track mappings is a ValueError."""
    if not isinstance(data, list):
        raise ValueError(f"a timeline is a list of tracks (got {type(data).__name__})")
    return [TrackState.from_dict(item) for item in data]
