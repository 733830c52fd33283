"""LSTMConfig validation and inference, and the shape calculus checked against torch."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lstm_viz import LSTMConfig, all_shapes, parameter_count, shape_facts, tensor_shapes
from lstm_viz.shapes import model_shapes


@pytest.mark.parametrize("kwargs, field, allowed", [
    (dict(input_size=0, hidden_size=4), "input_size", ">= 1"),
    (dict(input_size=3, hidden_size=-1), "hidden_size", ">= 1"),
    (dict(input_size=3, hidden_size=4, num_layers=0), "num_layers", ">= 1"),
    (dict(input_size=3.5, hidden_size=4), "input_size", "integer"),
    (dict(input_size=True, hidden_size=4), "input_size", "integer"),
    (dict(input_size=3, hidden_size=4, dropout=1.5), "dropout", r"\[0, 1\]"),
    (dict(input_size=3, hidden_size=4, dropout=-0.1), "dropout", r"\[0, 1\]"),
    (dict(input_size=3, hidden_size=4, proj_size=-1), "proj_size", ">= 0"),
    (dict(input_size=3, hidden_size=4, proj_size=4), "proj_size", "0 to 3"),
    (dict(input_size=3, hidden_size=4, bidirectional="yes"), "bidirectional", "True or False"),
])
def test_invalid_values_name_field_value_and_allowed_range(kwargs, field, allowed):
    with pytest.raises(ValueError, match=field) as err:
        LSTMConfig(**kwargs)
    assert re.search(allowed, str(err.value)), str(err.value)
    # and torch refuses the same values (where it checks them at all)
    if field in ("dropout", "proj_size") or kwargs.get(field, 1) in (0, -1):
        with pytest.raises((ValueError, RuntimeError, TypeError)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nn.LSTM(**kwargs)


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        LSTMConfig(3, 4, dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LSTMConfig(3, 4, num_layers=2, dropout=0.2)


def test_build_gives_the_nn_lstm_and_from_module_reads_it_back():
    cfg = LSTMConfig(3, 6, num_layers=2, bias=False, batch_first=True, dropout=0.1,
                     bidirectional=True, proj_size=2)
    lstm = cfg.build(dtype=torch.float64)
    assert isinstance(lstm, nn.LSTM) and lstm.weight_ih_l0.dtype == torch.float64
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bias, lstm.batch_first,
            lstm.dropout, lstm.bidirectional, lstm.proj_size) == (3, 6, 2, False, True, 0.1,
                                                                  True, 2)
    assert LSTMConfig.from_module(lstm) == cfg


class _Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.rnn = nn.LSTM(7, 5, num_layers=2, bidirectional=True)
        self.decoder = nn.LSTM(10, 6, proj_size=3, bias=False)
        self.head = nn.Linear(3, 2)


def test_from_state_dict_infers_every_field_weights_determine():
    for cfg in [LSTMConfig(3, 4), LSTMConfig(5, 8, num_layers=3, bidirectional=True),
                LSTMConfig(2, 6, bias=False, proj_size=4),
                LSTMConfig(4, 7, num_layers=2, bidirectional=True, proj_size=3)]:
        assert LSTMConfig.from_state_dict(cfg.build().state_dict()) == cfg


def test_from_state_dict_finds_the_lstm_inside_a_larger_model_by_prefix():
    sd = _Seq2Seq().state_dict()
    assert LSTMConfig.from_state_dict(sd, prefix="encoder.rnn.") == LSTMConfig(
        7, 5, num_layers=2, bidirectional=True)
    assert LSTMConfig.from_state_dict(sd, prefix="decoder.") == LSTMConfig(
        10, 6, bias=False, proj_size=3)
    with pytest.raises(ValueError, match=r"found 2: encoder\.rnn\. .*decoder\."):
        LSTMConfig.from_state_dict(sd)


def test_from_state_dict_without_lstm_or_with_inconsistent_shapes_lists_what_was_found():
    with pytest.raises(ValueError, match="found 0"):
        LSTMConfig.from_state_dict(nn.Linear(3, 4).state_dict())
    sd = LSTMConfig(3, 4, num_layers=2).build().state_dict()
    sd["weight_hh_l1"] = torch.zeros(16, 5)
    with pytest.raises(ValueError, match=r"weight_hh_l1 has shape \(16, 5\), expected \(16, 4\)"):
        LSTMConfig.from_state_dict(sd)
    sd = LSTMConfig(3, 4, num_layers=2).build().state_dict()
    del sd["bias_hh_l1"]
    with pytest.raises(ValueError, match="bias_hh_l1 missing"):
        LSTMConfig.from_state_dict(sd)


@st.composite
def configs(draw):
    hidden = draw(st.integers(1, 9))
    return LSTMConfig(input_size=draw(st.integers(1, 9)), hidden_size=hidden,
                      num_layers=draw(st.integers(1, 3)), bias=draw(st.booleans()),
                      batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()),
                      proj_size=draw(st.integers(0, hidden - 1)))


@settings(max_examples=60, deadline=None)
@given(configs(), st.one_of(st.none(), st.integers(1, 4)), st.integers(1, 5))
def test_shapes_are_what_torch_produces(cfg, batch, seq_len):
    lstm = cfg.build()
    table = all_shapes(cfg, batch, seq_len)
    x = torch.zeros(*tuple(table["input"]))
    h0, c0 = torch.zeros(*table["h_0"]), torch.zeros(*table["c_0"])
    out, (h_n, c_n) = lstm(x, (h0, c0))  # torch refuses any wrong input/h_0/c_0 shape
    assert tuple(out.shape) == table["output"]
    assert tuple(h_n.shape) == table["h_n"] and tuple(c_n.shape) == table["c_n"]
    params = dict(lstm.named_parameters())
    assert [k for k in table if k in params] == list(params)  # same names, same order
    for name, p in params.items():
        assert tuple(p.shape) == table[name], name
    assert parameter_count(cfg) == sum(p.numel() for p in lstm.parameters())
    for shape in table.values():
        assert [d.size for d in shape.dims] == list(shape)


def test_dims_say_what_each_dimension_means():
    cfg = LSTMConfig(100, 20, num_layers=4, bidirectional=True)
    t = tensor_shapes(cfg, 3, 10)
    assert t["output"].describe() == "(seq_len=10, batch=3, D*H_out=2*20=40)"
    assert t["h_n"].describe() == "(D*num_layers=2*4=8, batch=3, H_out=20)"
    t = tensor_shapes(cfg.replace(batch_first=True, proj_size=5), 3, 10)
    assert t["input"].describe() == "(batch=3, seq_len=10, input_size=100)"
    assert t["c_n"].describe() == "(D*num_layers=2*4=8, batch=3, hidden_size=20)"
    assert tensor_shapes(cfg, None, 10)["input"].describe() == "(seq_len=10, input_size=100)"


def test_batch_first_changes_only_input_and_output():
    a = tensor_shapes(LSTMConfig(5, 7, num_layers=2), 3, 4)
    b = tensor_shapes(LSTMConfig(5, 7, num_layers=2, batch_first=True), 3, 4)
    changed = [k for k in a if a[k] != b[k]]
    assert changed == ["input", "output"]


def test_bidirectional_doubles_output_last_dim_and_h_n_first_and_proj_shrinks_h_not_c():
    base = tensor_shapes(LSTMConfig(5, 8), 3, 4)
    bi = tensor_shapes(LSTMConfig(5, 8, bidirectional=True), 3, 4)
    assert bi["output"][-1] == 2 * base["output"][-1] and bi["h_n"][0] == 2 * base["h_n"][0]
    pr = tensor_shapes(LSTMConfig(5, 8, proj_size=3), 3, 4)
    assert pr["output"][-1] == 3 and pr["h_n"][-1] == 3 and pr["c_n"][-1] == 8
    facts = " ".join(shape_facts(LSTMConfig(5, 8, proj_size=3, bidirectional=True)))
    assert "batch_first changes input and output only" in facts
    assert "c keeps hidden_size=8" in facts


# ----- the tutorials' worked examples (../shared/seeds/) -------------------------------------

def test_seed_000_shapes_batch_first_one_step():
    cfg = LSTMConfig(5, 10, 1, batch_first=True)
    t = tensor_shapes(cfg, 1, 1)
    assert (t["input"], t["h_0"], t["c_0"]) == ((1, 1, 5), (1, 1, 10), (1, 1, 10))
    # many-to-one: LSTM(2, 1, batch_first) on (4, 3, 2); output[:, -1] is (4, 1)
    t = tensor_shapes(LSTMConfig(2, 1, 1, batch_first=True), 4, 3)
    assert t["output"] == (4, 3, 1) and t["h_n"][1:] == (4, 1)


def test_seed_001_lstmcell_stack_parameter_shapes():
    # LSTMCell(30, 20) then LSTMCell(20, 10): the same shapes as one layer of nn.LSTM each
    first = all_shapes(LSTMConfig(30, 20), 3, 12)
    second = all_shapes(LSTMConfig(20, 10), 3, 12)
    assert (first["weight_ih_l0"], first["weight_hh_l0"], first["bias_ih_l0"]) == \
        ((80, 30), (80, 20), (80,))
    assert (second["weight_ih_l0"], second["weight_hh_l0"]) == ((40, 20), (40, 10))
    assert all_shapes(LSTMConfig(100, 20), 1, 1)["weight_ih_l0"] == (80, 100)


def test_seed_002_lstm_100_20_4_on_10_3_100():
    t = tensor_shapes(LSTMConfig(100, 20, num_layers=4), 3, 10)
    assert (t["output"], t["h_n"], t["c_n"]) == ((10, 3, 20), (4, 3, 20), (4, 3, 20))
    # seed 002's wrong claim: batch_first does NOT make h_0 (batch, layers*D, H)
    t = tensor_shapes(LSTMConfig(100, 20, num_layers=4, batch_first=True), 3, 10)
    assert t["h_0"] == (4, 3, 20)


def test_seed_003_shapes_and_direction_split_views():
    t = tensor_shapes(LSTMConfig(10, 20), 3, 5)
    assert (t["output"], t["h_n"], t["c_n"]) == ((5, 3, 20), (1, 3, 20), (1, 3, 20))
    # output.view(T, B, D, H) splits the directions and h_n.view(L, D, B, H) the layers: the
    # last layer's forward state ends at t = T-1, its reverse state at t = 0
    cfg = LSTMConfig(10, 20, num_layers=2, bidirectional=True)
    t = tensor_shapes(cfg, 3, 5)
    torch.manual_seed(3)
    lstm = cfg.build().eval()
    with torch.no_grad():
        out, (h_n, _) = lstm(torch.randn(*t["input"]))
    assert (out.shape, h_n.shape) == (t["output"], t["h_n"])
    by_direction, by_layer = out.view(5, 3, 2, 20), h_n.view(2, 2, 3, 20)
    torch.testing.assert_close(by_direction[-1, :, 0], by_layer[-1, 0])
    torch.testing.assert_close(by_direction[0, :, 1], by_layer[-1, 1])
    assert not torch.allclose(by_direction[-1, :, 1], by_layer[-1, 1])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional,proj_size", [(False, 0), (True, 3)])
def test_model_shapes_of_embedding_packed_call_and_head_are_what_torch_produces(
        batch_first, bidirectional, proj_size):
    torch.manual_seed(0)
    cfg = LSTMConfig(input_size=5, hidden_size=6, num_layers=2, batch_first=batch_first,
                     bidirectional=bidirectional, proj_size=proj_size)
    vocab, T, lengths, classes = 11, 7, [7, 4, 2], 9
    embedding = nn.Embedding(vocab, cfg.input_size)
    lstm = cfg.build()
    head = nn.Linear(cfg.num_directions * cfg.h_out, classes)
    tokens = torch.randint(0, vocab, (len(lengths), T) if batch_first else (T, len(lengths)))
    x = embedding(tokens)
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths),
                                               batch_first=batch_first)
    out_packed, (h_n, c_n) = lstm(packed)
    output, _ = nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=batch_first,
                                                 total_length=T)
    got = {"tokens": tokens, "embedding.weight": embedding.weight, "input": x,
           "packed input.data": packed.data, "packed input.batch_sizes": packed.batch_sizes,
           "output": output, "packed output.data": out_packed.data, "h_n": h_n, "c_n": c_n,
           "head.weight": head.weight, "head output": head(output)}
    shapes = model_shapes(cfg, len(lengths), T, vocab_size=vocab, head_out=classes,
                          lengths=lengths)
    assert list(shapes) == ["tokens", "embedding.weight", "input", "packed input.data",
                            "packed input.batch_sizes", "h_0", "c_0", "output",
                            "packed output.data", "h_n", "c_n", "head.weight", "head output"]
    for name, tensor in got.items():
        assert tuple(shapes[name]) == tuple(tensor.shape), name
    assert shapes["packed input.data"].describe() == "(sum(lengths)=7+4+2=13, input_size=5)"


def test_model_shapes_without_embedding_head_or_packing_are_the_call_tensors():
    cfg = LSTMConfig(input_size=3, hidden_size=4)
    assert dict(model_shapes(cfg, 2, 5, lengths=[5, 5])) == dict(tensor_shapes(cfg, 2, 5))
    with pytest.raises(ValueError, match="lengths must give each of the 2 sequences"):
        model_shapes(cfg, 2, 5, lengths=[5, 9])
