"""A corpus traced into a store against a plain nn.LSTM forward over the same documents.

The character demo reads Python source (this interpreter's standard library, as many files as
reach ``--tokens`` characters, one document per 20 000 characters of a file). Measured, and
printed as a markdown table: the corpus trace's throughput and a plain ``nn.LSTM`` forward's over
the same packed batches, side by side in each of ``--repeats`` runs, with the median ratio and
its spread (target >= 0.8); the peak memory the trace adds (Linux VmHWM, reset before each
trace) against the memory budget, and the process's peak; the store's size on disk; and the
p50/p95 of ``top`` and ``match`` queries on the store (target p95 < 1 s). ``--cluster`` traces
the corpus once more on a local dask.distributed cluster of two worker processes and compares
every chunk row of every array: bit for bit where each chunk ran the same method with the same
thread count (this module's runs and the workers' all trace with ``corpus.TRACE_THREADS``),
else within the stored dtype's tolerance; the table says which.

    python benchmarks/bench_corpus.py [--tokens 10000000] [--repeats 3] [--cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_viz import corpus
from lstm_viz.tracing.budget import DEFAULT_MEMORY_BUDGET

DOC_CHARS = 20_000  # the longest document: a module's first 20 000 characters, then the next


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sources(tokens: int, folder: Path) -> list[Path]:
    """Standard-library files copied into ``folder`` until they hold ``tokens`` characters
    (repeating the list when the library is smaller)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in lib.glob("*.py") if p.stat().st_size > 2000)
    out, total, n = [], 0, 0
    while total < tokens:
        src = files[n % len(files)]
        text = src.read_text(encoding="utf-8", errors="replace")
        text = "".join(ch for ch in text if ch.isascii())[: tokens - total]
        for part in range(0, len(text), DOC_CHARS):  # a long module as several documents
            dst = folder / f"{n:05d}_{part // DOC_CHARS:02d}_{src.name}"
            dst.write_text(text[part:part + DOC_CHARS], encoding="utf-8")
            out.append(dst)
        total += len(text)
        n += 1
    return out


def _plain_forward(model: corpus.CorpusModel, docs: corpus.Documents, batch_tokens: int,
                   threads: int) -> float:
    """Seconds for nn.LSTM over the same packed batches (embedding lookup included), with
    ``threads`` torch threads."""
    lengths = docs.lengths()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    with torch.no_grad():
        for batch in corpus._batches(lengths, batch_tokens):
            ids = [docs.token_ids[i] for i in batch]
            T = max(len(d) for d in ids)
            x = torch.zeros(T, len(ids), model.embedding.shape[1])
            for b, d in enumerate(ids):
                x[: len(d), b] = model.embedding[torch.from_numpy(d.astype(np.int64))]
            model.lstm(pack_padded_sequence(x, torch.tensor([len(d) for d in ids]),
                                            enforce_sorted=False))
    return time.perf_counter() - start


def _queries(store: corpus.CorpusStore, n: int, seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    width = store.config.h_out
    times: dict[str, list[float]] = {"top": [], "match": []}
    for _ in range(n):
        unit = int(rng.integers(width))
        t0 = time.perf_counter()
        store.top(unit, k=10, sign=str(rng.choice(["pos", "neg"])))
        times["top"].append(time.perf_counter() - t0)
        on = [int(u) for u in rng.choice(width, 2, replace=False)]
        t0 = time.perf_counter()
        store.match(on, threshold=float(rng.uniform(0.3, 0.8)), min_len=3, limit=50)
        times["match"].append(time.perf_counter() - t0)
    return times


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _status(field: str) -> int:
    """A field of /proc/self/status in bytes (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _compare(here: corpus.CorpusStore, there: corpus.CorpusStore) -> tuple[str, bool]:
    """Every chunk row of every state array of two stores: a line for the table, and whether
    they agree (bit for bit, or within the stored dtype's tolerance)."""
    names = corpus._state_names(here.config)
    rows = equal = 0
    worst = 0.0
    for name in names:
        a_arr, b_arr = here.root[name], there.root[name]
        for a, b in corpus._chunks(here.n_tokens, here.chunk_tokens):
            x, y = np.asarray(a_arr[a:b]), np.asarray(b_arr[a:b])
            rows += 1
            if np.array_equal(x, y, equal_nan=True):
                equal += 1
            else:
                worst = max(worst, float(np.nanmax(np.abs(x.astype(np.float64) - y))))
    dtype = here.attrs.get("dtype")
    tolerance = 1e-5 if dtype == "float32" else 2 * float(np.finfo(np.float16).eps)
    if equal == rows:
        return (f"equal bit for bit: all {rows} chunk rows of {len(names)} arrays (here and on"
                f" the workers: method {here.attrs.get('method')}, {corpus.TRACE_THREADS}"
                " torch thread per trace)",
                True)
    verdict = "within" if worst <= tolerance else "OUTSIDE"
    return (f"{rows - equal} of {rows} chunk rows differ, max abs difference {worst:.1e},"
            f" {verdict} the {dtype} tolerance {tolerance:.0e}", worst <= tolerance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads tried for the plain nn.LSTM forward (and 1)")
    parser.add_argument("--repeats", type=int, default=3, help="trace and forward runs")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--method", default="auto", help="lstm_viz.trace's method")
    parser.add_argument("--cluster", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    model = corpus.model_from_demo("char_python")
    work = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    rows: list[tuple[str, str, str]] = []
    result: dict = {}
    try:
        files = _sources(args.tokens, work)
        docs = corpus.text_documents(files, model.vocab, tokenizer="characters")
        n = int(docs.lengths().sum())
        batch_tokens = 1 << 15
        # what loads once (zarr, dask, the compiled loop and its check) is loaded before timing
        warm = corpus.Documents(token_ids=[docs.token_ids[0][:200]], names=["warm"],
                                vocab=docs.vocab, tokenizer=docs.tokenizer)
        corpus.trace_corpus(model, warm, work / "warm.zarr")
        ratios, traced_s, plain_s, added = [], [], [], []
        # nn.LSTM with the faster of one thread and --threads (one often is for small batches)
        tried = {count: _plain_forward(model, docs, batch_tokens, count)
                 for count in sorted({1, args.threads})}
        plain_threads = min(tried, key=lambda count: tried[count])
        store = None
        for run in range(max(1, args.repeats)):
            out = work / f"c{run}.zarr"
            before = _plain_forward(model, docs, batch_tokens, plain_threads)
            base = _status("VmRSS")
            measured = _reset_peak()
            start = time.perf_counter()
            store = corpus.trace_corpus(model, docs, out, batch_tokens=batch_tokens,
                                        method=args.method)
            traced = time.perf_counter() - start
            if measured:
                added.append(_status("VmHWM") - base)
            after = _plain_forward(model, docs, batch_tokens, plain_threads)
            plain = min(before, after)
            ratios.append(plain / traced)
            traced_s.append(traced)
            plain_s.append(plain)
            if run < args.repeats - 1:
                shutil.rmtree(out)
        assert store is not None
        size = sum(f.stat().st_size for f in store.path.rglob("*") if f.is_file())
        budget = DEFAULT_MEMORY_BUDGET
        med = float(np.median(ratios))
        rows += [
            ("machine", f"{_cpu()}, {os.cpu_count()} cores, load {load:.2f} at the start", ""),
            ("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ""),
            ("software", f"torch {torch.__version__} (nn.LSTM: {plain_threads} thread(s), the"
                         f" faster of 1 and {args.threads}; the corpus trace:"
                         f" {corpus.TRACE_THREADS} per trace and one writer thread), method"
                         f" {args.method}" + (f", which chose {store.attrs.get('method')}"
                                              if args.method == "auto" else ""), ""),
            ("corpus", f"{len(docs):,} documents, {n:,} characters", ""),
            ("nn.LSTM forward", f"{n / float(np.median(plain_s)):,.0f} tokens/s (median,"
                                " best of before and after each trace)", ""),
            ("corpus trace", f"{n / float(np.median(traced_s)):,.0f} tokens/s (median; store"
                             " written and summarized)", ""),
            ("throughput ratio", f"{med:.2f}x nn.LSTM (median of {len(ratios)}; spread"
                                 f" {min(ratios):.2f} to {max(ratios):.2f})", ">= 0.8x"),
            ("store", f"{size / 2**20:,.0f} MiB on disk (float16, compressed;"
                      f" {store.chunk_tokens} tokens per chunk)", ""),
        ]
        peak = _status("VmHWM") if not added else max(added)
        rows.append(("peak memory", (f"{max(added) / 2**20:,.0f} MiB added by the trace"
                                     if added else "not measured (no /proc/self/clear_refs)")
                     + f"; process peak {_status('VmHWM') / 2**20:,.0f} MiB"
                     f" (torch and the documents included)",
                     f"<= {budget / 2**20:,.0f} MiB budget"))
        times = _queries(store, args.queries, 0)
        for name, values in times.items():
            rows.append((f"{name} query", f"p95 {_p(values, 95) * 1e3:,.0f} ms, p50"
                                          f" {_p(values, 50) * 1e3:,.0f} ms ({len(values)}"
                                          " queries)", "p95 < 1000 ms"))
        result = {"tokens": n, "ratio_median": med, "ratios": ratios,
                  "top_p95_s": _p(times["top"], 95), "match_p95_s": _p(times["match"], 95),
                  "store_mib": size / 2**20, "peak_added_mib": peak / 2**20}
        if args.cluster:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                start = time.perf_counter()
                there = corpus.trace_corpus(model, docs, work / "cluster.zarr",
                                            batch_tokens=batch_tokens, method=args.method,
                                            scheduler=cluster.scheduler_address)
                took = time.perf_counter() - start
            line, agree = _compare(store, there)
            rows.append(("local cluster, 2 worker processes", f"{n / took:,.0f} tokens/s;"
                                                                f" arrays {line}", "same arrays"))
            result["cluster_agrees"] = agree
        print("| measure | value | target |\n|---|---|---|")
        for name, value, target in rows:
            print(f"| {name} | {value} | {target} |")
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
