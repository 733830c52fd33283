"""The exported check script: torch and numpy only, it rebuilds the session from the NPZ beside
it, replays the what-if edits, and exits 0 only when nn.LSTM and the explicit loop both give the
numbers the app recorded."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from lstm_viz import InputSpec, LSTMConfig, Session
from lstm_viz.codegen import build_code
from lstm_viz.formats.export import save_check_script

CASES = {
    "plain": (LSTMConfig(3, 5), InputSpec(seq_len=6, batch_size=2)),
    "bidirectional_2_layers_proj": (
        LSTMConfig(3, 5, num_layers=2, bidirectional=True, proj_size=2),
        InputSpec(source="sine", seq_len=7, batch_size=2)),
    "packed_lengths": (
        LSTMConfig(3, 4, num_layers=2, bidirectional=True),
        InputSpec(source="random", seq_len=7, batch_size=3, lengths=(7, 2, 5))),
    "batch_first": (
        LSTMConfig(2, 3, batch_first=True, bias=False),
        InputSpec(seq_len=8, batch_size=2, lengths=(5, 5))),
}


def _run(script, tmp_path) -> subprocess.CompletedProcess:
    """Run the script as a user would: a fresh interpreter, from another folder, without
    lstm_viz on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    other = tmp_path / "elsewhere"
    other.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                          cwd=other, env=env, timeout=300)


def _edited_session() -> Session:
    """Packed, bidirectional, two layers, proj_size: input and state edits of h and c in
    both directions and both layers."""
    cfg = LSTMConfig(3, 4, num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
    s = Session(cfg, InputSpec(source="random", seq_len=7, batch_size=3, lengths=(7, 3, 5)),
                seed=4)
    s.edit_input(1, 0, 2, 0.75, rerun=False)
    s.edit_state("c", 2, 0, 1, 1, 1, 1.5, rerun=False)
    s.edit_state("h", 3, 1, 0, 2, 0, -0.5, rerun=False)
    s.edit_state("c", 4, 0, 0, 0, 3, -2.0, rerun=False)
    s.edit_state("h", 0, 1, 1, 0, 2, 0.25, rerun=False)
    s.retrace()
    return s


@pytest.mark.parametrize("name", [*CASES, "float64"])
def test_exported_script_reproduces_the_recorded_trace(name, tmp_path):
    cfg, spec = CASES.get(name, CASES["packed_lengths"])
    session = Session(cfg, spec, seed=11,
                      dtype=torch.float64 if name == "float64" else torch.float32)
    session.retrace()
    script, npz = save_check_script(session, tmp_path / "check.py")
    assert npz == tmp_path / "check.npz"
    res = _run(script, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "both match" in res.stdout


def test_exported_script_replays_input_and_state_edits(tmp_path):
    session = _edited_session()
    script, _ = save_check_script(session, tmp_path / "check.py")
    code = script.read_text()
    assert "x[1, 0, 2] = 0.75" in code
    assert "('c', 2, 0, 1, 1, 1, 1.5)," in code and "('h', 0, 1, 1, 0, 2, 0.25)," in code
    res = _run(script, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    # without the replayed edits the same script no longer reproduces the app's numbers
    unedited = code.replace("x[1, 0, 2] = 0.75", "")
    unedited = re.sub(r"STATE_EDITS = \[.*?\n\]", "STATE_EDITS = []", unedited, flags=re.S)
    script.write_text(unedited)
    res = _run(script, tmp_path)
    assert res.returncode == 1
    assert "MISMATCH explicit loop: h" in res.stdout and "MISMATCH nn.LSTM" in res.stdout


@pytest.mark.parametrize("key, index, who", [
    ("gates", (0, 1, 3, 0, 2, 1), "explicit loop: gates"),
    ("c", (1, 0, 2, 2, 0), "c"),
    ("h_n", (2, 1, 0), "h_n"),
    ("output", (0, 1, 3), "output"),
])
def test_exported_script_exits_non_zero_when_a_recorded_value_is_changed(tmp_path, key,
                                                                          index, who):
    session = _edited_session()
    script, npz = save_check_script(session, tmp_path / "check.py")
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[key] = arrays[key].copy()
    assert np.isfinite(arrays[key][index])
    arrays[key][index] += 1e-3
    np.savez(npz, **arrays)
    res = _run(script, tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"{key}{list(index)}" in res.stdout and who in res.stdout
    assert "the app recorded" in res.stdout


@pytest.mark.parametrize("edited", [False, True])
def test_script_needs_only_torch_and_numpy_and_stays_readable(edited):
    session = _edited_session() if edited else Session(*CASES["packed_lengths"])
    code = build_code(session)
    imports = set(re.findall(r"^(?:import|from) (\w+)", code, flags=re.M))
    assert imports == {"sys", "warnings", "pathlib", "numpy", "torch"}
    assert "lstm_viz" not in code and "InputSpec" not in code
    assert os.path.expanduser("~") not in code and "/work" not in code and "/tmp" not in code
    assert max(len(line) for line in code.splitlines()) <= 100
    compile(code, "lstm_check.py", "exec")


def test_code_export_refuses_a_name_that_is_not_a_python_file(tmp_path):
    session = Session()
    session.retrace()
    with pytest.raises(ValueError, match=r"\.py file name"):
        save_check_script(session, tmp_path / "check.txt")
