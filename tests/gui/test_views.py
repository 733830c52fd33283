"""GUI tests, as a user: set the model through the widgets and check what the views show against
torch itself (nn.LSTM's own output and an independent LSTMCell-style recomputation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, QSettings, Qt

from lstm_viz import Session
from lstm_viz_app.context import AppContext
from lstm_viz_app.main import MainWindow
from lstm_viz_app.panels.config import InputPanel, ModelPanel
from lstm_viz_app.panels.gates import GatesView
from lstm_viz_app.panels.shapes import ShapesView
from lstm_viz_app.panels.states import StatesView
from lstm_viz_app.panels.units import UnitsView

pytestmark = pytest.mark.gui


@pytest.fixture
def panels(make_panels):
    """The model, input, gates and shapes panels on a default Session, without a window."""
    return make_panels(ModelPanel, InputPanel, GatesView, ShapesView)


def choose(combo, value):
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)


def reference_gates(lstm: torch.nn.LSTM, x: torch.Tensor, sfx: str = "_l0"):
    """Layer-0 forward gates (T, B, 4, H) and c (T, B, H) with the textbook equations."""
    P = dict(lstm.named_parameters())
    T, B, _ = x.shape
    H = lstm.hidden_size
    h = torch.zeros(B, lstm.proj_size or H)
    c = torch.zeros(B, H)
    gates, cs = [], []
    with torch.no_grad():
        for t in range(T):
            z = x[t] @ P["weight_ih" + sfx].T + h @ P["weight_hh" + sfx].T
            if lstm.bias:
                z = z + P["bias_ih" + sfx] + P["bias_hh" + sfx]
            i, f, g, o = z.chunk(4, 1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            if lstm.proj_size:
                h = h @ P["weight_hr" + sfx].T
            gates.append(torch.stack([i, f, g, o], 1))
            cs.append(c)
    return torch.stack(gates).numpy(), torch.stack(cs).numpy()


def test_config_set_through_widgets_updates_shapes_view_like_torch(qtbot, panels, wait_traced,
                                                                   type_value):
    model = panels.panels["Model"]
    fields = model.fields
    type_value(fields["hidden_size"].editor, 12)
    type_value(fields["num_layers"].editor, 2)
    choose(fields["bidirectional"].editor, True)
    fields["batch_first"].editor.click()
    type_value(fields["proj_size"].editor, 5)
    wait_traced(panels)
    cfg = panels.session.config
    assert (cfg.hidden_size, cfg.num_layers, cfg.bidirectional, cfg.batch_first,
            cfg.proj_size) == (12, 2, True, True, 5)
    # what torch itself returns for this module and input
    lstm = panels.session.lstm
    x = panels.session.input
    with torch.no_grad():
        output, (h_n, c_n) = lstm(x)
    expected = {"input": tuple(x.shape), "output": tuple(output.shape),
                "h_n": tuple(h_n.shape), "c_n": tuple(c_n.shape)}
    view = panels.panels["Shapes"]
    rows = {r[0]: r[1] for r in view.table_rows(view.tensors)}
    for name, shape in expected.items():
        sizes = tuple(int(part.split("=")[-1]) for part in rows[name].strip("()").split(", "))
        assert sizes == shape, name
    # batch_first swapped input/output but never the states
    assert expected["input"][0] == panels.session.input_spec.batch_size
    assert rows["h_n"].split(", ")[1].startswith("batch=")
    # parameter table: the module's own parameters, names and counts
    params = {r[0]: r[2] for r in view.table_rows(view.params)}
    total = params.pop("total")
    own = {n: p.numel() for n, p in lstm.named_parameters()}
    assert {n: int(c.replace(",", "")) for n, c in params.items()} == own
    assert int(total.replace(",", "")) == sum(own.values())
    # the diagram says what the last change did: proj_size shrank h_n, not c_n
    assert "proj_size: 0 → 5" in view.changes.text()
    assert "c_n" in view.changes.text().split("unchanged")[1]


def test_batch_first_toggle_says_states_are_unchanged(qtbot, panels, wait_traced):
    panels.panels["Model"].fields["batch_first"].editor.click()
    wait_traced(panels)
    text = panels.panels["Shapes"].changes.text()
    unchanged = text.split("<b>unchanged</b>:")[1]
    for name in ("h_0", "c_0", "h_n", "c_n"):
        assert name in unchanged
    assert "input" in text.split("<b>unchanged</b>")[0]


def test_gate_heatmaps_and_state_bars_match_torch(qtbot, window, wait_traced, type_value):
    fields = window.panels["Model"].fields
    type_value(fields["hidden_size"].editor, 6)
    type_value(fields["input_size"].editor, 3)
    wait_traced(window)
    session = window.session
    x = session.input_tm.cpu()
    ref_gates, ref_c = reference_gates(session.lstm, x)
    gates_view = window.panels["Gates"]
    for k, gate in enumerate("ifgo"):
        image = gates_view.heatmaps[gate].image.image  # (units, T) as drawn
        np.testing.assert_allclose(image, ref_gates[:, 0, k, :].T, atol=1e-5)
    # h heatmap is nn.LSTM's output (fused kernel) for batch element 0
    with torch.no_grad():
        output, _ = session.lstm(x)
    states = window.panels["States"]
    np.testing.assert_allclose(states.h_map.image.image, output[:, 0].numpy().T, atol=1e-5)
    np.testing.assert_allclose(states.c_map.image.image, ref_c[:, 0].T, atol=1e-5)
    # step with the keyboard, then the bars show that step
    window.show_view("States")
    for _ in range(4):
        qtbot.keyClick(window, Qt.Key.Key_Right)
    assert session.t == 4
    for k, gate in enumerate("ifgo"):
        np.testing.assert_allclose(states.bars[gate].heights, ref_gates[4, 0, k], atol=1e-5)
    np.testing.assert_allclose(states.bars["c"].heights, ref_c[4, 0], atol=1e-5)
    np.testing.assert_allclose(states.bars["h"].heights, output[4, 0].numpy(), atol=1e-5)
    # the equation line reads the same update for the focus unit
    i, f, g, o = ref_gates[4, 0, :, 0]
    c_new = f * ref_c[3, 0, 0] + i * g
    assert f"{c_new:+.3f}" in states.equation.text()


def test_selectors_pick_layer_direction_and_batch(qtbot, window, wait_traced, type_value):
    fields = window.panels["Model"].fields
    type_value(fields["num_layers"].editor, 2)
    choose(fields["bidirectional"].editor, True)
    wait_traced(window)
    session = window.session
    x = session.input_tm.cpu()
    with torch.no_grad():
        output, _ = session.lstm(x)
    H = session.config.hidden_size
    transport = window.transport
    transport.layer.setCurrentIndex(1)
    transport.direction.setCurrentIndex(1)
    transport.batch.setValue(1)
    assert (window.ctx.layer, window.ctx.direction, window.ctx.batch) == (1, 1, 1)
    # last layer, reverse direction = output[..., H:] of nn.LSTM
    np.testing.assert_allclose(window.panels["States"].h_map.image.image,
                               output[:, 1, H:].numpy().T, atol=1e-5)
    assert "layer 1, reverse, batch element 1" in window.panels["Gates"].caption.text()


def test_keyboard_stepping(qtbot, window):
    session = window.session
    n = session.num_steps
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert session.t == 2
    assert window.transport.slider.value() == 2
    assert "t = 2" in window.transport.t_label.text()
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert session.t == 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert session.t == n - 1
    assert window.panels["Gates"].heatmaps["i"].cursor.value() == n - 1
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert session.t == 0
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.transport.playing
    qtbot.waitUntil(lambda: session.t >= 2, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.transport.playing
    stopped_at = session.t
    qtbot.wait(300)
    assert session.t == stopped_at


def test_invalid_value_shows_message_and_keeps_last_good_run(qtbot, panels, wait_traced,
                                                             type_value):
    fields = panels.panels["Model"].fields
    before_trace = panels.session.trace
    before_image = panels.panels["Gates"].heatmaps["f"].image.image.copy()
    type_value(fields["proj_size"].editor, 8)  # == hidden_size: invalid
    message = fields["proj_size"].message
    assert message.isVisible()
    assert "proj_size must be smaller than hidden_size" in message.text()
    assert panels.session.config.proj_size == 0
    assert panels.session.trace is before_trace
    np.testing.assert_array_equal(panels.panels["Gates"].heatmaps["f"].image.image, before_image)
    # fixing it clears the message and runs
    type_value(fields["proj_size"].editor, 3)
    wait_traced(panels)
    assert not message.isVisible()
    assert panels.session.trace.h.shape[-1] == 3


def test_over_budget_input_is_refused_with_engine_message(qtbot, panels, type_value):
    inputs = panels.panels["Input"]
    trace = panels.session.trace
    type_value(inputs.fields["seq_len"].editor, 50_000_000)
    errors = inputs.errors
    assert "memory budget" in errors.get("seq_len", ""), errors  # next to the edited field
    assert panels.session.trace is trace
    assert panels.session.input_spec.seq_len == 20
    assert panels.ctx.up_to_date


def test_dropout_with_one_layer_warns_but_runs(qtbot, panels, wait_traced, type_value):
    fields = panels.panels["Model"].fields
    type_value(fields["dropout"].editor, "0.5")
    wait_traced(panels)
    assert panels.session.config.dropout == 0.5
    assert fields["dropout"].message.isVisible()
    assert "num_layers greater than 1" in fields["dropout"].message.text()


def test_variable_lengths_leave_padding_blank(qtbot, window, wait_traced, type_value):
    inputs = window.panels["Input"]
    type_value(inputs.fields["seq_len"].editor, 6)
    inputs.lengths.setText("6, 3")
    inputs.lengths.editingFinished.emit()
    wait_traced(window)
    window.transport.batch.setValue(1)
    image = window.panels["Gates"].heatmaps["o"].image.image
    assert np.isnan(image[:, 3:]).all()
    assert np.isfinite(image[:, :3]).all()
    # hovering a padded cell says so; hovering a real cell shows its value
    hm = window.panels["Gates"].heatmaps["o"]
    vb = hm.plot.getViewBox()
    inside = vb.mapViewToScene(QPointF(1, 2))
    padded = vb.mapViewToScene(QPointF(4, 2))
    gates = window.panels["Gates"]
    scene = vb.scene()  # each track has a scene of its own
    assert gates.hover_text(inside, scene) == f"gate o, unit 2, t 1: {image[2, 1]:.4f}"
    assert gates.hover_text(padded, scene) == \
        "gate o, unit 2, t 4: blank: sequence 1 ended at t = 2"


def test_bad_lengths_text_shows_message(qtbot, panels):
    inputs = panels.panels["Input"]
    inputs.lengths.setText("5, 99")
    inputs.lengths.editingFinished.emit()
    assert "lengths" in inputs.errors
    assert panels.session.input_spec.lengths is None


def test_padding_cells_are_drawn_blank_and_real_cells_coloured(qtbot, window, wait_traced,
                                                               type_value):
    inputs = window.panels["Input"]
    type_value(inputs.fields["seq_len"].editor, 8)
    inputs.lengths.setText("8, 4")
    inputs.lengths.editingFinished.emit()
    wait_traced(window)
    window.transport.batch.setValue(1)
    gates = window.panels["Gates"]
    qtbot.wait(50)
    graphics = gates.timeline.track("f").graphics  # the f track's own scene
    picture = graphics.grab().toImage()
    hm = gates.heatmaps["f"]
    vb = hm.plot.getViewBox()

    def colour_at(t, unit):
        scene = vb.mapViewToScene(QPointF(t, unit))
        point = graphics.mapFromScene(scene)
        ratio = picture.devicePixelRatio()
        return picture.pixelColor(int(point.x() * ratio), int(point.y() * ratio))

    blank = colour_at(6, 3)  # t=6 >= length 4: past the end of this sequence
    # no colour of the map there: the background or the grey hatching over it
    assert blank.red() == blank.green() == blank.blue()
    real = colour_at(2, 3)
    assert (real.red(), real.green(), real.blue()) != (255, 255, 255)


def test_file_input_sets_its_own_sizes(qtbot, window, tmp_path, wait_traced):
    data = np.random.default_rng(0).normal(size=(15, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", data)
    inputs = window.panels["Input"]
    choose(inputs.fields["source"].editor, "file")
    assert "path" in inputs.errors  # no file yet: the engine says what it needs
    assert not inputs.fields["seq_len"].editor.isEnabled()
    inputs.path.setText(str(tmp_path / "x.npy"))
    inputs.path.editingFinished.emit()
    wait_traced(window)
    np.testing.assert_array_equal(window.session.trace.x.numpy(), data)
    assert window.transport.batch.maximum() == 2
    assert window.transport.slider.maximum() == 14
    assert (inputs.fields["seq_len"].value(), inputs.fields["batch_size"].value()) == (15, 3)
    view = window.panels["Shapes"]
    rows = {r[0]: r[1] for r in view.table_rows(view.tensors)}
    assert rows["input"] == "(seq_len=15, batch=3, input_size=4)"
    # a file that does not fit the model is refused with the engine's hint
    np.save(tmp_path / "bad.npy", data[:, 0, :3])
    inputs.path.setText(str(tmp_path / "bad.npy"))
    inputs.path.editingFinished.emit()
    assert any("input_size=4" in text for text in inputs.errors.values())
    np.testing.assert_array_equal(window.session.trace.x.numpy(), data)


def test_typed_text_becomes_one_hot_input(qtbot, window, wait_traced, type_value):
    inputs = window.panels["Input"]
    choose(inputs.fields["source"].editor, "text")
    assert inputs.text.isVisibleTo(inputs)
    inputs.text.setText("hello world")  # 8 distinct characters, input_size is 4
    inputs.text.editingFinished.emit()
    assert "input_size >= 8" in inputs.errors.get("text", "")
    # a model that fits: the refused text is tried again, nothing to retype
    type_value(window.panels["Model"].fields["input_size"].editor, 8)
    wait_traced(window)
    assert inputs.errors == {}
    x = window.session.trace.x.numpy()  # (T, B, 8)
    np.testing.assert_array_equal(x.sum(axis=-1), np.ones(x.shape[:2]))
    vocab = sorted(set("hello world"))
    assert [vocab[k] for k in x[:11, 0].argmax(-1)] == list("hello world")


def test_shapes_view_names_an_input_size_change(qtbot, panels, wait_traced, type_value):
    type_value(panels.panels["Input"].fields["batch_size"].editor, 5)
    wait_traced(panels)
    text = panels.panels["Shapes"].changes.text()
    assert "batch: 2 → 5" in text
    assert "input (20, 2, 4) → (20, 5, 4)" in text
    assert "h_n (1, 2, 8) → (1, 5, 8)" in text


def test_weights_over_budget_are_refused_next_to_the_field(qtbot, panels, type_value):
    fields = panels.panels["Model"].fields
    trace = panels.session.trace
    type_value(fields["hidden_size"].editor, 50_000)
    assert "memory budget" in fields["hidden_size"].message.text()
    assert fields["hidden_size"].message.isVisible()
    assert panels.session.config.hidden_size == 8
    assert panels.session.trace is trace


def test_views_keep_the_last_picture_until_the_new_config_is_traced(qtbot, window, wait_traced,
                                                                    monkeypatch):
    wait_traced(window)
    states = window.panels["States"]
    before = states.equation.text()
    held = []  # the new config's trace request, held back until the views were checked
    monkeypatch.setattr(window.ctx.runner, "submit", held.append)
    window.session.load_module(torch.nn.LSTM(window.session.config.input_size, 32,
                                             num_layers=2))
    window.ctx.select(layer=1, unit=20)  # fits the new config, not the trace on screen
    for title in window.views:
        window.show_view(title)
        window.session.seek(3)
        window.session.seek(0)
        qtbot.wait(5)
    assert states.equation.text() == before
    assert len(held) == 1
    monkeypatch.undo()
    window.ctx.runner.submit(held[0])
    wait_traced(window)
    assert (window.ctx.layer, window.ctx.unit) == (1, 20)
    assert "<b>unit 20, t = 0</b>" in states.equation.text()
    assert window.panels["Gates"].heatmaps["i"].image.image.shape[0] == 32


def test_device_list_says_which_gpu_backends_are_missing_and_why(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from lstm_viz import devices, unavailable_devices
    from lstm_viz_app.panels.config import ModelPanel
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   restore=False)
    qtbot.addWidget(w)
    box = w.panels["Model"].device.editor if hasattr(w, "panels") else None
    assert box is not None and isinstance(w.panels["Model"], ModelPanel)
    labels = [box.itemText(i) for i in range(box.count())]
    assert labels[: len(devices())] == devices()
    missing = unavailable_devices()
    if not torch.cuda.is_available():
        assert "cuda" in missing
    for kind, why in missing.items():
        i = labels.index(f"{kind} (not available)")
        assert not box.model().item(i).isEnabled()
        assert why in box.itemData(i, Qt.ItemDataRole.ToolTipRole)


@pytest.mark.parametrize("view_class", [GatesView, StatesView, UnitsView])
def test_a_view_with_no_trace_says_so_instead_of_drawing_empty_axes(qtbot, view_class):
    ctx = AppContext(Session())  # not traced yet
    view = view_class(ctx)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    assert ctx.session.trace is None
    note = view.empty_note
    assert note.isVisible() and "No trace yet" in note.text()
    assert note.geometry() == view.rect()  # over every axis of the view
    ctx.retrace_now()
    qtbot.waitUntil(lambda: ctx.session.trace is not None and not note.isVisible())
    ctx.detach()
    ctx.runner.wait(10000)


def test_the_chosen_units_plot_with_no_units_says_how_to_choose_some(qtbot, show_view):
    _, view = show_view(StatesView)
    view.units_edit.setText("")
    view.units_edit.editingFinished.emit()
    note = view.timeline.track("units").note
    assert note.item.isVisible() and "No units chosen" in note.text
    assert not view.lines_plot.getAxis("left").isVisible()
    assert not view.lines_plot.getAxis("bottom").isVisible()
    view.units_edit.setText("0-2")
    view.units_edit.editingFinished.emit()
    assert not note.item.isVisible()
    assert view.lines_plot.getAxis("left").isVisible()
    # the one time axis of the timeline is under all tracks, not under this one
    assert not view.lines_plot.getAxis("bottom").isVisible()


def test_a_tab_behind_another_shows_the_step_when_it_comes_to_the_front(qtbot, window):
    window.show_view("Gates")
    states = window.panels["States"]
    window.session.seek(7)
    assert states.behind()  # nobody sees it: the step waits
    window.show_view("States")
    unit = window.ctx.unit
    assert f"unit {unit}, t = 7" in states.equation.text()
    assert states.c_map.cursor.value() == 7
    assert states.timeline.step_label.item.toPlainText() == "t = 7"
    gates = window.panels["Gates"]
    window.session.seek(9)
    window.show_view("Gates")
    assert gates.heatmaps["i"].cursor.value() == 9
    assert gates.timeline.step_label.item.toPlainText() == "t = 9"
