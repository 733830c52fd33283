"""lstm_viz.codegen: the code the Code view shows runs as it is and computes what nn.LSTM does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.utils.rnn import pad_packed_sequence

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.codegen import build_code, loop_code

ROOT = Path(__file__).resolve().parents[2]


def _nn_lstm(session: Session):
    """output (T, B, D*H_out) time-major and padded with 0, h_n, c_n of the session's module."""
    with torch.no_grad():
        out, (h_n, c_n) = session.lstm(session.input)
    if isinstance(out, tuple) or not isinstance(out, torch.Tensor):
        out, _ = pad_packed_sequence(out, total_length=session.input_tm.shape[0])
    elif session.config.batch_first:
        out = out.transpose(0, 1)
    return out, h_n, c_n


def _run(code: str) -> dict:
    scope: dict = {}
    exec(compile(code, "<generated>", "exec"), scope)  # noqa: S102 - running it is the point
    return scope


@pytest.mark.parametrize("cfg, spec", [
    (LSTMConfig(3, 5, num_layers=2, bidirectional=True, batch_first=True, proj_size=2),
     InputSpec(source="random", seq_len=7, batch_size=3, lengths=(7, 2, 5))),
    (LSTMConfig(2, 4, bias=False), InputSpec(source="ramp", seq_len=6, batch_size=2)),
    (LSTMConfig(2, 3, batch_first=True), InputSpec(seq_len=8, batch_size=2, lengths=(5, 5))),
])
def test_generated_code_draws_the_sessions_weights_and_matches_nn_lstm(cfg, spec):
    session = Session(cfg, spec, seed=11)
    scope = _run(build_code(session) + "\n" + loop_code(session))
    _, h_n, c_n = _nn_lstm(session)
    torch.testing.assert_close(scope["h_n"], h_n)
    torch.testing.assert_close(scope["c_n"], c_n)
    # the explicit loop is the LSTM equations written out: the same final states as nn.LSTM
    torch.testing.assert_close(scope["h_n_loop"], h_n, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(scope["c_n_loop"], c_n, atol=1e-5, rtol=1e-4)
    # and the same gates and states as the engine's trace, NaN where padded
    tr = session.retrace()
    torch.testing.assert_close(scope["gates"], tr.gates, atol=1e-5, rtol=1e-4, equal_nan=True)
    torch.testing.assert_close(scope["hs"], tr.h, atol=1e-5, rtol=1e-4, equal_nan=True)


def test_generated_code_runs_as_a_script_and_prints_nn_lstms_shapes(tmp_path):
    session = Session(LSTMConfig(3, 6, num_layers=2, proj_size=4),
                      InputSpec(source="sine", seq_len=9, batch_size=2), seed=3)
    script = tmp_path / "lstm_code.py"
    out_file = tmp_path / "result.pt"
    script.write_text(build_code(session) + "\n" + loop_code(session)
                      + f"\ntorch.save({{'output': output, 'h_n': h_n}}, {str(out_file)!r})\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert res.returncode == 0, res.stderr
    output, h_n, _ = _nn_lstm(session)
    assert f"output {tuple(output.shape)}" in res.stdout
    assert f"h_n    {tuple(h_n.shape)}" in res.stdout
    assert "h_n matches nn.LSTM: True" in res.stdout and "c_n matches nn.LSTM: True" in res.stdout
    saved = torch.load(out_file)
    torch.testing.assert_close(saved["output"], output)
    torch.testing.assert_close(saved["h_n"], h_n)


def test_generated_code_of_a_loaded_model_reads_its_file(tmp_path):
    from lstm_viz.io import load_into_session, load_model

    torch.manual_seed(123)
    trained = torch.nn.LSTM(2, 4, num_layers=2)
    path = tmp_path / "trained.pt"
    torch.save(trained.state_dict(), path)
    session = Session(LSTMConfig(2, 4), InputSpec(seq_len=6, batch_size=2), seed=5)
    load_into_session(session, load_model(path))
    code = build_code(session)
    assert "load_model(" in code and "manual_seed" not in code
    scope = _run(code)
    with torch.no_grad():
        expected, _ = trained(session.input_tm)
    torch.testing.assert_close(scope["output"], expected)
