"""Where lstm-viz's shipped data files are (demo models, sample inputs, icon, desktop entry).

``resources/`` installs as the package ``lstm_viz.resources`` (pyproject.toml), so
``importlib.resources`` finds it in a wheel, an editable install and a source checkout alike.
No torch, no Qt: the command line reads the icon and desktop entry from here.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_dir() -> Path:
    """The folder of lstm-viz's data files: the installed package ``lstm_viz.resources``, or
    ``resources/`` beside ``lstm_viz/`` in a source checkout that was never installed."""
    try:
        found = files("lstm_viz.resources")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "resources"
    # pip installs wheels unpacked, so this is a folder; a zipped install has no real paths
    # for torch.load and the training scripts, and is refused with the reason.
    if not isinstance(found, Path):
        raise RuntimeError(f"lstm-viz's data files must be on disk, not in {found}")
    return found


RESOURCES = resource_dir()
