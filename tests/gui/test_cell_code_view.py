"""The Code view of an nn.LSTMCell model shows the cell loop beside the equivalent nn.LSTM."""

from __future__ import annotations

import torch
from torch import nn

from lstm_viz.formats.loader import load_into_session, load_model


def test_the_code_view_shows_the_cell_loop_for_a_cell_model(make_window, tmp_path):
    w = make_window()
    code = w.panels["Code"]
    assert code.loop.isHidden() and "nn.LSTMCell(" not in code.loop.text.toPlainText()
    torch.manual_seed(0)
    torch.save(nn.LSTMCell(4, 6).state_dict(), tmp_path / "cell.pt")
    load_into_session(w.session, load_model(tmp_path / "cell.pt"))
    shown = code.loop.text.toPlainText()
    assert "cells = nn.ModuleList([nn.LSTMCell(4, 6)])" in shown
    assert "lstm = nn.LSTM(4, 6)" in shown and "LSTMCell loop vs nn.LSTM" in shown
    ns: dict = {}
    exec(compile(shown, "code_view", "exec"), ns)  # the cell loop and nn.LSTM run, and agree
