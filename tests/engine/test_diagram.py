"""The Shapes diagram's data (``lstm_viz.shapes.diagram``) against nn.LSTM's own parameters and
tensors: run the module on a tensor of the given sizes and compare every node and edge."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_viz import LSTMConfig
from lstm_viz.shapes import diagram

CONFIGS = [
    dict(input_size=3, hidden_size=6),
    dict(input_size=3, hidden_size=6, num_layers=3, bidirectional=True, batch_first=True,
         proj_size=4),
    dict(input_size=2, hidden_size=5, num_layers=2, dropout=0.3),
    dict(input_size=4, hidden_size=7, num_layers=2, bidirectional=True, proj_size=3),
]


def run_torch(kwargs: dict, batch: int | None, seq_len: int):
    """(module, x, h_0, c_0, output, h_n, c_n) from nn.LSTM itself."""
    torch.manual_seed(0)
    lstm = nn.LSTM(**kwargs)
    D = 2 if kwargs.get("bidirectional") else 1
    L = kwargs.get("num_layers", 1)
    H = kwargs["hidden_size"]
    H_out = kwargs.get("proj_size", 0) or H
    if batch is None:
        x = torch.randn(seq_len, kwargs["input_size"])
        h0, c0 = torch.zeros(D * L, H_out), torch.zeros(D * L, H)
    else:
        x = torch.randn(batch, seq_len, kwargs["input_size"]) if kwargs.get("batch_first") \
            else torch.randn(seq_len, batch, kwargs["input_size"])
        h0, c0 = torch.zeros(D * L, batch, H_out), torch.zeros(D * L, batch, H)
    with torch.no_grad():
        out, (hn, cn) = lstm(x, (h0, c0))
    return lstm, x, h0, c0, out, hn, cn


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("batch", [2, None])
def test_call_tensor_nodes_have_nn_lstm_shapes(kwargs, batch):
    _, x, h0, c0, out, hn, cn = run_torch(kwargs, batch, 5)
    dg = diagram(LSTMConfig(**kwargs), batch, 5)
    for name, tensor in (("input", x), ("h_0", h0), ("c_0", c0), ("output", out),
                         ("h_n", hn), ("c_n", cn)):
        assert tuple(dg.nodes[name].shape) == tuple(tensor.shape), name
        assert dg.nodes[name].explanation


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_every_layer_reads_what_its_weight_ih_expects(kwargs):
    lstm, x, *_ = run_torch(kwargs, 2, 5)
    cfg = LSTMConfig(**kwargs)
    dg = diagram(cfg, 2, 5)
    params = dict(lstm.named_parameters())
    for k in range(cfg.num_layers):
        for d, name in enumerate(("forward", "reverse")[: cfg.num_directions]):
            nid = f"layer{k}.{name}"
            w_ih = params[f"weight_ih_l{k}" + ("_reverse" if d else "")]
            data = [e for e in dg.edges_into(nid) if e.source not in ("h_0", "c_0")]
            if k == 0:
                assert [e.source for e in data] == ["input"]
                assert tuple(data[0].shape) == tuple(x.shape)
                assert data[0].layout == "caller"
            else:
                # both directions of the layer below, each edge the full concatenation
                expected = {f"layer{k - 1}.{s}" for s in ("forward", "reverse")
                            [: cfg.num_directions]}
                assert {e.source for e in data} == expected
                for e in data:
                    assert e.shape[-1] == w_ih.shape[1]
                    assert e.layout == "kernel"
                    assert tuple(e.shape[:2]) == (5, 2)  # time-major inside the kernel
            # the layer's own h has weight_hh's recurrent width
            w_hh = params[f"weight_hh_l{k}" + ("_reverse" if d else "")]
            assert dg.nodes[nid].shape[-1] == w_hh.shape[1]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_initial_and_final_states_connect_every_layer_and_direction(kwargs):
    _, _, h0, c0, _, hn, cn = run_torch(kwargs, 2, 5)
    cfg = LSTMConfig(**kwargs)
    dg = diagram(cfg, 2, 5)
    D = cfg.num_directions
    layer_ids = [f"layer{k}.{n}" for k in range(cfg.num_layers)
                 for n in ("forward", "reverse")[:D]]
    for state, tensor, outgoing in (("h_0", h0, True), ("c_0", c0, True), ("h_n", hn, False),
                                    ("c_n", cn, False)):
        edges = dg.edges_from(state) if outgoing else dg.edges_into(state)
        ends = [e.target if outgoing else e.source for e in edges]
        assert ends == layer_ids, state
        for idx, e in enumerate(edges):
            assert tuple(e.shape) == tuple(tensor[idx].shape)
            assert f"[{idx}]" in e.label


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("batch", [2, None])
def test_output_concatenates_the_last_layers_directions(kwargs, batch):
    _, _, _, _, out, *_ = run_torch(kwargs, batch, 5)
    cfg = LSTMConfig(**kwargs)
    dg = diagram(cfg, batch, 5)
    edges = dg.edges_into("output")
    last = cfg.num_layers - 1
    assert [e.source for e in edges] == [f"layer{last}.{n}" for n in
                                         ("forward", "reverse")[: cfg.num_directions]]
    widths = [e.shape[-1] for e in edges]
    assert sum(widths) == out.shape[-1]
    for e in edges:  # the caller's layout: everything but the last dim as output has it
        assert tuple(e.shape[:-1]) == tuple(out.shape[:-1])


def test_batch_first_is_noted_where_the_kernel_runs_time_major():
    cfg = LSTMConfig(input_size=3, hidden_size=6, num_layers=2, batch_first=True)
    dg = diagram(cfg, 4, 9)
    assert "time-major" in dg.layout_note
    assert tuple(dg.edges_into("layer0.forward")[0].shape) == (4, 9, 3)
    assert "time-major" in dg.edges_into("layer0.forward")[0].label
    assert diagram(cfg.replace(batch_first=False), 4, 9).layout_note == ""


def test_dropout_and_projection_appear_when_configured():
    cfg = LSTMConfig(input_size=3, hidden_size=6, num_layers=2, dropout=0.25, proj_size=2)
    dg = diagram(cfg, 1, 4)
    between = [e for e in dg.edges_into("layer1.forward") if e.source.startswith("layer")]
    assert all("dropout p=0.25" in e.label for e in between)
    assert not any("dropout" in e.label for e in dg.edges_into("layer0.forward"))
    assert "W_hr" in dg.nodes["layer0.forward"].explanation
    plain = diagram(cfg.replace(dropout=0.0, proj_size=0), 1, 4)
    assert not any("dropout" in e.label for e in plain.edges)
    assert "W_hr" not in plain.nodes["layer0.forward"].explanation


def test_bad_sizes_raise_value_error():
    with pytest.raises(ValueError, match="seq_len"):
        diagram(LSTMConfig(input_size=1, hidden_size=2), 1, 0)


# ----- the layout the Shapes view paints ---------------------------------------------------
def _layout(kwargs: dict, batch: int | None = 2, **options):
    from lstm_viz.shapes_layout import layout_diagram

    cfg = LSTMConfig(**kwargs)
    return cfg, layout_diagram(diagram(cfg, batch, 5), **options)


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_every_drawn_data_edge_joins_two_boxes_of_the_layout(kwargs):
    cfg, lay = _layout(kwargs)
    D = 2 if kwargs.get("bidirectional") else 1
    expected = {"input", "h_0", "c_0", "output", "h_n", "c_n"} | {
        f"layer{k}.{d}" for k in range(cfg.num_layers) for d in ("forward", "reverse")[:D]}
    assert set(lay.boxes) == expected
    assert lay.data_edges
    for source, target in lay.data_edges:
        assert source in lay.boxes and target in lay.boxes, (source, target)
    # every data edge of nn.LSTM's wiring is drawn (no layer is left out of a shallow stack)
    wiring = {(e.source, e.target) for e in diagram(cfg, 2, 5).edges
              if e.source not in ("h_0", "c_0") and e.target not in ("h_n", "c_n")}
    assert set(lay.data_edges) == wiring


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_no_two_boxes_of_the_layout_overlap(kwargs):
    _, lay = _layout(kwargs)
    boxes = list(lay.boxes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.rect.intersects(b.rect), (a.id, b.id)


def test_every_wire_ends_on_a_box_edge_or_a_bus():
    _, lay = _layout(CONFIGS[1])
    ys = {lay.boxes[n].rect.top for n in lay.boxes} | {lay.boxes[n].rect.bottom
                                                       for n in lay.boxes}
    xs = {lay.boxes[n].rect.left for n in lay.boxes}
    buses = {w.points[0][1] for w in lay.wires if w.role == "bus"}
    assert len(buses) == 2
    for w in lay.wires:
        if w.arrow:
            x, y = w.points[-1]
            assert y in ys or x in xs or y in buses, w


def test_the_layout_writes_proj_size_bidirectional_embedding_and_head_into_the_boxes():
    from lstm_viz.shapes import model_shapes

    kwargs = dict(input_size=4, hidden_size=6, num_layers=2, bidirectional=True, proj_size=3)
    cfg = LSTMConfig(**kwargs)
    around = model_shapes(cfg, 1, 5, vocab_size=30, head_out=30)
    _, lay = _layout(kwargs, 1, around=around, current="layer1.reverse")
    texts = {nid: box.text.plain() for nid, box in lay.boxes.items()}
    assert "W_hr: 6 → 3" in texts["layer1.reverse"]
    assert "h_0[3], c_0[3] → h_n[3], c_n[3]" in texts["layer1.reverse"]
    assert "reads t = T−1 … 0" in texts["layer0.reverse"]
    assert "Embedding(30, 4)" in texts["input"]
    assert "head Linear(6, 30)" in texts["output"]  # reads D*H_out = 2*3 features
    assert [n for n, t in texts.items() if "shown in the views" in t] == ["layer1.reverse"]
    plain = _layout(dict(input_size=4, hidden_size=6), 1)[1]
    assert not any("W_hr" in b.text.plain() or "reverse" in b.id for b in plain.boxes.values())
    assert "Embedding" not in plain.boxes["input"].text.plain()


def test_a_deep_stack_draws_its_first_layers_and_its_last_and_says_how_many_are_left_out():
    cfg, lay = _layout(dict(input_size=2, hidden_size=3, num_layers=9))
    layers = sorted(n for n in lay.boxes if n.startswith("layer"))
    assert layers == sorted(f"layer{k}.forward" for k in (0, 1, 2, 3, 4, 8))
    assert any("3 more layer(s) not drawn" in label.text.plain() for label in lay.labels)
    assert ("layer4.forward", "layer8.forward") in lay.data_edges


def test_labels_in_one_lane_never_overlap():
    from lstm_viz.shapes_layout import estimate_height

    _, lay = _layout(CONFIGS[1])
    for i, a in enumerate(lay.labels):
        for b in lay.labels[i + 1:]:
            if a.x == b.x:
                top, other = sorted((a, b), key=lambda label: label.y)
                assert top.y + estimate_height(top.text, top.width) <= other.y
