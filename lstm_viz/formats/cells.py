"""nn.LSTMCell weights in a state dict, as one-layer (or stacked) nn.LSTM weights.

An ``nn.LSTMCell`` stores ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh``
with no ``_l0`` suffix, and the same gate order as nn.LSTM (i, f, g, o). Stepping the cell over
a sequence therefore computes exactly what a one-layer nn.LSTM with these weights renamed
``weight_ih_l0`` ... computes; cells whose sizes chain (each cell's input size is the previous
cell's hidden size) equal a multi-layer nn.LSTM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_CELL_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh)$")


@dataclass(frozen=True)
class Cell:
    """One recurrent cell found in a state dict: its key prefix, kind and sizes."""

    prefix: str
    kind: str  # "LSTMCell", "GRUCell" or "RNNCell"
    input_size: int
    hidden_size: int
    bias: bool


def find_cells(state_dict: Mapping, kinds: Mapping[str, str] | None = None
               ) -> tuple[list[Cell], list[str]]:
    """The cells in ``state_dict`` in file order, and a note for each group of cell-like keys
    that is not a usable cell. ``kinds`` maps a prefix (without the dot) to the module's class
    name when the file records it (``"LSTMCell"``, ``"GRUCell"``)."""
    groups: dict[str, dict[str, object]] = {}
    for key, value in state_dict.items():
        m = _CELL_KEY.match(str(key))
        if m:
            groups.setdefault(m.group("prefix"), {})[m.group("kind")] = value
    cells, problems = [], []
    for prefix, parts in groups.items():
        where = prefix.rstrip(".") or "<root>"
        w_ih, w_hh = parts.get("weight_ih"), parts.get("weight_hh")
        shape_ih = tuple(getattr(w_ih, "shape", ()))
        shape_hh = tuple(getattr(w_hh, "shape", ()))
        if len(shape_ih) != 2 or len(shape_hh) != 2:
            problems.append(f"{where}: cell keys without 2-D weight_ih and weight_hh")
            continue
        rows, hidden = shape_hh
        recorded = (kinds or {}).get(prefix.rstrip("."))
        if recorded in ("GRUCell", "RNNCell", "GRU", "RNN"):
            kind = recorded
        elif rows == 4 * hidden:
            kind = "LSTMCell"
        elif rows == 3 * hidden:
            kind = "GRUCell"
        elif rows == hidden:
            kind = "RNNCell"
        else:
            problems.append(f"{where}: weight_hh has shape {shape_hh}, not (4*hidden, hidden)")
            continue
        if kind != "LSTMCell":
            problems.append(f"{where} is an nn.{kind} (weight_hh {shape_hh}), not an"
                            " nn.LSTMCell; lstm-viz shows LSTMs only")
            continue
        bias = "bias_ih" in parts or "bias_hh" in parts
        expected: dict[str, tuple[int, ...]] = {"weight_ih": (4 * hidden, shape_ih[1]),
                                                "weight_hh": (4 * hidden, hidden)}
        if bias:
            expected.update(bias_ih=(4 * hidden,), bias_hh=(4 * hidden,))
        wrong = [f"{name} has shape {tuple(getattr(parts.get(name), 'shape', ()))},"
                 f" expected {shape}" for name, shape in expected.items()
                 if tuple(getattr(parts.get(name), "shape", ())) != shape]
        if wrong:
            problems.append(f"{where}: inconsistent nn.LSTMCell parameters: " + "; ".join(wrong))
            continue
        cells.append(Cell(prefix, kind, int(shape_ih[1]), int(hidden), bias))
    return cells, problems


def cell_state_dict(state_dict: Mapping, cells: list[Cell]) -> dict:
    """The weights of ``cells`` (one per layer, in order) under nn.LSTM's names."""
    out = {}
    for layer, cell in enumerate(cells):
        for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if cell.bias else ()):
            out[f"{name}_l{layer}"] = state_dict[f"{cell.prefix}{name}"]
    return out


def chains(cells: list[Cell]) -> list[list[Cell]]:
    """Runs of two or more consecutive cells that stack: each cell's input size is the previous
    cell's hidden size, and all have (or all lack) biases."""
    runs: list[list[Cell]] = []
    current: list[Cell] = []
    for cell in cells:
        if current and cell.input_size == current[-1].hidden_size and \
                cell.hidden_size == current[-1].hidden_size and cell.bias == current[-1].bias:
            current.append(cell)
        else:
            if len(current) > 1:
                runs.append(current)
            current = [cell]
    if len(current) > 1:
        runs.append(current)
    return runs
