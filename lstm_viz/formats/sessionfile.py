"""Save and reopen a whole session as one JSON file (``*.lstmviz.json``).

The file holds the session's settings (``Session.to_dict()``: config, input spec, seed, step,
what-if edits), where the model came from (``session.model_source``), the weights themselves
(base64 float data, unless the model is large and its file can be found again), the input data
of a file source, the GUI's selection and view state, and a format version. Paths are stored
relative to the session file when possible, so a folder of model + input + session can move.

``load_session`` refuses a file written by a newer lstm-viz, and any broken file, with a
ValueError that says what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import LSTMConfig
from ..session import Session
from ..text import textinput  # noqa: F401  (registers the "tokens" input source)
from ..validate import (
    check_ablations,
    check_edits,
    check_session_document,
    read_json_file,
    shown_path,
)
from .atomic import write_bytes, write_text
from .hashing import file_sha256
from .loader import Head, LSTMCandidate, PickleConsentNeeded, head_choices, load_model

FORMAT = "lstm-viz session"
FORMAT_VERSION = 1
EMBED_LIMIT = 20 * 1024 * 1024  # bytes of weights stored in the file by default


@dataclass
class SessionExtras:
    """What a session file holds beside the Session: GUI selection and view state.

    ``view`` may hold "timelines": {view title: [track, ...]}, each track plain data
    {"kind": str, "height": int pixels or None, "collapsed": bool, "scale": str, "options":
    {...}}: the tracks a timeline shows, top to bottom (see ``timeline_layouts``)."""

    selection: dict = field(default_factory=dict)
    view: dict = field(default_factory=dict)
    weights_from: str = ""  # "file" (embedded), "model file", or "seed"


TRACK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kind": str, "height": (int, type(None)), "collapsed": bool, "scale": str, "options": dict}


def timeline_layouts(view: dict) -> dict[str, list[dict]]:
    """The "timelines" of a session's view state, checked: {view title: [track, ...]} with each
    track a mapping of TRACK_FIELDS (only "kind" required). Raises ValueError naming the first
    thing that is wrong and where."""
    layouts = view.get("timelines", {}) if isinstance(view, dict) else None
    if not isinstance(layouts, dict):
        raise ValueError("view.timelines must map a view's title to its list of tracks")
    checked: dict[str, list[dict]] = {}
    for title, tracks in layouts.items():
        where = f"view.timelines[{title!r}]"
        if not isinstance(tracks, list):
            raise ValueError(f"{where} must be a list of tracks")
        out = []
        for k, track in enumerate(tracks):
            if not isinstance(track, dict) or not isinstance(track.get("kind"), str):
                raise ValueError(f"{where}[{k}] must be a mapping with a 'kind' string")
            for name, kinds in TRACK_FIELDS.items():
                value = track.get(name)
                if name in track and (not isinstance(value, kinds)
                                      or name == "height" and isinstance(value, bool)):
                    raise ValueError(f"{where}[{k}].{name} has the wrong type"
                                     f" ({type(value).__name__})")
            if isinstance(track.get("height"), int) and not 0 <= track["height"] <= 100_000:
                raise ValueError(f"{where}[{k}].height must be 0 to 100000 pixels"
                                 f" (got {track['height']})")
            out.append({name: track[name] for name in TRACK_FIELDS if name in track})
        checked[str(title)] = out
    return checked


# ----- helpers -------------------------------------------------------------------------------
def _tensor_to_json(t: torch.Tensor) -> dict:
    a = t.detach().cpu().contiguous().numpy()
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _tensor_from_json(d: Any, name: str) -> torch.Tensor:
    try:
        dtype = np.dtype(d["dtype"])
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype {dtype} is not float32/float64")
        raw = base64.b64decode(d["data"], validate=True)
        arr = np.frombuffer(raw, dtype=dtype).reshape([int(s) for s in d["shape"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"broken session file: tensor {name!r} cannot be read ({exc})") from None
    return torch.from_numpy(arr.copy())


def _resolve(p: Path) -> Path:
    """``p`` with its symlinks resolved where that is possible (a symlink loop or a name too
    long stays as written: opening it later says what is wrong)."""
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return Path(os.path.abspath(p))


def _rel(path: str, base: Path) -> str:
    """``path`` relative to ``base`` (posix) when it shares a root, else absolute."""
    if not path:
        return path
    p = _resolve(Path(path))
    try:
        return Path(os.path.relpath(p, _resolve(base))).as_posix()
    except ValueError:  # another drive on Windows
        return str(p)


def _abs(path: str, base: Path) -> str:
    if not path:
        return path
    p = Path(path)
    return str(p if p.is_absolute() else _resolve(base / p))


def _map_paths(d: dict, fn: Callable[[str], str]) -> dict:
    """A copy of a Session.to_dict() with input/model paths passed through ``fn``."""
    d = json.loads(json.dumps(d))
    inp = d.get("input")
    inp = inp if isinstance(inp, dict) else {}
    params = inp.get("params")
    params = params if isinstance(params, dict) else {}
    src = d.get("model_source")
    src = src if isinstance(src, dict) else {}
    for holder, key in ((inp, "path"), (params, "model_path"), (params, "vocab_path"),
                        (src, "path")):
        if holder.get(key) and isinstance(holder[key], str):
            holder[key] = fn(holder[key])
    return d


def resolve_paths(data: dict, folder: str | os.PathLike[str]) -> dict:
    """A copy of a session dict (``Session.to_dict()`` or a ``--config`` file) whose relative
    input, vocabulary and model paths are read from ``folder`` (the file's own folder)."""
    base = _resolve(Path(folder))
    return _map_paths(data, lambda p: _abs(p, base)) if isinstance(data, dict) else data


def _file_problem(path: str) -> str:
    """Why ``path`` cannot be opened as a file ('' when it can)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:  # a symlink loop, a name too long
        return f"cannot be opened ({exc.strerror or type(exc).__name__})"
    return "" if stat.S_ISREG(mode) else "is not a regular file"


# ----- saving ----------------------------------------------------------------------------------
def save_session(path: str | os.PathLike[str], session: Session, *, selection: dict | None = None,
                 view: dict | None = None, embed_weights: bool | None = None) -> Path:
    """Write ``session`` to ``path``; returns the path written.

    embed_weights: store the LSTM's weights in the file (default: when they are under 20 MB or
    the model did not come from a file). A model from a file is also stored by reference
    (path and SHA-256).
    """
    path = Path(path)
    base = _resolve(path).parent
    data = session.to_dict()
    source = session.model_source if isinstance(session.model_source, dict) else None
    sd = session.lstm.state_dict()
    nbytes = sum(t.numel() * t.element_size() for t in sd.values())
    if embed_weights is None:
        embed_weights = nbytes <= EMBED_LIMIT or not (source and source.get("path"))
    if source and source.get("path") and Path(source["path"]).is_file() \
            and "sha256" not in source:
        source = {**source, "sha256": file_sha256(source["path"])}
        data["model_source"] = source
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "session": _map_paths(data, lambda p: _rel(p, base)),
        "weights": {k: _tensor_to_json(v) for k, v in sd.items()} if embed_weights else None,
        "input_data": None,
        "selection": dict(selection or {}),
        "view": dict(view or {}),
    }
    spec = session.input_spec
    if spec.source == "file" and spec.path and Path(spec.path).is_file() \
            and Path(spec.path).stat().st_size <= EMBED_LIMIT:
        doc["input_data"] = {"name": Path(spec.path).name,
                             "sha256": file_sha256(spec.path),
                             "data": base64.b64encode(Path(spec.path).read_bytes())
                             .decode("ascii")}
    try:
        text = json.dumps(doc, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the session cannot be saved: {exc} (selection and view must be"
                         " plain JSON data)") from None
    return write_text(path, text)


# ----- loading ---------------------------------------------------------------------------------
def read_session_file(path: str | os.PathLike[str], memory_budget: int | None = None) -> dict:
    """The parsed and checked JSON document of a session file (ValueError if unusable).

    Only a regular file of bounded size is read; every field is checked (``validate``) before
    anything is built, with ``memory_budget`` (bytes) bounding the LSTM's size."""
    path = Path(path)
    doc = read_json_file(path, "session file")
    if isinstance(doc, dict) and "format" not in doc and "input_size" in doc \
            and "hidden_size" in doc:
        # A bare Session.to_dict() (File > Save session, --config): settings only, no weights.
        doc = {"format": FORMAT, "format_version": 1, "session": doc, "weights": None}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path.name} is not an lstm-viz session file (expected a JSON object"
                         f" with \"format\": \"{FORMAT}\")")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path.name} is broken: format_version must be a positive integer"
                         f" (got {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path.name} was written by a newer lstm-viz (session format"
                         f" {version}; this version reads format {FORMAT_VERSION} and older)."
                         " Update lstm-viz to open it.")
    if not isinstance(doc.get("session"), dict):
        raise ValueError(f"{path.name} is broken: it has no \"session\" object")
    try:
        check_session_document(doc, memory_budget)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    return doc


def _restore_input(doc: dict, data: dict, path: Path) -> None:
    """Point a file input at the file, or at a cached copy of the data stored in the session."""
    inp = data.get("input") or {}
    if inp.get("source") != "file" or not inp.get("path"):
        return
    problem = _file_problem(inp["path"])
    if not problem:
        return
    stored = doc.get("input_data")
    if not stored:
        raise ValueError(f"{path.name}: the input file {shown_path(inp['path'])} {problem} and"
                         " the session does not contain its data")
    from platformdirs import user_cache_dir
    try:
        raw = base64.b64decode(stored["data"], validate=True)
        name = Path(stored["name"]).name
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path.name} is broken: stored input data unreadable ({exc})") from None
    root = Path(user_cache_dir("lstm-viz"))
    cache = root / "session-inputs" / hashlib.sha256(raw).hexdigest()
    # lstm-viz's cache is private to the user, whatever the umask (the compiled loop trusts
    # only a cache no one else may write)
    root.parent.mkdir(parents=True, exist_ok=True)
    for level in (root, cache.parent, cache):
        level.mkdir(mode=0o700, exist_ok=True)
    write_bytes(cache / name, raw)
    inp["path"] = str(cache / name)


def _candidate_from_model_file(src: dict, trusted_models: Collection, name: str,
                               memory_budget: int | None = None) -> LSTMCandidate:
    mpath = src.get("path", "")
    problem = _file_problem(mpath)
    if problem:
        raise ValueError(f"{name}: the model file {shown_path(mpath)} {problem} and the session"
                         " does not contain the weights")
    if src.get("sha256") and file_sha256(mpath) != src["sha256"]:
        raise ValueError(f"{name}: the model file {mpath} has changed since the session was"
                         " saved (its SHA-256 differs) and the session does not contain the"
                         " weights")
    allow = _resolve(Path(mpath)) in {_resolve(Path(p)) for p in trusted_models}
    try:
        loaded = load_model(mpath, allow_pickle=allow, memory_budget=memory_budget)
    except PickleConsentNeeded:
        raise PickleConsentNeeded(
            f"{name}: its model file {mpath} holds a pickled Python object whose weights can"
            " only be read by running code stored in that file; a session file cannot allow"
            " that: open the model itself, and agree, to trust it", mpath) from None
    return loaded.pick(src.get("lstm") or None)


def _paired_head(cand: LSTMCandidate, src: dict) -> tuple[Head | None, dict[str, Head]]:
    """The head a session records for its model (``model_source["head"]``: a name, or None
    for none chosen), else the file's own pairing; and every head that could be chosen."""
    choices = head_choices(cand)
    if "head" in src:
        chosen = src["head"]
        return (choices.get(chosen) if isinstance(chosen, str) else None), choices
    return cand.head, choices


def _check_weight_shapes(state: dict, lstm: torch.nn.LSTM, config: LSTMConfig, name: str
                         ) -> None:
    """ValueError naming the first stored weight that is missing, extra or of the wrong shape
    for ``config``'s nn.LSTM."""
    expected = {k: tuple(v.shape) for k, v in lstm.state_dict().items()}
    problem = ""
    for key, shape in expected.items():
        if key not in state:
            problem = f"{key!r} is missing"
        elif tuple(state[key].shape) != shape:
            problem = f"{key!r} has shape {tuple(state[key].shape)}, it needs {shape}"
        if problem:
            break
    extra = sorted(set(state) - set(expected))
    if not problem and extra:
        problem = f"{', '.join(map(repr, extra[:4]))} has no place in it"
    if problem:
        raise ValueError(f"{name}: the stored weights do not fit the stored config {config}:"
                         f" {problem}")


def load_session(path: str | os.PathLike[str], *, trusted_models: Collection = (),
                 device: str | None = None, memory_budget: int | None = None, trace: bool = True
                 ) -> tuple[Session, SessionExtras]:
    """Rebuild the session saved in ``path``, at its saved step, with its edits; traced unless
    ``trace`` is False (a caller that traces it its own way, e.g. on a worker, once).

    Returns the Session and the ``SessionExtras`` (selection, view). The model file a session
    names is read without running code stored in it, unless it is one of ``trusted_models``
    (paths the user, not a file, agreed to unpickle in this run); a model that needs it raises
    ``lstm_viz.formats.loader.PickleConsentNeeded``. ``memory_budget`` (bytes) is the caller's; a
    file cannot set one.
    """
    path = Path(path)
    doc = read_session_file(path, memory_budget)
    data = resolve_paths(doc["session"], _resolve(path).parent)
    _restore_input(doc, data, path)
    edits = data.pop("edits", None) or {}
    step = data.pop("step", 0)
    source = data.get("model_source")
    try:
        session = Session.from_dict(data, device=device, memory_budget=memory_budget)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"{path.name} is broken: {exc}") from None

    extras = SessionExtras(selection=dict(doc.get("selection") or {}),
                           view=dict(doc.get("view") or {}))
    cand = None
    if doc.get("weights"):
        state = {k: _tensor_from_json(v, k) for k, v in doc["weights"].items()}
        extras.weights_from = "file"
        if isinstance(source, dict) and source.get("path"):
            try:  # the model file, when it is there unchanged, still gives the output head
                cand = _candidate_from_model_file(source, trusted_models, path.name,
                                                  memory_budget)
            except (ValueError, OSError):
                cand = None
    elif isinstance(source, dict) and source.get("path"):
        cand = _candidate_from_model_file(source, trusted_models, path.name, memory_budget)
        state = cand.state_dict
        extras.weights_from = "model file"
    else:
        state = None
        extras.weights_from = "seed"
    if state is not None:
        lstm = session.config.build(dtype=next(iter(state.values())).dtype)
        _check_weight_shapes(state, lstm, session.config, path.name)
        try:
            lstm.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path.name}: the stored weights do not fit the stored config"
                             f" {session.config}: {str(exc).splitlines()[0]}") from None
        head, choices = _paired_head(cand, source) if cand is not None and \
            isinstance(source, dict) else (None, {})
        session.load_module(lstm, source=source if isinstance(source, dict) else None,
                            head=head, head_choices=choices,
                            pairing_notes=cand.pairing_notes if cand is not None else ())
    T, B, _ = session.input_tm.shape
    try:
        input_edits, state_edits = check_edits(edits, session.config, T, B,
                                               session.input_spec.lengths, "session.edits")
        ablations = check_ablations(edits, session.config, T, B, session.input_spec.lengths,
                                    "session.edits")
    except ValueError as exc:
        raise ValueError(f"{path.name}: a what-if edit cannot be replayed: {exc}") from None
    if trace:
        session.retrace()
    for t, b, feature, value in input_edits:
        session.edit_input(t, b, feature, value, rerun=False)
    for kind, t, layer, direction, b, unit, value in state_edits:
        session.edit_state(kind, t, layer, direction, b, unit, value, rerun=False)
    for ablation in ablations:
        session.ablate(ablation, rerun=False)
    if trace and (input_edits or state_edits or ablations):
        session.retrace()
    session.seek(step)
    return session, extras
