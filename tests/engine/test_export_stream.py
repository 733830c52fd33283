"""The streamed export: every step of a trace, chunk by chunk, equal to the full trace and to
nn.LSTM; progress, cancel, bounded memory; a windowed session's normal export labels its
window and writes the overview."""

from __future__ import annotations

import csv
import json
import math
import warnings
import zipfile

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_viz import InputSpec, LSTMConfig, Session, TraceBudgetError, trace
from lstm_viz.formats.export import (
    ExportCancelled,
    export_data,
    read_stream,
    save_npz,
    save_stream,
    stream_manifest,
    stream_trace,
)
from lstm_viz.tracing import windowed as windowed_module

CONFIGS = {
    "one_layer": dict(input_size=3, hidden_size=5),
    "bidirectional_two_layers": dict(input_size=3, hidden_size=5, num_layers=2,
                                     bidirectional=True),
    "proj_size_bidirectional": dict(input_size=2, hidden_size=6, num_layers=2, proj_size=3,
                                    bidirectional=True),
    "packed_batch_first": dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                               batch_first=True),
    "unbatched_with_hx": dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True),
}


def _input(cfg: dict, T: int, B: int, lengths=None):
    x = torch.randn(T, B, cfg["input_size"], dtype=torch.float64)
    if cfg.get("batch_first"):
        x = x.transpose(0, 1).contiguous()
    if lengths is not None:
        return pack_padded_sequence(x, torch.tensor(lengths), batch_first=cfg.get(
            "batch_first", False), enforce_sorted=False)
    return x


def _joined(path) -> dict[str, np.ndarray]:
    """Every chunk concatenated along time, and the chunks' ranges."""
    parts = list(read_stream(path))
    out = {name: np.concatenate([p[2][name] for p in parts], axis=2 if name != "input" else 0)
           for name in ("gates", "c", "h", "input")}
    out["ranges"] = [(a, b) for a, b, _ in parts]
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_streamed_chunks_concatenate_to_the_full_trace_and_nn_lstm(name, tmp_path):
    torch.manual_seed(7)
    cfg = CONFIGS[name]
    lstm = nn.LSTM(**cfg).double().eval()
    T, B = 301, 3
    lengths = (301, 122, 257) if name == "packed_batch_first" else None
    x = _input(cfg, T, B, lengths)
    hx = None
    if name.startswith("unbatched"):
        x, B = x[:, 0], 1
        hx = (torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64))
    path = stream_trace(lstm, x, tmp_path / "stream.npz", hx, chunk_steps=128)
    full = trace(lstm, x, hx)
    got = _joined(path)
    assert got["ranges"] == [(0, 128), (128, 256), (256, 301)]
    for key in ("gates", "c", "h"):
        np.testing.assert_allclose(got[key], getattr(full, key).numpy(), atol=1e-12,
                                   err_msg=key)  # NaN where full has NaN: past each length
    np.testing.assert_array_equal(got["input"], full.x.numpy())
    # and against torch itself: the last layer's h is nn.LSTM's output, h_n and c_n its own
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x, hx)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, total_length=T)
    elif cfg.get("batch_first"):
        out = out.transpose(0, 1)
    elif hx is not None:  # unbatched: (T, D*H_out), h_n (L*D, H_out)
        out, h_n, c_n = out.unsqueeze(1), h_n.unsqueeze(1), c_n.unsqueeze(1)
    D = 2 if cfg.get("bidirectional") else 1
    last = np.concatenate([got["h"][-1, d] for d in range(D)], axis=-1)  # (T, B, D*H_out)
    np.testing.assert_allclose(np.nan_to_num(last), out.numpy(), atol=1e-12)
    with np.load(path) as npz:
        np.testing.assert_allclose(npz["h_n"], h_n.numpy(), atol=1e-12)
        np.testing.assert_allclose(npz["c_n"], c_n.numpy(), atol=1e-12)
        np.testing.assert_array_equal(npz["weight_ih_l0"], lstm.weight_ih_l0.detach().numpy())
        if hx is not None:
            np.testing.assert_array_equal(npz["h_0"][:, 0], hx[0].numpy())
    manifest = stream_manifest(path)
    assert manifest["num_steps"] == T and manifest["dtype"] == "float64"
    assert manifest["dims"]["gates"] == ["layer", "direction", "t", "batch", "gate", "unit"]
    assert manifest["config"]["hidden_size"] == cfg["hidden_size"]


def test_overview_in_the_stream_is_min_max_mean_of_each_bucket_ignoring_padding(tmp_path):
    cfg = LSTMConfig(input_size=2, hidden_size=3, bidirectional=True)
    s = Session(cfg, InputSpec(seq_len=50, batch_size=2, lengths=(50, 23)))
    s.retrace()
    path = save_stream(s, tmp_path / "full.npz", chunk_steps=16)
    got = _joined(path)
    manifest = stream_manifest(path)
    k = manifest["overview"]["bucket_size"]
    assert manifest["overview"]["stats"] == ["min", "max", "mean"] and not manifest["windowed"]
    g = s.trace.gates.numpy()  # (L, D, T, B, 4, H), by the trace itself, not the stream
    with np.load(path) as npz:
        ov = npz["overview_gates"]  # (3, L, D, NB, B, 4, H)
    for j in range(math.ceil(50 / k)):
        block = g[:, :, j * k:(j + 1) * k]
        with warnings.catch_warnings():  # an all-padding bucket: NaN, as numpy warns
            warnings.simplefilter("ignore", RuntimeWarning)
            for stat, fn in enumerate((np.nanmin, np.nanmax, np.nanmean)):
                np.testing.assert_allclose(ov[stat, :, :, j], fn(block, axis=2), atol=1e-6)
    np.testing.assert_array_equal(got["gates"], g)


def test_stream_of_a_windowed_session_equals_the_full_trace_with_its_edits(tmp_path):
    cfg = LSTMConfig(input_size=3, hidden_size=6, num_layers=2, bidirectional=True)
    spec = InputSpec(seq_len=20000, batch_size=2)
    budget = 16_000_000
    s = Session(cfg, spec, memory_budget=budget)
    s.window_size = 500
    assert s.windowed
    full = Session(cfg, spec)
    for sess in (s, full):
        sess.edit_input(14100, 1, 0, 3.0)  # replayed from the kept state before it
    assert s.trace.windowed and s.window[1] - s.window[0] == 500
    steps = []
    path = save_stream(s, tmp_path / "long.npz", progress=lambda done, total: steps.append(
        (done, total)))
    got = _joined(path)
    assert all(b - a <= 384 for a, b in got["ranges"])  # the window, in kept-state spacing
    for key in ("gates", "c", "h"):
        np.testing.assert_allclose(got[key], getattr(full.trace, key).numpy(), atol=2e-5,
                                   err_msg=key)
    np.testing.assert_array_equal(got["input"], full.trace.x.numpy())
    assert steps[0] == (0, 20000) and steps[-1] == (20000, 20000)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    manifest = stream_manifest(path)
    assert manifest["windowed"] and manifest["session"]["edits"]["inputs"]
    with np.load(path) as npz:
        # the overview the session keeps, of the edited run
        np.testing.assert_array_equal(npz["overview_h"], s.overview.h.numpy())
    # the views' window is untouched by the export's walk through the input
    assert s.trace.checkpoints.last is not None and s.trace.checkpoints.last.stop <= 20000
    assert s.window == (s.trace.start, s.trace.stop)


def test_chunks_stay_window_sized_where_a_full_trace_is_over_the_budget(tmp_path, monkeypatch):
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 16, num_layers=2, bidirectional=True).eval()
    x = torch.randn(20000, 1, 4)
    budget = 16_000_000
    with pytest.raises(TraceBudgetError):
        trace(lstm, x, memory_budget=budget)
    spans = []
    real = windowed_module.trace_span

    def recording(lstm_, layer, d, xin, *args, **kwargs):
        spans.append(int(xin.shape[0]))
        return real(lstm_, layer, d, xin, *args, **kwargs)

    path_ = tmp_path / "big.npz"
    monkeypatch.setattr(windowed_module, "trace_span", recording)
    stream_trace(lstm, x, path_, memory_budget=budget, chunk_steps=1024)
    first_pass = windowed_module.CHUNK_STEPS
    assert max(spans) <= max(first_pass, 1024 + 128)  # never the whole input at once
    sizes = {b - a for a, b, _ in read_stream(path_, names=("c",))}
    assert max(sizes) == 1024
    for _, _, arrays in read_stream(path_, names=("gates",)):
        assert arrays["gates"].shape[2] <= 1024
    with pytest.raises(ValueError, match=r"chunk_steps=20000 is more than the memory budget"
                                         r" allows for one chunk; use at most \d+ steps"):
        stream_trace(lstm, x, tmp_path / "too_big.npz", memory_budget=budget,
                     chunk_steps=20000)
    assert not (tmp_path / "too_big.npz").exists()


@pytest.mark.parametrize("after", [0, 1, 3])
def test_cancel_midway_leaves_no_file_and_keeps_an_old_one(tmp_path, after):
    torch.manual_seed(2)
    lstm = nn.LSTM(2, 4, bidirectional=True).eval()
    x = torch.randn(400, 2, 2)
    path = tmp_path / "stream.npz"
    path.write_bytes(b"old")
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > after

    with pytest.raises(ExportCancelled, match="stream.npz was not written"):
        stream_trace(lstm, x, path, chunk_steps=128, cancelled=cancelled)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.npz"]  # no temporary left


def test_progress_is_monotonic_and_reaches_the_total(tmp_path):
    lstm = nn.LSTM(2, 3).eval()
    seen = []
    stream_trace(lstm, torch.randn(1000, 1, 2), tmp_path / "p.npz", chunk_steps=300,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 1000), (300, 1000), (600, 1000), (900, 1000), (1000, 1000)]


def test_reading_a_file_that_is_not_a_stream_is_refused(tmp_path):
    s = Session()
    s.retrace()
    plain = save_npz(s, tmp_path / "trace.npz")
    with pytest.raises(ValueError, match="is not a streamed lstm-viz trace.*--stream"):
        next(read_stream(plain))
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not a streamed lstm-viz trace"):
        stream_manifest(text)
    other = tmp_path / "other.npz"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="names another format"):
        stream_manifest(other)
    good = save_stream(s, tmp_path / "good.npz")
    with pytest.raises(ValueError, match="a chunk holds gates, c, h, input"):
        next(read_stream(good, names=("output",)))


@pytest.mark.parametrize("chunk_steps", [0, -3, 2.5, True, "10"])
def test_a_chunk_size_that_is_not_a_positive_whole_number_is_refused(tmp_path, chunk_steps):
    s = Session()
    s.retrace()
    with pytest.raises(ValueError, match="chunk_steps must be a positive whole number"):
        save_stream(s, tmp_path / "x.npz", chunk_steps=chunk_steps)


def test_a_stream_needs_an_npz_name_and_a_trace(tmp_path):
    s = Session()
    with pytest.raises(ValueError, match="no trace"):
        save_stream(s, tmp_path / "x.npz")
    s.retrace()
    with pytest.raises(ValueError, match=r"ending in \.npz \(got 'x.zip'\)"):
        save_stream(s, tmp_path / "x.zip")


def test_windowed_session_export_labels_its_window_and_writes_the_overview(tmp_path):
    cfg = LSTMConfig(input_size=2, hidden_size=8, proj_size=3)
    spec = InputSpec(seq_len=9000, batch_size=1)
    s = Session(cfg, spec, memory_budget=2_500_000)
    s.window_size = 200
    assert s.windowed
    s.retrace()
    s.seek(5000)
    lo, hi = s.window
    written = export_data(s, tmp_path, ("csv", "npz"))
    names = {p.name for p in written}
    assert {"overview_l0_fwd_b0.csv", "window.json", "trace.npz"} <= names
    labels = json.loads((tmp_path / "window.json").read_text())
    assert labels["window"] == [lo, hi] and labels["total_steps"] == 9000
    assert "min, max and mean" in labels["overview"]["about"]
    with np.load(tmp_path / "trace.npz") as npz:
        assert (int(npz["window_start"]), int(npz["window_stop"])) == (lo, hi)
        assert int(npz["total_steps"]) == 9000 and npz["gates"].shape[2] == hi - lo
        assert json.loads(str(npz["window_json"]))["window"] == [lo, hi]
        bucket = int(npz["overview_bucket"])
    # the overview CSV against a full trace of the same input, bucket by bucket
    full = Session(cfg, spec)
    full.retrace()
    c = full.trace.c[0, 0, :, 0].numpy()  # (T, H)
    h = full.trace.h[0, 0, :, 0].numpy()  # (T, H_out)
    with open(tmp_path / "overview_l0_fwd_b0.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == math.ceil(9000 / bucket) * 8
    for row in rows[::37]:
        j, u = int(row["bucket"]), int(row["unit"])
        a, b = int(row["t_start"]), int(row["t_stop (exclusive)"])
        assert (a, b) == (j * bucket, min(9000, (j + 1) * bucket))
        assert float(row["c_max"]) == pytest.approx(c[a:b, u].max(), abs=2e-5)
        assert float(row["c_mean"]) == pytest.approx(c[a:b, u].mean(), abs=2e-5)
        if u < 3:
            assert float(row["h_min"]) == pytest.approx(h[a:b, u].min(), abs=2e-5)
        else:
            assert row["h_min"] == ""  # h has proj_size=3 features
