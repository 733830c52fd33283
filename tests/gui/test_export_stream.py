"""The whole trace, streamed: from the export dialog and the File menu on the export worker, with
progress and Cancel; from ``lstm-viz export --stream``; the chunks read back as the trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QPushButton
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from lstm_viz import InputSpec, LSTMConfig, Session, trace
from lstm_viz.formats.export import read_stream, stream_manifest
from lstm_viz_app.export import STREAM_FILE, ExportDialog, StreamExport

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


def _joined(path) -> dict[str, np.ndarray]:
    parts = list(read_stream(path))
    return {name: np.concatenate([p[2][name] for p in parts], axis=0 if name == "input" else 2)
            for name in ("gates", "c", "h", "input")}


def _assert_is_the_trace_of(path, session: Session) -> None:
    """The archive holds every step of a trace made here, from the session's module and input,
    and its last layer's h is nn.LSTM's own output."""
    expected = trace(session.lstm, session.input)
    got = _joined(path)
    for key in ("gates", "c", "h"):
        np.testing.assert_allclose(got[key], getattr(expected, key).numpy(), atol=2e-5,
                                   err_msg=key)
    with torch.no_grad():
        out, _ = session.lstm(session.input)
    if isinstance(out, PackedSequence):
        out, _ = pad_packed_sequence(out, total_length=got["h"].shape[2])
    elif session.config.batch_first:
        out = out.transpose(0, 1)
    last = np.concatenate(list(got["h"][-1]), axis=-1)
    np.testing.assert_allclose(np.nan_to_num(last), out.numpy(), atol=2e-5)


@pytest.fixture
def window(make_window):
    cfg = LSTMConfig(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    spec = InputSpec(source="sine", seq_len=400, batch_size=3, lengths=(400, 150, 333))
    w = make_window(Session(cfg, spec, seed=3))
    w.session.seek(2)
    return w


def _messages(window) -> list[str]:
    seen: list[str] = []
    window.ctx.messages.posted.connect(lambda text, _ms: seen.append(text))
    return seen


def test_export_dialog_streams_every_step_with_progress(qtbot, window, tmp_path):
    messages = _messages(window)
    dialog = ExportDialog(window.exports, everything=False)
    qtbot.addWidget(dialog)
    assert dialog.stream.text().startswith("Full trace, streamed (NPZ chunks)")
    dialog.folder.setText(str(tmp_path / "out"))
    for box in dialog.checks.values():
        box.setChecked(False)
    dialog.stream.setChecked(True)
    dialog._export()
    job = window.exports.job
    progress: list[tuple[int, int]] = []
    job.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(job.finished, timeout=60000):
        pass
    path = tmp_path / "out" / STREAM_FILE
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [STREAM_FILE]
    _assert_is_the_trace_of(path, window.session)
    assert progress and progress[-1] == (400, 400)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    qtbot.waitUntil(lambda: any(m.startswith("Wrote ") for m in messages), timeout=5000)
    assert stream_manifest(path)["session"]["seed"] == 3


def test_cancel_stops_the_stream_and_leaves_no_file(qtbot, window, tmp_path, monkeypatch):
    messages = _messages(window)
    target = tmp_path / "stream.npz"
    target.write_bytes(b"old")
    clicked = threading.Event()
    real_start = StreamExport.start

    def start_holding_the_second_chunk(job):  # until the click: no race with a fast disk
        chunk = job.stream._chunk

        def held(a, b):
            if a > 0:
                clicked.wait(30)
            return chunk(a, b)

        job.stream._chunk = held
        real_start(job)

    monkeypatch.setattr(StreamExport, "start", start_holding_the_second_chunk)
    job = window.exports.start_stream_export(target, chunk_steps=10)
    seen = []

    def cancel_on_first(done, total):
        seen.append(done)
        if done >= 10 and not clicked.is_set():
            job.dialog.findChild(QPushButton).click()  # the progress dialog's Cancel
            clicked.set()

    job.progress.connect(cancel_on_first)
    with qtbot.waitSignal(job.cancelled, timeout=60000):
        pass
    qtbot.wait(50)
    assert target.read_bytes() == b"old"  # no partial file, the old one untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.npz"]
    assert max(seen) < 400
    assert any("Export cancelled: stream.npz was not written" in m for m in messages)
    assert not job.dialog.isVisible()


def test_a_windowed_session_streams_every_step_while_its_views_keep_their_window(
        qtbot, make_window, tmp_path):
    cfg = LSTMConfig(input_size=3, hidden_size=6, num_layers=2, bidirectional=True)
    spec = InputSpec(source="sine", seq_len=20000, batch_size=1)
    session = Session(cfg, spec, seed=5, memory_budget=12_000_000)
    session.window_size = 500
    assert session.windowed
    w = make_window(session)
    qtbot.waitUntil(lambda: w.ctx.up_to_date, timeout=15000)
    session.seek(7000)  # the window around t = 7000 is traced on the worker
    qtbot.waitUntil(lambda: w.ctx.up_to_date and w.ctx.holds(7000), timeout=15000)
    window_before = session.window
    assert window_before[0] <= 7000 < window_before[1]
    dialog = ExportDialog(w.exports, everything=False)
    qtbot.addWidget(dialog)
    assert "every step, not only the window" in dialog.stream.text()
    job = StreamExport(w.session, tmp_path / "long.npz")
    with qtbot.waitSignal(job.finished, timeout=120000):
        job.start()
    path = tmp_path / "long.npz"
    manifest = stream_manifest(path)
    assert manifest["windowed"] and manifest["num_steps"] == 20000
    assert max(c["stop"] - c["start"] for c in manifest["chunks"]) <= 500
    _assert_is_the_trace_of(path, session)
    assert session.window == window_before and session.t == 7000


def test_file_menu_offers_the_streamed_export(window):
    texts = [a.text() for a in window.file_menu.actions()]
    assert "Export full trace, streamed (NPZ chunks)…" in texts


def test_a_bad_chunk_size_is_refused_before_anything_starts(window, tmp_path):
    with pytest.raises(ValueError, match="chunk_steps must be a positive whole number"):
        window.exports.start_stream_export(tmp_path / "x.npz", chunk_steps=0)
    assert not (tmp_path / "x.npz").exists()


# ----- the command line -----------------------------------------------------------------------
@pytest.fixture
def session_json(tmp_path):
    data = {"input_size": 3, "hidden_size": 6, "num_layers": 2, "bidirectional": True,
            "proj_size": 4, "seq_len": 230, "batch_size": 2, "input": {"source": "sine"},
            "seed": 4}
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    return path


def _lstm_viz(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "lstm_viz_app", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_export_stream_command_writes_every_step(tmp_path, session_json):
    out = tmp_path / "data"
    proc = _lstm_viz("export", "--config", str(session_json), "--out", str(out), "--stream",
                     "--chunk-steps", "64")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / STREAM_FILE)]  # the stream only: no window
    manifest = stream_manifest(out / STREAM_FILE)
    assert [(c["start"], c["stop"]) for c in manifest["chunks"]] == [
        (0, 64), (64, 128), (128, 192), (192, 230)]
    _assert_is_the_trace_of(out / STREAM_FILE,
                            Session.from_dict(json.loads(session_json.read_text())))


def test_export_stream_with_formats_writes_both(tmp_path, session_json):
    out = tmp_path / "both"
    proc = _lstm_viz("export", "--config", str(session_json), "--out", str(out), "--stream",
                     "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    names = {Path(p).name for p in proc.stdout.split()}
    assert STREAM_FILE in names and "shapes.csv" in names


@pytest.mark.parametrize("argv, needle", [
    (["--stream", "--chunk-steps", "0"], "--chunk-steps must be a positive number"),
    (["--chunk-steps", "5"], "--chunk-steps sets the chunks of --stream"),
    (["--stream", "--chunk-steps", "x"], "invalid int"),
    (["--stream", "--out-file"], "--out"),
])
def test_bad_stream_options_are_one_line_and_status_2(tmp_path, session_json, argv, needle):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    if argv[-1] == "--out-file":
        argv = argv[:-1]
        out = str(blocker / "inside")
    else:
        out = str(tmp_path / "out")
    proc = _lstm_viz("export", "--config", str(session_json), "--out", out, *argv)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("lstm-viz: error:")
    assert needle in proc.stderr
