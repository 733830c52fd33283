"""ONNX files as torch.onnx.export writes them today: weights as initializers (dynamo=False), in
a .onnx.data file beside the model (the default), or computed by small constant subgraphs of
the module's parameters (optimize=False). Each opens as an nn.LSTM whose output equals what
onnxruntime computes from the same file; what cannot be read is refused in one line that says
why, and external data is read only from beside the model."""

from __future__ import annotations

import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_model

pytest.importorskip("onnxscript")  # torch.onnx.export's default (dynamo) exporter needs it


def _export(module: nn.Module, x: torch.Tensor, path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' notes about tracing and deprecation
        torch.onnx.export(module, (x,), str(path), verbose=False, **kwargs)
    return path


def _ort_output(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.numpy()})[0]


def _the_stack(loaded, layers: int):
    return next(c for c in loaded.lstms if c.config.num_layers == layers)


EXPORTS = {
    "default": {},
    "unoptimized": {"optimize": False},
    "torchscript-based": {"dynamo": False},
    "torchscript-based, opset 14": {"dynamo": False, "opset_version": 14},
    "torchscript-based, opset 17": {"dynamo": False, "opset_version": 17},
}


@pytest.mark.parametrize("how", sorted(EXPORTS))
def test_a_model_exported_by_torch_onnx_export_opens_and_equals_onnxruntime(tmp_path, how):
    torch.manual_seed(3)
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = torch.randn(2, 7, 3)
    path = _export(lstm, x, tmp_path / "model.onnx", **EXPORTS[how])
    loaded = load_model(path)
    cand = _the_stack(loaded, 2)
    assert cand.config == LSTMConfig(3, 5, num_layers=2, bidirectional=True)
    rebuilt = cand.build(batch_first=True)
    with torch.no_grad():
        ours = rebuilt(x)[0].numpy()
        theirs = lstm(x)[0].numpy()
    np.testing.assert_allclose(ours, _ort_output(path, x), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=1e-5)


def test_the_default_export_keeps_its_weights_beside_the_model_and_they_are_read(tmp_path):
    lstm = nn.LSTM(4, 6).eval()
    path = _export(lstm, torch.randn(5, 1, 4), tmp_path / "m.onnx")
    model = onnx.load(str(path), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    (cand,) = load_model(path).lstms
    for key, value in lstm.state_dict().items():
        torch.testing.assert_close(cand.state_dict[key], value, rtol=0, atol=0)


def _external_model(tmp_path, location: str, *, offset: int = 0, length: int | None = None):
    """A one-node LSTM whose W names ``location`` as its external data file."""
    torch.manual_seed(0)
    hidden, inputs = 3, 2
    w = np.random.default_rng(0).standard_normal((1, 4 * hidden, inputs)).astype(np.float32)
    r = numpy_helper.from_array(np.zeros((1, 4 * hidden, hidden), np.float32), "R")
    (tmp_path / "weights.bin").write_bytes(w.tobytes())
    w_tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=list(w.shape),
                           data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", str(offset)),
                       ("length", str(w.nbytes if length is None else length))):
        entry = w_tensor.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=hidden)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, inputs])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=[w_tensor, r])
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                                ir_version=8), str(path))
    return path, w


def test_external_data_beside_the_model_is_read(tmp_path):
    path, w = _external_model(tmp_path, "weights.bin")
    os.replace(tmp_path / "weights.bin", path.parent / "weights.bin")
    (cand,) = load_model(path).lstms
    assert cand.config == LSTMConfig(2, 3, bias=False)


@pytest.mark.parametrize("location, message", [
    ("../weights.bin", "named without folders above it"),
    ("/etc/passwd", "named without folders above it"),
    ("missing.bin", "is not beside the model"),
    ("link.bin", "leads outside the model's folder"),
])
def test_external_data_from_outside_the_models_folder_is_never_read(tmp_path, location,
                                                                    message):
    path, _ = _external_model(tmp_path, location)
    (path.parent / "link.bin").symlink_to(tmp_path / "weights.bin")
    with pytest.raises(ValueError, match=message) as err:
        load_model(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("offset, length", [(8, None), (0, 12), (-4, None)])
def test_external_data_whose_byte_range_does_not_fit_is_refused(tmp_path, offset, length):
    path, _ = _external_model(tmp_path, "weights.bin", offset=offset, length=length)
    os.replace(tmp_path / "weights.bin", path.parent / "weights.bin")
    with pytest.raises(ValueError, match="does not match the model"):
        load_model(path)


def test_a_weight_computed_by_an_op_outside_the_fixed_list_is_refused_by_name(tmp_path):
    hidden, inputs = 3, 2
    w0 = numpy_helper.from_array(np.ones((1, 4 * hidden, inputs), np.float32), "W0")
    r = numpy_helper.from_array(np.zeros((1, 4 * hidden, hidden), np.float32), "R")
    nodes = [helper.make_node("Sin", ["W0"], ["W"], name="make_w"),
             helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=hidden)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, inputs])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=[w0, r])
    path = tmp_path / "sin.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                                ir_version=8), str(path))
    with pytest.raises(ValueError, match=r"its W cannot be read as a constant: it is computed"
                       r" by a Sin node \(make_w\).*dynamo=False") as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_a_constant_subgraph_that_would_exceed_the_memory_budget_is_refused(tmp_path,
                                                                           monkeypatch):
    import lstm_viz.formats.loader as lio

    hidden, inputs = 3, 2
    w0 = numpy_helper.from_array(np.ones((1, 1, inputs), np.float32), "W0")
    shape = numpy_helper.from_array(np.array([1, 4 * hidden, inputs], np.int64), "shape")
    big = numpy_helper.from_array(np.array([4000, 4000, 2], np.int64), "big")
    r = numpy_helper.from_array(np.zeros((1, 4 * hidden, hidden), np.float32), "R")
    nodes = [helper.make_node("Expand", ["W0", "big"], ["huge"]),
             helper.make_node("Slice", ["huge", "zero", "shape"], ["W"]),
             helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=hidden)]
    zero = numpy_helper.from_array(np.zeros(3, np.int64), "zero")
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, inputs])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=[w0, shape, big, r, zero])
    path = tmp_path / "bomb.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                                ir_version=8), str(path))
    monkeypatch.setattr(lio, "_memory_budget", lambda: 64 << 20)
    with pytest.raises(ValueError, match="past the memory budget"):
        load_model(path)
