"""Files and flags from outside: every bad value is a one-line ValueError before anything is
built, reading never hangs, and a failed write leaves the old file as it was."""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_viz.config import LSTMConfig
from lstm_viz.formats import atomic, export
from lstm_viz.formats.sessionfile import load_session, save_session
from lstm_viz.inputs import InputSpec, load_array
from lstm_viz.session import Session
from lstm_viz.validate import json_depth, parameter_count, read_json_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _session_dict(**changes) -> dict:
    s = Session(LSTMConfig(3, 4, num_layers=2), InputSpec(seq_len=5, batch_size=2, seed=1))
    data = json.loads(json.dumps(s.to_dict()))
    data.update(changes)
    return data


def _write(tmp_path, data, name="s.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@contextlib.contextmanager
def _within(seconds: int):
    """Fail (instead of hanging) when the body runs longer than ``seconds``."""
    def _alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg
    return msg


# ----- JSON structure -------------------------------------------------------------------------
def test_json_nested_100000_deep_is_refused_without_recursion_error(tmp_path):
    path = _write(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nests 100000 levels deep") as exc:
        load_session(path)
    _one_line(exc)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = _write(tmp_path, json.dumps({"a": "[[[[" * 1000 + '\\"' + "{" * 500}))
    assert read_json_file(path)["a"].startswith("[[[[")


@pytest.mark.parametrize("field, value, message", [
    ("step", math.inf, "step must be an integer >= 0 (got Infinity)"),
    ("step", math.nan, "step must be an integer >= 0 (got NaN)"),
    ("seed", -math.inf, "seed must be an integer (got -Infinity)"),
    ("dropout", math.nan, "dropout must be a finite number in [0.0, 1.0] (got NaN)"),
    ("seq_len", math.inf, "seq_len must be an integer >= 1 (got Infinity)"),
])
def test_non_finite_numbers_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        Session.from_dict(_session_dict(**{field: value}))


def test_infinite_lengths_are_refused():
    data = _session_dict()
    data["input"]["lengths"] = [5, math.inf]
    with pytest.raises(ValueError, match=r"input.lengths\[1\] must be an integer >= 1"):
        Session.from_dict(data)


@pytest.mark.parametrize("params, message", [
    ({"period": math.inf}, "input.params.period must be a finite number > 0 (got Infinity)"),
    ({"period": math.nan}, "input.params.period must be a finite number > 0 (got NaN)"),
    ({"at": math.inf}, "input.params.at must be an integer (got Infinity)"),
    ({"peroid": 3}, "unknown input.params field(s): peroid"),
])
def test_source_parameters_must_be_finite_and_known(params, message):
    data = _session_dict()
    data["input"].update(source="sine", params=params)
    with pytest.raises(ValueError) as exc:
        Session.from_dict(data)
    assert _one_line(exc).startswith(message)


@pytest.mark.parametrize("field, value", [
    ("edits", [[0, 0, 0, 1.0]]), ("edits", "none"), ("model_source", ["a.pt"]),
    ("input", "random"),
])
def test_a_list_or_string_where_an_object_is_expected_is_refused(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a JSON object"):
        Session.from_dict(_session_dict(**{field: value}))


def test_params_given_as_a_string_is_refused():
    data = _session_dict()
    data["input"].update(source="sine", params="period=3")
    with pytest.raises(ValueError, match="input.params must be a JSON object"):
        Session.from_dict(data)


@pytest.mark.parametrize("key, value", [
    ("weights", ["weight_ih_l0"]), ("selection", [1, 2]), ("view", "Gates"),
])
def test_session_file_parts_of_the_wrong_kind_are_refused(tmp_path, key, value):
    s = Session(LSTMConfig(3, 4), InputSpec(seq_len=5, batch_size=2))
    path = save_session(tmp_path / "s.lstmviz.json", s)
    doc = json.loads(path.read_text())
    doc[key] = value
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f"{key} must be a JSON object") as exc:
        load_session(path)
    _one_line(exc)


def test_a_weight_with_a_negative_shape_is_refused(tmp_path):
    s = Session(LSTMConfig(3, 4), InputSpec(seq_len=5, batch_size=2))
    path = save_session(tmp_path / "s.lstmviz.json", s, embed_weights=True)
    doc = json.loads(path.read_text())
    doc["weights"]["bias_ih_l0"]["shape"] = [-16]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"weights.bias_ih_l0.shape\[0\] must be an integer"):
        load_session(path)


# ----- what-if edits --------------------------------------------------------------------------
@pytest.mark.parametrize("edits, message", [
    ({"inputs": [[0, 0, 1]]}, r"edits.inputs\[0\] must be a list of 4 values \[t, batch, feature,"
                              r" value\] \(got 3 values\)"),
    ({"inputs": [[9, 0, 0, 1.0]]}, r"edits.inputs\[0\]: t=9 is outside the 5 steps"),
    ({"inputs": [[0, 0, 0, math.nan]]}, r"edits.inputs\[0\] value must be a finite number"),
    ({"states": [["h", 0, 7, 0, 0, 0, 1.0]]},
     r"edits.states\[0\]: layer=7 is outside the 2 layers \(allowed: 0 to 1\)"),
    ({"states": [["c", 0, 1, 0, 0, 0, math.nan]]},
     r"edits.states\[0\] value must be a finite number \(got NaN\)"),
    ({"states": [["h", 0, 0, 1, 0, 0, 1.0]]}, r"direction=1 is outside the 1 directions"),
    ({"states": [["x", 0, 0, 0, 0, 0, 1.0]]}, r"kind must be one of h, c"),
])
def test_what_if_edits_outside_the_lstm_or_not_finite_are_refused(edits, message):
    with pytest.raises(ValueError, match=message) as exc:
        Session.from_dict(_session_dict(edits=edits))
    _one_line(exc)


def test_edits_in_a_session_file_are_checked_before_they_are_replayed(tmp_path):
    s = Session(LSTMConfig(3, 4, num_layers=2), InputSpec(seq_len=5, batch_size=2))
    s.retrace()
    s.edit_state("h", 1, 1, 0, 0, 0, 0.5)
    path = save_session(tmp_path / "s.lstmviz.json", s)
    doc = json.loads(path.read_text())
    doc["session"]["edits"]["states"][0][6] = float("nan")
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="value must be a finite number"):
        load_session(path)
    doc["session"]["edits"]["states"][0][2] = 7
    doc["session"]["edits"]["states"][0][6] = 0.5
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="layer=7 is outside the 2 layers"):
        load_session(path)


def test_edits_past_a_packed_sequence_are_refused():
    data = _session_dict(edits={"inputs": [[4, 1, 0, 1.0]]})
    data["input"]["lengths"] = [5, 3]
    with pytest.raises(ValueError, match="t=4 is past the end of sequence 1, which has 3"):
        Session.from_dict(data)


def test_valid_edits_from_a_dict_change_the_trace_like_edits_made_by_hand():
    data = _session_dict(edits={"inputs": [[2, 1, 0, 3.0]],
                                "states": [["c", 1, 1, 0, 0, 2, -1.5]]})
    s = Session.from_dict(data)
    s.retrace()
    ref = Session.from_dict(_session_dict())
    ref.edit_input(2, 1, 0, 3.0)
    ref.edit_state("c", 1, 1, 0, 0, 2, -1.5)
    torch.testing.assert_close(s.trace.h, ref.trace.h, equal_nan=True)


@pytest.mark.parametrize("edits, message", [
    ({"inputs": [[0, 0, 0, 1.0]] * 31},
     r"edits.inputs has 31 edits but the input holds 30 values \(seq_len=5 x batch=2 x"
     r" input_size=3\)"),
    ({"states": [["h", 0, 0, 0, 0, 0, 1.0]] * 161},
     r"edits.states has 161 edits but the LSTM holds 160 values of h and c \(seq_len=5 x"
     r" num_layers=2 x directions=1 x batch=2 x 8 units\)"),
    ({"ablations": [["h", 0, 0, 0, [0, 1, 2], 0.0, 0, None]] * 66_667},
     r"edits set 1,000,005 values of the run .* more than the 1,000,000 one run may set"),
    ({"ablations": [["c", 1, 0, 1, [2, 0, 2], 0.0, 0, None]]},
     r"edits.ablations\[0\]: unit 2 is named more than once"),
    ({"ablations": [["h", 0, 0, 0, [0] * 100_000, 0.0, 0, None]]},
     r"edits.ablations\[0\]: unit 0 is named more than once"),
])
def test_edits_and_ablations_beyond_what_the_lstm_holds_are_refused_before_it_is_built(
        monkeypatch, edits, message):
    data = _session_dict(edits=edits)

    def built(self):
        raise AssertionError("an LSTM was built for a session that must be refused")
    if "named more than once" not in message:  # counts: known from the file alone
        monkeypatch.setattr(Session, "_build", built)
    with pytest.raises(ValueError, match=message) as exc:
        Session.from_dict(data)
    _one_line(exc)


def test_as_many_edits_as_the_input_holds_are_accepted():
    edits = {"inputs": [[t, b, f, 0.5] for t in range(5) for b in range(2) for f in range(3)]}
    s = Session.from_dict(_session_dict(edits=edits))
    assert len(s.edits.inputs) == 30


@pytest.mark.parametrize("kind, value", [("inputs", 1e308), ("inputs", -3.5e38),
                                         ("states", 1e39)])
def test_an_edit_past_what_float32_holds_is_refused_by_name(kind, value):
    edit = [0, 1, 2, value] if kind == "inputs" else ["c", 0, 1, 0, 1, 3, value]
    with pytest.raises(ValueError, match=rf"edits.{kind}\[0\] value must be a finite number in"
                       r" \[-3.4e38, 3.4e38\] \(what float32 holds\)") as exc:
        Session.from_dict(_session_dict(edits={kind: [edit]}))
    _one_line(exc)
    edit[-1] = 3.4e38  # the largest still fits
    Session.from_dict(_session_dict(edits={kind: [edit]}))


@pytest.mark.parametrize("field, value, message", [
    ("hidden_size", 2**70, r"hidden_size must be an integer >= 1 that fits in 64 bits \(got an"
                           r" integer of 71 bits\)"),
    ("seed", 2**80, r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\] \(got an integer"
                    r" of 81 bits\)"),
    ("seed", -(2**63) - 1, r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\]"),
    ("step", 2**64, r"step must be an integer >= 0 that fits in 64 bits"),
])
def test_integers_past_64_bits_are_refused_by_name(tmp_path, field, value, message):
    path = _write(tmp_path, _session_dict(**{field: value}))
    with pytest.raises(ValueError, match=message) as exc:
        load_session(path)
    _one_line(exc)


def test_the_largest_seed_torch_takes_is_accepted():
    s = Session.from_dict(_session_dict(seed=2**64 - 1))
    assert s.seed == 2**64 - 1


def test_a_vocabulary_of_millions_of_tokens_in_a_session_is_refused_in_seconds(tmp_path):
    data = _session_dict(input={"source": "tokens", "seq_len": 5, "batch_size": 1, "text": "ab",
                                "params": {"vocab": ["x"] * 3_000_000}})
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=r"vocab must be a string or a list of strings \(at"
                       r" most 1,000,000 tokens\) \(got a list of 3000000\)") as exc:
        load_session(path)
    _one_line(exc)


@pytest.mark.parametrize("text", [
    '{"a": "[[[[\\\\"}', '["\\"[[[", [[1]]]', '{"k\\\\": [["\\\\\\"]"]]}',
    '[' * 40 + ']' * 40, '"' + '\\\\' * 7 + '"',
])
def test_json_depth_skips_strings_and_escapes_across_chunk_boundaries(text):
    raw = text.encode()
    json.loads(raw)  # each case is valid JSON
    expected = _depth(json.loads(raw))
    assert {json_depth(raw, chunk=n) for n in (1, 2, 3, 5, 1 << 20)} == {expected}


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# ----- sizes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("num_layers", [10**8, 10**9, 10**12])
def test_huge_num_layers_in_a_config_file_is_refused_at_once(tmp_path, num_layers):
    path = _write(tmp_path, _session_dict(num_layers=num_layers))
    with _within(5), pytest.raises(ValueError, match="num_layers must be an integer in"
                                                     r" \[1, 10000\]"):
        load_session(path)


def test_an_lstm_over_the_budget_is_refused_by_arithmetic():
    data = _session_dict(num_layers=4000, hidden_size=300)
    with _within(5), pytest.raises(ValueError, match="over the memory budget"):
        Session.from_dict(data)


@pytest.mark.parametrize("kw", [
    dict(input_size=3, hidden_size=4), dict(input_size=2, hidden_size=5, num_layers=3),
    dict(input_size=3, hidden_size=6, num_layers=2, bidirectional=True, proj_size=2),
    dict(input_size=1, hidden_size=3, num_layers=2, bias=False, bidirectional=True),
])
def test_closed_form_parameter_count_matches_nn_lstm(kw):
    lstm = LSTMConfig(**kw).build()
    assert parameter_count(kw) == sum(p.numel() for p in lstm.parameters())


@pytest.mark.parametrize("num_layers", ["100000000", "1000000000", "1000000000000"])
def test_shapes_cli_refuses_huge_num_layers_in_one_line(num_layers):
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_viz", "shapes", "--input-size", "3", "--hidden-size", "4",
         "--seq-len", "5", "--num-layers", num_layers],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "--num-layers must be an integer in [1, 10000]" in proc.stderr


def test_lengths_must_be_whole_numbers():
    with pytest.raises(ValueError, match=r"lengths must be whole numbers of steps \(got 2.7\)"):
        InputSpec(seq_len=5, batch_size=2, lengths=(5, 2.7))
    data = _session_dict()
    data["input"]["lengths"] = [5, 2.7]
    with pytest.raises(ValueError, match=r"input.lengths\[1\] must be an integer >= 1"):
        Session.from_dict(data)


# ----- the memory budget is the user's --------------------------------------------------------
def test_memory_budget_in_a_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="memory_budget cannot be set in a file.*Session\\(memory"):
        Session.from_dict(_session_dict(memory_budget=10**15))
    path = _write(tmp_path, _session_dict(memory_budget=10**15))
    with pytest.raises(ValueError, match="memory_budget cannot be set in a file"):
        load_session(path)


def test_the_callers_budget_bounds_a_session_from_a_file(tmp_path):
    path = _write(tmp_path, _session_dict(hidden_size=64))
    with pytest.raises(ValueError, match="memory budget"):
        load_session(path, memory_budget=10_000)
    assert load_session(path)[0].config.hidden_size == 64


# ----- only regular files are read ------------------------------------------------------------
def test_dev_zero_is_refused_at_once():
    with _within(5), pytest.raises(ValueError, match="/dev/zero is a device"):
        load_session("/dev/zero")


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with _within(5), pytest.raises(ValueError, match="named pipe"):
        load_session(fifo)
    npy = tmp_path / "pipe.npy"
    os.mkfifo(npy)
    with _within(5), pytest.raises(ValueError, match="named pipe"):
        load_array(npy)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from lstm_viz import validate
    monkeypatch.setattr(validate, "MAX_JSON_BYTES", 100)
    path = _write(tmp_path, _session_dict())
    with pytest.raises(ValueError, match="a session file may be at most 100 bytes"):
        read_json_file(path)


# ----- input arrays ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 2, 3), (5, 0, 3), (0, 3)])
def test_npy_input_with_no_timesteps_or_no_batch_is_refused(tmp_path, shape):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    spec = InputSpec(source="file", path=str(tmp_path / "x.npy"))
    with pytest.raises(ValueError, match="dimension of size 0"):
        Session(LSTMConfig(3, 4), spec)


def test_nan_and_inf_inputs_are_kept_with_a_warning_that_counts_them(tmp_path):
    x = np.zeros((6, 3), np.float32)
    x[1, 0] = x[2, 2] = x[4, 1] = np.nan
    x[5, 0] = np.inf
    np.save(tmp_path / "x.npy", x)
    with pytest.warns(UserWarning, match="3 NaN and 1 infinite values in the input x.npy;"
                                         " the trace will carry them"):
        arr = load_array(tmp_path / "x.npy")
    assert np.isnan(arr).sum() == 3 and np.isinf(arr).sum() == 1
    (tmp_path / "y.csv").write_text("a,b\n1,nan\n2,3\n")
    with pytest.warns(UserWarning, match="1 NaN values in the input y.csv"):
        load_array(tmp_path / "y.csv")


def test_float64_values_beyond_float32_are_refused(tmp_path):
    x = np.ones((4, 3))
    x[2, 1] = 1e300
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ValueError, match=r"1 value\(s\) beyond float32's range.*1e\+300"):
        load_array(tmp_path / "x.npy")
    (tmp_path / "x.csv").write_text("1,2\n-1e40,3\n")
    with pytest.raises(ValueError, match="beyond float32's range"):
        load_array(tmp_path / "x.csv")


def test_complex_inputs_are_refused_by_name(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((4, 3), np.complex64) * (1 + 2j))
    with pytest.raises(ValueError, match=r"holds complex numbers \(complex64\)"):
        load_array(tmp_path / "x.npy")
    from lstm_viz.inputs import array_to_input
    with pytest.raises(ValueError, match="complex"):
        array_to_input(np.ones((4, 3), np.complex128), 3)


class _Marker:
    """Unpickling this object would create a marker file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "ran"
    arr = np.empty(2, dtype=object)
    arr[0] = _Marker(marker)
    arr[1] = 1.0
    np.save(tmp_path / "x.npy", arr, allow_pickle=True)
    with pytest.raises(ValueError, match=r"holds Python objects \(object\), which are never"
                                         " unpickled"):
        load_array(tmp_path / "x.npy")
    assert not marker.exists()


# ----- atomic writes --------------------------------------------------------------------------
class _FullDiskFile:
    """A file whose writes fail with ENOSPC once ``room`` bytes have gone through."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, data):
        if len(data) > self._room:
            self._fh.write(data[: self._room])
            self._fh.flush()
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __iter__(self):
        return iter(self._fh)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Every file opened for writing from now on runs out of space after 64 bytes."""
    real_open = io.open

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return _FullDiskFile(fh, 64) if any(c in mode for c in "wax+") else fh

    def enable():
        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(builtins, "open", fake_open)
    return enable


def _traced() -> Session:
    s = Session(LSTMConfig(3, 4), InputSpec(seq_len=6, batch_size=2))
    s.retrace()
    return s


@pytest.mark.parametrize("write", [
    lambda s, p: export.save_config_json(s, p),
    lambda s, p: export.save_npz(s, p),
    lambda s, p: export.write_csv(p, *export.gates_table(s, 0, 0, 0)),
    lambda s, p: save_session(p, s),
])
def test_a_write_on_a_full_disk_leaves_the_old_file_byte_identical(tmp_path, full_disk, write):
    s = _traced()
    folder = tmp_path / "out"  # apart from the cache that tracing makes in tmp_path
    folder.mkdir()
    target = folder / "out.dat"
    write(s, target)
    before = target.read_bytes()
    s.seek(3)
    s.reinitialize(5)
    s.retrace()
    full_disk()
    with pytest.raises(OSError, match=f"could not write {target}: No space left on device"):
        write(s, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["out.dat"]  # no temporary left


def test_a_new_file_written_atomically_gets_the_usual_permissions(tmp_path):
    s = _traced()
    path = export.save_config_json(s, tmp_path / "session.json")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert json.loads(path.read_text())["hidden_size"] == 4


def _folder(tmp_path: Path) -> Path:
    """A folder of its own, apart from the cache that tracing makes in ``tmp_path``."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_a_png_whose_name_is_246_characters_long_is_written(tmp_path):
    folder = _folder(tmp_path)
    path = folder / ("p" * 242 + ".png")
    assert len(path.name) == 246
    atomic.write_bytes(path, b"\x89PNG picture")
    assert path.read_bytes() == b"\x89PNG picture"
    assert [p.name for p in folder.iterdir()] == [path.name]


def test_a_temporary_left_by_a_killed_save_is_removed_by_the_next_save_into_its_folder(
        tmp_path):
    folder = _folder(tmp_path)
    stale = folder / ".lstm-viz-k1ll3d_9.tmp"
    stale.write_bytes(b"half of a session")
    an_hour_and_a_minute_ago = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(stale, (an_hour_and_a_minute_ago, an_hour_and_a_minute_ago))
    fresh = folder / ".lstm-viz-writing1.tmp"  # another lstm-viz saving now
    fresh.write_bytes(b"a save in progress")
    theirs = folder / ".notes.txt.abcdefgh.tmp"  # not lstm-viz's: never touched
    theirs.write_bytes(b"someone else's")
    os.utime(theirs, (an_hour_and_a_minute_ago, an_hour_and_a_minute_ago))
    export.save_config_json(_traced(), folder / "session.json")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [fresh.name, theirs.name, "session.json"])
    assert fresh.read_bytes() == b"a save in progress"


def test_a_save_killed_mid_write_leaves_a_temporary_the_next_save_clears(tmp_path):
    folder = _folder(tmp_path)
    started = folder / "started"
    code = ("import os, sys, time\n"
            "from lstm_viz.formats import atomic\n"
            "with atomic.atomic_open(sys.argv[1]) as fh:\n"
            "    fh.write(b'half'); fh.flush()\n"
            "    open(sys.argv[2], 'w').close()\n"
            "    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder / "out.npz"),
                             str(started)])
    try:
        deadline = time.monotonic() + 120  # importing torch on a loaded machine
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the save never started"
    finally:
        proc.kill()
        proc.wait()
    started.unlink()
    (left,) = folder.iterdir()
    assert left.name.startswith(".lstm-viz-") and left.name.endswith(".tmp")
    old = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(left, (old, old))
    atomic.write_bytes(folder / "out.npz", b"whole")
    assert [p.name for p in folder.iterdir()] == ["out.npz"]
