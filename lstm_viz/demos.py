"""The demos that ship in ``resources/``: trained models with a sample input and a description.

``resources/demos.json`` lists them; ``list_demos()`` reads it and ``open_demo(session, name)``
loads the model and its input into a Session (no Qt). ``RESOURCES`` is found with
``importlib.resources`` (``lstm_viz.resource_files``), in a wheel as in a source checkout.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .formats.loader import LoadedModel, LSTMCandidate, load_into_session, load_model
from .inputs import InputSpec
from .resource_files import RESOURCES
from .text.textinput import tokens_spec

if TYPE_CHECKING:
    from .session import Session


DEMOS_FILE = RESOURCES / "demos.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoUnit:
    """A unit the demo's docs talk about: ``h[37]`` tracks brackets."""

    state: str  # "h" or "c"
    unit: int
    tracks: str = ""

    def __str__(self) -> str:
        return f"{self.state}[{self.unit}]" + (f": {self.tracks}" if self.tracks else "")


@dataclass(frozen=True)
class Demo:
    """One entry of demos.json; paths are absolute."""

    name: str
    title: str
    description: str
    model: Path
    lstm: str = ""
    input: dict = field(default_factory=dict, hash=False)
    select: dict = field(default_factory=dict, hash=False)
    view: str = ""
    units: tuple[DemoUnit, ...] = ()

    @property
    def focus(self) -> dict:
        """The selection to open with: ``select``, else the first documented unit."""
        if "unit" in self.select or not self.units:
            return dict(self.select)
        return {**self.select, "unit": self.units[0].unit}

    def available(self) -> bool:
        """True when the model file exists (run ``make demos`` to train it)."""
        return self.model.is_file()


def list_demos(path: Path | str = DEMOS_FILE) -> list[Demo]:
    """The demos described in ``path`` (``resources/demos.json``)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["demos"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the demo list {path}: {exc}") from None
    base = path.parent
    return [Demo(name=e["name"], title=e["title"], description=e["description"],
                 model=(base / e["model"]).resolve(), lstm=e.get("lstm", ""),
                 input=dict(e.get("input") or {}), select=dict(e.get("select") or {}),
                 view=e.get("view", ""), units=_units(e.get("units") or [], path))
            for e in entries]


def _units(entries: list, path: Path) -> tuple[DemoUnit, ...]:
    try:
        units = tuple(DemoUnit(str(u["state"]), int(u["unit"]), str(u.get("tracks", "")))
                      for u in entries)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the demo list {path} has a unit without a state and a number:"
                         f" {exc}") from None
    bad = [u for u in units if u.state not in ("h", "c") or u.unit < 0]
    if bad:
        raise ValueError(f"the demo list {path} names unit {bad[0]}; a unit is h or c and a"
                         " number >= 0")
    return units


def demo_for_model(model_source: dict | None, path: Path | str = DEMOS_FILE) -> Demo | None:
    """The demo whose model a session loaded (its ``model_source``), or None."""
    if not isinstance(model_source, dict) or not model_source.get("path"):
        return None
    try:
        model = Path(model_source["path"]).resolve()
        demos = list_demos(path)
    except (OSError, ValueError):
        return None
    return next((d for d in demos if d.model == model), None)


def demo_input(demo: Demo, loaded: LoadedModel, base: Path = RESOURCES) -> InputSpec:
    """The InputSpec of a demo's sample input."""
    inp = demo.input
    source = inp.get("source", "file")
    if source == "tokens":
        text = (base / inp["text_file"]).read_text(encoding="utf-8").replace("\t", "    ")
        if inp.get("max_chars"):
            text = text[: int(inp["max_chars"])]
        vocab_path = str((base / inp["vocab_file"]).resolve()) if inp.get("vocab_file") else ""
        return tokens_spec(text, vocab=None if vocab_path else loaded.vocab,
                           vocab_path=vocab_path, model_path=str(demo.model),
                           lstm=demo.lstm)
    if source == "file":
        return InputSpec(source="file", path=str((base / inp["path"]).resolve()))
    return InputSpec.from_dict(inp)


def open_demo(session: Session, name: str, path: Path | str = DEMOS_FILE
              ) -> tuple[Demo, LoadedModel, LSTMCandidate]:
    """Load demo ``name``'s model and sample input into ``session`` (not traced yet)."""
    demos = {d.name: d for d in list_demos(path)}
    if name not in demos:
        raise ValueError(f"no demo called {name!r}; demos: {', '.join(demos)}")
    demo = demos[name]
    if not demo.available():
        raise ValueError(f"the {demo.title} demo's model {demo.model.name} is missing;"
                         " run `make demos` to train it")
    loaded = load_model(demo.model)
    cand = loaded.pick(demo.lstm or None)
    spec = demo_input(demo, loaded, Path(path).parent)
    load_into_session(session, loaded, cand, input_spec=spec)
    session.seek(0)  # a demo starts at its beginning, wherever the last model was
    log.info("opened demo %s: %s, input %s", name, demo.model, spec.source)
    return demo, loaded, cand
