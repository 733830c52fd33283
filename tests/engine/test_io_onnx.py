"""ONNX LSTM nodes: files written with the onnx helper from a known nn.LSTM, checked with
onnxruntime, open as an nn.LSTM whose outputs equal the original's."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_model

_OPSET = 14
# the IR version opset 14 needs: onnx writes its newest by default, which older onnxruntime
# releases (the test extra allows 1.16 and newer) refuse to load
_IR_VERSION = 8
# ONNX's i, o, f, c blocks taken from nn.LSTM's i, f, g, o blocks.
_TORCH_TO_ONNX = (0, 3, 1, 2)


def _onnx_blocks(m: torch.Tensor) -> np.ndarray:
    blocks = m.detach().numpy().reshape(4, -1, *m.shape[1:])
    return np.concatenate([blocks[i] for i in _TORCH_TO_ONNX], axis=0)


def _lstm_node(lstm: nn.LSTM, layer: int, x_name: str, tag: str, inits: list, *,
               layout: int = 0, as_constants: bool = False, nodes: list | None = None,
               **extra_attrs):
    """An ONNX LSTM node computing ``layer`` of ``lstm``; adds W, R, B to ``inits``."""
    sfx = [f"_l{layer}"] + ([f"_l{layer}_reverse"] if lstm.bidirectional else [])
    w = np.stack([_onnx_blocks(getattr(lstm, f"weight_ih{s}")) for s in sfx])
    r = np.stack([_onnx_blocks(getattr(lstm, f"weight_hh{s}")) for s in sfx])
    b = np.stack([np.concatenate([_onnx_blocks(getattr(lstm, f"bias_ih{s}")),
                                  _onnx_blocks(getattr(lstm, f"bias_hh{s}"))]) for s in sfx])
    for name, arr in ((f"W{tag}", w), (f"R{tag}", r), (f"B{tag}", b)):
        tensor = numpy_helper.from_array(arr.astype(np.float32), name)
        if as_constants:
            nodes.append(helper.make_node("Constant", [], [name], value=tensor))
        else:
            inits.append(tensor)
    direction = "bidirectional" if lstm.bidirectional else "forward"
    return helper.make_node("LSTM", [x_name, f"W{tag}", f"R{tag}", f"B{tag}"],
                            [f"Y{tag}", f"Yh{tag}", f"Yc{tag}"], name=f"lstm{tag}",
                            hidden_size=lstm.hidden_size, direction=direction, layout=layout,
                            **extra_attrs)


def _write(path, lstm: nn.LSTM, *, layout: int = 0, as_constants: bool = False,
           **extra_attrs):
    """One LSTM node per layer of ``lstm``, joined by the Transpose/Reshape or Squeeze glue that
    torch's exporter writes; the graph output is the last layer's Y."""
    inits, nodes = [], []
    x = "X"
    d = 2 if lstm.bidirectional else 1
    for layer in range(lstm.num_layers):
        nodes.append(_lstm_node(lstm, layer, x, str(layer), inits, layout=layout,
                                as_constants=as_constants, nodes=nodes, **extra_attrs))
        if layer + 1 < lstm.num_layers:
            if d == 2:
                inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64),
                                                     f"shape{layer}"))
                nodes.append(helper.make_node("Transpose", [f"Y{layer}"], [f"T{layer}"],
                                              perm=[0, 2, 1, 3]))
                nodes.append(helper.make_node("Reshape", [f"T{layer}", f"shape{layer}"],
                                              [f"X{layer + 1}"]))
            else:
                inits.append(numpy_helper.from_array(np.array([1], np.int64), f"ax{layer}"))
                nodes.append(helper.make_node("Squeeze", [f"Y{layer}", f"ax{layer}"],
                                              [f"X{layer + 1}"]))
            x = f"X{layer + 1}"
    last = lstm.num_layers - 1
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None] * 3)],
        [helper.make_tensor_value_info(f"Y{last}", TensorProto.FLOAT, [None] * 4)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                              ir_version=_IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _torch_output(lstm: nn.LSTM, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return lstm(torch.from_numpy(x))[0].numpy()


def _ort_output(path, x: np.ndarray, d: int) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"X": x})
    assert y.shape[1] == d
    return y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)  # (T, B, D*H)


@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (1, True), (2, False),
                                                       (3, True)])
def test_onnx_lstm_opens_equal_to_the_nn_lstm_it_was_written_from(tmp_path, num_layers,
                                                                  bidirectional):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, num_layers=num_layers, bidirectional=bidirectional).eval()
    _write(tmp_path / "m.onnx", lstm)
    x = np.random.default_rng(0).normal(size=(7, 2, 3)).astype(np.float32)
    d = 2 if bidirectional else 1
    np.testing.assert_allclose(_ort_output(tmp_path / "m.onnx", x, d), _torch_output(lstm, x),
                               atol=1e-5)  # the file itself is right
    loaded = load_model(tmp_path / "m.onnx")
    assert loaded.kind == "onnx"
    singles = [c for c in loaded.lstms if c.config.num_layers == 1]
    assert len(singles) == num_layers
    cand = loaded.lstms[-1]
    assert cand.origin == "ONNX LSTM" and cand.batch_first is False
    assert cand.config == LSTMConfig(3, 5, num_layers=num_layers, bidirectional=bidirectional)
    torch.testing.assert_close(cand.build()(torch.from_numpy(x))[0],
                               torch.from_numpy(_torch_output(lstm, x)))
    for key, value in lstm.state_dict().items():
        torch.testing.assert_close(cand.state_dict[key], value)


def test_onnx_layout_one_means_batch_first(tmp_path):
    torch.manual_seed(1)
    lstm = nn.LSTM(2, 4, batch_first=True).eval()
    x = np.random.default_rng(1).normal(size=(3, 6, 2)).astype(np.float32)
    # onnxruntime does not run layout=1, so it checks the same weights time-major.
    _write(tmp_path / "tm.onnx", lstm)
    np.testing.assert_allclose(_ort_output(tmp_path / "tm.onnx", x.transpose(1, 0, 2), 1),
                               _torch_output(lstm, x).transpose(1, 0, 2), atol=1e-5)
    _write(tmp_path / "bf.onnx", lstm, layout=1)
    (cand,) = load_model(tmp_path / "bf.onnx").lstms
    assert cand.batch_first is True
    torch.testing.assert_close(cand.build()(torch.from_numpy(x))[0],
                               torch.from_numpy(_torch_output(lstm, x)))


def test_onnx_weights_in_constant_nodes(tmp_path):
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 4).eval()
    _write(tmp_path / "c.onnx", lstm, as_constants=True)
    (cand,) = load_model(tmp_path / "c.onnx").lstms
    for key, value in lstm.state_dict().items():
        torch.testing.assert_close(cand.state_dict[key], value)


@pytest.mark.parametrize("attrs, message", [
    ({"clip": 3.0}, "ONNX LSTM node lstm0 clips its cell input (clip=3); nn.LSTM has no"
                    " clipping"),
    ({"input_forget": 1}, "ONNX LSTM node lstm0 couples its input and forget gates"
                          " (input_forget=1); nn.LSTM has no such mode"),
    ({"activations": ["Sigmoid", "Tanh", "Relu"]},
     "ONNX LSTM node lstm0 uses activations ['Sigmoid', 'Tanh', 'Relu']; nn.LSTM uses"
     " ['Sigmoid', 'Tanh', 'Tanh']"),
    ({"direction": "reverse"}, "ONNX LSTM node lstm0 runs in reverse only"
                               " (direction='reverse'); nn.LSTM has no reverse-only mode (it"
                               " equals a forward nn.LSTM run over the time-reversed input), so"
                               " lstm-viz does not open it"),
    ({"direction": "sideways"}, "ONNX LSTM node lstm0: unknown direction 'sideways'"),
])
def test_onnx_features_nn_lstm_lacks_are_refused_by_name(tmp_path, attrs, message):
    lstm = nn.LSTM(3, 4)
    inits: list = []
    node = _lstm_node(lstm, 0, "X", "0", inits)
    for key, value in attrs.items():
        node.attribute.remove(next(a for a in node.attribute if a.name == key)) \
            if any(a.name == key for a in node.attribute) else None
        node.attribute.append(helper.make_attribute(key, value))
    _save_graph(tmp_path / "bad.onnx", [node], inits, "Y0")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_model(tmp_path / "bad.onnx")


def test_onnx_peepholes_are_refused_by_name(tmp_path):
    lstm = nn.LSTM(3, 4)
    inits: list = []
    node = _lstm_node(lstm, 0, "X", "0", inits)
    node.input.extend(["", "", "", "P"])
    inits.append(numpy_helper.from_array(np.zeros((1, 12), np.float32), "P"))
    _save_graph(tmp_path / "peep.onnx", [node], inits, "Y0")
    with pytest.raises(ValueError, match="peephole"):
        load_model(tmp_path / "peep.onnx")


def test_onnx_nonzero_constant_initial_state_is_refused_by_name(tmp_path):
    lstm = nn.LSTM(3, 4)
    inits: list = []
    node = _lstm_node(lstm, 0, "X", "0", inits)
    node.input.extend(["", "H0"])
    inits.append(numpy_helper.from_array(np.full((1, 1, 4), 0.5, np.float32), "H0"))
    _save_graph(tmp_path / "h0.onnx", [node], inits, "Y0")
    with pytest.raises(ValueError, match="nonzero constant initial_h"):
        load_model(tmp_path / "h0.onnx")


def test_onnx_lstm_whose_weights_are_inputs_has_nothing_to_show(tmp_path):
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=4)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                      for n in ("X", "W", "R")],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                                ir_version=_IR_VERSION),
              str(tmp_path / "inputs.onnx"))
    with pytest.raises(ValueError, match=r"its W \('W'\) is a graph input, not a constant"):
        load_model(tmp_path / "inputs.onnx")


def test_onnx_without_lstm_says_so(tmp_path):
    node = helper.make_node("Relu", ["X"], ["Y"])
    _save_graph(tmp_path / "relu.onnx", [node], [], "Y")
    with pytest.raises(ValueError, match="ONNX model with 1 nodes but no LSTM node"):
        load_model(tmp_path / "relu.onnx")


def _save_graph(path, nodes, inits, out):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                          None)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                                ir_version=_IR_VERSION),
              str(path))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_an_lstm_node_of_another_operator_domain_is_refused_naming_node_and_domain(tmp_path):
    lstm = nn.LSTM(3, 4)
    inits: list = []
    node = _lstm_node(lstm, 0, "X", "0", inits)
    node.domain = "com.example"
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "X", TensorProto.FLOAT, None)], [helper.make_tensor_value_info("Y0", TensorProto.FLOAT,
                                                                       None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET),
                                                    helper.make_opsetid("com.example", 1)],
                              ir_version=_IR_VERSION)
    onnx.save(model, str(tmp_path / "custom.onnx"))
    with pytest.raises(ValueError, match="lstm0 is an LSTM of the operator domain"
                                         " 'com.example', not ONNX's own") as exc:
        load_model(tmp_path / "custom.onnx")
    assert "maths is unknown" in _one_line(exc)

    # beside an ONNX LSTM, the foreign one is skipped with a warning, never opened
    model.graph.node.append(_lstm_node(lstm, 0, "X", "1", inits))
    model.graph.initializer.extend(inits[3:])
    onnx.save(model, str(tmp_path / "both.onnx"))
    loaded = load_model(tmp_path / "both.onnx")
    assert [c.name for c in loaded.lstms] == ["lstm1"]
    assert any("lstm0" in w and "'com.example'" in w for w in loaded.warnings)


@pytest.mark.parametrize("as_constant", [False, True], ids=["initializer", "Constant"])
def test_a_constant_sequence_lens_is_refused_because_the_output_depends_on_it(tmp_path,
                                                                              as_constant):
    torch.manual_seed(3)
    lstm = nn.LSTM(3, 4).eval()
    inits: list = []
    nodes: list = []
    lengths = numpy_helper.from_array(np.array([5, 2], np.int32), "L")
    if as_constant:
        nodes.append(helper.make_node("Constant", [], ["L"], value=lengths))
    else:
        inits.append(lengths)
    node = _lstm_node(lstm, 0, "X", "0", inits)
    node.input.append("L")
    _save_graph(tmp_path / "lens.onnx", nodes + [node], inits, "Y0")
    # the file means what it says: onnxruntime's output past a length is not nn.LSTM's
    x = np.random.default_rng(3).normal(size=(5, 2, 3)).astype(np.float32)
    y = _ort_output(tmp_path / "lens.onnx", x, 1)
    assert not np.allclose(y, _torch_output(lstm, x), atol=1e-3)
    with pytest.raises(ValueError, match="lstm0 takes a constant sequence_lens") as exc:
        load_model(tmp_path / "lens.onnx")
    assert "output depends on those lengths" in _one_line(exc)


def _two_layer_file(path, **second_attrs) -> nn.LSTM:
    """A two-layer nn.LSTM written as two ONNX LSTM nodes; ``second_attrs`` are added to the
    second node."""
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 5, num_layers=2).eval()
    _write(path, lstm)
    model = onnx.load(str(path))
    second = next(n for n in model.graph.node if n.name == "lstm1")
    for key, value in second_attrs.items():
        second.attribute.append(helper.make_attribute(key, value))
    onnx.save(model, str(path))
    return lstm


def test_a_stack_whose_second_node_clips_opens_its_first_node_saying_the_output_is_not_the_models(
        tmp_path):
    lstm = _two_layer_file(tmp_path / "clip.onnx", clip=0.5)
    loaded = load_model(tmp_path / "clip.onnx")
    (cand,) = loaded.lstms
    assert cand.name == "lstm0" and cand.config == LSTMConfig(3, 5)
    torch.testing.assert_close(cand.state_dict["weight_hh_l0"], lstm.weight_hh_l0)
    (note,) = [w for w in loaded.warnings if "feeds" in w]
    assert "lstm0 feeds ONNX LSTM node lstm1" in note
    assert "the output shown is not the model's output" in note
    assert any(w.startswith("skipped ONNX LSTM node lstm1 clips") for w in loaded.warnings)


def test_a_stack_of_usable_nodes_opens_without_a_note(tmp_path):
    _two_layer_file(tmp_path / "ok.onnx")
    loaded = load_model(tmp_path / "ok.onnx")
    assert [c.name for c in loaded.lstms] == ["lstm0", "lstm1", "lstm0+lstm1"]
    assert loaded.warnings == ()


def _many_nodes(path, count: int, **attrs) -> None:
    lstm = nn.LSTM(2, 3)
    inits: list = []
    nodes = [_lstm_node(lstm, 0, "X", str(i), inits, **attrs) for i in range(count)]
    _save_graph(path, nodes, inits, "Y0")


def test_a_file_of_600_lstm_nodes_names_five_and_the_count_in_one_line(tmp_path):
    _many_nodes(tmp_path / "many.onnx", 600)
    loaded = load_model(tmp_path / "many.onnx")
    assert len(loaded.lstms) == 600
    with pytest.raises(ValueError, match="holds 600 LSTMs: lstm0; lstm1; lstm2; lstm3; lstm4;"
                                         " and 595 more") as exc:
        loaded.pick()
    text = _one_line(exc)
    assert "lstm5;" not in text and "lstm599" not in text
    assert "`lstm-viz models " in text and "lists them all" in text
    with pytest.raises(ValueError, match="no LSTM called 'nope'.*lstm4; and 595 more") as exc:
        loaded.pick("nope")
    assert len(_one_line(exc)) < 500
    assert loaded.pick("lstm599").name == "lstm599"


def test_600_unusable_lstm_nodes_are_refused_in_one_short_line(tmp_path):
    _many_nodes(tmp_path / "clipped.onnx", 600, clip=1.0)
    with pytest.raises(ValueError, match="cannot open: ONNX LSTM node lstm0 clips") as exc:
        load_model(tmp_path / "clipped.onnx")
    text = _one_line(exc)
    assert "node lstm4 clips" in text and "node lstm5 clips" not in text
    assert "and 595 more" in text and "lists them all" in text and len(text) < 1000
    assert len(exc.value.problems) == 600  # what `lstm-viz models` lists


def test_600_skipped_nodes_beside_a_usable_one_give_a_few_warnings(tmp_path):
    lstm = nn.LSTM(2, 3)
    inits: list = []
    nodes = [_lstm_node(lstm, 0, "X", str(i), inits, clip=1.0) for i in range(600)]
    nodes.append(_lstm_node(lstm, 0, "X", "ok", inits))
    _save_graph(tmp_path / "mixed.onnx", nodes, inits, "Yok")
    loaded = load_model(tmp_path / "mixed.onnx")
    assert [c.name for c in loaded.lstms] == ["lstmok"]
    assert len(loaded.warnings) == 6 and "and 595 more LSTM nodes skipped" in loaded.warnings[-1]
    assert len(loaded.skipped) == 600


def test_nan_and_infinite_onnx_weights_open_with_the_warning_inputs_give(tmp_path):
    lstm = nn.LSTM(3, 4)
    with torch.no_grad():
        lstm.weight_ih_l0[0, 0] = float("nan")
        lstm.bias_hh_l0[1] = float("inf")
    _write(tmp_path / "nan.onnx", lstm)
    loaded = load_model(tmp_path / "nan.onnx")
    (cand,) = loaded.lstms
    assert torch.isnan(cand.state_dict["weight_ih_l0"]).sum() == 1
    assert loaded.warnings == ("1 NaN and 1 infinite values in weight_ih_l0, bias_hh_l0 of"
                               " the LSTM lstm0; the trace will carry them",)


def test_a_stack_of_600_nodes_is_named_by_its_ends(tmp_path):
    torch.manual_seed(5)
    lstm = nn.LSTM(2, 2, num_layers=600).eval()
    _write(tmp_path / "deep.onnx", lstm)
    loaded = load_model(tmp_path / "deep.onnx")
    stack = loaded.lstms[-1]
    assert stack.name == "lstm0+...+lstm599" and stack.config.num_layers == 600
    assert loaded.pick("lstm0+...+lstm599") is stack
    torch.testing.assert_close(stack.state_dict["weight_hh_l599"], lstm.weight_hh_l599)
    x = torch.randn(3, 1, 2)
    torch.testing.assert_close(stack.build()(x)[0], lstm(x)[0])


def test_every_foldable_operator_has_a_numpy_evaluation():
    from lstm_viz.formats import onnx_fold

    assert set(onnx_fold._OPS) == onnx_fold.FOLDABLE


def _fold(op: str, args: list, n_out: int = 1, opset: int = 17, **attrs):
    from lstm_viz.formats import onnx_fold

    made = {k: helper.make_attribute(k, v) for k, v in attrs.items()}
    return onnx_fold._apply(op, args, made, n_out, opset, lambda shape, size, what: None)


def test_constant_folding_evaluates_each_operator_as_onnx_defines_it():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    i64 = np.array
    assert _fold("Identity", [x])[0] is x
    np.testing.assert_array_equal(_fold("Neg", [x])[0], -x)
    assert _fold("Cast", [x], to=7)[0].dtype == np.int64  # TensorProto.INT64
    np.testing.assert_array_equal(_fold("Shape", [x], start=1)[0], [3])
    np.testing.assert_array_equal(_fold("Gather", [x, i64([2, 0])], axis=1)[0],
                                  [[2, 0], [5, 3]])
    np.testing.assert_array_equal(_fold("Transpose", [x], perm=[1, 0])[0], x.T)
    assert _fold("Concat", [x, None, x], axis=0)[0].shape == (4, 3)
    np.testing.assert_array_equal(_fold("Sub", [x, np.float32(1)])[0], x - 1)
    # integer Div truncates towards zero, as ONNX says (numpy's // floors)
    np.testing.assert_array_equal(_fold("Div", [i64([-7, 7]), i64([2, 2])])[0], [-3, 3])
    assert _fold("Unsqueeze", [x, i64([0, -1])])[0].shape == (1, 2, 3, 1)
    assert _fold("Unsqueeze", [x], opset=11, axes=[1])[0].shape == (2, 1, 3)
    assert _fold("Squeeze", [x.reshape(1, 2, 3, 1), i64([0])])[0].shape == (2, 3, 1)
    assert _fold("Squeeze", [x.reshape(1, 2, 3, 1)])[0].shape == (2, 3)
    # a 0 in Reshape's shape keeps that dimension unless allowzero
    assert _fold("Reshape", [x, i64([0, 3, 1])])[0].shape == (2, 3, 1)
    np.testing.assert_array_equal(_fold("Reshape", [x, i64([3, -1])])[0], x.reshape(3, 2))
    assert _fold("Expand", [np.zeros((1, 3), np.float32), i64([4, 1])])[0].shape == (4, 3)
    full = _fold("ConstantOfShape", [i64([2, 2])])[0]
    assert full.shape == (2, 2) and full.dtype == np.float32 and not full.any()
    np.testing.assert_array_equal(_fold("Slice", [x, i64([1]), i64([3]), i64([1])])[0],
                                  x[:, 1:3])
    parts = _fold("Split", [x], n_out=3, axis=1)
    assert [p.tolist() for p in parts] == [[[0], [3]], [[1], [4]], [[2], [5]]]
