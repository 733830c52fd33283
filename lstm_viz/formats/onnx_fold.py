"""The constant tensors of an ONNX graph, computed without running the graph.

``torch.onnx.export`` writes an LSTM node's W, R and B as initializers (``dynamo=False``), as
initializers whose bytes sit in a ``.onnx.data`` file beside the model (today's default), or,
unoptimized, as small constant subgraphs that slice, reshape and concatenate the module's own
parameters. ``ConstantFolder.value(name)`` gives the numpy array behind ``name`` in each case:

- initializers, with external data read only from a regular file in the model's own folder
  (a relative name, no ``..``, no symlink that leads out, the byte range inside the file);
- ``Constant`` nodes;
- the outputs of nodes from a fixed list of pure tensor operations (``FOLDABLE``) whose inputs
  are all constants themselves, evaluated with numpy.

Anything else (a graph input, another operator, a custom domain) raises ``NotConstant`` naming
it, and every tensor made is counted against the memory budget before it is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Pure tensor operations that exporters use to shape weights, evaluated with numpy.
FOLDABLE = frozenset({
    "Identity", "Cast", "Shape", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze",
    "Reshape", "Transpose", "Split", "Add", "Sub", "Mul", "Div", "Neg", "Expand",
    "ConstantOfShape",
})
_ONNX_DOMAINS = ("", "ai.onnx")
_MAX_DEPTH = 256  # nodes between a weight and the initializers it is computed from


class NotConstant(ValueError):
    """A tensor that is not a constant lstm-viz can compute; the message says why."""


class ConstantFolder:
    """Constant values of ``graph`` (an onnx GraphProto) of the model read from ``model_path``.

    ``opset`` is the model's ONNX opset (attributes moved to inputs over the versions);
    ``budget`` bounds the bytes of all tensors read or computed together.
    """

    def __init__(self, graph: Any, model_path: Path, budget: int, opset: int) -> None:
        self.initializers = {t.name: t for t in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output if out}
        self.inputs = {i.name for i in graph.input} - set(self.initializers)
        self.folder = Path(model_path).resolve().parent
        self.budget = int(budget)
        self.opset = int(opset)
        self.used = 0
        self.values: dict[str, np.ndarray] = {}

    # ----- what a name stands for ------------------------------------------------------------
    def is_constant(self, name: str) -> bool:
        """Whether ``name`` can be computed (without computing it when it is costly)."""
        try:
            self.value(name)
        except NotConstant:
            return False
        return True

    def value(self, name: str, depth: int = 0) -> np.ndarray:
        """The array behind ``name``; NotConstant (a ValueError) says why there is none."""
        if name in self.values:
            return self.values[name]
        if depth > _MAX_DEPTH:
            raise NotConstant(f"'{name}' is computed through more than {_MAX_DEPTH} nodes")
        if name in self.initializers:
            array = self._initializer(self.initializers[name])
        elif name in self.inputs or name not in self.producer:
            raise NotConstant(f"'{name}' is a graph input, not a constant stored in the file")
        else:
            node = self.producer[name]
            self._evaluate(node, depth)
            array = self.values[name]
        self.values[name] = array
        return array

    def _charge(self, nbytes: int, what: str) -> None:
        self.used += int(nbytes)
        if self.used > self.budget:
            raise NotConstant(f"{what} would take the model's constants past the memory budget"
                              f" ({self.budget} bytes)")

    # ----- initializers and external data ----------------------------------------------------
    def _initializer(self, tensor: Any) -> np.ndarray:
        from onnx import helper, numpy_helper

        dims = [int(d) for d in tensor.dims]
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
        except (KeyError, TypeError, ValueError):
            raise NotConstant(f"initializer '{tensor.name}' has ONNX data type"
                              f" {tensor.data_type}, which lstm-viz cannot read") from None
        if any(d < 0 for d in dims):
            raise NotConstant(f"initializer '{tensor.name}' has a negative dimension {dims}")
        nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize
        self._charge(nbytes, f"initializer '{tensor.name}' ({nbytes} bytes)")
        if tensor.data_location != 1:  # stored in the model file itself
            return np.array(numpy_helper.to_array(tensor))
        raw = self._external_bytes(tensor, nbytes)
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)

    def _external_bytes(self, tensor: Any, nbytes: int) -> bytes:
        info = {entry.key: entry.value for entry in tensor.external_data}
        where = f"initializer '{tensor.name}'"
        location = info.get("location", "")
        if not location or os.path.isabs(location) or "\\" in location or \
                ".." in Path(location).parts or location.startswith("~"):
            raise NotConstant(
                f"{where} names its data file {location!r}; lstm-viz reads external data only"
                " from a file beside the model, named without folders above it")
        path = self.folder / location
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise NotConstant(f"{where} keeps its data in {location}, which is not beside the"
                              f" model in {self.folder}; copy it there") from None
        if self.folder not in real.parents or not real.is_file():
            raise NotConstant(f"{where} names {location}, which leads outside the model's"
                              " folder or is not a regular file; lstm-viz does not follow it")
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else nbytes
        except ValueError:
            raise NotConstant(f"{where} has a malformed offset or length") from None
        size = real.stat().st_size
        if offset < 0 or length != nbytes or offset + length > size:
            raise NotConstant(f"{where} claims bytes {offset}..{offset + length} of {location}"
                              f" ({size} bytes) for a tensor of {nbytes} bytes; the data file"
                              " does not match the model")
        with open(real, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(length)
        if len(raw) != length:
            raise NotConstant(f"{where}: {location} ended early")
        return raw

    # ----- nodes -----------------------------------------------------------------------------
    def _evaluate(self, node: Any, depth: int) -> None:
        op, label = node.op_type, node.name or node.op_type
        if node.domain not in _ONNX_DOMAINS:
            raise NotConstant(f"it is computed by node {label} of domain {node.domain!r},"
                              " whose meaning lstm-viz does not know")
        if op == "Constant":
            outputs = [self._constant(node)]
        elif op not in FOLDABLE:
            raise NotConstant(f"it is computed by a {op} node ({label}), which lstm-viz does"
                              " not evaluate: only initializers and the pure tensor operations"
                              f" {', '.join(sorted(FOLDABLE))} of them")
        else:
            args = [self.value(i, depth + 1) if i else None for i in node.input]
            attrs = {a.name: a for a in node.attribute}
            try:
                outputs = _apply(op, args, attrs, len(node.output), self.opset,
                                 self._check_size)
            except (ValueError, IndexError, TypeError, KeyError, OverflowError) as exc:
                if isinstance(exc, NotConstant):
                    raise
                raise NotConstant(f"its {op} node ({label}) cannot be evaluated:"
                                  f" {str(exc).splitlines()[0] if str(exc) else exc!r}"
                                  ) from None
        for name, array in zip(node.output, outputs):
            if name:
                self.values[name] = array

    def _check_size(self, shape: tuple | list, itemsize: int, what: str) -> None:
        count = int(np.prod([int(s) for s in shape], dtype=object)) if len(shape) else 1
        self._charge(count * itemsize, what)

    def _constant(self, node: Any) -> np.ndarray:
        from onnx import numpy_helper

        for attr in node.attribute:
            if attr.name == "value":
                return self._initializer(attr.t) if attr.t.data_location == 1 else \
                    np.array(numpy_helper.to_array(attr.t))
            if attr.name == "value_float":
                return np.array(attr.f, dtype=np.float32)
            if attr.name == "value_floats":
                return np.array(list(attr.floats), dtype=np.float32)
            if attr.name == "value_int":
                return np.array(attr.i, dtype=np.int64)
            if attr.name == "value_ints":
                return np.array(list(attr.ints), dtype=np.int64)
        raise NotConstant(f"Constant node {node.name or ''} holds no value lstm-viz can read")


def _ints(attr: Any) -> list[int]:
    return [int(v) for v in attr.ints]


@dataclass(frozen=True)
class _Call:
    """One node to evaluate: its inputs (None where absent), attributes and output count."""

    op: str
    args: list[Any]
    attrs: dict[str, Any]
    n_out: int
    opset: int
    check: Callable[[Any, int, str], None]  # (shape, itemsize, what) -> charge the budget

    @property
    def x(self) -> np.ndarray:
        return self.args[0]

    def attr_i(self, name: str, default: int) -> int:
        return int(self.attrs[name].i) if name in self.attrs else default


def _apply(op: str, args: list, attrs: dict, n_out: int, opset: int,
           check: Callable[[Any, int, str], None]) -> list[np.ndarray]:
    """Numpy evaluation of one ONNX operator from ``FOLDABLE``."""
    if not args or args[0] is None:
        raise NotConstant(f"a {op} node has no input")
    if op not in _OPS:  # unreachable: FOLDABLE lists the ops of the table
        raise NotConstant(f"{op} is not evaluated")
    return _OPS[op](_Call(op, args, attrs, n_out, opset, check))


def _cast(c: _Call) -> list[np.ndarray]:
    from onnx import helper

    return [c.x.astype(helper.tensor_dtype_to_np_dtype(c.attrs["to"].i))]


def _shape(c: _Call) -> list[np.ndarray]:
    dims = np.array(c.x.shape, dtype=np.int64)
    return [dims[c.attr_i("start", 0):c.attr_i("end", len(dims))]]


def _transpose(c: _Call) -> list[np.ndarray]:
    perm = _ints(c.attrs["perm"]) if "perm" in c.attrs else None
    return [np.ascontiguousarray(np.transpose(c.x, perm))]


def _arithmetic(c: _Call) -> list[np.ndarray]:
    a, b = c.x, c.args[1]
    c.check(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b).itemsize,
            f"a {c.op} node's result")
    if c.op == "Div" and np.issubdtype(a.dtype, np.integer):
        return [(np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)]
    fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[c.op]
    return [fn(a, b).astype(np.result_type(a, b))]


def _axes(c: _Call) -> list[int] | None:
    """Squeeze's and Unsqueeze's axes: an attribute before opset 13, an input since."""
    if "axes" in c.attrs:
        return _ints(c.attrs["axes"])
    if len(c.args) > 1 and c.args[1] is not None:
        return [int(v) for v in c.args[1].ravel()]
    return None


def _squeeze(c: _Call) -> list[np.ndarray]:
    axes = _axes(c)
    return [np.squeeze(c.x, axis=tuple(axes)) if axes else np.squeeze(c.x)]


def _unsqueeze(c: _Call) -> list[np.ndarray]:
    axes = _axes(c) or []
    rank = c.x.ndim + len(axes)
    out = c.x
    for axis in sorted(a % rank for a in axes):
        out = np.expand_dims(out, axis)
    return [out]


def _reshape(c: _Call) -> list[np.ndarray]:
    shape = [int(v) for v in c.args[1].ravel()]
    if not c.attr_i("allowzero", 0):
        shape = [c.x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [np.reshape(c.x, shape)]


def _expand(c: _Call) -> list[np.ndarray]:
    target = np.broadcast_shapes(c.x.shape, tuple(int(v) for v in c.args[1].ravel()))
    c.check(target, c.x.dtype.itemsize, "an Expand node's result")
    return [np.array(np.broadcast_to(c.x, target))]


def _constant_of_shape(c: _Call) -> list[np.ndarray]:
    shape = [int(v) for v in c.x.ravel()]
    fill = np.zeros(1, dtype=np.float32)
    if "value" in c.attrs:
        from onnx import numpy_helper
        fill = np.array(numpy_helper.to_array(c.attrs["value"].t)).ravel()
    c.check(shape, fill.dtype.itemsize, "a ConstantOfShape node's result")
    return [np.full(shape, fill[0], dtype=fill.dtype)]


def _slice(x: np.ndarray, args: list, attrs: dict, opset: int) -> np.ndarray:
    if opset < 10 or "starts" in attrs:
        starts, ends = _ints(attrs["starts"]), _ints(attrs["ends"])
        axes = _ints(attrs["axes"]) if "axes" in attrs else list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts = [int(v) for v in args[1].ravel()]
        ends = [int(v) for v in args[2].ravel()]
        axes = [int(v) for v in args[3].ravel()] if len(args) > 3 and args[3] is not None \
            else list(range(len(starts)))
        steps = [int(v) for v in args[4].ravel()] if len(args) > 4 and args[4] is not None \
            else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise NotConstant("a Slice node has a step of 0")
        index[axis % x.ndim] = slice(start, end, step)
    return np.ascontiguousarray(x[tuple(index)])


def _split(x: np.ndarray, args: list, attrs: dict, n_out: int) -> list[np.ndarray]:
    axis = attrs["axis"].i if "axis" in attrs else 0
    if "split" in attrs:
        sizes = _ints(attrs["split"])
    elif len(args) > 1 and args[1] is not None:
        sizes = [int(v) for v in args[1].ravel()]
    else:
        parts = attrs["num_outputs"].i if "num_outputs" in attrs else n_out
        step = -(-x.shape[axis] // parts)  # the last part may be smaller
        sizes = [min(step, x.shape[axis] - i * step) for i in range(parts)]
    if sum(sizes) != x.shape[axis] or any(s < 0 for s in sizes):
        raise NotConstant(f"a Split node's sizes {sizes} do not add up to {x.shape[axis]}")
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


# Each operator of FOLDABLE, evaluated with numpy.
_OPS: dict[str, Callable[[_Call], list[np.ndarray]]] = {
    "Identity": lambda c: [c.x],
    "Neg": lambda c: [np.negative(c.x)],
    "Cast": _cast,
    "Shape": _shape,
    "Gather": lambda c: [np.take(c.x, c.args[1].astype(np.int64), axis=c.attr_i("axis", 0))],
    "Transpose": _transpose,
    "Concat": lambda c: [np.concatenate([a for a in c.args if a is not None],
                                        axis=c.attrs["axis"].i)],
    "Add": _arithmetic, "Sub": _arithmetic, "Mul": _arithmetic, "Div": _arithmetic,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Reshape": _reshape,
    "Expand": _expand,
    "ConstantOfShape": _constant_of_shape,
    "Slice": lambda c: [_slice(c.x, c.args, c.attrs, c.opset)],
    "Split": lambda c: _split(c.x, c.args, c.attrs, c.n_out),
}
