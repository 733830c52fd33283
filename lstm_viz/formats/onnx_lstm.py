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

from collections.abc import Callable
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
    names = _NodeNames(graph)
    lstm_nodes = [node for node in graph.node if node.op_type == "LSTM"]
    singles, problems = _usable_layers(lstm_nodes, names, folder)
    found = [OnnxLSTM(names.of(s.node), s.state_dict, s.input_size, s.hidden_size, 1,
                      s.bias, s.bidirectional, s.batch_first) for s in singles]
    fed_by, bottoms, notes = _links(lstm_nodes, singles, names, graph)
    for s in bottoms:
        chain = _chain(s, fed_by, names, notes)
        if len(chain) >= 2:
            found.append(_stack(chain, names))
    return found, problems, notes, len(graph.node)


class _NodeNames:
    """What messages call a node: its name, or its place in the graph."""

    def __init__(self, graph: Any) -> None:
        self.index = {id(node): index for index, node in enumerate(graph.node)}

    def of(self, node: Any) -> str:
        return node.name or f"LSTM_{self.index[id(node)]}"

    def where(self, node: Any) -> str:
        return f"ONNX LSTM node {node.name or f'#{self.index[id(node)]}'}"


def _usable_layers(lstm_nodes: list[Any], names: _NodeNames, folder: ConstantFolder
                   ) -> tuple[list[_Layer], list[str]]:
    """Each LSTM node as nn.LSTM layer 0, and the reason for each node that is not one."""
    singles: list[_Layer] = []
    problems: list[str] = []
    for node in lstm_nodes:
        where = names.where(node)
        try:
            if node.domain not in _ONNX_DOMAINS:
                raise ValueError(
                    f"{where} is an LSTM of the operator domain {node.domain!r}, not ONNX's"
                    " own: its maths is unknown, so lstm-viz does not open it as an nn.LSTM")
            singles.append(_Layer(node, *_node_weights(node, where, folder)))
        except ValueError as exc:
            problems.append(str(exc))
    return singles, problems


def _links(lstm_nodes: list[Any], singles: list[_Layer], names: _NodeNames, graph: Any
           ) -> tuple[dict[int, _Layer], list[_Layer], list[str]]:
    """Which usable node each usable node feeds (following X back through glue ops to another
    LSTM node's Y), the usable nodes at the bottom of a stack, and notes on usable nodes that
    feed refused ones."""
    producer = {out: node for node in graph.node for out in node.output}
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
                f"ONNX LSTM node {names.of(source)} feeds ONNX LSTM node {names.of(node)},"
                f" which lstm-viz cannot open: what opens from {names.of(source)} (alone or as"
                f" the last layer of a stack) stops before {names.of(node)}, so the output"
                " shown is not the model's output")
            continue
        feeds[id(node)] = id(source)
        fed_by.setdefault(id(source), by_node[id(node)])
    bottoms = [s for s in singles if id(s.node) not in feeds and id(s.node) in fed_by]
    return fed_by, bottoms, notes


def _stacks_onto(below: _Layer, above: _Layer) -> bool:
    """Whether ``above`` can be layer k+1 of one nn.LSTM whose layer k is ``below``."""
    return (above.hidden_size == below.hidden_size and above.bias == below.bias
            and above.bidirectional == below.bidirectional
            and above.input_size == below.hidden_size * (2 if below.bidirectional else 1))


def _chain(bottom: _Layer, fed_by: dict[int, _Layer], names: _NodeNames, notes: list[str]
           ) -> list[_Layer]:
    """The layers stacked from ``bottom`` up, as far as they form one nn.LSTM (``notes`` says
    where they stop forming one)."""
    chain = [bottom]
    while (nxt := fed_by.get(id(chain[-1].node))) is not None:
        last = chain[-1]
        if not _stacks_onto(last, nxt):
            notes.append(
                f"ONNX LSTM node {names.of(last.node)} feeds ONNX LSTM node"
                f" {names.of(nxt.node)}, but their sizes or settings differ, so they do not"
                " form one nn.LSTM: each opens alone, and neither's output is the model's"
                " output")
            break
        chain.append(nxt)
    return chain


def _stack(chain: list[_Layer], names: _NodeNames) -> OnnxLSTM:
    """A chain of layers as one multi-layer nn.LSTM."""
    sd = {}
    for layer, item in enumerate(chain):
        sd.update({k.replace("_l0", f"_l{layer}"): v for k, v in item.state_dict.items()})
    named = [names.of(item.node) for item in chain]
    if len(named) > 3:  # a long stack is named by its ends, not in a line of every node
        named = [named[0], "...", named[-1]]
    s = chain[0]
    return OnnxLSTM("+".join(named), sd, s.input_size, s.hidden_size, len(chain), s.bias,
                    s.bidirectional, s.batch_first)


def _source_lstm(name: str, producer: dict[str, Any]) -> Any | None:
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


@dataclass(frozen=True)
class _Settings:
    """An LSTM node's attributes (ONNX's defaults where absent) and which inputs it names."""

    direction: str
    clip: float | None
    input_forget: int
    activations: list[str] | None
    hidden_size: int | None
    layout: int
    inputs: list[str]  # X, W, R, B, sequence_lens, initial_h, initial_c, P ("" where absent)

    @property
    def dirs(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    @property
    def expected_activations(self) -> list[str]:
        return _DEFAULT_ACTIVATIONS * self.dirs

    @classmethod
    def of(cls, node: Any) -> _Settings:
        attrs = {a.name: a for a in node.attribute}
        inputs = list(node.input) + [""] * 8
        return cls(
            direction=attrs["direction"].s.decode() if "direction" in attrs else "forward",
            clip=attrs["clip"].f if "clip" in attrs else None,
            input_forget=attrs["input_forget"].i if "input_forget" in attrs else 0,
            activations=([a.decode() for a in attrs["activations"].strings]
                         if "activations" in attrs else None),
            hidden_size=attrs["hidden_size"].i if "hidden_size" in attrs else None,
            layout=attrs["layout"].i if "layout" in attrs else 0,
            inputs=inputs)


# What nn.LSTM cannot be, checked in order before any weight is read: (refused when, given the
# node's settings and the graph's constants; the message, formatted with ``where`` and the
# node's settings).
_REFUSALS: tuple[tuple[Callable[[_Settings, ConstantFolder], bool], str], ...] = (
    (lambda s, _: s.direction == "reverse",
     "{where} runs in reverse only (direction='reverse'); nn.LSTM has no reverse-only mode (it"
     " equals a forward nn.LSTM run over the time-reversed input), so lstm-viz does not open"
     " it"),
    (lambda s, _: s.direction not in ("forward", "bidirectional"),
     "{where}: unknown direction {direction!r}"),
    (lambda s, _: s.clip is not None,
     "{where} clips its cell input (clip={clip:g}); nn.LSTM has no clipping"),
    (lambda s, _: bool(s.input_forget),
     "{where} couples its input and forget gates (input_forget=1); nn.LSTM has no such mode"),
    (lambda s, _: s.activations is not None and s.activations != s.expected_activations,
     "{where} uses activations {activations}; nn.LSTM uses {expected_activations}"),
    (lambda s, _: bool(s.inputs[7]),
     "{where} has peephole weights (input P); nn.LSTM has no peepholes"),
    (lambda s, folder: bool(s.inputs[4]) and folder.is_constant(s.inputs[4]),
     "{where} takes a constant sequence_lens (per-sequence lengths stored in the graph): the"
     " model's output depends on those lengths, which lstm-viz would ignore when opening it as"
     " an nn.LSTM, so it does not open it"),
    (lambda s, _: not s.inputs[1] or not s.inputs[2],
     "{where} has no W or R input"),
)


def _refuse(settings: _Settings, where: str, folder: ConstantFolder) -> None:
    """ValueError with the first refusal that applies to ``settings``."""
    for refused, message in _REFUSALS:
        if refused(settings, folder):
            fields = {**vars(settings), "expected_activations": settings.expected_activations}
            raise ValueError(message.format(where=where, **fields))


def _checked_weights(settings: _Settings, where: str, folder: ConstantFolder
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """W, R and B (None when absent) once their shapes fit one another and the settings."""
    inputs, dirs = settings.inputs, settings.dirs
    w, r = _weight(folder, inputs[1], "W", where), _weight(folder, inputs[2], "R", where)
    if w.ndim != 3 or r.ndim != 3 or w.shape[0] != dirs or r.shape[0] != dirs or \
            w.shape[1] % 4 or r.shape[1] != w.shape[1] or r.shape[2] * 4 != r.shape[1]:
        raise ValueError(f"{where}: W {w.shape} and R {r.shape} are not (D, 4H, I) and"
                         f" (D, 4H, H) with D={dirs}")
    hidden = r.shape[2]
    if settings.hidden_size is not None and settings.hidden_size != hidden:
        raise ValueError(f"{where}: hidden_size={settings.hidden_size} but R is {r.shape}")
    b = _weight(folder, inputs[3], "B", where) if inputs[3] else None
    if b is not None and b.shape != (dirs, 8 * hidden):
        raise ValueError(f"{where}: B has shape {b.shape}, expected ({dirs}, {8 * hidden})")
    for index, what in ((5, "initial_h"), (6, "initial_c")):
        start = _initial_state(folder, inputs[index]) if inputs[index] else None
        if start is not None and np.any(start):
            raise ValueError(f"{where} starts from a nonzero constant {what}; nn.LSTM starts"
                             " from zeros unless given (h_0, c_0), so lstm-viz does not open it")
    return w, r, b


def _regroup(m: np.ndarray) -> torch.Tensor:
    """ONNX's i, o, f, c blocks of rows as nn.LSTM's i, f, g, o."""
    blocks = np.split(m, 4, axis=0)
    return torch.from_numpy(np.ascontiguousarray(
        np.concatenate([blocks[i] for i in _ONNX_TO_TORCH], axis=0)))


def _node_weights(node: Any, where: str, folder: ConstantFolder
                  ) -> tuple[dict[str, torch.Tensor], int, int, bool, bool, bool]:
    """nn.LSTM layer 0's state dict of one LSTM node, its input and hidden sizes, and whether
    it has biases, is bidirectional and is batch-first; ValueError naming what nn.LSTM lacks."""
    settings = _Settings.of(node)
    _refuse(settings, where, folder)
    w, r, b = _checked_weights(settings, where, folder)
    hidden, input_size = r.shape[2], w.shape[2]
    sd = {}
    for d in range(settings.dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        sd[f"weight_ih{sfx}"] = _regroup(w[d])
        sd[f"weight_hh{sfx}"] = _regroup(r[d])
        if b is not None:
            sd[f"bias_ih{sfx}"] = _regroup(b[d, :4 * hidden])
            sd[f"bias_hh{sfx}"] = _regroup(b[d, 4 * hidden:])
    return (sd, int(input_size), int(hidden), b is not None, settings.dirs == 2,
            settings.layout == 1)
