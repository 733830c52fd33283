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
