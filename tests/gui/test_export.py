"""Exports load back: PNG at the chosen size, SVG that parses, NPZ equal to the trace (and enough
to recompute it with torch alone), CSV, session JSON, GIF; and the generated code runs."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtGui import QImage

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz_app.export import export_gif, export_views, save_png, save_svg

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path, make_window):
    cfg = LSTMConfig(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    spec = InputSpec(source="sine", seq_len=9, batch_size=3, lengths=(9, 4, 7))
    w = make_window(Session(cfg, spec, seed=3))
    w.session.seek(2)
    return w


def test_png_export_has_the_chosen_resolution(window, tmp_path):
    view = window.views["Gates"]
    window.show_view("Gates")
    path = save_png(view, tmp_path / "gates.png", scale=2)
    image = QImage(str(path))
    assert (image.width(), image.height()) == (view.width() * 2, view.height() * 2)
    # not a blank page: the heatmaps put many colours in it
    with Image.open(path) as im:
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50


def test_svg_export_parses_and_has_the_view_size(window, tmp_path):
    window.show_view("Shapes")
    view = window.views["Shapes"]
    path = save_svg(view, tmp_path / "shapes.svg")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    view_box = [float(v) for v in root.get("viewBox").split()]
    assert view_box[2:] == [view.width(), view.height()]
    text = "".join(root.itertext())
    assert "h_n" in text and "weight_ih_l0" in text


def test_export_everything_writes_files_that_load_back(window, tmp_path):
    out = tmp_path / "out"
    written = export_views(window, out, ["png", "svg", "csv", "npz"])
    names = {p.name for p in written}
    for title in ("gates", "states", "shapes", "code"):
        assert f"{title}.png" in names and f"{title}.svg" in names
        ET.parse(out / f"{title}.svg")
    session = window.session
    tr = session.trace
    with np.load(out / "trace.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["gates"], tr.gates.numpy())
        np.testing.assert_array_equal(npz["c"], tr.c.numpy())
        np.testing.assert_array_equal(npz["h"], tr.h.numpy())
        np.testing.assert_array_equal(npz["h_n"], tr.h_n.numpy())
        np.testing.assert_array_equal(npz["c_n"], tr.c_n.numpy())
        for name, p in session.lstm.named_parameters():
            np.testing.assert_array_equal(npz[name], p.detach().numpy())
        arrays = {k: npz[k] for k in npz.files}
    # anyone can recompute the output from the file with torch alone
    lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    lstm.load_state_dict({n: torch.from_numpy(arrays[n]) for n, _ in lstm.named_parameters()})
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.from_numpy(arrays["input"]), torch.from_numpy(arrays["lengths"]),
        enforce_sorted=False)
    with torch.no_grad():
        out_packed, (h_n, c_n) = lstm(packed)
    output, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, total_length=9)
    np.testing.assert_allclose(output.numpy(), arrays["output"], atol=1e-5)
    np.testing.assert_allclose(h_n.numpy(), arrays["h_n"], atol=1e-5)
    # CSV: gates of the selected slice, blank where a sequence has ended
    with open(out / "gates_l0_fwd_b0.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 * 5
    row = next(r for r in rows if r["t"] == "3" and r["unit"] == "2")
    assert float(row["f"]) == pytest.approx(float(tr.gates[0, 0, 3, 0, 1, 2]), abs=1e-6)
    # the session JSON rebuilds the same session
    data = json.loads((out / "session.json").read_text())
    again = Session.from_dict(data)
    assert again.config == session.config
    assert again.input_spec == session.input_spec
    assert again.seed == session.seed
    assert json.loads(json.dumps(again.to_dict())) == data
    # the PNG of the whole window is the window's size
    image = QImage(str(out / "window.png"))
    assert (image.width(), image.height()) == (window.width(), window.height())


def test_csv_of_padded_batch_element_is_blank_after_its_length(window, tmp_path):
    window.ctx.select(batch=1)
    export_views(window, tmp_path, ["csv"], titles=["Gates"])
    with open(tmp_path / "gates_l0_fwd_b1.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["i"] == "" for r in rows if int(r["t"]) >= 4)
    assert all(r["i"] != "" for r in rows if int(r["t"]) < 4)


def test_animated_gif_has_one_frame_per_step(window, tmp_path):
    path = export_gif(window, tmp_path / "steps.gif", scale=0.25)
    with Image.open(path) as im:
        assert im.n_frames == window.session.num_steps
    assert window.session.t == 2  # the view is back where it was


def test_unknown_export_format_is_refused(window, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export_views(window, tmp_path, ["bmp"])


@pytest.mark.parametrize("cfg, spec", [
    (LSTMConfig(3, 5, num_layers=2, bidirectional=True, batch_first=True, proj_size=2),
     InputSpec(source="random", seq_len=7, batch_size=3, lengths=(7, 2, 5))),
    (LSTMConfig(2, 4, bias=False), InputSpec(source="ramp", seq_len=6, batch_size=2)),
    (LSTMConfig(2, 3, batch_first=True), InputSpec(seq_len=8, batch_size=2, lengths=(5, 5))),
])
def test_generated_code_reproduces_the_trace(qtbot, cfg, spec, make_window):
    w = make_window(Session(cfg, spec, seed=11))
    tr = w.session.trace
    code = w.views["Code"].code()
    scope: dict = {}
    exec(compile(code, "<lstm-viz code view>", "exec"), scope)  # noqa: S102 - the test's point
    np.testing.assert_allclose(scope["h_n"].numpy(), tr.h_n.numpy(), atol=1e-5)
    np.testing.assert_allclose(scope["c_n"].numpy(), tr.c_n.numpy(), atol=1e-5)
    # the explicit loop gives the same gates and states as the engine, NaN where padded
    np.testing.assert_allclose(scope["gates"].numpy(), tr.gates.numpy(), atol=1e-5)
    np.testing.assert_allclose(scope["cs"].numpy(), tr.c.numpy(), atol=1e-5)
    np.testing.assert_allclose(scope["hs"].numpy(), tr.h.numpy(), atol=1e-5)
    np.testing.assert_allclose(scope["h_n_loop"].numpy(), tr.h_n.numpy(), atol=1e-5)


def test_export_dialog_writes_the_current_view(qtbot, window, tmp_path):
    from lstm_viz_app.export import ExportDialog
    window.show_view("States")
    dialog = ExportDialog(window, everything=False)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "dlg"))
    dialog.scale.setValue(2)
    for fmt, box in dialog.checks.items():
        box.setChecked(fmt in ("png", "svg"))
    dialog._export()
    files = sorted(p.name for p in (tmp_path / "dlg").iterdir())
    assert files == ["states.png", "states.svg"]
    image = QImage(str(tmp_path / "dlg" / "states.png"))
    view = window.views["States"]
    assert (image.width(), image.height()) == (2 * view.width(), 2 * view.height())


def test_generated_code_of_a_loaded_model_reads_its_file(qtbot, tmp_path, make_window):
    from lstm_viz.io import load_into_session, load_model
    torch.manual_seed(123)
    trained = torch.nn.LSTM(2, 4, num_layers=2)
    path = tmp_path / "trained.pt"
    torch.save(trained.state_dict(), path)
    session = Session(LSTMConfig(2, 4), InputSpec(seq_len=6, batch_size=2), seed=5)
    load_into_session(session, load_model(path))
    w = make_window(session)
    code = w.views["Code"].code()
    assert "load_model(" in code and "manual_seed" not in code
    scope: dict = {}
    exec(compile(code, "<lstm-viz code view>", "exec"), scope)  # noqa: S102
    with torch.no_grad():
        expected, (h_n, _) = trained(w.session.input_tm.cpu())
    np.testing.assert_allclose(scope["output"].numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(scope["hs"].numpy(), w.session.trace.h.numpy(), atol=1e-5)
