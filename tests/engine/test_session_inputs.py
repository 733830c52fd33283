"""Session stepping, what-if edits, persistence; input sources; devices; CLI; the Qt boundary."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from lstm_refs import looped_steps
from torch.nn.utils.rnn import PackedSequence

from lstm_viz import (
    Ablation,
    InputSpec,
    LSTMConfig,
    Session,
    TraceBudgetError,
    devices,
    make_input,
    resolve_device,
    trace,
)
from lstm_viz.cli import main as cli_main
from lstm_viz.inputs import array_to_input
from lstm_viz.torch_devices import rnn_uses_tf32


def _session(**cfg):
    base = dict(input_size=3, hidden_size=5)
    base.update(cfg)
    return Session(LSTMConfig(**base), InputSpec(seq_len=6, batch_size=2, seed=1), seed=7)


def test_session_trace_equals_nn_lstm_on_the_session_input():
    s = _session(num_layers=2, bidirectional=True, batch_first=True)
    tr = s.retrace()
    with torch.no_grad():
        out, (h_n, c_n) = s.lstm(s.input)
    assert s.input.shape == (2, 6, 3)  # batch_first honoured
    torch.testing.assert_close(tr.output, out, atol=1e-5, rtol=0)
    torch.testing.assert_close(tr.c_n, c_n, atol=1e-5, rtol=0)


def test_weights_are_seeded_and_reinitialize_draws_new_ones():
    a, b = _session(), _session()
    assert all(torch.equal(p, q) for p, q in zip(a.lstm.parameters(), b.lstm.parameters()))
    before = a.lstm.weight_ih_l0.clone()
    a.reinitialize(seed=8)
    assert not torch.equal(before, a.lstm.weight_ih_l0)
    a.reinitialize(seed=7)
    assert torch.equal(before, a.lstm.weight_ih_l0)


def test_weights_are_torchs_own_draw_from_the_seed():
    s = _session(num_layers=2)
    torch.manual_seed(7)
    ref = torch.nn.LSTM(3, 5, num_layers=2)
    assert all(torch.equal(p, q) for p, q in zip(s.lstm.parameters(), ref.parameters()))


def _row_cosine(x: torch.Tensor, w: torch.Tensor) -> float:
    """Mean cosine between x[t] and row t of W_ih, over the rows both have."""
    n = min(x.shape[0], w.shape[0])
    return float(torch.nn.functional.cosine_similarity(x[:n].double(), w[:n].double(),
                                                       dim=1).mean())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_random_input_with_the_weight_seed_is_not_drawn_from_the_weights_stream(seed):
    cfg = LSTMConfig(16, 64)
    s = Session(cfg, InputSpec(source="random", seq_len=200, batch_size=1, seed=seed),
                seed=seed)
    x, w = s.input_tm[:, 0], s.lstm.weight_ih_l0.detach()
    # the weights' own stream, drawn again by torch: the input must not replay it
    assert not torch.equal(x, torch.randn(200, 1, 16,
                                          generator=torch.Generator().manual_seed(seed))[:, 0])
    # no structure between x[t] and W_ih's row t (one shared stream gave a mean cosine of
    # -0.35 here; 200 independent rows of 16 give about 0 +- 0.02)
    assert abs(_row_cosine(x, w)) < 0.1
    # ... nor between any feature of the input and any column of the first 200 rows
    xs = x.double() - x.double().mean(0)
    ws = w[:200].double() - w[:200].double().mean(0)
    corr = (xs.T @ ws) / (xs.norm(dim=0)[:, None] * ws.norm(dim=0)[None, :])
    assert float(corr.abs().max()) < 0.35


def test_the_random_input_is_reproducible_from_the_input_seed_alone():
    a = make_input(InputSpec(source="random", seq_len=30, batch_size=2, seed=5), 3)
    b = Session(LSTMConfig(3, 4), InputSpec(source="random", seq_len=30, batch_size=2, seed=5),
                seed=9).input_tm
    torch.testing.assert_close(a, b)
    c = make_input(InputSpec(source="random", seq_len=30, batch_size=2, seed=6), 3)
    assert not torch.equal(a, c)
    assert float(a.mean()) == pytest.approx(0.0, abs=0.3)
    assert float(a.std()) == pytest.approx(1.0, abs=0.3)


def test_stepping_back_seek_reset_and_signals():
    s = _session()
    seen = []
    s.step_changed.connect(seen.append)
    s.retrace()
    assert s.t == 0
    assert s.step() == 1 and s.step() == 2 and s.back() == 1
    assert s.seek(100) == 5 and s.seek(-3) == 0
    s.last()
    assert s.t == 5
    s.reset()
    assert s.t == 0
    assert seen[-4:] == [5, 0, 5, 0]


def test_values_at_satisfy_the_lstm_update_for_both_directions_and_every_layer():
    s = _session(num_layers=2, bidirectional=True)
    s.retrace()
    for layer in range(2):
        for d in range(2):
            for t in range(6):
                v = s.values_at(layer, d, 1, t=t)
                np.testing.assert_allclose(v["c"], v["f"] * v["c_prev"] + v["i"] * v["g"],
                                           atol=1e-6)
                np.testing.assert_allclose(v["h"], v["o"] * np.tanh(v["c"]), atol=1e-6)
    with pytest.raises(ValueError, match="layer"):
        s.values_at(2, 0, 0)


def test_a_newer_request_supersedes_an_older_one():
    s = _session()
    old = s.request()
    s.set_config(s.config.replace(hidden_size=6))
    new = s.request()
    assert not s.accept(old, old.run())
    assert s.trace is None
    assert s.accept(new, new.run())
    assert s.trace.c.shape[-1] == 6


def test_invalid_changes_raise_and_leave_the_session_as_it_was():
    s = _session()
    s.retrace()
    cfg, x = s.config, s.input_tm.clone()
    with pytest.raises(ValueError, match="text"):
        s.set_input(InputSpec(source="text", text="abcdef", seq_len=4, batch_size=1))
    with pytest.raises(TraceBudgetError):
        s.set_config(cfg.replace(hidden_size=4096, num_layers=8))
    assert s.config == cfg and torch.equal(s.input_tm, x) and s.trace is not None


def test_what_if_state_edit_recomputes_from_t_and_keeps_the_original():
    s = _session()
    s.retrace()
    base = s.trace
    s.edit_state("c", t=2, layer=0, direction=0, batch=0, unit=1, value=3.0)
    assert s.original is base
    tr = s.trace
    assert float(tr.c[0, 0, 2, 0, 1]) == 3.0
    torch.testing.assert_close(tr.h[0, 0, :2], base.h[0, 0, :2], atol=1e-6, rtol=0)
    assert not torch.allclose(tr.h[0, 0, 3:, 0], base.h[0, 0, 3:, 0])
    torch.testing.assert_close(tr.h[0, 0, :, 1], base.h[0, 0, :, 1], atol=1e-6, rtol=0)
    # h at the edited step follows from the edited c
    v = s.values_at(0, 0, 0, t=2)
    np.testing.assert_allclose(v["h"], v["o"] * np.tanh(v["c"]), atol=1e-6)
    s.clear_edits()
    assert s.trace is base and s.original is None


@pytest.mark.parametrize("method", ["layered", "fused"])
def test_a_session_with_edits_traces_its_method_up_to_the_edits_and_equals_the_step_loop(
        monkeypatch, method):
    """An edit near the end of a 120-step input, and an ablation in the reverse direction of
    the layer above (whose steps before it are the input's last ones): the session's method
    runs up to each, the step loop only from there, and every gate, c and h equals the trace
    that runs every step with the same edits."""
    monkeypatch.setenv("LSTM_VIZ_METHOD", method)
    s = Session(LSTMConfig(input_size=3, hidden_size=6, num_layers=2, bidirectional=True,
                           proj_size=4),
                InputSpec(seq_len=120, batch_size=2, seed=1, lengths=(120, 90)), seed=7)
    s.retrace()
    looped = looped_steps(monkeypatch)
    s.edit_state("c", t=100, layer=0, direction=0, batch=0, unit=1, value=0.5)
    assert looped == [20]
    looped.clear()
    s.ablate(Ablation("f", layer=1, direction=1, batch=1, units=(2,), start=10, stop=20))
    tr = s.trace
    assert tr.method == method and "the step loop from each layer's first edited step" in \
        tr.meta["method_why"]
    # layer 0 forward from step 100; layer 1 reverse from its 70th step read (position 19 of
    # the 90-step sequence); layer 1 forward, whose input changes from 100 on, needs no loop
    assert looped == [20, 50]
    req = s.request()
    want = trace(s.lstm, req.model_input(), method="torch", overrides=req.state_edits)
    for name in ("gates", "c", "h"):
        torch.testing.assert_close(getattr(tr, name), getattr(want, name), atol=2e-6, rtol=0,
                                   equal_nan=True)


@pytest.mark.parametrize("seq_len, budget", [(6, None), (9000, 5_000_000)])
def test_a_session_rebuilt_with_its_edits_traces_the_run_before_them_too(seq_len, budget):
    s = Session(LSTMConfig(2, 6), InputSpec(seq_len=seq_len, batch_size=2, seed=1), seed=7)
    s.edit_state("c", t=2, layer=0, direction=0, batch=0, unit=1, value=3.0, rerun=False)
    s.ablate(Ablation("h", 0, 0, 1, (2,), 0.0, start=3), rerun=False)
    rebuilt = Session.from_dict(json.loads(json.dumps(s.to_dict())), memory_budget=budget)
    rebuilt.window_size = 200
    assert rebuilt.windowed == (budget is not None)
    assert rebuilt.edits and rebuilt.trace is None
    rebuilt.retrace()
    trace, original = rebuilt.trace, rebuilt.original
    assert trace.meta["edited"] and original is not None and not original.meta["edited"]
    assert (original.start, original.stop) == (trace.start, trace.stop)
    # the run before the edits is nn.LSTM's own on the same input; the edited run holds them
    with torch.no_grad():
        out, _ = rebuilt.lstm(rebuilt.input_tm)
    torch.testing.assert_close(original.h[0, 0], out[original.start:original.stop],
                               atol=1e-5, rtol=0)
    assert float(trace.c[0, 0, 2, 0, 1]) == 3.0 and float(trace.h[0, 0, 5, 1, 2]) == 0.0
    # clearing the edits brings that run back, as after an edit made in the session
    rebuilt.clear_edits()
    assert not rebuilt.trace.meta["edited"] and rebuilt.original is None


def test_what_if_input_edit_equals_running_nn_lstm_on_the_edited_input():
    s = _session(bidirectional=True)
    s.retrace()
    s.edit_input(t=3, batch=1, feature=0, value=5.0)
    x = s.input_tm.clone()
    x[3, 1, 0] = 5.0
    with torch.no_grad():
        out, _ = s.lstm(x)
    torch.testing.assert_close(s.trace.output, out, atol=1e-5, rtol=0)
    # the reverse direction changes before t=3, the forward one only from t=3 on
    assert torch.allclose(s.trace.h[0, 0, :3], s.original.h[0, 0, :3], atol=1e-6)
    assert not torch.allclose(s.trace.h[0, 1, :3, 1], s.original.h[0, 1, :3, 1])


def test_variable_lengths_are_fed_packed_and_match_nn_lstm():
    s = Session(LSTMConfig(2, 4, bidirectional=True),
                InputSpec(seq_len=5, batch_size=3, lengths=(5, 2, 4)))
    assert isinstance(s.input, PackedSequence)
    tr = s.retrace()
    with torch.no_grad():
        out, (h_n, _) = s.lstm(s.input)
    torch.testing.assert_close(tr.output.data, out.data, atol=1e-6, rtol=0)
    torch.testing.assert_close(tr.h_n, h_n, atol=1e-6, rtol=0)
    assert torch.isnan(tr.h[0, 0, 2:, 1]).all()


def test_session_round_trips_through_json():
    s = _session(num_layers=2, proj_size=2)
    s.retrace()
    s.seek(4)
    s.edit_state("h", 1, 1, 0, 0, 0, 0.5)
    data = json.loads(json.dumps(s.to_dict()))
    s2 = Session.from_dict(data)
    s2.retrace()
    assert s2.config == s.config and s2.input_spec == s.input_spec and s2.t == 4
    torch.testing.assert_close(s2.trace.h, s.trace.h, equal_nan=True)
    with pytest.raises(ValueError, match="newer"):
        Session.from_dict({**data, "format_version": 99})
    with pytest.raises(ValueError, match="unknown session field"):
        Session.from_dict({**data, "hiden_size": 3})


# ----- inputs -----------------------------------------------------------------------------

def test_patterns_are_what_they_say():
    spec = InputSpec(source="impulse", seq_len=5, batch_size=2)
    x = make_input(spec, 3)
    assert x.shape == (5, 2, 3) and x[0].eq(1).all() and x[1:].eq(0).all()
    x = make_input(InputSpec(source="step", seq_len=6, batch_size=1), 2)
    assert x[:3].eq(0).all() and x[3:].eq(1).all()
    x = make_input(InputSpec(source="ramp", seq_len=5, batch_size=1), 1)
    assert x.flatten().tolist() == pytest.approx([-1, -0.5, 0, 0.5, 1])
    x = make_input(InputSpec(source="sine", seq_len=16, batch_size=1, params={"period": 16}), 1)
    assert float(x[4, 0, 0]) == pytest.approx(1.0) and float(x[0, 0, 0]) == pytest.approx(0.0)
    a = make_input(InputSpec(seed=3), 4)
    assert torch.equal(a, make_input(InputSpec(seed=3), 4))
    assert not torch.equal(a, make_input(InputSpec(seed=4), 4))


def test_text_is_one_hot_characters():
    x = make_input(InputSpec(source="text", text="abca", seq_len=4, batch_size=1), 3)
    assert x[:, 0].argmax(-1).tolist() == [0, 1, 2, 0] and x.sum(-1).eq(1).all()
    with pytest.raises(ValueError, match="input_size >= 3"):
        make_input(InputSpec(source="text", text="abca", seq_len=4, batch_size=1), 2)


def test_files_load_and_a_wrong_shape_names_the_expected_one(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.save(tmp_path / "x.npy", arr)
    (tmp_path / "x.csv").write_text("a,b\n" + "\n".join(f"{r[0]},{r[1]}" for r in arr))
    for name in ("x.npy", "x.csv"):
        x = make_input(InputSpec(source="file", path=str(tmp_path / name)), 2)
        assert x.shape == (6, 1, 2) and torch.equal(x[:, 0], torch.from_numpy(arr))
    with pytest.raises(ValueError, match=r"x.npy shape \(6, 2\) does not fit: expected"
                       r" \(seq_len, input_size=6\); it looks transposed"):
        make_input(InputSpec(source="file", path=str(tmp_path / "x.npy")), 6)
    with pytest.raises(ValueError, match="input_size to 2"):
        make_input(InputSpec(source="file", path=str(tmp_path / "x.npy")), 3)
    with pytest.raises(ValueError, match="not found"):
        make_input(InputSpec(source="file", path=str(tmp_path / "nope.npy")), 2)
    batch_first = np.zeros((4, 7, 3), dtype=np.float32)
    assert array_to_input(batch_first, 3, batch_first=True).shape == (7, 4, 3)


def test_devices_lists_cpu_and_refuses_what_is_missing():
    assert devices()[0] == "cpu"
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda:0' is not available.*available: cpu"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device("gpu9")


# ----- CLI --------------------------------------------------------------------------------

def test_cli_shapes_prints_the_table_and_json(capsys):
    assert cli_main(["shapes", "--input-size", "100", "--hidden-size", "20", "--num-layers",
                     "4", "--seq-len", "10", "--batch", "3", "--bidirectional"]) == 0
    out = capsys.readouterr().out
    assert "(10, 3, 40)" in out and "(seq_len=10, batch=3, D*H_out=2*20=40)" in out
    assert "batch_first changes input and output only" in out
    assert cli_main(["shapes", "--input-size", "100", "--hidden-size", "20", "--seq-len", "10",
                     "--batch", "3", "--batch-first", "--proj-size", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    lstm = LSTMConfig(100, 20, batch_first=True, proj_size=5).build()
    out, (h, c) = lstm(torch.zeros(3, 10, 100))
    t = data["tensors"]
    assert (t["output"]["shape"], t["h_n"]["shape"], t["c_n"]["shape"]) == \
        (list(out.shape), list(h.shape), list(c.shape))


@pytest.mark.parametrize("argv, match", [
    (["--proj-size", "20"], "proj_size must be smaller than hidden_size"),
    (["--num-layers", "0"], "num_layers must be an integer >= 1"),
    (["--dropout", "2"], "dropout must be in"),
    (["--hidden-size", "x"], "invalid int value"),
])
def test_cli_bad_config_is_one_line_on_stderr_with_exit_2(argv, match, capsys):
    base = {"--input-size": "4", "--hidden-size": "20", "--seq-len": "3"}
    for k, v in zip(argv[::2], argv[1::2]):
        base[k] = v
    args = ["shapes"] + [a for kv in base.items() for a in kv]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_engine_imports_without_qt():
    code = ("import sys\n"
            "for m in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'superqt', 'qtpy'):\n"
            "    sys.modules[m] = None\n"
            "import lstm_viz, lstm_viz.cli, lstm_viz.session, lstm_viz.tracing\n"
            "import pkgutil, importlib\n"
            "for m in pkgutil.iter_modules(lstm_viz.__path__):\n"
            "    if m.name != '__main__': importlib.import_module('lstm_viz.' + m.name)\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


def test_trace_of_a_session_is_the_trace_function():
    s = _session(proj_size=2)
    tr = s.retrace()
    direct = trace(s.lstm, s.input)
    torch.testing.assert_close(tr.h, direct.h)


def test_each_session_trace_carries_its_check_against_nn_lstm():
    s = _session(num_layers=2, bidirectional=True, proj_size=2)
    tr = s.retrace()
    assert tr.meta["nn_lstm_max_abs_diff"] < 1e-5
    s.edit_input(t=1, batch=0, feature=0, value=3.0)
    assert s.trace.meta["nn_lstm_max_abs_diff"] < 1e-5  # nn.LSTM on the edited input
    s.edit_state("c", 2, 0, 0, 0, 0, 9.0)
    assert s.trace.meta["nn_lstm_max_abs_diff"] is None  # no nn.LSTM run can have that state
    # and the check is able to fail: a trace of other weights differs
    other = _session(num_layers=2, bidirectional=True, proj_size=2)
    other.reinitialize(seed=99)
    from lstm_viz import verify
    assert verify(other.lstm, other.input, tr) > 1e-3


def test_load_module_with_its_input_is_all_or_nothing(tmp_path):
    s = _session()
    trained = LSTMConfig(2, 6, bidirectional=True).build()
    np.save(tmp_path / "three.npy", np.zeros((7, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="input_size=2"):  # a 3-feature file can't feed it
        s.load_module(trained, input_spec=InputSpec(source="file",
                                                    path=str(tmp_path / "three.npy")))
    assert s.config == LSTMConfig(3, 5)
    s.load_module(trained, input_spec=InputSpec(source="sine", seq_len=9, batch_size=1))
    tr = s.retrace()
    assert s.config == LSTMConfig(2, 6, bidirectional=True) and tr.num_steps == 9
    with torch.no_grad():
        out, _ = trained(s.input)
    torch.testing.assert_close(tr.output, out, atol=1e-5, rtol=0)


def test_a_huge_input_is_refused_before_it_is_made():
    s = _session()
    with pytest.raises(TraceBudgetError, match="budget"):
        s.set_input(InputSpec(seq_len=2_000_000_000, batch_size=64))  # 1.5 TB if made
    assert s.input_spec.seq_len == 6


@pytest.mark.parametrize("lengths", [None, (6, 4)])
def test_what_if_edit_in_the_reverse_direction_flows_towards_t0(lengths):
    s = Session(LSTMConfig(3, 5, bidirectional=True),
                InputSpec(seq_len=6, batch_size=2, seed=1, lengths=lengths), seed=7)
    s.retrace()
    base = s.trace
    s.edit_state("c", t=3, layer=0, direction=1, batch=1, unit=2, value=2.0)
    tr = s.trace
    assert float(tr.c[0, 1, 3, 1, 2]) == 2.0
    # positions after t were read before it: unchanged; the forward direction: unchanged
    torch.testing.assert_close(tr.h[0, 1, 4:, 1], base.h[0, 1, 4:, 1], equal_nan=True,
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(tr.h[0, 0], base.h[0, 0], equal_nan=True, atol=1e-6, rtol=0)
    # the edited state feeds position t-1, by the LSTM equations
    v3, v2 = s.values_at(0, 1, 1, t=3), s.values_at(0, 1, 1, t=2)
    np.testing.assert_allclose(v3["h"], v3["o"] * np.tanh(v3["c"]), atol=1e-6)
    np.testing.assert_allclose(v2["c_prev"], v3["c"], atol=0)
    np.testing.assert_allclose(v2["c"], v2["f"] * v3["c"] + v2["i"] * v2["g"], atol=1e-6)
    assert not np.allclose(v2["h"], s.values_at(0, 1, 1, t=2, trace=base)["h"])


def test_edits_can_be_traced_through_request_and_accept_like_the_gui_worker():
    s = _session()
    s.retrace()
    base = s.trace
    assert s.edit_state("h", 2, 0, 0, 1, 3, 0.25, rerun=False) is None
    assert s.trace is base  # recorded, not traced yet
    req = s.request()
    assert s.accept(req, req.run())
    assert s.original is base and float(s.trace.h[0, 0, 2, 1, 3]) == 0.25
    s.edit_input(0, 0, 0, 1.0, rerun=False)
    req = s.request()
    s.accept(req, req.run())
    assert s.original is base  # still the run before the first edit
    s.clear_edits()
    assert s.trace is base and s.original is None


def test_an_edit_past_a_sequences_length_is_refused_with_the_reason():
    s = Session(LSTMConfig(2, 3), InputSpec(seq_len=5, batch_size=2, lengths=(5, 3)))
    s.retrace()
    with pytest.raises(ValueError, match="past the end of sequence 1, which has 3 steps"):
        s.edit_state("c", 4, 0, 0, 1, 0, 1.0)
    with pytest.raises(ValueError, match="past the end of sequence 1"):
        s.edit_input(3, 1, 0, 1.0)
    assert not s.edits
    s.edit_state("c", 4, 0, 0, 0, 0, 1.0)  # sequence 0 has all 5 steps
    assert float(s.trace.c[0, 0, 4, 0, 0]) == 1.0


def test_the_original_of_an_edit_is_never_a_trace_of_an_older_config():
    s = _session()
    s.retrace()
    s.set_config(s.config.replace(hidden_size=6))  # the old trace stays on show until...
    s.edit_state("c", 1, 0, 0, 0, 5, 1.0, rerun=False)  # unit 5 exists only in the new config
    req = s.request()
    s.accept(req, req.run())
    # no run of this config without the edit was on show: it is traced along, never the old one
    assert s.original.config == s.config and not s.original.meta["edited"]
    assert s.original.c.shape[-1] == 6 and s.trace.c.shape[-1] == 6
    with torch.no_grad():
        out, _ = s.lstm(s.input)
    torch.testing.assert_close(s.original.output, out, atol=1e-5, rtol=0)


# ----- events, budget, device, edits ------------------------------------------------------

def _record(s: Session) -> list[str]:
    seen: list[str] = []
    for name in ("config_changed", "input_changed", "trace_changed", "edits_changed"):
        getattr(s, name).connect(lambda *a, n=name: seen.append(n))
    return seen


def test_input_changed_fires_when_the_input_changes_and_config_changed_still_fires():
    s = _session()
    seen = _record(s)
    s.set_input(InputSpec(source="sine", seq_len=6, batch_size=2))
    assert seen == ["input_changed", "config_changed"]
    seen.clear()
    s.set_config(s.config.replace(hidden_size=7))  # same input_size: the same input
    assert seen == ["config_changed"]
    seen.clear()
    s.set_config(s.config.replace(input_size=4))  # a new input of 4 features
    assert seen == ["input_changed", "config_changed"] and s.input_tm.shape[-1] == 4


def test_a_change_that_drops_edits_says_how_many_and_clearing_them_by_hand_does_not():
    s = _session()
    cleared: list[int] = []
    s.edits_cleared.connect(cleared.append)
    s.set_config(s.config.replace(hidden_size=7))
    assert cleared == []  # nothing to drop
    s.edit_input(1, 0, 0, 2.0, rerun=False)
    s.edit_state("h", 2, 0, 0, 0, 1, 0.0, rerun=False)
    s.set_input(InputSpec(source="sine", seq_len=6, batch_size=2))
    assert cleared == [2] and not s.edits
    s.edit_state("c", 2, 0, 0, 0, 1, 0.0, rerun=False)
    s.clear_edits()
    s.reinitialize(seed=5)
    assert cleared == [2]


def test_set_config_and_set_input_check_the_budget_once_before_changing_anything(monkeypatch):
    import lstm_viz.session as session_module
    from lstm_viz.tracing import budget

    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return budget.precheck(*args, **kwargs)

    monkeypatch.setattr(session_module, "precheck", counting)
    s = _session()
    calls.clear()
    s.set_config(s.config.replace(hidden_size=6))
    s.set_input(InputSpec(seq_len=5, batch_size=3))
    assert [(c[0].hidden_size, c[1].seq_len) for c in calls] == [(6, 6), (6, 5)]
    seen = _record(s)
    with pytest.raises(TraceBudgetError, match="weights alone"):
        s.set_config(s.config.replace(hidden_size=20_000))  # 6 GiB of float32 weights
    assert seen == [] and s.config.hidden_size == 6


def test_precheck_refuses_weights_over_the_budget_and_leaves_file_sizes_for_later():
    from lstm_viz.tracing.budget import precheck

    cfg = LSTMConfig(100, 100)  # 80 800 parameters: 323 200 bytes of float32
    with pytest.raises(TraceBudgetError, match=r"weights alone .*80,800 parameters"):
        precheck(cfg, InputSpec(seq_len=1, batch_size=1), torch.float32, 300_000)
    with pytest.raises(TraceBudgetError, match="reduce seq_len"):
        precheck(cfg, InputSpec(seq_len=10_000, batch_size=8), torch.float32, 10_000_000)
    # a file's sizes are not known before it is read: only the weights are checked
    precheck(cfg, InputSpec(source="file", path="x.npy", seq_len=10_000, batch_size=8),
             torch.float32, 10_000_000)
    precheck(cfg, InputSpec(seq_len=10, batch_size=2), torch.float32, 10_000_000)


def test_set_device_moves_a_new_module_and_keeps_the_numbers():
    s = _session(num_layers=2)
    s.edit_input(t=1, batch=0, feature=0, value=2.0)
    before = s.trace
    old_module = s.lstm
    seen = _record(s)
    s.set_device("cpu")
    assert s.lstm is not old_module  # requests in flight keep the old one
    assert seen == ["config_changed"] and not s.edits  # a device change drops the edits
    tr = s.retrace()
    with torch.no_grad():
        out, _ = old_module(s.input_tm)
    torch.testing.assert_close(tr.output, out)
    assert not torch.equal(tr.output, before.output)  # the edit is gone
    with pytest.raises(ValueError, match="not a device name"):
        s.set_device("gpu9")
    assert s.device.type == "cpu"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_set_device_to_cuda_traces_there_and_matches_nn_lstm_on_the_cpu():
    s = _session(num_layers=2, bidirectional=True)
    cpu_module = s.lstm
    s.set_device("cuda")
    assert s.lstm.weight_ih_l0.is_cuda and s.input_tm.is_cuda
    tr = s.retrace()
    assert tr.h.is_cuda and tr.meta["nn_lstm_max_abs_diff"] < 1e-4
    with torch.no_grad():
        out, _ = cpu_module(s.input_tm.cpu())
    # TF32 (cuDNN's default for nn.LSTM on recent GPUs) keeps about three decimal digits
    tf32 = rnn_uses_tf32(s.device)
    torch.testing.assert_close(tr.output.cpu(), out, atol=2e-3 if tf32 else 1e-5, rtol=1e-4)


def test_edits_are_named_records_and_stored_as_plain_lists():
    from lstm_viz import InputEdit, StateEdit

    s = _session()
    s.edit_input(t=2, batch=1, feature=0, value=1.5, rerun=False)
    s.edit_state("c", t=3, layer=0, direction=0, batch=0, unit=4, value=-2.0, rerun=False)
    assert s.edits.inputs == [InputEdit(t=2, batch=1, feature=0, value=1.5)]
    assert s.edits.states == [StateEdit("c", t=3, layer=0, direction=0, batch=0, unit=4,
                                        value=-2.0)]
    data = json.loads(json.dumps(s.to_dict()))
    assert data["edits"] == {"inputs": [[2, 1, 0, 1.5]], "states": [["c", 3, 0, 0, 0, 4, -2.0]]}
    assert Session.from_dict(data).edits == s.edits
    with pytest.raises(ValueError, match=r"edits.inputs\[0\] must be a list of 4 values"):
        Session.from_dict({**data, "edits": {"inputs": [[1, 2]]}})


def test_a_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf1,2\n3,4\n5,6\n")
    x = make_input(InputSpec(source="file", path=str(tmp_path / "bom.csv")), 2)
    assert x[:, 0].tolist() == [[1, 2], [3, 4], [5, 6]]
    (tmp_path / "head.csv").write_bytes(b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n5,6\r\n")
    x = make_input(InputSpec(source="file", path=str(tmp_path / "head.csv")), 2)
    assert x[:, 0].tolist() == [[1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize("text", [
    "1,2\n3,4\n", "a,b\n1,2\n3,4", "\n\n1,2\n  \n,\n3,4\n\n", "x\n1,2\r\n3,4\r\n",
    '"1","2"\n3, 4\n', "1_000,2\n3,4\n", "\xef\xbb\xbf1,2\n3,4\n",
])
def test_a_csv_is_sized_from_its_bytes_as_load_array_reads_it(tmp_path, monkeypatch, text):
    from lstm_viz import inputs

    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xef") else text.encode())
    arr = inputs.load_array(path)
    assert inputs.input_shape(path) == arr.shape == (2, 2)
    assert arr[1].tolist() == [3, 4]
    for chunk in (1, 2, 3, 5):  # counted a few bytes at a time: lines across chunks
        monkeypatch.setattr(inputs, "_CSV_CHUNK", chunk)
        assert inputs.input_shape(path) == (2, 2)


def test_csv_rows_of_different_widths_are_still_named(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match=r"ragged.csv: rows have different numbers of columns"
                                         r" \[1, 2\]"):
        make_input(InputSpec(source="file", path=str(tmp_path / "ragged.csv")), 2)


def test_a_csv_over_the_memory_budget_is_refused_before_its_values_are_read(tmp_path):
    cfg = LSTMConfig(1, 256, num_layers=2)  # about 2 KiB a step once traced in windows
    # the last row would be refused as non-numeric if the values were read first
    (tmp_path / "long.csv").write_text("0\n" * 100_000 + "oops\n")
    spec = InputSpec(source="file", path=str(tmp_path / "long.csv"))
    with pytest.raises(TraceBudgetError, match="long.csv holds 100,001 timesteps of 1"
                                               " sequence\\(s\\): over the memory budget"
                                               " of 128.0 MiB even in windows"):
        Session(cfg, spec, memory_budget=128 << 20)
    (tmp_path / "short.csv").write_text("0.5\n" * 20_000)
    s = Session(cfg, InputSpec(source="file", path=str(tmp_path / "short.csv")),
                memory_budget=128 << 20)
    assert s.input.shape == (20_000, 1, 1) and bool((s.input == 0.5).all())


@pytest.mark.parametrize("shape, batch_first, steps", [
    ((2_000_000, 1), False, "2,000,000 timesteps of 1 sequence"),
    ((4, 500_000, 1), True, "500,000 timesteps of 4 sequence"),
])
def test_a_npy_over_the_memory_budget_is_refused_from_its_header(tmp_path, shape, batch_first,
                                                                 steps):
    path = tmp_path / "long.npy"
    with path.open("wb") as fh:  # a header declaring millions of steps, and 16 bytes of data
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
        fh.write(bytes(16))
    spec = InputSpec(source="file", path=str(path), params={"batch_first": batch_first})
    with pytest.raises(TraceBudgetError, match=f"long.npy holds {steps}"):
        Session(LSTMConfig(1, 256, num_layers=2), spec, memory_budget=128 << 20)
