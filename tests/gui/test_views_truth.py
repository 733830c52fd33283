"""The views say exactly what nn.LSTM does: the Shapes diagram's wiring and labels, proj_size in
the States view, blank cells past a sequence's end, what-if errors, demos and typed text."""

from __future__ import annotations

import pytest
import torch

from lstm_viz import LSTMConfig, Session
from lstm_viz_app.panels.shapes import ShapesView

pytestmark = pytest.mark.gui

DEEP = LSTMConfig(input_size=4, hidden_size=6, num_layers=3, bidirectional=True,
                  batch_first=True, proj_size=3, dropout=0.2)


def shapes_view(qtbot, make_ctx, cfg=DEEP):
    ctx = make_ctx(Session(cfg))
    view = ShapesView(ctx)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    qtbot.waitExposed(view)
    return ctx, view


def test_shapes_diagram_draws_every_node_of_the_engine_diagram(qtbot, make_ctx):
    _, view = shapes_view(qtbot, make_ctx)
    ids = {"input", "h_0", "c_0", "output", "h_n", "c_n"} | {
        f"layer{k}.{d}" for k in range(3) for d in ("forward", "reverse")}
    assert set(view.diagram.boxes) == ids
    # layer 1 of each direction reads both directions of layer 0: one label says so
    labels = [item.toPlainText() for item in view.diagram.labels]
    assert any("layer 0's forward and reverse" in text and "dropout p=0.2" in text
               for text in labels)
    assert any("W_hr: 6 → 3" in view.diagram.texts[f"layer{k}.reverse"] for k in range(3))
    assert "h_0[5], c_0[5] → h_n[5], c_n[5]" in view.diagram.texts["layer2.reverse"]


def test_shapes_diagram_says_where_batch_first_differs_from_the_kernel(qtbot, make_ctx):
    _, view = shapes_view(qtbot, make_ctx)
    text = " ".join(item.toPlainText() for item in view.diagram.labels)
    assert "caller vs kernel layout" in text and "time-major" in text
    _, plain = shapes_view(qtbot, make_ctx, DEEP.replace(batch_first=False))
    assert "caller vs kernel" not in " ".join(i.toPlainText() for i in plain.diagram.labels)


def test_no_shapes_label_overlaps_a_box_or_another_label_at_1280x800(qtbot, make_ctx):
    _, view = shapes_view(qtbot, make_ctx)
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


def test_loading_another_model_is_not_called_a_change(qtbot, make_ctx):
    ctx, view = shapes_view(qtbot, make_ctx, LSTMConfig(input_size=4, hidden_size=8))
    torch.manual_seed(0)
    ctx.session.load_module(torch.nn.LSTM(4, 16, num_layers=2), source={"path": "other.pt"})
    ctx.retrace_now()
    qtbot.waitUntil(lambda: view.session.config.hidden_size == 16
                    and "hidden_size=16" in view.diagram.texts["c_0"])
    assert "Last change" not in view.changes.text()
    assert not view.changed
