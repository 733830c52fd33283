"""LSTM nodes of an ONNX graph as nn.LSTM weights (the graph is read, never run).

ONNX's ``LSTM`` operator stores W (D, 4H, I), R (D, 4H, H) and B (D, 8H) = [Wb; Rb] with the
gates in the order i, o, f, c; nn.LSTM keeps i, f, g, o, so rows are regrouped. A node whose W,
R and B are constants (initializers or Constant nodes) becomes one set of weights; LSTM nodes
that feed each other through the usual Transpose/Reshape/Squeeze glue also form a multi-layer
set. Peepholes, clipping, other activations, ``input_forget`` and constant ``sequence_lens`` have
no nn.LSTM equivalent and are refused by name, as are ``LSTM`` nodes of another operator domain
(their maths is not ONNX's). A usable node that feeds a refused one is still listed, with a note
that what opens from it stops before the rest of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .onnx_fold import ConstantFolder, NotConstant

# nn.LSTM's i, f, g, o blocks taken from ONNX's i, o, f, c blocks.
_ONNX_TO_TORCH = (0, 2, 3, 1)
_GLUE = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Flatten",
         "Cast"}
_DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh", "Tanh"]
# The domains whose LSTM is ONNX's own operator.
_ONNX_DOMAINS = ("", "ai.onnx")


@dataclass
class OnnxLSTM:
    """One usable LSTM node (or a stack of them) as nn.LSTM state dict and sizes."""

    name: str
    state_dict: dict
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    bidirectional: bool
    batch_first: bool


@dataclass
class _Layer:
    """One usable LSTM node and its weights as nn.LSTM layer 0."""

    node: Any
    state_dict: dict
    input_size: int
    hidden_size: int
    bias: bool
    bidirectional: bool
    batch_first: bool


def read_onnx(path: Path, budget: int) -> tuple[list[OnnxLSTM], list[str], list[str], int]:
    """The LSTMs of the ONNX file ``path``, the reasons other LSTM nodes were refused, notes on
    what the LSTMs found leave out of the model, and the number of nodes in the graph.
    ValueError if the file is not an ONNX model."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ValueError(f"{path.name} is not a readable ONNX model ({type(exc).__name__})"
                         ) from None
    graph = model.graph
    opset = next((int(o.version) for o in model.opset_import if o.domain in _ONNX_DOMAINS), 1)
    folder = ConstantFolder(graph, path, budget, opset)
    producer = {out: node for node in graph.node for out in node.output}

    index_of = {id(node): index for index, node in enumerate(graph.node)}

    def name_of(node) -> str:
        return node.name or f"LSTM_{index_of[id(node)]}"

    lstm_nodes = [node for node in graph.node if node.op_type == "LSTM"]
    singles: list[_Layer] = []
    problems: list[str] = []
    for node in lstm_nodes:
        where = f"ONNX LSTM node {node.name or f'#{index_of[id(node)]}'}"
        try:
            if node.domain not in _ONNX_DOMAINS:
                raise ValueError(
                    f"{where} is an LSTM of the operator domain {node.domain!r}, not ONNX's"
                    " own: its maths is unknown, so lstm-viz does not open it as an nn.LSTM")
            singles.append(_Layer(node, *_node_weights(node, where, folder)))
        except ValueError as exc:
            problems.append(str(exc))

    found = [OnnxLSTM(name_of(s.node), s.state_dict, s.input_size, s.hidden_size, 1,
                      s.bias, s.bidirectional, s.batch_first) for s in singles]
    # Stacks: follow each node's X input back through glue ops to another LSTM node's Y.
    by_node = {id(s.node): s for s in singles}
    feeds: dict[int, int] = {}
    fed_by: dict[int, _Layer] = {}  # a usable node -> the first usable LSTM node it feeds
    notes: list[str] = []
    for node in lstm_nodes:
        source = _source_lstm(node.input[0] if node.input else "", producer)
        if source is None or id(source) not in by_node:
            continue
        if id(node) not in by_node:
            notes.append(
                f"ONNX LSTM node {name_of(source)} feeds ONNX LSTM node {name_of(node)}, which"
                f" lstm-viz cannot open: what opens from {name_of(source)} (alone or as the"
                f" last layer of a stack) stops before {name_of(node)}, so the output shown is"
                " not the model's output")
            continue
        feeds[id(node)] = id(source)
        fed_by.setdefault(id(source), by_node[id(node)])
    for s in singles:
        if id(s.node) in feeds or id(s.node) not in fed_by:
            continue  # not the bottom of a stack
        chain = [s]
        while True:
            nxt = fed_by.get(id(chain[-1].node))
            last = chain[-1]
            if nxt is None:
                break
            if nxt.hidden_size != last.hidden_size or nxt.bias != last.bias or \
                    nxt.bidirectional != last.bidirectional or \
                    nxt.input_size != last.hidden_size * (2 if last.bidirectional else 1):
                notes.append(
                    f"ONNX LSTM node {name_of(last.node)} feeds ONNX LSTM node"
                    f" {name_of(nxt.node)}, but their sizes or settings differ, so they do not"
                    " form one nn.LSTM: each opens alone, and neither's output is the model's"
                    " output")
                break
            chain.append(nxt)
        if len(chain) < 2:
            continue
        sd = {}
        for layer, item in enumerate(chain):
            sd.update({k.replace("_l0", f"_l{layer}"): v for k, v in item.state_dict.items()})
        names = [name_of(item.node) for item in chain]
        if len(names) > 3:  # a long stack is named by its ends, not in a line of every node
            names = [names[0], "...", names[-1]]
        found.append(OnnxLSTM("+".join(names), sd,
                              s.input_size, s.hidden_size, len(chain), s.bias,
                              s.bidirectional, s.batch_first))
    return found, problems, notes, len(graph.node)


def _source_lstm(name: str, producer: dict):
    for _ in range(16):
        node = producer.get(name)
        if node is None:
            return None
        if node.op_type == "LSTM":
            return node if node.output and node.output[0] == name else None
        if node.op_type not in _GLUE or not node.input:
            return None
        name = node.input[0]
    return None


def _weight(folder: ConstantFolder, name: str, what: str, where: str) -> np.ndarray:
    """The constant ``name`` (the node's W, R or B) as a float array, or ValueError saying why
    it cannot be read and what to do."""
    try:
        value = folder.value(name)
    except NotConstant as exc:
        if name in folder.inputs or name not in folder.producer and \
                name not in folder.initializers:
            raise ValueError(f"{where}: its {what} ({name!r}) is a graph input, not a constant"
                             " stored in the file, so there are no weights to show") from None
        raise ValueError(f"{where}: its {what} cannot be read as a constant: {exc}; export"
                         " with torch.onnx.export(..., dynamo=False) to store LSTM weights as"
                         " initializers") from None
    if value.dtype not in (np.float16, np.float32, np.float64):
        raise ValueError(f"{where}: {what} has dtype {value.dtype}, not float16/32/64")
    return value


def _initial_state(folder: ConstantFolder, name: str) -> np.ndarray | None:
    """The constant an initial_h/initial_c input holds or is broadcast from (exporters expand
    zeros to the batch size at run time), or None when it is not constant."""
    try:
        return folder.value(name)
    except NotConstant:
        node = folder.producer.get(name)
        if node is not None and node.op_type == "Expand" and node.input and \
                folder.is_constant(node.input[0]):
            return folder.value(node.input[0])
    return None


def _node_weights(node, where: str, folder: ConstantFolder):
    attrs = {a.name: a for a in node.attribute}
    direction = attrs["direction"].s.decode() if "direction" in attrs else "forward"
    if direction == "reverse":
        raise ValueError(
            f"{where} runs in reverse only (direction='reverse'); nn.LSTM has no reverse-only"
            " mode (it equals a forward nn.LSTM run over the time-reversed input), so lstm-viz"
            " does not open it")
    if direction not in ("forward", "bidirectional"):
        raise ValueError(f"{where}: unknown direction {direction!r}")
    dirs = 2 if direction == "bidirectional" else 1
    if "clip" in attrs:
        raise ValueError(f"{where} clips its cell input (clip={attrs['clip'].f:g}); nn.LSTM"
                         " has no clipping")
    if "input_forget" in attrs and attrs["input_forget"].i:
        raise ValueError(f"{where} couples its input and forget gates (input_forget=1);"
                         " nn.LSTM has no such mode")
    if "activations" in attrs:
        acts = [a.decode() for a in attrs["activations"].strings]
        if acts != _DEFAULT_ACTIVATIONS * dirs:
            raise ValueError(f"{where} uses activations {acts}; nn.LSTM uses"
                             f" {_DEFAULT_ACTIVATIONS * dirs}")
    inputs = list(node.input) + [""] * 8
    if inputs[7]:
        raise ValueError(f"{where} has peephole weights (input P); nn.LSTM has no peepholes")
    if inputs[4] and folder.is_constant(inputs[4]):
        raise ValueError(
            f"{where} takes a constant sequence_lens (per-sequence lengths stored in the"
            " graph): the model's output depends on those lengths, which lstm-viz would ignore"
            " when opening it as an nn.LSTM, so it does not open it")
    if not inputs[1] or not inputs[2]:
        raise ValueError(f"{where} has no W or R input")
    w, r = _weight(folder, inputs[1], "W", where), _weight(folder, inputs[2], "R", where)
    if w.ndim != 3 or r.ndim != 3 or w.shape[0] != dirs or r.shape[0] != dirs or \
            w.shape[1] % 4 or r.shape[1] != w.shape[1] or r.shape[2] * 4 != r.shape[1]:
        raise ValueError(f"{where}: W {w.shape} and R {r.shape} are not (D, 4H, I) and"
                         f" (D, 4H, H) with D={dirs}")
    hidden, input_size = r.shape[2], w.shape[2]
    if "hidden_size" in attrs and attrs["hidden_size"].i != hidden:
        raise ValueError(f"{where}: hidden_size={attrs['hidden_size'].i} but R is {r.shape}")
    b = _weight(folder, inputs[3], "B", where) if inputs[3] else None
    if b is not None and b.shape != (dirs, 8 * hidden):
        raise ValueError(f"{where}: B has shape {b.shape}, expected ({dirs}, {8 * hidden})")
    layout = attrs["layout"].i if "layout" in attrs else 0

    def regroup(m: np.ndarray) -> torch.Tensor:
        blocks = np.split(m, 4, axis=0)
        return torch.from_numpy(np.ascontiguousarray(
            np.concatenate([blocks[i] for i in _ONNX_TO_TORCH], axis=0)))

    sd = {}
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        sd[f"weight_ih{sfx}"] = regroup(w[d])
        sd[f"weight_hh{sfx}"] = regroup(r[d])
        if b is not None:
            sd[f"bias_ih{sfx}"] = regroup(b[d, :4 * hidden])
            sd[f"bias_hh{sfx}"] = regroup(b[d, 4 * hidden:])
    for index, what in ((5, "initial_h"), (6, "initial_c")):
        start = _initial_state(folder, inputs[index]) if inputs[index] else None
        if start is not None and np.any(start):
            raise ValueError(f"{where} starts from a nonzero constant {what}; nn.LSTM starts"
                             " from zeros unless given (h_0, c_0), so lstm-viz does not open it")
    return sd, int(input_size), int(hidden), b is not None, dirs == 2, layout == 1
