"""What a careless or hostile file or flag can do to lstm-viz: a message, never a lost file, a
hang, a half-changed window, a silently wrong picture or a leftover. The window keeps its model,
input and trace on screen whenever it shows a message; the command line answers bad input with
one line on stderr and exit status 2."""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lstm_refs import session_file
from pickle_doubles import BuiltOnLoad, WriteMarker
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from torch import nn

import lstm_viz.formats.atomic as atomic
from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.formats.sessionfile import save_session
from lstm_viz_app import cli
from lstm_viz_app.dialogs import LSTMPickerDialog
from lstm_viz_app.main import MainWindow

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


class TwoLSTMs(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(4, 6, bidirectional=True)
        self.decoder = nn.LSTM(3, 5)


def _run(args, *, env=None, timeout=60):
    """``python -m lstm_viz_app ARGS`` offscreen; the CompletedProcess."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lstm_viz_app", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-viz: error:"), err
    return lines[0]


def _saved_session(tmp_path, **kw) -> Path:
    session = Session(LSTMConfig(3, 5, num_layers=2), InputSpec(seq_len=7, batch_size=2),
                      seed=5)
    session.retrace()
    session.edit_state("h", 2, 1, 0, 0, 1, 0.5)
    path = tmp_path / "s.lstmviz.json"
    save_session(path, session, **kw)
    return path


def _edit_json(path: Path, change) -> Path:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


def _screen_state(window):
    s = window.session
    return (s.config, s.input_spec, s.trace, s.model_source,
            {k: v.detach().clone() for k, v in s.lstm.state_dict().items()})


def _assert_unchanged(window, before):
    config, spec, trace, source, weights = before
    s = window.session
    assert (s.config, s.input_spec, s.model_source) == (config, spec, source)
    assert s.trace is trace
    for k, v in s.lstm.state_dict().items():
        torch.testing.assert_close(v, weights[k])


# ----- the window keeps what it shows ------------------------------------------------------------
def _bad_edit(doc):
    doc["session"]["edits"]["states"][0][2] = 7  # layer 7 of a 2-layer LSTM


def _missing_model(doc):
    doc["weights"] = None
    doc["session"]["model_source"] = {"path": "gone.pt", "lstm": "", "kind": "state_dict"}


def _wrong_shapes(doc):
    w = doc["weights"]["weight_hh_l0"]
    w["shape"] = [w["shape"][1], w["shape"][0]]


def _nan_weights(doc):
    w = doc["weights"]["weight_hh_l0"]
    w["data"] = "not base64!"


def _missing_input(doc):
    doc["session"]["input"] = {"source": "file", "path": "gone.npy"}
    doc["input_data"] = None


@pytest.mark.parametrize("damage, needle", [
    (_bad_edit, "layer"),
    (_missing_model, "gone.pt"),
    (_wrong_shapes, "weight_hh_l0"),
    (_nan_weights, "weight_hh_l0"),
    (_missing_input, "gone.npy"),
])
def test_a_broken_session_file_leaves_model_input_and_trace_on_screen(
        window, tmp_path, wait_traced, modal_dialog, damage, needle):
    wait_traced(window)
    before = _screen_state(window)
    path = _edit_json(_saved_session(tmp_path), damage)
    assert not window.documents.open_session(path)
    box = modal_dialog()
    assert needle in box.text() and needle in window.statusBar().full_message()
    box.close()
    _assert_unchanged(window, before)
    assert window.panels["Model"].isEnabled()


def test_text_that_cannot_feed_the_model_keeps_the_trace(window, tmp_path, wait_traced,
                                                         modal_dialog):
    wait_traced(window)
    before = _screen_state(window)
    (tmp_path / "t.txt").write_text("many different characters here")
    assert not window.documents.open_text_input(tmp_path / "t.txt")
    assert "input_size" in modal_dialog().text()
    _assert_unchanged(window, before)


def test_a_text_input_that_is_a_fifo_is_refused_without_waiting(window, tmp_path, wait_traced,
                                                                 modal_dialog):
    wait_traced(window)
    before = _screen_state(window)
    os.mkfifo(tmp_path / "fifo")
    assert not window.documents.open_text_input(tmp_path / "fifo")
    assert "FIFO" in modal_dialog().text()
    _assert_unchanged(window, before)


# ----- what-if edits -----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308, -1e39])
def test_a_what_if_value_that_is_not_finite_or_past_float32_is_refused(value):
    session = Session(LSTMConfig(3, 4, num_layers=2))
    session.retrace()
    with pytest.raises(ValueError, match="finite"):
        session.edit_input(1, 0, 0, value)
    with pytest.raises(ValueError, match="finite"):
        session.edit_state("c", 1, 1, 0, 0, 2, value)
    assert not session.edits


@pytest.mark.parametrize("where, needle", [
    ({"t": 20}, "t must be in"), ({"layer": 7}, "layer must be in"),
    ({"direction": 1}, "direction must be in"), ({"unit": 4}, "unit must be in"),
    ({"batch": 3}, "batch must be in"),
])
def test_a_what_if_edit_outside_the_model_is_refused(where, needle):
    session = Session(LSTMConfig(3, 4, num_layers=2))
    session.retrace()
    at = {"t": 1, "layer": 1, "direction": 0, "batch": 0, "unit": 2} | where
    with pytest.raises(ValueError, match=needle):
        session.edit_state("h", at["t"], at["layer"], at["direction"], at["batch"],
                           at["unit"], 0.5)
    assert not session.edits


def test_the_what_if_box_shows_why_a_value_is_refused(window, wait_traced, monkeypatch):
    wait_traced(window)
    box = window.panels["States"].whatif
    monkeypatch.setattr(box.value, "value", lambda: math.nan)
    trace = window.session.trace
    box.apply()
    assert box.message.isVisibleTo(box) and "finite" in box.message.text()
    assert not window.session.edits and window.session.trace is trace


# ----- --step and --view are never clamped or ignored --------------------------------------------
@pytest.fixture
def gui_start(monkeypatch, tmp_path):
    """cli.main for a GUI start that returns instead of running the event loop."""
    monkeypatch.setenv("LSTM_VIZ_SETTINGS", str(tmp_path / "settings.ini"))
    started = []
    monkeypatch.setattr(QApplication, "exec", lambda self: started.append(1) or 0)
    # the window outlives the start, for the test to look at and close
    monkeypatch.setattr("lstm_viz_app.entry.dispose", lambda window: None)

    def main(argv):
        return cli.main(argv), started

    return main


@pytest.mark.parametrize("argv, needle", [
    (["--step", "9999"], "--step must be in [0, 19]"),
    (["--step", "-1"], "--step must be in [0, 19]"),
    (["--view", "Nope"], "--view must be one of Gates, States"),
])
def test_gui_start_refuses_a_step_or_view_that_does_not_exist(qtbot, gui_start, capsys, argv,
                                                              needle):
    status, started = gui_start(argv)
    assert status == 2 and not started
    assert needle in _one_line_error(capsys.readouterr().err)


def test_gui_start_shows_the_step_and_view_asked_for(qtbot, gui_start):
    status, started = gui_start(["--step", "4", "--view", "states"])
    assert status == 0 and started
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)
                  and w.isVisible())
    assert window.session.t == 4 and window.tabs.tabText(window.tabs.currentIndex()) == "States"
    window.close()


@pytest.mark.parametrize("argv, needle", [
    (["--screenshot", "{out}.png", "--view", "Nope"], "--view must be one of"),
    (["export", "--config", "{cfg}", "--out", "{out}", "--step", "9999"], "--step must be in"),
    (["export", "--config", "{cfg}", "--out", "{out}", "--view", "Nope"], "--view must be one"),
])
def test_headless_runs_refuse_a_step_or_view_that_does_not_exist(qtbot, tmp_path, capsys,
                                                                 argv, needle):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"input_size": 2, "hidden_size": 3, "seq_len": 5}))
    argv = [a.format(cfg=cfg, out=tmp_path / "out") for a in argv]
    assert cli.main(argv) == 2
    assert needle in _one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out.png").exists()


# ----- how long a refusal may take: measured against a good file on the same machine -----------
def _timed(args, *, flags=(), timeout=600) -> tuple[subprocess.CompletedProcess, float]:
    """``python FLAGS -m lstm_viz_app ARGS`` offscreen, and the seconds it took."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *flags, "-m", "lstm_viz_app", *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - start


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> float:
    """Seconds a screenshot of a small, good session takes here and now; a refusal must take
    no more than max(30 s, 5 times that), however loaded the machine."""
    d = tmp_path_factory.mktemp("good")
    path = session_file(d / "good.lstmviz.json")
    proc, seconds = _timed(["--screenshot", d / "x.png", "--config", path])
    assert proc.returncode == 0, proc.stderr
    return max(30.0, 5 * seconds)


# ----- --config is read as a bounded regular file ------------------------------------------------
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_config_that_is_a_device_or_a_fifo_is_refused_before_torch_or_qt_is_imported(
        tmp_path, kind, good_run):
    if kind == "device":
        path = "/dev/zero"
    else:
        path = tmp_path / "fifo"
        os.mkfifo(path)
    proc, seconds = _timed(["--screenshot", tmp_path / "x.png", "--config", path],
                           flags=["-X", "importtime"], timeout=10 * good_run)
    assert seconds < good_run
    assert proc.returncode == 2
    report = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    line = _one_line_error("\n".join(ln for ln in proc.stderr.splitlines()
                                     if not ln.startswith("import time:")))
    assert "--config" in line and ("device" in line or "FIFO" in line)
    imported = {ln.rsplit("|", 1)[1].strip().split(".")[0] for ln in report if "|" in ln}
    assert "lstm_viz_app" in imported and not imported & {"torch", "PySide6", "numpy"}


# ----- sessions whose size is what they cost: refused in one line, as fast as a good file opens --
_UNITS_100K = ["h", 0, 0, 0, [0] * 100_000, 0.0, 0, None]


@pytest.mark.parametrize("session, needle", [
    ({"edits": {"ablations": [["h", 0, 0, 0, [0, 1, 2], 0.0, 0, None]] * 100_000}},
     "session.edits set 1,800,000 values of the run"),
    ({"edits": {"ablations": [_UNITS_100K]}}, "unit 0 is named more than once"),
    ({"edits": {"inputs": [[0, 0, 0, 1.0]] * 100_000}},
     "session.edits.inputs has 100,000 edits but the input holds 12 values"),
    ({"edits": {"states": [["c", 5, 0, 0, 0, 2, 1.0]] * 100_000}},
     "session.edits.states has 100,000 edits but the LSTM holds 36 values of h and c"),
    ({"num_layers": 10_000}, "1.2 GiB for num_layers=10000 x directions=1 at 128.0 KiB each"),
    ({"seq_len": 5_000_000}, "this would trace 5,000,000 steps"),
    ({"input": {"source": "tokens", "text": "ab", "params": {"vocab": ["x"] * 10_000_000}}},
     "vocab must be a string or a list of strings (at most 1,000,000 tokens)"),
], ids=["100k-ablations", "100k-units", "100k-input-edits", "100k-state-edits",
        "10k-layers", "5M-steps", "10M-vocab"])
def test_a_session_too_costly_to_run_is_refused_in_one_line_before_it_runs(
        tmp_path, session, needle, good_run):
    path = session_file(tmp_path / "big.lstmviz.json", **session)
    proc, seconds = _timed(["--screenshot", tmp_path / "x.png", "--config", path],
                           timeout=10 * good_run)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = _one_line_error(proc.stderr)
    assert line.startswith("lstm-viz: error: --config: ") and needle in line
    assert line.count("big.lstmviz.json") == 1
    assert seconds < good_run
    assert not (tmp_path / "x.png").exists()


# ----- several LSTMs in one file -----------------------------------------------------------------
@pytest.fixture
def two_lstms(tmp_path):
    torch.manual_seed(1)
    net = TwoLSTMs()
    torch.save(net.state_dict(), tmp_path / "s2s.pt")
    return tmp_path / "s2s.pt", net


def test_a_file_with_several_lstms_needs_lstm_and_lists_them(qtbot, tmp_path, two_lstms,
                                                             capsys):
    path, _ = two_lstms
    out = tmp_path / "x.png"
    assert cli.main(["--screenshot", str(out), "--model", str(path)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "2 LSTMs" in line and "encoder" in line and "decoder" in line and "--lstm" in line
    assert not out.exists()
    assert cli.main(["--screenshot", str(out), "--model", str(path), "--lstm", "nope"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "'nope'" in line and "encoder" in line and "decoder" in line
    assert cli.main(["--model", str(path), "--lstm", "nope"]) == 2  # the GUI start too
    assert "'nope'" in _one_line_error(capsys.readouterr().err)


def test_gui_start_with_several_lstms_asks_which_one(qtbot, gui_start, two_lstms,
                                                     modal_dialog):
    path, _ = two_lstms
    status, started = gui_start(["--model", str(path)])
    assert status == 0 and started
    picker = modal_dialog()
    assert isinstance(picker, LSTMPickerDialog) and picker.list.count() == 2
    picker.parent().close()
    status, started = gui_start(["--model", str(path), "--lstm", "decoder"])
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)
                  and w.isVisible())
    qtbot.waitUntil(lambda: window.session.config == LSTMConfig(3, 5))  # read on the worker
    window.close()


def test_lstm_picks_the_model_for_a_screenshot_and_an_export(qtbot, tmp_path, two_lstms):
    path, net = two_lstms
    out = tmp_path / "x.png"
    assert cli.main(["--screenshot", str(out), "--model", str(path), "--lstm", "decoder"]) == 0
    assert QImage(str(out)).width() == 1280
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"input_size": 3, "hidden_size": 2, "seq_len": 6,
                               "input": {"source": "sine"}}))
    assert cli.main(["export", "--config", str(cfg), "--model", str(path), "--lstm", "decoder",
                     "--out", str(tmp_path / "e"), "--format", "npz"]) == 0
    with np.load(tmp_path / "e" / "trace.npz") as npz:
        x = torch.from_numpy(npz["input"])
        with torch.no_grad():
            out_torch, (h_n, c_n) = net.decoder(x)
        np.testing.assert_allclose(npz["h_n"], h_n.numpy(), atol=1e-6)
        np.testing.assert_allclose(npz["output"], out_torch.numpy(), atol=1e-6)


# ----- quitting with a question open or a worker busy -------------------------------------------
# ``python quit_when.py WHAT FILE``: starts lstm-viz with ``--model FILE`` (for "question": opens
# FILE as File > Open model does, once the window shows) and, once WHAT is on screen (the
# picker of several LSTMs, the question whether a pickle may run, FILE still being read on the
# worker), ends the event loop with the window open, as a desktop session ending does.
_QUIT_WHEN = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from lstm_viz_app import cli, dialogs, entry
from lstm_viz_app.controllers import documents as docs
from lstm_viz_app.main import MainWindow

when, path = sys.argv[1:3]
if when == "reading":  # a read that takes a while, so that the quit comes while it runs
    read = docs.read_model
    docs.read_model = lambda *a, **k: time.sleep(3) or read(*a, **k)
shown = {"picker": dialogs.LSTMPickerDialog, "question": dialogs.UnsafePickleDialog}.get(when)
deadline = time.monotonic() + 120

def poll():
    app = QApplication.instance()
    windows = [w for w in app.topLevelWidgets() if w.isVisible()]
    main = [w for w in windows if isinstance(w, MainWindow)]
    if when == "question" and main and not main[0].documents.opening and shown not in map(
            type, windows):
        main[0].documents.open_model(path, background=True)
    if shown is not None:
        ready = any(isinstance(w, shown) for w in windows)
    else:
        ready = any(w.documents.opening for w in main)
    if ready:
        print("quitting", file=sys.stderr)
        app.quit()
    elif time.monotonic() > deadline:
        app.exit(3)
    else:
        QTimer.singleShot(20, poll)

make_app = entry.make_app
def make_app_then_poll(*args):
    app = make_app(*args)
    QTimer.singleShot(0, poll)
    return app
entry.make_app = make_app_then_poll
sys.exit(cli.main([] if when == "question" else ["--model", path]))
"""


@pytest.fixture
def quit_when(tmp_path):
    """``quit_when(what, model, runs)``: start the window ``runs`` times and quit it once
    ``what`` shows (see ``_QUIT_WHEN``); each run's exit status and stderr."""
    script = tmp_path / "quit_when.py"
    script.write_text(_QUIT_WHEN)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "LSTM_VIZ_SETTINGS": str(tmp_path / "settings.ini")}

    def run(what: str, model: Path, runs: int) -> list[tuple[int, str]]:
        done = []
        for _ in range(runs):
            proc = subprocess.run([sys.executable, str(script), what, str(model)], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=180)
            done.append((proc.returncode, proc.stderr))
        return done

    return run


def _closed_cleanly(runs: list[tuple[int, str]]) -> None:
    for status, err in runs:
        assert status == 0 and "quitting" in err and "Traceback" not in err, (status, err)


def test_quitting_while_the_picker_of_fifty_lstms_is_open_exits_cleanly(tmp_path, quit_when):
    torch.save(nn.ModuleDict({f"lstm{i}": nn.LSTM(3, 4) for i in range(50)}).state_dict(),
               tmp_path / "fifty.pt")
    _closed_cleanly(quit_when("picker", tmp_path / "fifty.pt", runs=4))


def test_quitting_while_a_question_is_open_exits_cleanly(tmp_path, quit_when):
    torch.save(BuiltOnLoad(4, 6), tmp_path / "full.pt")
    _closed_cleanly(quit_when("question", tmp_path / "full.pt", runs=2))


def test_quitting_while_a_model_is_read_on_the_worker_exits_cleanly(tmp_path, quit_when):
    torch.save({f"l{i}": nn.LSTM(3, 4).state_dict() for i in range(50)}, tmp_path / "d.pt")
    _closed_cleanly(quit_when("reading", tmp_path / "d.pt", runs=2))


# ----- atomic writes -----------------------------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_screenshot_on_a_full_disk_keeps_the_old_png(qtbot, tmp_path, capsys, monkeypatch):
    out = tmp_path / "old.png"
    old = b"\x89PNG old picture"
    out.write_bytes(old)
    monkeypatch.setattr(atomic.os, "fsync", _no_space)
    assert cli.main(["--screenshot", str(out)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert str(out) in line and "No space left" in line
    assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]


def test_saving_a_session_on_a_full_disk_keeps_the_old_file(window, tmp_path, monkeypatch,
                                                            wait_traced, modal_dialog):
    wait_traced(window)
    path = tmp_path / "s.lstmviz.json"
    path.write_text("the old session")
    monkeypatch.setattr(atomic.os, "fsync", _no_space)
    assert not window.documents.save(path)
    assert str(path) in modal_dialog().text()
    assert path.read_text() == "the old session"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.lstmviz.json"]


# ----- no leftovers ------------------------------------------------------------------------------
def test_headless_runs_leave_nothing_in_the_temporary_folder(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"input_size": 2, "hidden_size": 3, "seq_len": 5}))
    env = {"TMPDIR": str(tmp)}
    assert _run(["--screenshot", tmp_path / "x.png"], env=env).returncode == 0
    assert _run(["export", "--config", cfg, "--out", tmp_path / "e", "--format", "csv",
                 "--view", "Nope"], env=env).returncode == 2
    assert list(tmp.iterdir()) == []


# ----- a fuzz test of the command line -----------------------------------------------------------
_NASTY = [math.nan, math.inf, -1, 0, 10**12, 2.7, "x", [], {}, None, True, [[[[1]]]]]
_FIELDS = ["input_size", "hidden_size", "num_layers", "seq_len", "batch_size", "seed",
           "step", "input", "edits", "model_source", "memory_budget", "proj_size", "dropout"]
_FLAGS = st.sampled_from([[], ["--step", "3"], ["--step", "9999"], ["--view", "Nope"],
                          ["--view", "code"], ["--allow-pickle"], ["--lstm", "rnn"],
                          ["--size", "10x10"]])


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=st.sampled_from(_NASTY), flags=_FLAGS,
       export=st.booleans(), pickled_model=st.booleans())
def test_cli_fuzz_bad_sessions_and_flags_exit_0_or_2_with_one_line(
        tmp_path_factory, field, value, flags, export, pickled_model):
    d = tmp_path_factory.mktemp("fuzz")
    marker = d / "marker"
    torch.save({"model": BuiltOnLoad(2, 3), "payload": WriteMarker(marker)}, d / "evil.pt")
    doc = {"format": "lstm-viz session", "format_version": 1, "weights": None,
           "session": {"input_size": 2, "hidden_size": 3, "seq_len": 6, "batch_size": 1,
                       "input": {"source": "sine"}, "seed": 1}}
    if pickled_model:
        doc["session"]["model_source"] = {"path": "evil.pt", "lstm": "", "kind": "pickle"}
    doc["session"][field] = value
    session = d / "s.lstmviz.json"
    session.write_text(json.dumps(doc))
    out = d / "out.png"
    out.write_bytes(b"an old picture")
    files = {p: p.read_bytes() for p in (session, out, d / "evil.pt")}
    args = (["export", "--config", session, "--out", d / "e", "--format", "csv"] if export
            else ["--screenshot", out, "--config", session]) + flags
    proc = _run(args, timeout=60)
    assert proc.returncode in (0, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    if proc.returncode == 2:
        _one_line_error(proc.stderr)
        assert out.read_bytes() == files[out]
    assert not marker.exists()
    for path, data in files.items():
        if path != out:
            assert path.read_bytes() == data


def test_settings_that_cannot_be_written_are_named(qtbot, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    settings = QSettings(str(blocker / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, restore=False)
    qtbot.addWidget(window)
    assert not window.save_settings()
    assert f"the settings file {blocker / 'settings.ini'}" in capsys.readouterr().err
    good = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window.settings = good
    assert window.save_settings()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "settings.ini"]
