"""The timelines' track sets and heights as plain data, for session files (the view state's
"timelines") and the settings: {view title: [track state, ...]}."""

from __future__ import annotations

import json
from typing import Any

from lstm_viz.formats.sessionfile import timeline_layouts

from .presets import states_from_data, states_to_data
from .widget import Timeline


def timelines(panels: dict[str, Any]) -> dict[str, Timeline]:
    """The timelines of ``panels`` (title -> panel): a view's ``timeline``, or, for a view
    with a timeline on each of its pages, each of its ``timelines`` (page -> timeline) as
    "title: page"."""
    out: dict[str, Timeline] = {}
    for title, panel in panels.items():
        pages = getattr(panel, "timelines", None)
        if isinstance(pages, dict):
            out |= {f"{title}: {page}": t for page, t in pages.items()
                    if isinstance(t, Timeline)}
        elif isinstance(getattr(panel, "timeline", None), Timeline):
            out[title] = panel.timeline
    return out


def layouts(panels: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every timeline's tracks as plain data."""
    return {title: states_to_data(t.state()) for title, t in timelines(panels).items()}


def restore_layouts(panels: dict[str, Any], data: Any) -> str:
    """Show the tracks ``data`` names ({title: [track, ...]}; a view not named keeps its
    tracks); returns '' or a message saying what could not be read."""
    try:
        checked = timeline_layouts({"timelines": data})
        states = {title: states_from_data(tracks) for title, tracks in checked.items()}
    except ValueError as exc:
        return f"The saved timeline layout was not used: {exc}"
    shown = timelines(panels)
    for title, tracks in states.items():
        if title in shown:
            shown[title].set_tracks(tracks)
    return ""


def layouts_json(panels: dict[str, Any]) -> str:
    """``layouts`` as JSON text (what the settings keep)."""
    return json.dumps(layouts(panels))


def restore_layouts_json(panels: dict[str, Any], text: Any) -> str:
    """``restore_layouts`` from JSON text ('' or a message)."""
    if not text:
        return ""
    try:
        data = json.loads(str(text))
    except ValueError:
        return "The saved timeline layout was not used: the settings hold no JSON there"
    return restore_layouts(panels, data)
