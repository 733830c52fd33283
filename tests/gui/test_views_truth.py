"""The views say exactly what nn.LSTM does: the Shapes diagram's wiring and labels, proj_size in
the States view, blank cells past a sequence's end, what-if errors, demos and typed text."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.demos import open_demo
from lstm_viz_app.panels.shapes import ShapesView

pytestmark = pytest.mark.gui

DEEP = LSTMConfig(input_size=4, hidden_size=6, num_layers=3, bidirectional=True,
                  batch_first=True, proj_size=3, dropout=0.2)


def shapes_view(show_view, cfg=DEEP):
    return show_view(ShapesView, Session(cfg))


def test_shapes_diagram_draws_every_node_of_the_engine_diagram(qtbot, show_view):
    _, view = shapes_view(show_view)
    ids = {"input", "h_0", "c_0", "output", "h_n", "c_n"} | {
        f"layer{k}.{d}" for k in range(3) for d in ("forward", "reverse")}
    assert set(view.diagram.boxes) == ids
    # layer 1 of each direction reads both directions of layer 0: one label says so
    labels = [item.toPlainText() for item in view.diagram.labels]
    assert any("layer 0's forward and reverse" in text and "dropout p=0.2" in text
               for text in labels)
    assert any("W_hr: 6 → 3" in view.diagram.texts[f"layer{k}.reverse"] for k in range(3))
    assert "h_0[5], c_0[5] → h_n[5], c_n[5]" in view.diagram.texts["layer2.reverse"]


def test_shapes_diagram_says_where_batch_first_differs_from_the_kernel(qtbot, show_view):
    _, view = shapes_view(show_view)
    text = " ".join(item.toPlainText() for item in view.diagram.labels)
    assert "caller vs kernel layout" in text and "time-major" in text
    _, plain = shapes_view(show_view, DEEP.replace(batch_first=False))
    assert "caller vs kernel" not in " ".join(i.toPlainText() for i in plain.diagram.labels)


@pytest.mark.parametrize("where", ["panel", "window"])
def test_no_shapes_label_overlaps_a_box_or_another_label_at_1280x800(qtbot, show_view,
                                                                     make_window, where):
    if where == "panel":
        _, view = shapes_view(show_view)
    else:  # the main window at 1280x800, docks and all
        view = make_window(Session(DEEP), view="Shapes").panels["Shapes"]
        qtbot.waitUntil(lambda: view.diagram.isVisible())
    boxes = list(view.diagram.boxes.values())
    labels = [item.sceneBoundingRect() for item in view.diagram.labels]
    assert len(labels) >= 5
    for i, a in enumerate(labels):
        for box in boxes:
            assert not a.intersects(box), (view.diagram.labels[i].toPlainText(), box)
        for b in labels[i + 1:]:
            assert not a.intersects(b)
    # the whole diagram is on screen, at a size that can be read
    scale = view.diagram.transform().m11()
    assert scale >= 0.6
    shown = view.diagram.mapToScene(view.diagram.viewport().rect()).boundingRect()
    assert shown.contains(view.diagram.scene().itemsBoundingRect())


def test_loading_another_model_is_not_called_a_change(qtbot, show_view):
    ctx, view = shapes_view(show_view, LSTMConfig(input_size=4, hidden_size=8))
    torch.manual_seed(0)
    ctx.session.load_module(torch.nn.LSTM(4, 16, num_layers=2), source={"path": "other.pt"})
    ctx.retrace_now()
    qtbot.waitUntil(lambda: view.session.config.hidden_size == 16
                    and "hidden_size=16" in view.diagram.texts["c_0"])
    assert "Last change" not in view.changes.text()
    assert not view.changed


# ----- States: proj_size and the legend ---------------------------------------------------
PROJ = LSTMConfig(input_size=4, hidden_size=12, proj_size=5)


def states_view(show_view, session):
    from lstm_viz_app.panels.states import StatesView

    return show_view(StatesView, session)


def integer_ticks(plot) -> bool:
    axis = plot.getAxis("left")
    lo, hi = plot.getViewBox().viewRange()[1]
    values = [v for _, vs in axis.tickValues(lo, hi, axis.size().height()) for v in vs]
    return bool(values) and all(float(v).is_integer() for v in values)


def test_projected_h_is_shown_as_features_not_units(qtbot, show_view):
    ctx, view = states_view(show_view, Session(PROJ))
    ctx.select(unit=2)
    assert "feature" in view.h_map.plot.getAxis("left").labelText
    assert "projected" in view.h_map.plot.titleLabel.text
    assert "projected" in view.bars["h"].plot.titleLabel.text
    assert integer_ticks(view.h_map.plot) and integer_ticks(view.c_map.plot)
    # the focus unit is highlighted among c's units, not among h's projected features
    assert view.bars["c"].focus.isVisible()
    assert not view.bars["h"].focus.isVisible()
    names = [label.text for _, label in view.legend.items]
    assert "c unit 0" in names and "h feature 0" in names
    assert not any(n.startswith("h[") for n in names)
    assert "not units" in view.lines_plot.titleLabel.text


def test_unprojected_h_keeps_unit_pairs(qtbot, show_view):
    ctx, view = states_view(show_view, Session(PROJ.replace(proj_size=0)))
    assert view.h_map.plot.getAxis("left").labelText == "unit"
    assert view.bars["h"].focus.isVisible()
    names = [label.text for _, label in view.legend.items]
    assert names[:2] == ["c[0]", "h[0]"]


def test_states_csv_indexes_c_units_and_h_features_apart():
    from lstm_viz.formats.export import states_table

    session = Session(PROJ)
    session.retrace()
    header, rows = states_table(session, 0, 0, 0)
    assert header[:3] == ["t", "state", "index (c: unit, h: projected feature)"]
    c = session.trace.c[0, 0, :, 0].numpy()
    h = session.trace.h[0, 0, :, 0].numpy()
    c_rows = [r for r in rows if r[1] == "c"]
    h_rows = [r for r in rows if r[1] == "h"]
    assert len(c_rows) == c.size and len(h_rows) == h.size
    assert max(r[2] for r in h_rows) == PROJ.proj_size - 1
    for t, _, k, value in h_rows[:20]:
        assert float(value) == pytest.approx(float(h[t, k]), rel=1e-6)


def test_states_legend_never_covers_the_curves(qtbot, show_view):
    _, view = states_view(show_view, Session(PROJ.replace(proj_size=0)))
    view.units_edit.setText("0-11")
    view.units_edit.editingFinished.emit()
    qtbot.wait(50)
    assert len(view.legend.items) == 24
    plot_area = view.lines_plot.getViewBox().sceneBoundingRect()
    assert not view.legend.sceneBoundingRect().intersects(plot_area)
    assert view.legend.isVisible()


# ----- what-if errors -----------------------------------------------------------------------
def failing_whatif(qtbot, make_ctx):
    """A what-if box showing the engine's refusal: h of unit 5 when h has 3 features."""
    from lstm_viz_app.whatif import WhatIfBox

    ctx = make_ctx(Session(LSTMConfig(input_size=2, hidden_size=8, proj_size=3,
                                      num_layers=2)))
    box = WhatIfBox(ctx)
    qtbot.addWidget(box)
    box.show()
    box.kind.setCurrentIndex(box.kind.findData("h"))
    box.index.setValue(5)
    box.apply()
    assert box.message.isVisible() and box.message.text()
    return ctx, box


@pytest.mark.parametrize("change", ["step", "selection", "config", "model"])
def test_whatif_error_clears_when_the_situation_changes(qtbot, make_ctx, change):
    ctx, box = failing_whatif(qtbot, make_ctx)
    session = ctx.session
    if change == "step":
        session.seek(3)
    elif change == "selection":
        ctx.select(layer=1)
    elif change == "config":
        session.set_config(session.config.replace(hidden_size=9))
    else:
        session.load_module(torch.nn.LSTM(2, 8), source={"path": "m.pt"})
    qtbot.waitUntil(lambda: not box.message.isVisible(), timeout=3000)
    assert box.message.text() == ""


# ----- past a sequence's end ----------------------------------------------------------------
def packed_session() -> Session:
    return Session(LSTMConfig(input_size=3, hidden_size=6),
                   InputSpec(seq_len=10, batch_size=3, lengths=(10, 7, 5)))


def test_blank_cells_past_a_sequences_end_say_why(qtbot, show_view):
    ctx, view = states_view(show_view, packed_session())
    ctx.select(batch=2)
    session = ctx.session
    assert torch.isnan(session.trace.c[0, 0, 7, 2]).all()  # the trace has nothing there
    session.seek(7)
    text = view.equation.text()
    assert "sequence 2 ended at t = 4" in text
    assert "0.000" not in text and "+0." not in text and "—" not in text
    assert not any(bars.bars.isVisible() for bars in view.bars.values())  # no zero bars
    # hover over a blank cell: unit 1, t 7 of c
    vb = view.c_map.plot.getViewBox()
    qtbot.waitUntil(lambda: vb.sceneBoundingRect().width() > 10)
    pos = vb.mapViewToScene(QPointF(7, 1))
    assert view.hover_text(pos) == "c, unit 1, t 7: blank: sequence 2 ended at t = 4"
    # a step inside the sequence still reads numbers, as nn.LSTM has them
    session.seek(3)
    c = float(session.trace.c[0, 0, 3, 2, 0])
    assert f"{c:+.3f}" in view.equation.text()
    assert all(bars.bars.isVisible() for bars in view.bars.values())


def test_transport_slider_marks_where_each_sequence_ends(qtbot, make_ctx):
    from lstm_viz_app.panels.transport import TransportBar

    ctx = make_ctx(packed_session())
    bar = TransportBar(ctx)
    qtbot.addWidget(bar)
    bar.show()
    lengths = ctx.session.trace.lengths.tolist()
    assert lengths == [10, 7, 5]
    assert bar.slider.marks() == {9: [0], 6: [1], 4: [2]}
    assert "sequence 1 ends at t = 6" in bar.slider.toolTip()
    ctx.select(batch=1)
    ctx.session.seek(8)
    assert "sequence 1 ended at t = 6" in bar.t_label.text()
    ctx.session.seek(6)
    assert "ended" not in bar.t_label.text()
    # full-length batches have nothing to mark
    full = make_ctx(Session(LSTMConfig(input_size=3, hidden_size=6)))
    other = TransportBar(full)
    qtbot.addWidget(other)
    assert other.slider.marks() == {}


# ----- typed text ---------------------------------------------------------------------------
def choose_text(inputs):
    combo = inputs.fields["source"].editor
    combo.setCurrentIndex(combo.findData("text"))


def test_choosing_text_with_an_empty_box_shows_a_hint_not_an_error(qtbot, make_panels):
    from lstm_viz_app.panels.config import EMPTY_TEXT_HINT, InputPanel
    from lstm_viz_app.widgets import WARNING_STYLE

    host = make_panels(InputPanel)
    inputs = host.panels["Input"]
    before = host.session.input_spec
    choose_text(inputs)
    message = inputs.fields["text"].message
    assert message.isVisibleTo(inputs) and message.text() == EMPTY_TEXT_HINT
    assert message.styleSheet() == WARNING_STYLE
    assert "needs some text" not in " ".join(inputs.errors.values())
    assert host.session.input_spec == before


def test_text_that_needs_a_larger_input_size_offers_to_set_it(qtbot, make_panels, wait_traced):
    from lstm_viz_app.panels.config import InputPanel, ModelPanel

    host = make_panels(ModelPanel, InputPanel)
    inputs = host.panels["Input"]
    assert host.session.config.input_size == 4
    choose_text(inputs)
    inputs.text.setText("hello world")  # 8 distinct characters
    inputs.text.editingFinished.emit()
    assert "input_size >= 8" in inputs.errors.get("text", "")
    assert inputs.fit_button.isVisibleTo(inputs)
    assert inputs.fit_button.text() == "Set input_size to 8"
    qtbot.mouseClick(inputs.fit_button, Qt.MouseButton.LeftButton)
    wait_traced(host)
    assert host.session.config.input_size == 8
    assert inputs.errors == {} and not inputs.fit_button.isVisibleTo(inputs)
    x = host.session.trace.x[:, 0].numpy()
    vocab = sorted(set("hello world"))
    assert "".join(vocab[k] for k in x.argmax(-1)) == "hello world"


def test_seq_len_follows_the_typed_text(qtbot, make_panels, wait_traced):
    from lstm_viz_app.panels.config import InputPanel

    host = make_panels(InputPanel, session=Session(LSTMConfig(input_size=8, hidden_size=4)))
    inputs = host.panels["Input"]
    assert host.session.input_spec.seq_len != 5
    choose_text(inputs)
    inputs.text.setText("abcab")
    inputs.text.editingFinished.emit()
    wait_traced(host)
    assert host.session.input_spec.seq_len == 5
    assert inputs.fields["seq_len"].value() == 5
    assert host.session.trace.num_steps == 5  # never "abcababcab…" repeated to a longer seq_len


# ----- demos and the status bar -------------------------------------------------------------
def test_a_demo_opens_at_t0_with_its_documented_units(qtbot, show_view):
    from lstm_viz.demos import list_demos, open_demo

    demo = next(d for d in list_demos() if d.name == "char_python")
    if not demo.available():
        pytest.skip("the char demo's model is not built")
    assert [str(u).split(":")[0] for u in demo.units] == ["h[37]", "c[107]"]
    ctx, view = states_view(show_view, Session())
    ctx.session.seek(15)
    assert ctx.session.t == 15
    open_demo(ctx.session, "char_python")
    ctx.select_from(demo.focus)
    ctx.retrace_now()
    assert ctx.session.t == 0 and ctx.unit == 37
    assert view.units_edit.text() == "37, 107"
    names = [label.text for _, label in view.legend.items]
    assert {"h[37]", "c[107]"} <= set(names)
    assert "c[107]: the indentation of the line" in view.caption.text()


def test_status_messages_are_cut_at_a_word_boundary_with_the_full_text_in_the_tooltip(qtbot,
                                                                                       make_ctx):
    from lstm_viz_app.status import StatusBar

    ctx = make_ctx()
    bar = StatusBar(ctx)
    qtbot.addWidget(bar)
    bar.resize(700, 24)
    bar.show()
    qtbot.waitExposed(bar)
    text = ("Demo: Python, character by character. Character-level LSTM(16, 128) trained on"
            " Python standard-library source; reads a small Python module through its own"
            " embedding and shows what units 37 and 107 track")
    ctx.messages.post(text, 10000)
    shown = bar.currentMessage()
    assert shown != text and shown.endswith(" …")
    kept = shown[: -len(" …")]
    assert text.startswith(kept) and text[len(kept)] in " ,;:"  # a whole word, never half
    assert bar.fontMetrics().horizontalAdvance(shown) <= bar.width()
    assert bar.toolTip() == text
    ctx.messages.post("Saved.", 1000)
    assert bar.currentMessage() == "Saved." and bar.toolTip() == ""


def test_shapes_view_draws_the_engines_edges_not_its_own(qtbot, show_view, monkeypatch):
    import dataclasses

    import lstm_viz_app.panels.shapes as shapes_panel

    _, view = shapes_view(show_view)
    drawn = set(view.diagram.drawn_edges)
    # nn.LSTM's wiring: each direction of layer 1 reads both directions of layer 0
    for s in ("forward", "reverse"):
        for t in ("forward", "reverse"):
            assert (f"layer0.{s}", f"layer1.{t}") in drawn
    # a diagram wired differently is drawn as it says: the view adds no edge of its own
    real = shapes_panel.diagram

    def same_direction_only(cfg, batch, seq_len):
        dg = real(cfg, batch, seq_len)
        edges = tuple(e for e in dg.edges if not (e.source.startswith("layer")
                      and e.target.startswith("layer")
                      and e.source.split(".")[1] != e.target.split(".")[1]))
        return dataclasses.replace(dg, edges=edges)

    monkeypatch.setattr(shapes_panel, "diagram", same_direction_only)
    view.refresh()
    drawn = set(view.diagram.drawn_edges)
    assert ("layer0.forward", "layer1.forward") in drawn
    assert ("layer0.reverse", "layer1.forward") not in drawn


# ----- titles and notes follow every change, not only the first drawing -------------------
def _gates_note_steps(gates) -> int | None:
    """N of "up to N steps" in the Gates time axis's note (None: no steps merged)."""
    import re
    text = gates.timeline.axis_plot.getAxis("bottom").labelText
    found = re.search(r"up to (\d+) steps", text)
    return int(found.group(1)) if found else None


@pytest.mark.parametrize("first", ["States", "Gates", "Shapes"])
def test_titles_and_notes_follow_the_config_whichever_view_was_shown_first(
        first, make_window, wait_traced, qtbot):
    cfg = LSTMConfig(input_size=3, hidden_size=200, proj_size=5)
    w = make_window(Session(cfg), view=first)
    wait_traced(w)
    states, gates = w.panels["States"], w.panels["Gates"]
    for config in (cfg, cfg.replace(proj_size=0), cfg.replace(hidden_size=400, proj_size=7)):
        if config != w.session.config:
            w.session.set_config(config)
            wait_traced(w)
        for view in ("Gates", "States", first):
            w.show_view(view)
            qtbot.wait(100)
        title = states.h_map.plot.titleLabel.text
        if config.proj_size:
            assert f"{config.proj_size} projected features W_hr" in title, title
            assert "= o * tanh(c)" not in title
        else:
            assert "h: hidden state = o * tanh(c)" in title, title
        w.show_view("Gates")
        qtbot.wait(100)
        # each gate's title says how many units share a pixel row, and the one time axis
        # how many steps share a pixel column, as drawn
        for hm in gates.heatmaps.values():
            if hm.rows_per_px > 1:  # 400 units in the 240 px a heatmap track gets at least
                assert f"≤{hm.rows_per_px} units/px" in hm.plot.titleLabel.text
            else:
                assert "units/px" not in hm.plot.titleLabel.text
        assert max(hm.rows_per_px for hm in gates.heatmaps.values()) == \
            (2 if config.hidden_size == 400 else 1)
        steps = gates.heatmaps["o"].steps_per_px
        assert _gates_note_steps(gates) == (steps if steps > 1 else None)


def test_shapes_marks_the_layer_and_direction_the_views_show(qtbot, show_view):
    ctx, view = shapes_view(show_view)
    assert view.diagram.current == "layer0.forward"
    ctx.select(layer=1, direction=1)
    assert view.diagram.current == "layer1.reverse"
    assert "shown in the views" in view.diagram.texts["layer1.reverse"]
    others = [key for key, text in view.diagram.texts.items() if "shown in the views" in text]
    assert others == ["layer1.reverse"]


def test_shapes_of_a_demo_show_its_embedding_and_head_as_torch_has_them(qtbot, show_view):
    session = Session()
    _, loaded, cand = open_demo(session, "char_python")
    ctx, view = show_view(ShapesView, session)
    rows = {r[0]: r[1] for r in view.table_rows(view.tensors)}
    V, E = cand.embedding.shape
    K, F = session.head.weight.shape
    T = session.num_steps
    assert rows["embedding.weight"] == f"(num_embeddings={V}, embedding_dim={E})"
    assert rows["tokens"] == f"(seq_len={T}, batch=1)"
    assert rows["head.weight"] == f"(out_features={K}, D*H_out=1*{F}={F})"
    assert rows["head output"] == f"(seq_len={T}, batch=1, out_features={K})"
    assert f"Embedding({V}, {E})" in view.diagram.texts["input"]
    assert f"head Linear({F}, {K})" in view.diagram.texts["output"]


def test_shapes_of_a_packed_batch_show_the_packed_sequence(qtbot, show_view):
    session = Session(LSTMConfig(input_size=3, hidden_size=8),
                      InputSpec(seq_len=10, batch_size=3, lengths=(10, 7, 5)))
    x = session.input_tm
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([10, 7, 5]))
    out, _ = session.lstm(packed)
    _, view = show_view(ShapesView, session)
    rows = {r[0]: r[1] for r in view.table_rows(view.tensors)}
    assert rows["packed input.data"] == "(sum(lengths)=10+7+5=22, input_size=3)"
    assert tuple(packed.data.shape) == (22, 3) and tuple(out.data.shape) == (22, 8)
    assert rows["packed input.batch_sizes"] == f"(max(lengths)={len(packed.batch_sizes)})"
    assert rows["packed output.data"] == "(sum(lengths)=10+7+5=22, D*H_out=1*8=8)"
    assert "PackedSequence" in view.diagram.texts["input"]
    assert "packed: data" in view.diagram.texts["output"]
