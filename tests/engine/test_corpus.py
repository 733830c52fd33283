"""A corpus traced into a Zarr store: every stored array equals what nn.LSTM (and nn.LSTM's own
equations) give for each document alone; top and match equal a brute-force scan of the stored
arrays; an interrupted trace resumes; a store from another model is refused; bad input is one
line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("zarr")
pytest.importorskip("dask")

from lstm_viz import corpus  # noqa: E402
from lstm_viz.corpus import CorpusModel, Documents  # noqa: E402

VOCAB = tuple("abcdefghij")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    # several chunks per store, so that runs and top positions cross chunk boundaries
    monkeypatch.setattr(corpus, "CHUNK_TOKENS", 16)


def _model(seed: int = 0, **kw) -> CorpusModel:
    torch.manual_seed(seed)
    lstm = nn.LSTM(4, 6, **kw).eval()
    return CorpusModel(lstm, torch.randn(len(VOCAB), 4), VOCAB, "rnn", "", f"seed{seed}")


def _docs(seed: int = 1, n: int = 7) -> Documents:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(0, len(VOCAB), int(rng.integers(1, 40))).astype(np.int32)
           for _ in range(n)]
    return Documents(token_ids=ids, names=[f"d{i}" for i in range(n)], vocab=VOCAB,
                     tokenizer="characters")


def _layer_outputs(lstm: nn.LSTM, x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's output of nn.LSTM for x (T, 1, I): an nn.LSTM of the first k + 1 layers
    with the same weights returns layer k's h."""
    outs = []
    for k in range(lstm.num_layers):
        part = nn.LSTM(lstm.input_size, lstm.hidden_size, num_layers=k + 1,
                       bidirectional=lstm.bidirectional, proj_size=lstm.proj_size).eval()
        part.load_state_dict({n: p for n, p in lstm.state_dict().items()
                              if int(n.split("_l")[1].split("_")[0]) <= k})
        with torch.no_grad():
            outs.append(part(x)[0][:, 0])
    return outs


def _cell_reference(lstm: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer 0 forward: gates (T, 4, H) and c (T, H) from nn.LSTM's equations, step by step."""
    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
    b = lstm.bias_ih_l0 + lstm.bias_hh_l0
    H = lstm.hidden_size
    h, c = torch.zeros(H), torch.zeros(H)
    gates, cs = [], []
    with torch.no_grad():
        for xt in x[:, 0]:
            z = w_ih @ xt + w_hh @ h + b
            i, f, g, o = z[:H].sigmoid(), z[H:2 * H].sigmoid(), z[2 * H:3 * H].tanh(), \
                z[3 * H:].sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            gates.append(torch.stack([i, f, g, o]))
            cs.append(c)
    return torch.stack(gates), torch.stack(cs)


@pytest.mark.parametrize("kw", [dict(num_layers=2, bidirectional=True), dict(proj_size=3)])
def test_every_stored_array_equals_nn_lstm_for_each_document_alone(tmp_path, kw):
    model, docs = _model(**kw), _docs()
    store = corpus.trace_corpus(model, docs, tmp_path / "c.zarr", dtype="float32",
                                batch_tokens=60)
    assert store.complete and store.n_tokens == int(docs.lengths().sum())
    assert len(store.root.attrs["segments_done"]) > 1  # several runs of documents
    np.testing.assert_array_equal(store.token_ids(), np.concatenate(docs.token_ids))
    for d, ids in enumerate(docs.token_ids):
        x = model.embedding[torch.from_numpy(ids.astype(np.int64))].unsqueeze(1)
        a, b = int(store.doc_start[d]), int(store.doc_start[d + 1])
        for k, out in enumerate(_layer_outputs(model.lstm, x)):
            Ho = out.shape[-1] // (2 if model.lstm.bidirectional else 1)
            got = np.asarray(store.root[f"h/l{k}"][a:b])
            np.testing.assert_allclose(got, out[:, :Ho].numpy(), atol=1e-5)
            if model.lstm.bidirectional:
                got = np.asarray(store.root[f"h/l{k}_reverse"][a:b])
                np.testing.assert_allclose(got, out[:, Ho:].numpy(), atol=1e-5)
        if not model.lstm.proj_size:
            gates, c = _cell_reference(model.lstm, x)
            np.testing.assert_allclose(np.asarray(store.root["gates/l0"][a:b]),
                                       gates.numpy(), atol=1e-5)
            np.testing.assert_allclose(np.asarray(store.root["c/l0"][a:b]), c.numpy(),
                                       atol=1e-5)


def test_array_documents_are_stored_with_their_inputs_and_equal_nn_lstm(tmp_path):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5).eval()
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(4, 30, 3)).astype(
        np.float32))
    docs = corpus.array_documents([tmp_path / "a.npy"], 3)
    store = corpus.trace_corpus(CorpusModel(lstm), docs, tmp_path / "c.zarr", dtype="float32")
    np.testing.assert_array_equal(store.root["x"][:], np.concatenate(docs.arrays))
    for d, inputs in enumerate(docs.arrays):
        with torch.no_grad():
            out = lstm(torch.from_numpy(inputs).unsqueeze(1))[0][:, 0].numpy()
        a, b = int(store.doc_start[d]), int(store.doc_start[d + 1])
        np.testing.assert_allclose(store.root["h/l0"][a:b], out, atol=1e-6)
    assert store.text(33, 36) == "a.npy[1] steps 3..5" and store.text(33, 34) == "3"


def _brute_top(values, doc_start, k, sign):
    order = sorted(range(len(values)), key=lambda p: (-(values[p] if sign == "pos"
                                                        else -values[p]), p))
    return order[:k]


def _brute_match(data, doc_start, on, off, threshold, min_len):
    ok = (data[:, on] > threshold).all(1)
    if off:
        ok &= (data[:, off] <= threshold).all(1)
    score = data[:, on].mean(1) - (data[:, off].mean(1) if off else 0)
    spans = []
    for d in range(len(doc_start) - 1):
        p = doc_start[d]
        while p < doc_start[d + 1]:
            if ok[p]:
                q = p
                while q < doc_start[d + 1] and ok[q]:
                    q += 1
                if q - p >= min_len:
                    spans.append((float(score[p:q].mean()), int(p), int(q)))
                p = q
            else:
                p += 1
    spans.sort(key=lambda s: (-s[0], s[1]))
    return [(s, e) for _, s, e in spans]


def _check_summaries(store) -> None:
    """Each chunk's stored minimum and maximum of every unit equal the stored values'."""
    for kind in ("h", "c"):
        data = np.asarray(store.root[f"{kind}/l0"][:], dtype=np.float32)
        chunks = range(0, len(data), corpus.CHUNK_TOKENS)
        np.testing.assert_array_equal(
            store.root[f"summary/min/{kind}/l0"][:],
            np.stack([data[a:a + corpus.CHUNK_TOKENS].min(0) for a in chunks]))
        np.testing.assert_array_equal(
            store.root[f"summary/max/{kind}/l0"][:],
            np.stack([data[a:a + corpus.CHUNK_TOKENS].max(0) for a in chunks]))


def test_top_and_match_equal_a_brute_force_scan_of_the_stored_arrays(tmp_path):
    model, docs = _model(3), _docs(5, n=12)
    store = corpus.trace_corpus(model, docs, tmp_path / "c.zarr", dtype="float32",
                                batch_tokens=50)
    _check_summaries(store)
    h = np.asarray(store.root["h/l0"][:], dtype=np.float64)
    for unit in range(6):
        for sign in ("pos", "neg"):
            got = store.top(unit, k=7, sign=sign, context=2)
            assert [r["position"] for r in got] == _brute_top(h[:, unit], store.doc_start, 7,
                                                              sign)
            for r in got:
                assert r["value"] == pytest.approx(h[r["position"], unit], abs=1e-6)
                assert int(store.doc_start[r["doc"]]) <= r["position"] < \
                    int(store.doc_start[r["doc"] + 1])
    cases = [([0], [], 0.0, 1), ([1, 2], [3], 0.05, 2), ([4], [5], -0.1, 3), ([0, 5], [], 0.2, 1),
             ([5, 1], [0, 5], 0.0, 1), ([3, 3], [], 0.1, 2)]
    # single units at many thresholds: runs that end exactly at, cross, or skip chunk ends
    cases += [([u], [], float(t), 1) for u in range(6) for t in np.linspace(-0.3, 0.3, 7)]
    for on, off, threshold, min_len in cases:
        got = store.match(on, off, threshold=threshold, min_len=min_len, limit=1000)
        expected = _brute_match(h, store.doc_start, on, off, threshold, min_len)
        assert [(r["start"], r["stop"]) for r in got] == expected
        for r in got:
            assert r["text"] == "".join(VOCAB[i] for i in store.token_ids()[r["start"]:r["stop"]])


@pytest.mark.parametrize("read_chunks", [1, 3])
def test_top_and_match_equal_a_brute_force_scan_with_ties_and_spans_across_chunks(
        tmp_path, monkeypatch, read_chunks):
    # stored values on a coarse grid: many spans tie on score, and long runs cross the
    # boundaries of chunks (16 tokens), of the blocks match reads at once, and of documents
    monkeypatch.setattr(corpus, "MATCH_READ_CHUNKS", read_chunks)
    rng = np.random.default_rng(11)
    lengths = [1, 2, 40, 3, 17, 16, 1, 33, 5, 20, 2, 48]
    ids = [rng.integers(0, len(VOCAB), n).astype(np.int32) for n in lengths]
    docs = Documents(token_ids=ids, names=[f"d{i}" for i in range(len(ids))], vocab=VOCAB,
                     tokenizer="characters")
    corpus.trace_corpus(_model(5), docs, tmp_path / "c.zarr", dtype="float32")
    n = sum(lengths)
    # runs of equal values several chunks long, so that on-runs are long
    values = np.repeat(rng.choice([-0.5, 0.0, 0.25, 0.5, 1.0], size=(n // 7 + 1, 6)), 7, 0)[:n]
    values[rng.random((n, 6)) < 0.1] = -1.0
    import zarr
    zarr.open_group(str(tmp_path / "c.zarr"), mode="r+")["h/l0"][:] = values.astype(np.float32)
    corpus.summarize(tmp_path / "c.zarr")
    store = corpus.open(tmp_path / "c.zarr")
    h = np.asarray(store.root["h/l0"][:], dtype=np.float64)
    cases = [([0], [], 0.0, 1), ([0, 1], [], -0.1, 2), ([2], [3], 0.2, 1), ([4, 5], [0], 0.3, 3),
             ([1], [2, 3], 0.0, 5), ([5], [], 0.9, 1), ([3], [], -0.6, 20), ([0], [], -2.0, 1),
             ([2, 4], [], -2.0, 30)]
    crossing = 0
    for on, off, threshold, min_len in cases:
        for limit in (1, 3, 1000):
            got = store.match(on, off, threshold=threshold, min_len=min_len, limit=limit)
            expected = _brute_match(h, store.doc_start, on, off, threshold, min_len)[:limit]
            assert [(r["start"], r["stop"]) for r in got] == expected, (on, off, threshold)
            for r in got:
                span = h[r["start"]:r["stop"]]
                score = span[:, on].mean(1) - (span[:, off].mean(1) if off else 0)
                assert r["score"] == float(score.mean())
                assert r["doc"] == store.doc_of(r["start"]) == store.doc_of(r["stop"] - 1)
                crossing += r["start"] // 16 != (r["stop"] - 1) // 16
    assert crossing > 5  # the cases do test spans across chunk boundaries
    # top with values that tie: the earlier position first, whichever chunk it is in
    for unit in range(6):
        for sign, k in (("pos", 9), ("neg", 9), ("pos", 60), ("neg", 60)):
            got = store.top(unit, k=k, sign=sign, context=1)
            assert [r["position"] for r in got] == _brute_top(h[:, unit], store.doc_start, k,
                                                              sign)


def test_stats_equal_numpy_over_the_stored_arrays(tmp_path, monkeypatch):
    # blocks of 4 units, so that the statistics are gathered across column blocks too
    monkeypatch.setattr(corpus, "CHUNK_UNITS", 4)
    model, docs = _model(6, bidirectional=True), _docs(3, n=9)
    store = corpus.trace_corpus(model, docs, tmp_path / "c.zarr", dtype="float32")
    corpus.compute_stats(tmp_path / "c.zarr", k=5)
    root = corpus.open(tmp_path / "c.zarr").root
    for suffix in ("l0", "l0_reverse"):
        for kind, (lo, hi) in corpus.HIST_RANGE.items():
            data = np.asarray(root[f"{kind}/{suffix}"][:], dtype=np.float64)
            np.testing.assert_allclose(root[f"stats/mean/{kind}/{suffix}"][:], data.mean(0),
                                       atol=1e-12)
            np.testing.assert_allclose(root[f"stats/std/{kind}/{suffix}"][:], data.std(0),
                                       atol=1e-9)
            for u in range(data.shape[1]):
                hist = np.histogram(np.clip(data[:, u], lo, hi - 1e-12),
                                    bins=corpus.HIST_BINS, range=(lo, hi))[0]
                np.testing.assert_array_equal(root[f"stats/hist/{kind}/{suffix}"][u], hist)
                for sign in ("pos", "neg"):
                    assert list(root[f"stats/top_{sign}/{kind}/{suffix}"][u]) == \
                        _brute_top(data[:, u], store.doc_start, 5, sign)
        gates = np.asarray(root[f"gates/{suffix}"][:], dtype=np.float32)
        sat = np.stack([((gates[:, g] < 0.1) | (gates[:, g] > 0.9)).mean(0) for g in (0, 1)]
                       + [(np.abs(gates[:, 2]) > 0.9).mean(0),
                          ((gates[:, 3] < 0.1) | (gates[:, 3] > 0.9)).mean(0)])
        np.testing.assert_allclose(root[f"stats/saturated/{suffix}"][:], sat, atol=1e-12)


def test_an_interrupted_trace_resumes_where_it_stopped_and_equals_a_straight_run(tmp_path):
    model, docs = _model(4), _docs(6)
    calls = []
    corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40,
                        progress=lambda *a: calls.append(a), cancel=lambda: True)
    assert len(calls) == 1
    half = corpus.CorpusStore(tmp_path / "cut.zarr")
    assert not half.complete
    with pytest.raises(ValueError, match="is not complete"):
        half.top(0)
    traced = []
    store = corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40,
                                progress=lambda *a: traced.append(a))
    straight = corpus.trace_corpus(model, docs, tmp_path / "straight.zarr", batch_tokens=40)
    assert store.complete and len(traced) == len(store.root.attrs["segments_done"]) - 1
    again = []  # a finished store: nothing is traced again
    corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40,
                        progress=lambda *a: again.append(a))
    assert again == []
    _check_summaries(store)
    _check_summaries(straight)
    for name in ("h/l0", "c/l0", "gates/l0"):
        np.testing.assert_array_equal(store.root[name][:], straight.root[name][:])


MEASURE_PEAK = """
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstm_viz import corpus


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024


out, n_tokens, budget = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
hidden, layers, longest = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(0)
vocab = tuple("abcdefghij")
model = corpus.CorpusModel(nn.LSTM(8, hidden, num_layers=layers).eval(), torch.randn(10, 8),
                           vocab, "rnn", "", "seed0")
rng = np.random.default_rng(0)


def documents(n):
    ids, total = [], 0
    while total < n:
        ids.append(rng.integers(0, 10, int(rng.integers(longest // 8, longest))
                                ).astype(np.int32))
        total += len(ids[-1])
    return corpus.Documents(token_ids=ids, names=[str(i) for i in range(len(ids))],
                            vocab=vocab, tokenizer="characters")


# a first small trace loads what stays loaded (modules, thread pools, the compiled loop)
corpus.trace_corpus(model, documents(5000), out / "warm.zarr", memory_budget=budget)
docs = documents(n_tokens)
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) counts from here
store = corpus.trace_corpus(model, docs, out / "big.zarr", memory_budget=budget)
assert store.complete
print(status("VmHWM") - base, store.n_tokens * 2 * 6 * hidden * layers,
      int(store.chunk_tokens == corpus.CHUNK_TOKENS))
"""


def _peak(tmp_path, n_tokens: int, budget: int, hidden: int, layers: int, longest: int
          ) -> tuple[int, int, int]:
    """(the peak resident memory a corpus trace adds, the bytes of its stored states, whether
    its chunks have the full length CHUNK_TOKENS), measured by the kernel in a process of its
    own (torch's buffers included, which tracemalloc does not see)."""
    import os

    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to measure the peak")
    (tmp_path / "measure.py").write_text(MEASURE_PEAK)
    done = subprocess.run([sys.executable, str(tmp_path / "measure.py"), str(tmp_path),
                           str(n_tokens), str(budget), str(hidden), str(layers), str(longest)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    peak, states, full = (int(v) for v in done.stdout.split())
    return peak, states, full


def test_a_trace_stays_within_its_memory_budget_on_a_corpus_many_times_larger(tmp_path):
    # a budget the stored states exceed several times over
    budget = 64 << 20
    peak, states, _ = _peak(tmp_path, 150000, budget, 64, 2, 400)
    assert states > 3 * budget
    assert peak <= budget, f"the trace took {peak / 2**20:.0f} MiB over a {budget >> 20} MiB budget"


def test_a_trace_at_the_default_budget_stays_within_it_with_the_full_chunk_length(tmp_path):
    # the character demo's sizes (hidden 128, documents up to 20 000 tokens) at the engine's
    # default budget, which gives the store its full chunk length: the traced runs, the
    # chunk row put together, zarr's copies and the compressor's buffers all fit, with room
    budget = corpus.DEFAULT_MEMORY_BUDGET
    peak, _, full = _peak(tmp_path, 600_000, budget, 128, 1, 20_000)
    assert full
    assert peak <= budget * 7 // 8, (f"the trace took {peak / 2**20:.0f} MiB of a"
                                     f" {budget >> 20} MiB budget")


def _slow_but(fast: str, calls: list, monkeypatch) -> None:
    """corpus.trace made 20 ms slower for every method but ``fast``; calls records (method,
    steps) of each call."""
    import time

    real = corpus.trace

    def trace(lstm, x, **kw):
        steps = (x.data if hasattr(x, "batch_sizes") else x).shape[0]
        calls.append((kw.get("method"), steps))
        if kw.get("method") != fast:
            time.sleep(0.02)
        return real(lstm, x, **kw)

    monkeypatch.setattr(corpus, "trace", trace)


def test_the_method_is_timed_once_on_a_real_batch_and_traces_every_batch(tmp_path,
                                                                        monkeypatch):
    monkeypatch.delenv("LSTM_VIZ_METHOD", raising=False)
    calls: list = []
    _slow_but("fused", calls, monkeypatch)
    model, docs = _model(5), _docs(5)
    store = corpus.trace_corpus(model, docs, tmp_path / "c.zarr", batch_tokens=40)
    probes = corpus.METHOD_PROBE_RUNS * 3
    probed = {m for m, _ in calls[:probes]}
    assert len(probed) == 3 and {"fused", "layered"} <= probed
    assert store.root.attrs["method"] == "fused"
    assert [m for m, _ in calls[probes:]] == ["fused"] * (len(calls) - probes)
    assert len(calls) > probes


def test_a_resumed_trace_keeps_the_method_its_first_run_chose(tmp_path, monkeypatch):
    monkeypatch.delenv("LSTM_VIZ_METHOD", raising=False)
    model, docs = _model(4), _docs(6)
    first: list = []
    _slow_but("fused", first, monkeypatch)
    corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40,
                        cancel=lambda: True)
    monkeypatch.undo()
    monkeypatch.setattr(corpus, "CHUNK_TOKENS", 16)
    rest: list = []
    _slow_but("layered", rest, monkeypatch)  # now another method would win the timing
    store = corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40)
    assert store.complete and rest and {m for m, _ in rest} == {"fused"}


def test_a_budget_too_small_for_the_longest_document_is_refused_with_what_it_needs(tmp_path):
    with pytest.raises(ValueError, match=r"the memory budget \(8 KiB\) is too small for this"
                                         r" trace: .* a budget of about [0-9.,]+ KiB"):
        corpus.trace_corpus(_model(), _docs(), tmp_path / "c.zarr", memory_budget=8 << 10)
    assert not (tmp_path / "c.zarr").exists()


def test_a_resume_with_a_budget_too_small_for_the_first_runs_cut_is_refused(tmp_path):
    model, docs = _model(4), _docs(6, n=12)
    corpus.trace_corpus(model, docs, tmp_path / "c.zarr", batch_tokens=200,
                        cancel=lambda: True)
    with pytest.raises(ValueError, match=r"c.zarr was traced in runs of 200 tokens, more than"
                                         r" the memory budget \(44 KiB\) holds"):
        corpus.trace_corpus(model, docs, tmp_path / "c.zarr", memory_budget=44 << 10)
    assert corpus.trace_corpus(model, docs, tmp_path / "c.zarr").complete


def test_a_store_from_another_model_or_corpus_is_refused_not_appended_to(tmp_path):
    docs = _docs()
    corpus.trace_corpus(_model(0), docs, tmp_path / "c.zarr")
    with pytest.raises(ValueError, match="made from another model or corpus"):
        corpus.trace_corpus(_model(1), docs, tmp_path / "c.zarr")
    with pytest.raises(ValueError, match="made from another model or corpus"):
        corpus.trace_corpus(_model(0), _docs(2), tmp_path / "c.zarr")


def test_bad_corpus_input_is_one_clear_line(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "unknown.txt").write_text("xyz")
    for name, message in (("empty.txt", "empty.txt is empty"),
                          ("latin1.txt", "latin1.txt is not UTF-8"),
                          ("unknown.txt", "unknown.txt: 3 token.s. not in the vocabulary")):
        with pytest.raises(ValueError, match=message):
            corpus.text_documents([tmp_path / name], VOCAB, tokenizer="characters")
    with pytest.raises(ValueError, match="unknown.txt has no token of the vocabulary"):
        corpus.text_documents([tmp_path / "unknown.txt"], VOCAB + ("<unk>",),
                              tokenizer="characters")
    store = corpus.trace_corpus(_model(), _docs(), tmp_path / "c.zarr")
    with pytest.raises(ValueError, match=r"unit 6 is out of range: h has 6 units"):
        store.top(6)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        store.match([0], threshold=float("nan"))
    with pytest.raises(ValueError, match="direction 'reverse' is not one of this LSTM's"):
        store.top(0, direction="reverse")


def test_a_failed_trace_keeps_what_it_wrote_says_where_it_stopped_and_resumes(tmp_path,
                                                                               monkeypatch):
    model, docs = _model(4), _docs(6)
    real = corpus.trace_segment
    calls = []

    def fails_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of luck")
        return real(*args, **kwargs)

    monkeypatch.setattr(corpus, "trace_segment", fails_third)
    with pytest.raises(ValueError, match=r"^out of luck; stopped after [1-6] of 7 documents"
                                         r" \([0-9]+ of [0-9]+ tokens\), which cut.zarr keeps"):
        corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40)
    half = corpus.CorpusStore(tmp_path / "cut.zarr")
    assert not half.complete
    written = int(half.attrs["tokens_written"])
    assert 0 < written < half.n_tokens
    # what it wrote is what a straight run writes, and the rest is not written yet
    monkeypatch.setattr(corpus, "trace_segment", real)
    straight = corpus.trace_corpus(model, docs, tmp_path / "straight.zarr", batch_tokens=40)
    np.testing.assert_array_equal(half.root["h/l0"][:written], straight.root["h/l0"][:written])
    assert np.isnan(np.asarray(half.root["h/l0"][written:], dtype=np.float32)).all()
    store = corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40)
    assert store.complete
    for name in ("h/l0", "c/l0", "gates/l0"):
        np.testing.assert_array_equal(store.root[name][:], straight.root[name][:])


def test_an_interrupted_trace_writes_what_it_traced_before_it_stops(tmp_path):
    model, docs = _model(4), _docs(6)
    seen = []

    def interrupt(*progress):
        seen.append(progress)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        corpus.trace_corpus(model, docs, tmp_path / "cut.zarr", batch_tokens=40,
                            progress=interrupt)
    docs_done, _, tokens_done, _ = seen[-1]
    half = corpus.CorpusStore(tmp_path / "cut.zarr")
    # both runs traced before the interruption are written and marked
    assert int(half.attrs["tokens_written"]) == tokens_done
    assert corpus.stopped_at(tmp_path / "cut.zarr").startswith(
        f"stopped after {docs_done} of 7 documents ({tokens_done} of {half.n_tokens} tokens)")
    assert not np.isnan(np.asarray(half.root["h/l0"][:tokens_done], np.float32)).any()


def test_a_corpus_larger_than_the_free_disk_is_refused_before_anything_is_written(
        tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(
        10 << 20, 10 << 20, 1 << 10))
    with pytest.raises(ValueError, match=r"the store needs about 0.0 GiB \(before compression\)"
                                         r" and .* has 0.0 GiB free"):
        corpus.trace_corpus(_model(), _docs(), tmp_path / "c.zarr")
    assert not (tmp_path / "c.zarr").exists()


def _cli(capsys, *argv):
    from lstm_viz import cli

    code = cli.main(["corpus", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_bad_input_on_the_command_line_is_one_line_and_exit_2_with_nothing_written(
        tmp_path, capsys):
    (tmp_path / "good.py").write_text("print(1)\n")
    (tmp_path / "empty.py").write_text("")
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "unknown.py").write_text("\u00e9\u00e8\u00ea")
    out = str(tmp_path / "c.zarr")
    trace = ["trace", "--demo", "char_python", "--out", out, "--text"]
    for name, message in (("empty.py", "empty.py is empty"),
                          ("latin1.py", "latin1.py is not UTF-8 text"),
                          ("unknown.py", "unknown.py")):
        code, _, err = _cli(capsys, *trace, str(tmp_path / "good.py"), str(tmp_path / name))
        assert code == 2 and len(err) == 1 and message in err[0], err
        assert not (tmp_path / "c.zarr").exists()
    code, _, err = _cli(capsys, *trace, str(tmp_path / "good.py"), "--method", "nope")
    assert code == 2 and len(err) == 1
    assert re.fullmatch(r"lstm-viz: error: method must be one of auto, .* \(got 'nope'\)", err[0])
    assert not (tmp_path / "c.zarr").exists()
    code, _, err = _cli(capsys, *trace, str(tmp_path / "good.py"))
    assert code == 0, err
    # the same store from other arguments: refused, not appended to
    code, _, err = _cli(capsys, "trace", "--demo", "char_python", "--out", out, "--dtype",
                        "float32", "--text", str(tmp_path / "good.py"))
    assert code == 2 and len(err) == 1 and "made from another model or corpus" in err[0]
    for argv, message in ((["top", out, "--unit", "128"], "unit 128 is out of range"),
                          (["match", out, "--on", "1", "--threshold", "nan"],
                           "threshold must be a finite number"),
                          (["match", out, "--on", "1", "--off", "999"],
                           "unit 999 is out of range"),
                          (["top", out, "--unit", "1", "--layer", "1"], "layer 1 is out of range"),
                          (["top", str(tmp_path / "good.py"), "--unit", "1"],
                           "is not a corpus store")):
        code, _, err = _cli(capsys, *argv)
        assert code == 2 and len(err) == 1 and message in err[0], (argv, err)


def test_a_local_dask_cluster_of_two_workers_gives_the_same_arrays(tmp_path):
    distributed = pytest.importorskip("distributed")
    model, docs = _model(2, num_layers=2), _docs(8)
    here = corpus.trace_corpus(model, docs, tmp_path / "here.zarr", batch_tokens=40)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        there = corpus.trace_corpus(model, docs, tmp_path / "there.zarr", batch_tokens=40,
                                    scheduler=cluster.scheduler_address)
    assert there.complete
    for name in ("h/l0", "h/l1", "c/l1", "gates/l1"):
        # the same method and thread count for every batch here and there: equal bit for bit
        np.testing.assert_array_equal(there.root[name][:], here.root[name][:])


def test_the_command_line_traces_a_demo_and_answers_top_as_json(tmp_path):
    (tmp_path / "a.py").write_text("def f(x):\n    return (x + 1)\n")
    (tmp_path / "b.py").write_text("print([1, 2, 3])\n")
    run = [sys.executable, "-m", "lstm_viz", "corpus"]
    done = subprocess.run(run + ["trace", "--demo", "char_python", "--text",
                                 str(tmp_path / "a.py"), str(tmp_path / "b.py"), "--out",
                                 str(tmp_path / "c.zarr")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 documents, 46 tokens" in done.stdout
    done = subprocess.run(run + ["top", str(tmp_path / "c.zarr"), "--unit", "37", "--k", "3",
                                 "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert len(records) == 3 and {"position", "doc", "value", "context"} <= set(records[0])
    done = subprocess.run(run + ["top", str(tmp_path / "c.zarr"), "--unit", "500"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "lstm-viz: error: unit 500 is out of range: h has 128 units (0..127)"]


def test_several_runs_traced_at_once_on_dask_threads_give_the_same_arrays(tmp_path):
    model, docs = _model(7, num_layers=2), _docs(9, n=10)
    one = corpus.trace_corpus(model, docs, tmp_path / "one.zarr", batch_tokens=30)
    two = corpus.trace_corpus(model, docs, tmp_path / "two.zarr", batch_tokens=30, workers=2)
    assert two.complete and len(two.root.attrs["segments_done"]) > 2
    for name in ("h/l1", "c/l0", "gates/l1"):
        np.testing.assert_allclose(two.root[name][:], one.root[name][:], atol=1e-3)
