"""Exports load back: PNG at the chosen size, SVG and PDF figures of the plots themselves, NPZ equal
to the trace (and enough to recompute it with torch alone), CSV, session JSON, animations whose
colour bars keep their colours, written without freezing the window; and the code export runs."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QScrollBar

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz_app.export import AnimationExport, ExportDialog, colour_maps
from lstm_viz_app.figure_writers import figure_image, save_pdf, save_png, save_svg

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path, make_window):
    cfg = LSTMConfig(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    spec = InputSpec(source="sine", seq_len=9, batch_size=3, lengths=(9, 4, 7))
    w = make_window(Session(cfg, spec, seed=3))
    w.session.seek(2)
    return w


def test_a_views_png_is_its_figure_at_the_chosen_scale_not_a_screen_grab(window, tmp_path):
    window.exports.export_views(tmp_path / "one", ["png"], titles=["Gates"],
                                include_window=False)
    window.exports.export_views(tmp_path / "two", ["png"], titles=["Gates"], scale=2,
                                include_window=False)
    fig = window.exports.figure("Gates")
    view = window.views["Gates"]
    one, two = QImage(str(tmp_path / "one" / "gates.png")), QImage(str(tmp_path / "two" /
                                                                     "gates.png"))
    w, h = round(fig.size.width()), round(fig.size.height())
    assert (one.width(), one.height()) == (w, h)
    assert (two.width(), two.height()) == (2 * w, 2 * h)
    # the figure the SVG and PDF hold (every track at its height, a caption), not the screen
    np.testing.assert_array_equal(_rgb_array(one), _rgb_array(figure_image(fig)))
    grab = view.grab().toImage()
    assert (grab.width(), grab.height()) != (one.width(), one.height())
    # printed, both are the figure's size: the 2x one says it holds twice the dots per inch
    dpi = view.logicalDpiX()
    assert one.dotsPerMeterX() == pytest.approx(dpi / 0.0254, abs=1)
    assert two.dotsPerMeterX() == pytest.approx(2 * dpi / 0.0254, abs=1)
    # not a blank page: the heatmaps put many colours in it
    with Image.open(tmp_path / "two" / "gates.png") as im:
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50


def _svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()).strip() for el in root.iter() if el.tag.endswith("text")]


def test_svg_figure_has_the_views_width_its_text_as_text_and_a_caption(window, tmp_path):
    fig = window.exports.figure("Shapes")
    view = window.views["Shapes"]
    path = save_svg(fig, tmp_path / "shapes.svg", "Shapes")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    view_box = [float(v) for v in root.get("viewBox").split()]
    assert view_box[2] == view.width() and view_box[3] > view.height() * 0.5
    text = " ".join(_svg_texts(path))
    assert "h_n" in text and "weight_ih_l0" in text
    assert "lstm-viz, Shapes" in text and "hidden_size=5" in text
    # fonts named so that other programs draw the same widths, with a generic fallback
    assert "font-family=\"'Sans Serif'" not in path.read_text()
    assert "sans-serif" in path.read_text()


def test_svg_of_the_gates_has_axis_labels_caption_and_no_screen_only_parts(window, tmp_path,
                                                                           monkeypatch):
    painted = []
    monkeypatch.setattr(QScrollBar, "paintEvent", lambda self, e: painted.append(self))
    window.session.seek(2)
    fig = window.exports.figure("Gates")
    path = save_svg(fig, tmp_path / "gates.svg", "Gates")
    texts = _svg_texts(path)
    joined = " ".join(texts)
    assert any(t.startswith("t (input position)") for t in texts) and "unit" in texts
    assert "layer 0, forward, batch element 0 (of 3; lengths [9, 4, 7])" in joined
    assert "t = 2 of 0..8" in joined
    assert "Hover" not in joined  # the hover reading is for the screen only
    assert painted == []


def test_code_figure_holds_the_whole_script_without_scrollbars(window, tmp_path, monkeypatch):
    painted = []
    monkeypatch.setattr(QScrollBar, "paintEvent", lambda self, e: painted.append(self))
    fig = window.exports.figure("Code")
    view = window.views["Code"]
    path = save_svg(fig, tmp_path / "code.svg", "Code")
    joined = "\n".join(_svg_texts(path))
    last = view.code().strip().splitlines()[-1].strip()
    assert last in joined  # the end of the script, far below what the text box shows
    assert fig.size.height() > view.height()
    assert painted == []


def test_pdf_figure_is_a_one_page_pdf(window, tmp_path):
    fig = window.exports.figure("States")
    path = save_pdf(fig, tmp_path / "states.pdf", "States")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"/Type /Page" in data and b"/Count 1" in data  # one page, the figure's size
    assert b"/FontFile" in data  # text as text, in embedded fonts


def test_svg_figure_renders_back_as_the_figure(window, tmp_path):
    window.session.seek(3)
    fig = window.exports.figure("Gates")
    path = save_svg(fig, tmp_path / "gates.svg", "Gates")
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    size = renderer.defaultSize()
    assert (size.width(), size.height()) == (round(fig.size.width()), round(fig.size.height()))
    image = QImage(size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    direct = figure_image(fig)
    a, b = _rgb_array(image), _rgb_array(direct)
    assert a.shape == b.shape
    # the same picture: heatmap cells agree; text may be anti-aliased a little differently
    assert np.mean(np.abs(a.astype(int) - b.astype(int)) <= 8) > 0.95


def _rgb_array(image: QImage) -> np.ndarray:
    from lstm_viz_app.export import _rgb
    return _rgb(image)


def test_export_everything_skips_views_with_nothing_to_show(window, tmp_path):
    written = {p.name for p in window.exports.export_views(tmp_path, ["svg"])}
    assert "text.svg" not in written  # the input is a sine wave: no text to colour
    assert {"gates.svg", "states.svg", "shapes.svg", "code.svg"} <= written


def test_export_everything_includes_the_text_view_for_a_text_input(qtbot, tmp_path,
                                                                   make_window):
    spec = InputSpec(source="text", text="hello world", seq_len=11, batch_size=1)
    w = make_window(Session(LSTMConfig(input_size=128, hidden_size=4), spec))
    written = {p.name for p in w.exports.export_views(tmp_path, ["svg"])}
    assert "text.svg" in written
    joined = "".join(_svg_texts(tmp_path / "text.svg"))
    assert "hello" in joined and "wor" in joined


def test_export_everything_writes_files_that_load_back(window, tmp_path):
    out = tmp_path / "out"
    written = window.exports.export_views(out, ["png", "svg", "csv", "npz"])
    names = {p.name for p in written}
    for title in ("gates", "states", "shapes", "code"):
        assert f"{title}.png" in names and f"{title}.svg" in names
        ET.parse(out / f"{title}.svg")
    assert "lstm_check.py" not in names  # the code export is its own format
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
    window.exports.export_views(tmp_path, ["csv"], titles=["Gates"])
    with open(tmp_path / "gates_l0_fwd_b1.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["i"] == "" for r in rows if int(r["t"]) >= 4)
    assert all(r["i"] != "" for r in rows if int(r["t"]) < 4)


def test_animated_gif_has_one_frame_per_step(window, tmp_path):
    path = window.exports.export_gif(tmp_path / "steps.gif", scale=0.25)
    with Image.open(path) as im:
        assert im.n_frames == window.session.num_steps
    assert window.session.t == 2  # the view is back where it was


def test_unknown_export_format_is_refused(window, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        window.exports.export_views(tmp_path, ["bmp"])


def test_export_dialog_writes_the_current_view(qtbot, window, tmp_path):
    window.show_view("States")
    dialog = ExportDialog(window.exports, everything=False)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "dlg"))
    dialog.scale.setValue(2)
    for fmt, box in dialog.checks.items():
        box.setChecked(fmt in ("png", "svg"))
    dialog._export()
    files = sorted(p.name for p in (tmp_path / "dlg").iterdir())
    assert files == ["states.png", "states.svg"]
    image = QImage(str(tmp_path / "dlg" / "states.png"))
    fig = window.exports.figure("States")
    size = (2 * round(fig.size.width()), 2 * round(fig.size.height()))
    assert (image.width(), image.height()) == size
    assert f"{size[0]} × {size[1]} pixels" in dialog.size_label.text()




def _bar_box(window, title: str, scale: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the first colour bar's ramp in the view's figure at ``scale``."""
    import pyqtgraph as pg
    view = window.views[title]
    graphics = next(g for g in view.findChildren(pg.GraphicsView) if g.isVisible() and any(
        isinstance(i, pg.ColorBarItem) and i.isVisible() for i in g.scene().items()))
    bar = next(i for i in graphics.scene().items()
               if isinstance(i, pg.ColorBarItem) and i.isVisible())
    placed = getattr(window.exports.figure(title), "place", None)
    if placed is not None:  # a timeline's figure: the tracks one under the other
        rect = placed(graphics, bar.bar.sceneBoundingRect())
    else:
        rect = graphics.mapFromScene(bar.bar.sceneBoundingRect()).boundingRect()
        rect.translate(graphics.mapTo(view, rect.topLeft()) - rect.topLeft())
    # the ramp's middle: its edges blend into the frame and the tick marks
    x0, y0 = rect.left() + 4, rect.top() + 3
    x1, y1 = rect.right() - 4, rect.bottom() - 3
    return tuple(int(v * scale) for v in (x0, y0, x1, y1))


def test_gif_keeps_the_colour_bars_colours(window, tmp_path):
    window.show_view("Gates")
    scale = 1.0
    reference = _rgb_array(figure_image(window.exports.figure("Gates"), scale))
    path = window.exports.export_animation(tmp_path / "steps.gif", scale=scale)
    x0, y0, x1, y1 = _bar_box(window, "Gates", scale)
    assert y1 - y0 > 50 and x1 - x0 >= 3
    with Image.open(path) as im:
        im.seek(window.session.t)  # the frame of the step on screen
        frame = np.asarray(im.convert("RGB"))
    want = reference[y0:y1, x0:x1].astype(int)
    got = frame[y0:y1, x0:x1].astype(int)
    assert len(np.unique(want.reshape(-1, 3), axis=0)) > 50  # a ramp, not a flat patch
    assert np.abs(got - want).max() <= 6
    # both colour maps of the view are in the palette
    assert len(colour_maps(window.views["Gates"])) == 2


def test_webp_animation_is_lossless(window, tmp_path):
    window.show_view("States")
    window.session.seek(0)
    reference = _rgb_array(figure_image(window.exports.figure("States"), 0.5))
    path = window.exports.export_animation(tmp_path / "steps.webp", scale=0.5)
    with Image.open(path) as im:
        assert im.n_frames == window.session.num_steps
        frame = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(frame, reference)


def test_animation_export_keeps_the_window_answering_and_reports_progress(qtbot, window,
                                                                          tmp_path, loop_ticks):
    window.show_view("Gates")
    job = AnimationExport(window.exports, tmp_path / "steps.gif", scale=0.5)
    progress: list[int] = []
    stamps: list[float] = []
    job.progress.connect(lambda done, total: (progress.append(done),
                                              stamps.append(time.perf_counter())))
    qtbot.wait(50)  # whatever earlier tests left for the event loop
    with qtbot.waitSignal(job.finished, timeout=60000):
        job.start()
    ended = time.perf_counter()
    during = [t for t in loop_ticks if stamps[0] <= t <= ended]
    assert len(during) >= len(job.steps)  # the event loop ran between frames
    gaps = np.diff([stamps[0], *during, ended])
    assert gaps.max() < 0.5
    assert progress[-1] == job.total and progress == sorted(progress)
    assert (tmp_path / "steps.gif").exists()
    assert window.session.t == 2


@pytest.mark.parametrize("when", ["drawing", "encoding"])
def test_cancel_stops_the_animation_and_leaves_no_file(qtbot, window, tmp_path, when):
    target = tmp_path / "steps.gif"
    target.write_bytes(b"old")
    job = AnimationExport(window.exports, target, scale=0.5)
    n = len(job.steps)
    at = 3 if when == "drawing" else n + 1

    def maybe_cancel(done, total):
        if done == at:
            job.cancel()

    job.progress.connect(maybe_cancel)
    with qtbot.waitSignal(job.cancelled, timeout=60000):
        job.start()
    qtbot.wait(50)
    assert target.read_bytes() == b"old"  # the old file is untouched, no partial one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.gif"]
    assert window.session.t == 2


def test_code_export_from_the_dialog_writes_a_script_that_checks_the_app(qtbot, window,
                                                                         tmp_path):
    window.session.edit_state("h", 3, 0, 1, 2, 1, 0.5)
    window.session.edit_input(2, 0, 1, -1.0)
    qtbot.waitUntil(lambda: window.ctx.up_to_date)
    dialog = ExportDialog(window.exports, everything=False, formats=("py",))
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "code"))
    dialog._export()
    files = sorted(p.name for p in (tmp_path / "code").iterdir())
    assert files == ["lstm_check.npz", "lstm_check.py"]
    script = tmp_path / "code" / "lstm_check.py"
    # the Code view shows exactly the script that was written
    assert window.views["Code"].code() == script.read_text()
    res = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_export_command_writes_figures_animations_and_a_check_script_of_an_edited_session(
        qtbot, tmp_path, capsys):
    from lstm_viz_app import cli
    session = Session(LSTMConfig(3, 4, num_layers=2, bidirectional=True, proj_size=2,
                                 batch_first=True),
                      InputSpec(source="sine", seq_len=8, batch_size=2, lengths=(8, 5)),
                      seed=6)
    session.edit_input(1, 1, 0, 2.0, rerun=False)
    session.edit_state("c", 4, 1, 1, 0, 3, -1.5, rerun=False)
    config = tmp_path / "session.json"
    config.write_text(json.dumps(session.to_dict()))
    out = tmp_path / "out"
    assert cli.main(["export", "--config", str(config), "--out", str(out), "--view", "States",
                     "--format", "pdf,py,webp"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"gates.pdf", "states.pdf", "lstm_check.py", "lstm_check.npz", "steps.webp"} <= names
    assert not any(n.endswith(".svg") or n.endswith(".png") for n in names)
    script = (out / "lstm_check.py").read_text()
    assert "x[1, 1, 0] = 2.0" in script and "('c', 4, 1, 1, 0, 3, -1.5)," in script
    res = subprocess.run([sys.executable, "-I", str(out / "lstm_check.py")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(out / "steps.webp") as im:
        assert im.n_frames == 8


def test_figure_tables_hold_every_cells_whole_text(window, tmp_path):
    from PySide6.QtGui import QFontMetrics
    fig = window.exports.figure("Shapes")
    view = window.views["Shapes"]
    path = save_svg(fig, tmp_path / "shapes.svg", "Shapes")
    joined = " ".join(" ".join(_svg_texts(path)).split())
    table = view.tensors
    fm = QFontMetrics(table.font())
    cells = [table.item(r, c).text() for r in range(table.rowCount())
             for c in range(table.columnCount()) if table.item(r, c) is not None]
    # on screen some cells are cut short ("…"); the figure has them whole
    assert any(fm.horizontalAdvance(table.item(r, c).text()) > table.columnWidth(c) - 6
               for r in range(table.rowCount()) for c in range(table.columnCount())
               if table.item(r, c) is not None)
    for text in cells:
        assert " ".join(text.split()) in joined


def test_an_animation_is_the_size_of_the_view_with_its_legend_whole(window, tmp_path):
    window.show_view("States")
    view = window.views["States"]
    fig = window.exports.figure("States")
    path = window.exports.export_animation(tmp_path / "steps.gif", max_frames=2)
    with Image.open(path) as im:
        # the timeline's own size, every track at its height (and the caption under them),
        # not shrunk to the window
        assert im.size == (round(fig.size.width()), round(fig.size.height()))
        assert im.size[0] == view.timeline.width()
        assert im.size[1] > view.timeline.scroll_area.viewport().height()
    # every legend entry lies inside what the figure draws of its track
    units = view.timeline.track("units")
    drawn = QRectF(0, 0, fig.size.width(), fig.size.height())
    assert units.legend.items
    for sample, label in units.legend.items:
        for item in (sample, label):
            placed = fig.place(units.graphics, item.sceneBoundingRect())
            assert placed is not None and drawn.contains(placed)


def test_a_timeline_svg_holds_every_visible_tracks_label_as_text(window, tmp_path):
    from lstm_viz_app.timeline.track import plain
    fig = window.exports.figure("Gates")
    timeline = window.views["Gates"].timeline
    timeline.frame("g").set_collapsed(True)  # a collapsed track: its summary line
    fig = window.exports.figure("Gates")
    root = ET.parse(save_svg(fig, tmp_path / "gates.svg")).getroot()
    # Qt writes a line in runs, one per font that has its glyphs: join them by baseline
    runs: dict[str, list[tuple[float, str]]] = {}
    for t in root.iter():
        if t.tag.endswith("text"):
            runs.setdefault(t.get("y"), []).append((float(t.get("x")), "".join(t.itertext())))
    texts = [" ".join("".join(text for _, text in sorted(line)).split())
             for line in runs.values()]
    for frame in timeline.frames:
        track = frame.track
        shown = track.summary() if frame.collapsed or not track.available else track.title()
        assert " ".join(plain(shown).split()) in texts, plain(shown)
    # the tracks below the scrolled part are in the figure too
    assert fig.size.height() > timeline.scroll_area.viewport().height()


def test_a_timeline_pdf_is_one_page_the_figures_size_in_points(window, tmp_path):
    fig = window.exports.figure("Gates")
    data = save_pdf(fig, tmp_path / "gates.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and b"/Count 1" in data
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert box is not None
    # 96 pixels an inch, 72 points an inch
    np.testing.assert_allclose([float(box.group(1)), float(box.group(2))],
                               [fig.size.width() * 0.75, fig.size.height() * 0.75], atol=1)
    assert b"/FontFile" in data  # text as text


def test_a_timeline_pdf_holds_its_heatmaps_at_print_resolution(window, tmp_path):
    from lstm_viz_app.figure_writers import PRINT_DPI
    window.session.set_input(InputSpec(seq_len=3000, batch_size=1))
    window.ctx.retrace_now()
    fig = window.exports.figure("Gates")
    window.views["Gates"].timeline.overview.set_window(0, 3000)
    track = window.views["Gates"].timeline.track("f")
    on_screen = track.map.image.image.shape[1]  # pixel columns on screen
    assert on_screen < 3000
    data = save_pdf(fig, tmp_path / "gates.pdf").read_bytes()
    widths = [int(w) for w in re.findall(rb"/Width (\d+)", data)]
    # every step has its column, or the columns are 300 dpi's worth of the plot's width
    want = min(3000, int(on_screen * PRINT_DPI / fig.view.logicalDpiX()))
    assert max(widths) >= want
    assert track.map.image.image.shape[1] == on_screen  # the screen keeps its own image


def test_a_timeline_png_at_scale_2_is_twice_the_size_with_sharper_heatmaps(window, tmp_path):
    window.session.set_input(InputSpec(seq_len=3000, batch_size=1))
    window.ctx.retrace_now()
    fig = window.exports.figure("Gates")
    window.views["Gates"].timeline.overview.set_window(0, 3000)
    one = QImage(str(save_png(fig, tmp_path / "one.png")))
    two = QImage(str(save_png(fig, tmp_path / "two.png", 2)))
    assert (two.width(), two.height()) == (2 * one.width(), 2 * one.height())
    # the heatmap holds twice the columns, fewer steps merged into each pixel: not the
    # screen's image magnified (whose columns would come in equal pairs)
    track = window.views["Gates"].timeline.track("f")
    assert track.map.steps_per_px > 1
    box = fig.place(track.graphics, track.map.image.sceneBoundingRect())
    assert box is not None
    y = int(2 * box.center().y())
    row = [two.pixel(x, y) for x in range(int(2 * box.left()) + 4, int(2 * box.right()) - 4)]
    pairs = list(zip(row[0::2], row[1::2]))
    assert sum(a != b for a, b in pairs) > len(pairs) // 4
    with pytest.raises(ValueError, match="above 0"):
        save_png(fig, tmp_path / "none.png", 0)


class _LaidOutAt:
    """A view's stand-in that says it was laid out at ``dpi`` (a screen that is not 96 dpi,
    as macOS's 72)."""

    def __init__(self, dpi: int):
        self.dpi = dpi

    def logicalDpiX(self) -> int:  # noqa: N802 - Qt's name
        return self.dpi


def test_a_figure_is_written_at_the_resolution_its_view_was_laid_out_at(window, tmp_path,
                                                                         monkeypatch):
    fig = window.exports.figure("States")
    w, h = fig.size.width(), fig.size.height()
    monkeypatch.setattr(fig, "view", _LaidOutAt(72))
    # a PDF page of the figure's pixels at 72 an inch: points, one for one (at a fixed
    # 96 dpi, fonts given in points would come out smaller than the legends beside them)
    data = save_pdf(fig, tmp_path / "states.pdf").read_bytes()
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert box is not None
    np.testing.assert_allclose([float(box.group(1)), float(box.group(2))], [w, h], atol=1)
    # a PNG at 3x says it holds 3 x 72 dots an inch: printed, it is the figure's size
    image = QImage(str(save_png(fig, tmp_path / "states.png", 3)))
    assert image.dotsPerMeterX() == pytest.approx(216 / 0.0254, abs=1)
    assert (image.width(), image.height()) == (3 * round(w), 3 * round(h))


def test_a_timeline_figures_text_is_at_one_print_scale(window, tmp_path):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QGraphicsTextItem
    window.session.edit_state("h", 3, 0, 0, 0, 1, 0.5)  # the units track shows a legend
    fig = window.exports.figure("States")
    sizes = {"track labels": fig.font.pointSizeF(), "caption":
             fig.caption.defaultFont().pointSizeF()}
    for track in fig.tracks:
        if track.view is None:
            continue
        for item in track.view.scene().items():
            if isinstance(item, QGraphicsTextItem) and item.isVisible() \
                    and item.toPlainText().strip():
                found = re.findall(r"font-size:([\d.]+)pt", item.toHtml())
                sizes[item.toPlainText()] = float(found[-1]) if found else \
                    item.font().pointSizeF()
            elif isinstance(item, pg.AxisItem) and item.isVisible():
                font = item.style["tickFont"] or item.font()
                sizes[f"ticks of {track.label}"] = font.pointSizeF()
    assert len(sizes) > 10
    # labels, legends, colour bars and ticks: all within 8 to 9 pt, none larger than the rest
    assert max(sizes.values()) / min(sizes.values()) <= 9 / 8 + 1e-6, sizes


def _ink(image: QImage, box: QRectF, scale: int) -> int:
    """How many dark pixels (text, lines) ``image`` has inside ``box`` (figure pixels)."""
    rgb = _rgb_array(image).astype(int)
    x0, y0 = int(box.left() * scale), int(box.top() * scale)
    x1, y1 = int(box.right() * scale) + 1, int(box.bottom() * scale) + 1
    return int((rgb[y0:y1, x0:x1].sum(axis=2) < 3 * 140).sum())


def test_a_png_at_2x_draws_its_legends_twice_as_large_as_at_1x(window):
    window.session.edit_state("h", 3, 0, 0, 0, 1, 0.5)  # the units track shows a legend
    fig = window.exports.figure("States")
    units = window.views["States"].timeline.track("units")
    box = fig.place(units.graphics, units.legend.sceneBoundingRect())
    assert box is not None and units.legend.items
    one, two = _ink(figure_image(fig), box, 1), _ink(figure_image(fig, 2), box, 2)
    assert one > 20
    # twice as wide and twice as tall: about four times the ink (pyqtgraph's legends keep
    # their size whatever the zoom, which would leave them at half the size of their lines)
    assert 3.0 < two / one < 5.5, (one, two)


def test_a_png_is_encoded_off_the_gui_thread_while_the_window_goes_on(window, tmp_path,
                                                                       slowed, loop_ticks):
    import threading

    from lstm_viz_app import figure_writers
    spans = slowed(figure_writers, "image_bytes")  # as a large figure at 4x takes a while
    written = window.exports.export_views(tmp_path, ["png"], titles=["States"], scale=2,
                                          include_window=False)
    assert [p.name for p in written] == ["states.png"] and written[0].exists()
    (start, end, thread), = spans
    assert thread != threading.main_thread().name
    assert any(start < t < end for t in loop_ticks)  # the event loop ran while it encoded


def _text_boxes(view, at: QRectF) -> list[tuple[str, QRectF]]:
    """Every text ``view`` paints of its scene (axis tick labels, colour bars' included, axis
    titles, text items), where it lands when the view is drawn into ``at`` of a figure."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QGraphicsTextItem

    scratch = QImage(8, 8, QImage.Format.Format_RGB32)
    painter = QPainter(scratch)
    boxes: list[tuple[str, QRectF]] = []
    try:
        for item in view.scene().items():
            if not item.isVisible():
                continue
            if isinstance(item, pg.AxisItem):
                specs = item.generateDrawSpecs(painter)
                boxes += [(text, item.mapRectToScene(QRectF(rect)))
                          for rect, _, text in (specs[2] if specs else [])]
            elif isinstance(item, QGraphicsTextItem) and item.toPlainText().strip():
                boxes.append((item.toPlainText(), item.sceneBoundingRect()))
    finally:
        painter.end()
    return [(text, QRectF(view.mapFromScene(box).boundingRect()).translated(at.topLeft()))
            for text, box in boxes]


def test_no_tracks_labels_run_into_the_time_axis_of_a_states_figure_at_1x_and_2x(
        qtbot, make_window):
    # 256 units in a bar chart a third of the timeline wide: the bars carry a note under
    # their unit ticks, at the foot of the last track, right above the time axis
    w = make_window(Session(LSTMConfig(input_size=3, hidden_size=256), InputSpec(seq_len=150)))
    w.session.seek(40)
    fig = w.exports.figure("States")
    timeline = w.views["States"].timeline
    assert timeline.tracks()[-1].kind == "bars"
    assert any(b.units_per_bar > 1 for b in timeline.track("bars").bars.values())
    assert fig.axis_rect is not None
    ticks = _text_boxes(fig.axis, fig.axis_rect)
    assert {"t = 40", "100"} <= {text.strip() for text, _ in ticks}
    drawn = [(track.label, text, box) for track, (_, scene) in zip(fig.tracks, fig.rects)
             if track.view is not None and scene is not None
             for text, box in _text_boxes(track.view, scene)]
    assert any("units per bar" in text for _, text, _ in drawn)
    for label, text, box in drawn:
        for tick, tick_box in ticks:
            assert not box.intersects(tick_box), (label, text, tick)
    # drawn, at either scale: white rows between the last track and the time axis
    last = fig.rects[-1][1]
    assert last is not None
    for scale in (1, 2):
        rgb = _rgb_array(figure_image(fig, scale)).astype(int)
        gap = rgb[int((last.bottom() + 1) * scale) + 1:int(fig.axis_rect.top() * scale)]
        assert len(gap) >= 4 * scale, scale
        assert (gap.sum(axis=2) == 3 * 255).all(), scale
