"""The Code view's code for an nn.LSTMCell model: the cell loop and the equivalent nn.LSTM,
runnable, and equal to each other and to the model's own cells."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_viz import InputSpec, Session
from lstm_viz.codegen import cell_code
from lstm_viz.formats.loader import load_into_session, load_model

ROOT = Path(__file__).resolve().parents[2]


class _Cells(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.enc = nn.LSTMCell(3, 5, dtype=dtype)
        self.dec = nn.LSTMCell(5, 5, dtype=dtype)


def _step(cells, x, lengths):
    """The model's own loop: cells stacked, each sequence stopping at its length."""
    T, B = x.shape[:2]
    h = [torch.zeros(B, c.hidden_size, dtype=x.dtype) for c in cells]
    c_ = [torch.zeros(B, c.hidden_size, dtype=x.dtype) for c in cells]
    outs = []
    for t in range(T):
        live = (t < torch.tensor(lengths)).unsqueeze(1)
        inp = x[t]
        for k, cell in enumerate(cells):
            ht, ct = cell(inp, (h[k], c_[k]))
            h[k], c_[k] = torch.where(live, ht, h[k]), torch.where(live, ct, c_[k])
            inp = ht
        outs.append(torch.where(live, inp, 0.0))
    return torch.stack(outs), torch.stack(h), torch.stack(c_)


def _session(tmp_path, dtype, name, lengths):
    torch.manual_seed(0)
    net = _Cells(dtype)
    torch.save(net.state_dict(), tmp_path / "cells.pt")
    loaded = load_model(tmp_path / "cells.pt")
    s = Session(dtype=dtype)
    load_into_session(s, loaded, loaded.pick(name),
                      input_spec=InputSpec(seq_len=6, batch_size=3, lengths=lengths))
    cells = [net.enc, net.dec] if "+" in name else [getattr(net, name)]
    return s, cells


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, lengths", [("enc", None), ("enc+dec", None),
                                           ("enc+dec", (6, 2, 4))])
def test_cell_code_steps_the_files_cells_and_equals_nn_lstm(tmp_path, dtype, name, lengths):
    s, cells = _session(tmp_path, dtype, name, lengths)
    code = cell_code(s)
    assert "nn.LSTMCell(3, 5)" in code and "lstm = nn.LSTM(3, 5" in code
    ns: dict = {}
    exec(compile(code, "cell_code", "exec"), ns)  # asserts the loop equals nn.LSTM itself
    with torch.no_grad():
        out, h_n, c_n = _step(cells, ns["x"], lengths or (6, 6, 6))
    tol = dict(rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-6)
    torch.testing.assert_close(ns["loop_output"], out, **tol)
    torch.testing.assert_close(ns["h_n"], h_n, **tol)
    torch.testing.assert_close(ns["c_n"], c_n, **tol)
    # and it equals what the app traced
    torch.testing.assert_close(s.retrace().c_n, c_n, **tol)


def test_cell_code_runs_as_a_script_and_reports_each_comparison(tmp_path):
    s, _ = _session(tmp_path, torch.float32, "enc+dec", (6, 2, 4))
    script = tmp_path / "cells_code.py"
    script.write_text(cell_code(s))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == [
        "LSTMCell loop vs nn.LSTM, output", "LSTMCell loop vs nn.LSTM, h_n",
        "LSTMCell loop vs nn.LSTM, c_n"]


def test_other_models_have_no_cell_code():
    assert cell_code(Session()) == ""
