"""nn.LSTMCell models: each cell opens as a one-layer nn.LSTM, chained cells as a stacked one,
and tracing the rebuilt nn.LSTM equals stepping the cells themselves."""

from __future__ import annotations

import warnings

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import lstm_viz
from lstm_viz.config import LSTMConfig
from lstm_viz.formats.loader import load_model


class StackedCells(nn.Module):
    """Three cells stepped by hand, as time-series examples do (module level so it pickles)."""

    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.cell1 = nn.LSTMCell(3, 5, dtype=dtype)
        self.cell2 = nn.LSTMCell(5, 5, dtype=dtype)
        self.cell3 = nn.LSTMCell(5, 5, bias=True, dtype=dtype)
        self.linear = nn.Linear(5, 1, dtype=dtype)


def _step_cells(cells, x):
    """Step ``cells`` (stacked) over x (T, B, I); returns h and c per layer: (L, T, B, H)."""
    hs, cs = [], []
    inp = x
    for cell in cells:
        h = torch.zeros(x.shape[1], cell.hidden_size, dtype=x.dtype)
        c = torch.zeros_like(h)
        h_seq, c_seq = [], []
        for t in range(x.shape[0]):
            h, c = cell(inp[t], (h, c))
            h_seq.append(h)
            c_seq.append(c)
        inp = torch.stack(h_seq)
        hs.append(inp)
        cs.append(torch.stack(c_seq))
    return torch.stack(hs), torch.stack(cs)


def _check_trace_equals_cells(cand, cells, dtype):
    x = torch.randn(9, 2, cells[0].input_size, dtype=dtype,
                    generator=torch.Generator().manual_seed(3))
    lstm = cand.build(dtype=dtype)
    with torch.no_grad():
        tr = lstm_viz.trace(lstm, x)
        h, c = _step_cells(cells, x)
    tol = {} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-12}
    torch.testing.assert_close(tr.h[:, 0], h, **tol)
    torch.testing.assert_close(tr.c[:, 0], c, **tol)
    torch.testing.assert_close(tr.output, h[-1], **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_single_cell_state_dict_traces_like_stepping_the_cell(tmp_path, dtype):
    cell = nn.LSTMCell(4, 6, dtype=dtype)
    torch.save(cell.state_dict(), tmp_path / "cell.pt")
    (cand,) = load_model(tmp_path / "cell.pt").lstms
    assert cand.origin == "LSTMCell" and cand.prefix == "" and cand.cells == ("",)
    assert cand.config == LSTMConfig(4, 6)
    assert set(cand.state_dict) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    _check_trace_equals_cells(cand, [cell], dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chained_cells_are_offered_alone_and_stacked(tmp_path, dtype):
    net = StackedCells(dtype)
    torch.save({"model": net.state_dict()}, tmp_path / "cells.pt")
    loaded = load_model(tmp_path / "cells.pt")
    names = [c.prefix for c in loaded.lstms]
    assert names == ["cell1.", "cell2.", "cell3.", "cell1+cell2+cell3."]
    stack = loaded.pick("cell1+cell2+cell3")
    assert stack.origin == "LSTMCell stack" and stack.cells == ("cell1", "cell2", "cell3")
    assert stack.config == LSTMConfig(3, 5, num_layers=3)
    _check_trace_equals_cells(stack, [net.cell1, net.cell2, net.cell3], dtype)
    _check_trace_equals_cells(loaded.pick("cell2"), [net.cell2], dtype)
    assert "3 stacked nn.LSTMCells" in stack.describe()


def test_cells_that_do_not_chain_are_not_stacked(tmp_path):
    sd = {f"a.{k}": v for k, v in nn.LSTMCell(3, 5).state_dict().items()}
    sd.update({f"b.{k}": v for k, v in nn.LSTMCell(4, 5).state_dict().items()})
    loaded = load_model(_save(tmp_path, sd))
    assert [c.prefix for c in loaded.lstms] == ["a.", "b."]


def test_cell_without_bias(tmp_path):
    cell = nn.LSTMCell(2, 3, bias=False)
    (cand,) = load_model(_save(tmp_path, cell.state_dict())).lstms
    assert cand.config == LSTMConfig(2, 3, bias=False)
    _check_trace_equals_cells(cand, [cell], torch.float32)


def test_cells_in_safetensors_and_whole_pickled_models(tmp_path):
    net = StackedCells()
    save_file(net.state_dict(), str(tmp_path / "cells.safetensors"))
    loaded = load_model(tmp_path / "cells.safetensors")
    assert loaded.kind == "safetensors"
    _check_trace_equals_cells(loaded.pick("cell1+cell2+cell3"),
                              [net.cell1, net.cell2, net.cell3], torch.float32)
    torch.save(net, tmp_path / "whole.pt")
    loaded = load_model(tmp_path / "whole.pt")
    assert loaded.kind == "pickled_module"
    _check_trace_equals_cells(loaded.pick("cell3"), [net.cell3], torch.float32)


def test_torchscript_cells_are_found_by_their_original_name(tmp_path):
    net = StackedCells().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(tmp_path / "cells.ts"))
    loaded = load_model(tmp_path / "cells.ts")
    assert loaded.kind == "torchscript"
    assert "cell1+cell2+cell3." in [c.prefix for c in loaded.lstms]
    _check_trace_equals_cells(loaded.pick("cell1"), [net.cell1], torch.float32)


@pytest.mark.parametrize("module, name", [
    (nn.GRUCell(3, 4), "nn.GRUCell"), (nn.RNNCell(3, 4), "nn.RNNCell"),
    (nn.GRU(3, 4), "nn.GRU"), (nn.RNN(3, 4), "nn.RNN"),
])
def test_other_recurrent_cells_are_named_in_the_refusal(tmp_path, module, name):
    with pytest.raises(ValueError, match=name):
        load_model(_save(tmp_path, module.state_dict()))


def test_whole_pickled_gru_is_named_from_its_class(tmp_path):
    torch.save(nn.Sequential(nn.GRU(4, 4)), tmp_path / "gru.pt")  # square-ish: named by class
    with pytest.raises(ValueError, match="is an nn.GRU, not an nn.LSTM"):
        load_model(tmp_path / "gru.pt")


def _save(tmp_path, sd):
    torch.save(sd, tmp_path / "m.pt")
    return tmp_path / "m.pt"
