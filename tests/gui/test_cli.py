"""The ``lstm-viz`` command: headless screenshot and export, one-line errors with status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from lstm_refs import session_file
from PySide6.QtGui import QImage

from lstm_viz import Session
from lstm_viz_app import cli

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def session_json(tmp_path):
    data = {"input_size": 3, "hidden_size": 6, "num_layers": 2, "bidirectional": True,
            "seq_len": 12, "batch_size": 2, "input": {"source": "sine"}, "seed": 4}
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    return path


def test_screenshot_renders_the_window_without_a_screen(tmp_path, session_json):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "lstm_viz_app", "--screenshot", str(out),
                           "--config", str(session_json), "--step", "5", "--size", "1280x800"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)


def test_export_command_writes_every_format(qtbot, tmp_path, session_json, capsys):
    out = tmp_path / "export"
    code = cli.main(["export", "--config", str(session_json), "--out", str(out), "--step", "3",
                     "--format", "png,svg,csv,npz"])
    assert code == 0
    listed = capsys.readouterr().out.split()
    assert {Path(p).name for p in listed} >= {"gates.png", "states.svg", "trace.npz",
                                               "session.json", "shapes.csv"}
    expected = Session.from_dict(json.loads(session_json.read_text()))
    expected.retrace()
    with np.load(out / "trace.npz") as npz:
        np.testing.assert_allclose(npz["h_n"], expected.trace.h_n.numpy(), atol=1e-6)
    assert json.loads((out / "session.json").read_text())["step"] == 3


@pytest.mark.parametrize("argv, needle", [
    (["export", "--config", "{cfg}"], "--out"),
    (["export", "--config", "missing.json", "--out", "x"], "file not found"),
    (["export", "--config", "{cfg}", "--out", "x", "--format", "bmp"], "--format"),
    (["--screenshot", "x.png", "--config", "{cfg}", "--step", "99"], "--step must be in"),
    (["--screenshot", "x.png", "--config", "{bad}"], "proj_size"),
    (["--screenshot", "x.png", "--size", "huge"], "--size"),
    (["--step", "x"], "invalid int"),
    (["--screenshot", "x.png", "--memory-budget", "lots"], "--memory-budget: a memory size"),
    (["export", "--config", "{cfg}", "--out", "x", "--memory-budget", "1MiB"], "too small"),
])
def test_bad_input_is_one_line_and_status_2(qtbot, tmp_path, session_json, capsys, argv,
                                            needle):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input_size": 3, "hidden_size": 4, "proj_size": 4}))
    argv = [a.format(cfg=session_json, bad=bad) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm-viz: error:")
    assert needle in err


def test_engine_subcommands_are_in_the_same_parser_tree(capsys):
    from lstm_viz import cli as engine_cli
    argv = ["shapes", "--input-size", "3", "--hidden-size", "4", "--seq-len", "5", "--json"]
    assert engine_cli.main(argv) == 0
    alone = json.loads(capsys.readouterr().out)
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == alone
    assert cli.main(["shapes", "--input-size", "3", "--hidden-size", "4", "--seq-len", "5",
                     "--proj-size", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm-viz: error: proj_size")


def test_gui_start_gets_model_options(monkeypatch, session_json, tmp_path):
    import torch
    torch.save(torch.nn.LSTM(3, 6).state_dict(), tmp_path / "m.pt")
    seen = {}
    monkeypatch.setattr("lstm_viz_app.entry.run", lambda options: seen.update(options) or 0)
    assert cli.main(["--config", str(session_json), "--step", "2", "--model",
                     str(tmp_path / "m.pt"), "--allow-pickle"]) == 0
    assert seen["model"] == str(tmp_path / "m.pt") and seen["allow_pickle"] is True
    assert seen["step"] == 2
    assert seen["session"].config.hidden_size == 6


def test_config_may_be_a_wholesession_file(qtbot, tmp_path):
    from lstm_viz import InputSpec, LSTMConfig
    from lstm_viz.formats.sessionfile import save_session
    session = Session(LSTMConfig(2, 5), InputSpec(seq_len=9, batch_size=2), seed=2)
    session.retrace()
    session.seek(6)
    path = tmp_path / "whole.lstmviz.json"
    save_session(path, session, selection={"batch": 1}, view={"tab": "States"})
    out = tmp_path / "shot.png"
    assert cli.main(["--screenshot", str(out), "--config", str(path)]) == 0
    assert QImage(str(out)).width() == 1280
    assert cli.main(["export", "--config", str(path), "--out", str(tmp_path / "e"),
                     "--format", "npz"]) == 0
    with np.load(tmp_path / "e" / "trace.npz") as npz:
        np.testing.assert_allclose(npz["c_n"], session.trace.c_n.numpy(), atol=1e-6)
    saved = json.loads((tmp_path / "e" / "session.json").read_text())
    assert saved["step"] == 6


def test_export_gif_animates_every_step(qtbot, tmp_path, session_json):
    from PIL import Image
    assert cli.main(["export", "--config", str(session_json), "--out", str(tmp_path),
                     "--format", "gif", "--view", "states"]) == 0
    with Image.open(tmp_path / "steps.gif") as im:
        assert im.n_frames == 12


def test_bad_model_file_prints_what_the_loader_found(qtbot, tmp_path, capsys):
    bad = tmp_path / "notes.pt"
    bad.write_text("hello, I am text")
    assert cli.main(["--screenshot", str(tmp_path / "x.png"), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm-viz: error: --model:")
    assert "not a PyTorch file: found" in err and "expected" in err.lower()
    assert cli.main(["--model", str(bad)]) == 2  # the GUI start checks it first too
    assert "not a PyTorch file: found" in capsys.readouterr().err


def test_demo_option_opens_the_demo_in_a_screenshot(qtbot, tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["--screenshot", str(out), "--demo", "sine"]) == 0
    assert QImage(str(out)).width() == 1280
    _, window = cli._headless_window(cli.build_parser().parse_args(["--demo", "sine"]),
                                     str(tmp_path))
    assert window.session.config.input_size == 1 and window.session.model_source
    window.close()
    assert cli.main(["--screenshot", str(out), "--demo", "nonesuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "char_python" in err and "sine" in err
    assert "nonesuch" in err


def test_gui_start_gets_the_demo(monkeypatch):
    seen = {}
    monkeypatch.setattr("lstm_viz_app.entry.run", lambda options: seen.update(options) or 0)
    assert cli.main(["--demo", "sine"]) == 0
    assert seen["demo"] == "sine"


def test_gui_without_a_display_says_how_to_run_headless(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["LSTM_VIZ_SETTINGS"] = str(tmp_path / "settings.ini")
    proc = subprocess.run([sys.executable, "-m", "lstm_viz_app"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "no display found" in proc.stderr
    assert "--screenshot" in proc.stderr and "export" in proc.stderr


def test_gui_start_gets_the_memory_budget(monkeypatch):
    seen = {}
    monkeypatch.setattr("lstm_viz_app.entry.run", lambda options: seen.update(options) or 0)
    assert cli.main(["--memory-budget", "4GiB"]) == 0
    assert seen["memory_budget"] == 4 << 30


@pytest.mark.parametrize("budget, windowed", [(None, False), ("24MiB", True)])
def test_the_memory_budget_decides_whether_an_export_is_traced_in_windows(
        qtbot, tmp_path, budget, windowed):
    """Hidden 64 over 20 000 steps: a full trace needs about 30 MiB, within the default 1 GiB
    and over 24 MiB."""
    from lstm_viz.formats.export import stream_manifest
    data = {"input_size": 3, "hidden_size": 64, "seq_len": 20000, "batch_size": 1,
            "input": {"source": "sine"}, "seed": 1}
    cfg = tmp_path / "long.json"
    cfg.write_text(json.dumps(data))
    argv = ["export", "--config", str(cfg), "--out", str(tmp_path / "out"), "--stream"]
    assert cli.main(argv + (["--memory-budget", budget] if budget else [])) == 0
    manifest = stream_manifest(tmp_path / "out" / cli.STREAM_FILE)
    assert manifest["windowed"] is windowed and manifest["num_steps"] == 20000


# ----- lstm-viz models, and what opening a model warns about ------------------------------------
def _many_lstms(path, count: int, nan_in: int | None = None):
    import torch
    nets = torch.nn.ModuleDict({f"rnn{i:02d}": torch.nn.LSTM(2, 3) for i in range(count)})
    if nan_in is not None:
        with torch.no_grad():
            nets[f"rnn{nan_in:02d}"].weight_ih_l0[0, 0] = float("nan")
    torch.save(nets.state_dict(), path)
    return path


def _onnx_lstms(path, count: int, clip_from: int = 0, chain: bool = False):
    """``count`` ONNX LSTM nodes (2 -> 2); from node ``clip_from`` on they clip. ``chain``:
    each reads the one before it (a stack), else all read X."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    weights = [numpy_helper.from_array(np.full((1, 8, 2), 0.1, np.float32), "W"),
               numpy_helper.from_array(np.full((1, 8, 2), 0.2, np.float32), "R")]
    nodes, x = [], "X"
    for i in range(count):
        extra = {"clip": 1.0} if i >= clip_from else {}
        nodes.append(helper.make_node("LSTM", [x, "W", "R"], [f"Y{i}"], name=f"lstm{i}",
                                      hidden_size=2, **extra))
        if chain:
            weights.append(numpy_helper.from_array(np.array([1], np.int64), f"ax{i}"))
            nodes.append(helper.make_node("Squeeze", [f"Y{i}", f"ax{i}"], [f"S{i}"]))
            x = f"S{i}"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "X", TensorProto.FLOAT, None)], [helper.make_tensor_value_info(
            f"Y{count - 1}", TensorProto.FLOAT, None)], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                                ir_version=8), str(path))
    return path


def test_models_lists_every_lstm_of_a_file_one_per_line(tmp_path, capsys):
    from lstm_viz.formats.loader import load_model
    path = _many_lstms(tmp_path / "many.pt", 50, nan_in=7)
    assert cli.main(["models", str(path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    expected = [c.describe() for c in load_model(path).lstms]
    assert len(lines) == 50 and lines[0] == expected[0] == "rnn00: nn.LSTM(2, 3)"
    assert lines[7] == f"{expected[7]} [1 NaN values in weight_ih_l0]"
    assert lines[:7] + lines[8:] == expected[:7] + expected[8:]
    assert err == "lstm-viz: warning: 1 NaN values in weight_ih_l0 of the LSTM rnn07; the trace"\
                  " will carry them\n"


def test_models_lists_600_onnx_nodes_that_an_error_line_only_counts(tmp_path, capsys):
    path = _onnx_lstms(tmp_path / "many.onnx", 600, clip_from=600)
    assert cli.main(["models", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 600
    assert out[599] == "lstm599: nn.LSTM(2, 2, bias=False) from an ONNX LSTM node"
    assert cli.main(["--screenshot", str(tmp_path / "x.png"), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 600 LSTMs (lstm0; lstm1; lstm2; lstm3; lstm4;" \
                                    " and 595 more" in err
    assert f"`lstm-viz models {path}` lists them all" in err and "lstm5;" not in err
    assert "choose one with --lstm NAME" in err


def test_models_of_a_file_with_no_usable_lstm_lists_why_and_exits_2(tmp_path, capsys):
    path = _onnx_lstms(tmp_path / "clipped.onnx", 600)
    assert cli.main(["models", str(path)]) == 2
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 600 and lines[599].startswith("skipped: ONNX LSTM node lstm599 clips")
    assert err.count("\n") == 1 and err.startswith("lstm-viz: error: clipped.onnx is an ONNX")
    assert "and 595 more" in err


@pytest.mark.parametrize("content, needle", [
    ("hello, I am text", "not a PyTorch file: found a text file"),
    (None, "model file not found"),
])
def test_models_of_a_bad_file_is_one_line_and_status_2(tmp_path, capsys, content, needle):
    path = tmp_path / "notes.pt"
    if content is not None:
        path.write_text(content)
    assert cli.main(["models", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("lstm-viz: error:")
    assert needle in err


def test_models_is_the_real_commands_and_the_engines_alone(tmp_path):
    path = _many_lstms(tmp_path / "two.pt", 2)
    for module in ("lstm_viz_app", "lstm_viz"):
        proc = subprocess.run([sys.executable, "-m", module, "models", str(path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "rnn00: nn.LSTM(2, 3)\nrnn01: nn.LSTM(2, 3)\n"


def test_a_model_whose_next_node_cannot_open_warns_in_one_line_that_the_output_is_not_the_models(
        qtbot, tmp_path, capsys):
    path = _onnx_lstms(tmp_path / "stack.onnx", 2, clip_from=1, chain=True)
    assert cli.main(["--screenshot", str(tmp_path / "x.png"), "--model", str(path)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("lstm-viz: warning:")]
    assert len(warnings) == 2, err
    assert "skipped ONNX LSTM node lstm1 clips" in warnings[0]
    assert "lstm0 feeds ONNX LSTM node lstm1" in warnings[1]
    assert "the output shown is not the model's output" in warnings[1]


# ----- what once ended in a traceback: one line and status 2, from the real command ------------
def _lstm_viz(*argv, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "lstm_viz_app", *map(str, argv)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)


def _refused(proc: subprocess.CompletedProcess) -> str:
    """The one line of a refusal (status 2, no traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-viz: error:"), proc.stderr[-3000:]
    return lines[0]


LONG_NAME = "n" * 5000


@pytest.mark.parametrize("argv, needle", [
    (["--screenshot", "{tmp}/x.png", "--memory-budget", "1e300T"],
     "--memory-budget: a memory budget of 1e300T is more than any machine has"),
    (["--screenshot", "{tmp}/x.png", "--model", LONG_NAME], "--model: File name too long: nnn"),
    (["--screenshot", "{tmp}/x.png", "--config", LONG_NAME],
     "--config: cannot read session file nnn"),
    (["--screenshot", "{tmp}/" + LONG_NAME + ".png"], "--screenshot: File name too long"),
    (["export", "--out", "{tmp}/" + LONG_NAME, "--format", "csv"], "--out: File name too long"),
], ids=["budget-1e300T", "long-model", "long-config", "long-screenshot", "long-out"])
def test_flags_that_cannot_be_used_are_one_short_line_and_status_2(tmp_path, argv, needle):
    line = _refused(_lstm_viz(*(a.format(tmp=tmp_path) for a in argv)))
    assert needle in line
    assert len(line) < 400  # a 5 000-character name is shown cut, with its length
    assert "5,0" in line or "1e300T" in line


@pytest.mark.parametrize("session, needle", [
    ({"model_source": {"path": "loop", "lstm": "", "kind": "state_dict"}},
     "the model file {tmp}/loop cannot be opened (Too many levels of symbolic links)"),
    ({"edits": {"inputs": [[0, 0, 1, 1e308]], "states": []}},
     "session.edits.inputs[0] value must be a finite number in [-3.4e38, 3.4e38] (what float32"
     " holds) (got 1e+308)"),
    ({"model_source": {"path": "m" * 300, "lstm": "", "kind": "state_dict"}},
     "mmm ({chars} characters) cannot be opened (File name too long) and the session does not"
     " contain the weights"),
    ({"input": {"source": "tokens", "text": "ab", "params": {"vocab_path": "v" * 300}}},
     "vvv ({chars} characters): File name too long"),
    ({"hidden_size": 2**70}, "session.hidden_size must be an integer >= 1 that fits in 64 bits"),
    ({"seed": 2**80}, "session.seed must be an integer in [-2**63, 2**64 - 1] (got an integer"
                      " of 81 bits)"),
], ids=["symlink-loop", "edit-1e308", "long-model-name", "long-vocab-name", "hidden-2**70",
        "seed-2**80"])
def test_session_files_that_cannot_be_used_are_one_line_and_status_2(tmp_path, session,
                                                                       needle):
    (tmp_path / "loop").symlink_to("loop")
    path = session_file(tmp_path / "s.lstmviz.json", **session)
    for argv in (["--screenshot", tmp_path / "x.png"],
                 ["export", "--out", tmp_path / "e", "--stream"]):
        line = _refused(_lstm_viz(*argv, "--config", path))
        assert line.startswith("lstm-viz: error: --config: ")
        assert line.count("s.lstmviz.json") == 1  # the session named once
        chars = f"{len(str(tmp_path)) + 1 + 300:,}"  # the folder, "/" and the name
        assert needle.format(tmp=tmp_path, chars=chars) in line
        assert len(line) < 400  # a name too long for the system is shown cut


def test_a_warning_is_one_line_without_python_s_file_and_source_line(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"input_size": 2, "hidden_size": 3, "seq_len": 6,
                               "dropout": 0.5}))
    proc = _lstm_viz("export", "--config", cfg, "--out", tmp_path / "e", "--stream")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "lstm-viz: warning: dropout option adds dropout after all but last recurrent layer, so"
        " non-zero dropout expects num_layers greater than 1, but got dropout=0.5 and"
        " num_layers=1"]


def test_a_bare_config_reads_its_relative_paths_from_its_own_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "vocab.txt").write_text("a\nb\nc\n")
    cfg = project / "c.json"
    cfg.write_text(json.dumps({"input_size": 3, "hidden_size": 4, "seq_len": 5, "batch_size": 1,
                               "input": {"source": "tokens", "text": "abcab",
                                         "params": {"vocab_path": "vocab.txt"}}}))
    proc = _lstm_viz("export", "--config", cfg, "--out", tmp_path / "e", "--format", "npz",
                     cwd=tmp_path)  # not the config's folder
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "e" / "trace.npz") as npz:
        np.testing.assert_array_equal(npz["input"][:, 0].argmax(-1), [0, 1, 2, 0, 1])


def test_the_memory_budget_reaches_the_model_loader(qtbot, tmp_path, monkeypatch):
    import lstm_viz.formats.loader
    import lstm_viz_app.controllers.documents
    torch.save(torch.nn.LSTM(3, 6).state_dict(), tmp_path / "m.pt")
    budgets = []
    real = lstm_viz.formats.loader.load_model

    def spy(path, **kw):
        budgets.append(kw.get("memory_budget"))
        return real(path, **kw)
    monkeypatch.setattr(lstm_viz.formats.loader, "load_model", spy)
    monkeypatch.setattr(lstm_viz_app.controllers.documents, "load_model", spy)
    assert cli.main(["--screenshot", str(tmp_path / "x.png"), "--model", str(tmp_path / "m.pt"),
                     "--memory-budget", "4GiB"]) == 0
    assert len(budgets) >= 2 and set(budgets) == {4 << 30}  # the check and the window's load
