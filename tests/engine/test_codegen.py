"""lstm_viz.codegen: the code the Code view shows runs as it is and computes what nn.LSTM does."""

from __future__ import annotations

import subprocess
import sys

import torch

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.codegen import build_code, loop_code
from lstm_viz.formats.export import save_check_script


def test_loop_snippet_appended_to_the_script_matches_nn_lstm(tmp_path):
    session = Session(LSTMConfig(3, 6, num_layers=2, proj_size=4, bidirectional=True),
                      InputSpec(source="sine", seq_len=9, batch_size=2), seed=3)
    session.retrace()
    script, _ = save_check_script(session, tmp_path / "check.py")
    script.write_text(script.read_text() + "\n" + loop_code(session))
    res = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "h_n matches nn.LSTM: True" in res.stdout and "c_n matches nn.LSTM: True" in res.stdout


def test_script_of_a_loaded_model_reads_its_weights_from_the_npz_not_the_model_file(tmp_path):
    from lstm_viz.formats.loader import load_into_session, load_model

    torch.manual_seed(123)
    trained = torch.nn.LSTM(2, 4, num_layers=2)
    path = tmp_path / "models" / "trained.pt"
    path.parent.mkdir()
    torch.save(trained.state_dict(), path)
    session = Session(LSTMConfig(2, 4), InputSpec(seq_len=6, batch_size=2), seed=5)
    load_into_session(session, load_model(path))
    session.retrace()
    code = build_code(session)
    assert str(tmp_path) not in code and "trained.pt" not in code
    assert "manual_seed" not in code
    out = tmp_path / "out"
    out.mkdir()
    script, _ = save_check_script(session, out / "check.py")
    path.unlink()  # the script never needs the model file
    res = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                         cwd=out, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    with torch.no_grad():
        expected, _ = trained(session.input_tm)
    torch.testing.assert_close(session.trace.output, expected)


def test_script_names_the_npz_it_reads_beside_itself():
    session = Session()
    code = build_code(session, data_file="figure3.npz")
    assert "Path(__file__).resolve().with_name('figure3.npz')" in code
