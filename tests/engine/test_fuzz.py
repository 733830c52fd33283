"""Fuzzing the edge: random and mutated config / session JSON and session files either load or
raise a ValueError with one line (never another exception), and nothing on disk changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pickle_doubles import BuiltOnLoad, WriteMarker
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.sessionfile import load_session, save_session
from lstm_viz.inputs import InputSpec
from lstm_viz.session import Session
from lstm_viz.validate import parse_json

ROOT = Path(__file__).resolve().parents[2]
SMALL_BUDGET = 4 << 20  # bytes: whatever a mutated file asks for, nothing large is built
FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40),
    st.sampled_from([10**8, 10**9, 10**12, -(10**12), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["h", "c", "sine", "file", "float64", "cpu", "random"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=8), st.dictionaries(st.text(max_size=6), inner, max_size=6)),
    max_leaves=20)


def _base() -> dict:
    s = Session(LSTMConfig(3, 4, num_layers=2), InputSpec(source="sine", seq_len=5,
                                                          batch_size=2, params={"period": 4.0}))
    s.retrace()
    s.edit_input(1, 0, 2, 0.5)
    s.edit_state("c", 2, 1, 0, 1, 3, -1.0)
    return json.loads(json.dumps(s.to_dict()))


BASE = _base()
PATHS = [(k,) for k in BASE] + [("input", k) for k in BASE["input"]] + [
    ("input", "params", "period"), ("input", "params", "at"), ("edits", "inputs"),
    ("edits", "states"), ("edits", "inputs", 0), ("edits", "states", 0),
    ("edits", "inputs", 0, 3), ("edits", "states", 0, 2), ("edits", "states", 0, 6)]


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _loads_or_refuses(fn, *args, **kwargs):
    """Run ``fn``: it must return, or raise a ValueError whose message is one line."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, repr(msg)
        return None


@FAST
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1,
                          max_size=3),
       extra=st.dictionaries(st.text(max_size=6), json_values, max_size=2),
       dropped=st.lists(st.sampled_from(list(BASE)), max_size=2))
def test_mutated_session_dicts_load_or_raise_one_line_value_errors(mutations, extra, dropped):
    data = json.loads(json.dumps(BASE))
    for path, value in mutations:
        _set(data, path, value)
    data.update(extra)
    for key in dropped:
        data.pop(key, None)
    session = _loads_or_refuses(Session.from_dict, data, memory_budget=SMALL_BUDGET)
    if session is not None:
        _loads_or_refuses(session.retrace)


@FAST
@given(data=json_values)
def test_random_json_as_a_session_or_config_raises_only_value_errors(data):
    _loads_or_refuses(Session.from_dict, data, memory_budget=SMALL_BUDGET)
    if not isinstance(data, dict) or set(data) - set(LSTMConfig.__dataclass_fields__):
        with pytest.raises(ValueError):
            LSTMConfig.from_dict(data)
    else:
        _loads_or_refuses(LSTMConfig.from_dict, data)


@FAST
@given(depth=st.integers(1, 200_000), opener=st.sampled_from(["[", '{"a":', '[{"b":']))
def test_nesting_of_any_depth_parses_or_is_refused(depth, opener):
    closer = {"[": "]", '{"a":': "}", '[{"b":': "}]"}[opener]
    text = opener * depth + "1" + closer * depth
    _loads_or_refuses(parse_json, text, "deep.json")


@pytest.fixture(scope="module")
def saved_session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    s = Session(LSTMConfig(2, 3), InputSpec(seq_len=4, batch_size=1))
    s.retrace()
    s.edit_input(1, 0, 1, 2.0)
    path = save_session(folder / "s.lstmviz.json", s, selection={"layer": 0},
                        view={"tab": "Gates"}, embed_weights=True)
    return path.read_bytes()


@FAST
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      max_size=4),
       keep=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_session_files_load_or_raise_one_line_and_change_nothing(
        saved_session, flips, keep, monkeypatch):
    raw = bytearray(saved_session)
    for where, byte in flips:
        raw[int(where * len(raw))] = byte
    if keep is not None:
        raw = raw[: int(keep * len(raw))]
    with tempfile.TemporaryDirectory() as folder:
        monkeypatch.setenv("XDG_CACHE_HOME", str(Path(folder) / "cache"))
        path = Path(folder) / "s.lstmviz.json"
        bystander = Path(folder) / "other.json"
        path.write_bytes(bytes(raw))
        bystander.write_text("{}")
        _loads_or_refuses(load_session, path, memory_budget=SMALL_BUDGET)
        assert path.read_bytes() == bytes(raw) and bystander.read_text() == "{}"
        assert sorted(p.name for p in Path(folder).iterdir()
                      if p.name != "cache") == ["other.json", "s.lstmviz.json"]


SHAPES_ARGS = [
    ["--input-size", "3", "--hidden-size", "4", "--seq-len", "5"],
    ["--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--num-layers", "10**9"],
    ["--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--num-layers",
     "1000000000000"],
    ["--input-size", "3", "--hidden-size", "4", "--seq-len", "-5"],
    ["--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--dropout", "nan"],
    ["--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--proj-size", "4"],
]


def test_shapes_cli_on_mutated_configs_exits_0_or_2_with_one_stderr_line(tmp_path):
    codes = []
    for argv in SHAPES_ARGS:
        proc = subprocess.run([sys.executable, "-m", "lstm_viz", "shapes", *argv],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        codes.append(proc.returncode)
        assert proc.returncode in (0, 2), (argv, proc.stderr)
        if proc.returncode == 2:
            assert proc.stderr.count("\n") == 1 and proc.stdout == "", (argv, proc.stderr)
        else:
            assert "Traceback" not in proc.stderr and "total parameters" in proc.stdout
    assert codes == [0, 2, 2, 2, 2, 2]
    assert list(tmp_path.iterdir()) == []  # the CLI writes nothing


@pytest.fixture(scope="module")
def code_only_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("code_only")
    torch.save({"model": BuiltOnLoad(3, 4), "payload": WriteMarker(d / "marker")}, d / "m.pt")
    return d / "m.pt"


@FAST
@given(source=st.fixed_dictionaries(
    {"path": st.just("m.pt"), "kind": st.sampled_from(["pickle", "state_dict", "checkpoint"])},
    optional={"lstm": st.sampled_from(["", "['model'] <root>", "x"]),
              "sha256": st.sampled_from(["0" * 64, "nope"]), "extra": json_values}),
    weights=st.booleans(), mutations=st.lists(st.tuples(st.sampled_from(PATHS), json_values),
                                              max_size=2))
def test_a_session_file_never_unpickles_the_model_it_names(code_only_model, source, weights,
                                                            mutations):
    data = json.loads(json.dumps(BASE))
    data["input_size"], data["hidden_size"], data["num_layers"] = 3, 4, 1
    data["edits"] = {"inputs": [], "states": []}
    for path, value in mutations:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):
            pass
    data["model_source"] = source
    doc = {"format": "lstm-viz session", "format_version": 1, "session": data,
           "weights": None}
    if weights:
        doc["weights"] = {k: {"dtype": "float32", "shape": list(v.shape), "data": ""}
                          for k, v in nn.LSTM(3, 4).state_dict().items()}
    path = code_only_model.parent / "s.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    _loads_or_refuses(load_session, path, memory_budget=SMALL_BUDGET)
    assert not (code_only_model.parent / "marker").exists()
