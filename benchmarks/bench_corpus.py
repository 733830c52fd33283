"""A corpus traced into a store against a plain nn.LSTM forward over the same documents.

The character demo reads Python source (this interpreter's standard library, as many files as
reach ``--tokens`` characters, one document per 20 000 characters of a file). Printed: the
machine and its load; the corpus trace's throughput and a plain ``nn.LSTM`` forward's over the
same packed batches, side by side, with their ratio (target >= 0.8); peak memory (Linux VmHWM)
against the memory budget; the store's size on disk; and the p50/p95 of ``top`` and ``match``
queries on the store (target p95 < 1 s). ``--cluster`` traces the corpus once more on a local
dask.distributed cluster of two worker processes and compares the arrays.

    python benchmarks/bench_corpus.py [--tokens 10000000] [--threads 2] [--cluster]
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


def _peak_rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


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


def _plain_forward(model: corpus.CorpusModel, docs: corpus.Documents, batch_tokens: int
                   ) -> float:
    """Seconds for nn.LSTM over the same packed batches (embedding lookup included)."""
    lengths = docs.lengths()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--cluster", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f};"
          f" torch {torch.__version__}, {args.threads} threads")
    model = corpus.model_from_demo("char_python")
    work = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        files = _sources(args.tokens, work)
        docs = corpus.text_documents(files, model.vocab, tokenizer="characters")
        n = int(docs.lengths().sum())
        print(f"corpus: {len(docs)} documents, {n:,} characters")
        batch_tokens = 1 << 15
        plain = _plain_forward(model, docs, batch_tokens)
        start = time.perf_counter()
        store = corpus.trace_corpus(model, docs, work / "c.zarr", batch_tokens=batch_tokens)
        traced = time.perf_counter() - start
        plain_again = _plain_forward(model, docs, batch_tokens)
        plain = min(plain, plain_again)
        size = sum(f.stat().st_size for f in (work / "c.zarr").rglob("*") if f.is_file())
        print(f"nn.LSTM forward: {n / plain:,.0f} tokens/s ({plain:.1f} s, best of two,"
              " before and after the trace)")
        print(f"corpus trace:    {n / traced:,.0f} tokens/s ({traced:.1f} s, store written and"
              f" summarized): {plain / traced:.2f}x nn.LSTM's throughput (target >= 0.8)")
        budget_mib = DEFAULT_MEMORY_BUDGET / 2**20
        print(f"peak memory {_peak_rss() / 2**20:,.0f} MiB (budget {budget_mib:,.0f} MiB for"
              f" the traces in flight); store {size / 2**20:,.0f} MiB on disk (float16,"
              " compressed)")
        times = _queries(store, args.queries, 0)
        for name, values in times.items():
            print(f"{name}: p50 {_p(values, 50) * 1e3:.0f} ms, p95 {_p(values, 95) * 1e3:.0f} ms"
                  f" over {len(values)} queries (target p95 < 1000 ms)")
        result = {"tokens": n, "ratio": plain / traced, "top_p95_s": _p(times["top"], 95),
                  "match_p95_s": _p(times["match"], 95), "store_mib": size / 2**20}
        if args.cluster:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                start = time.perf_counter()
                there = corpus.trace_corpus(model, docs, work / "cluster.zarr",
                                            batch_tokens=batch_tokens,
                                            scheduler=cluster.scheduler_address)
                took = time.perf_counter() - start
            equal = all(np.array_equal(there.root[k][:], store.root[k][:])
                        for k in ("h/l0", "c/l0", "gates/l0"))
            print(f"local cluster, 2 workers x 1 thread: {n / took:,.0f} tokens/s;"
                  f" arrays {'equal bit for bit' if equal else 'differ'} (here: one batch at a"
                  f" time with {args.threads} threads, there: 1 thread per batch)")
            result["cluster_equal"] = equal
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
