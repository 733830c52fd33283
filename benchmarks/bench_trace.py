"""Time lstm_viz.trace against a plain nn.LSTM forward, side by side in one process.

Prints a table, then (last line) the trace/nn.LSTM time ratios as JSON.
Targets: <= 1.3x on the large config, <= 2x on the others. Also reports the trace's peak
memory (tracemalloc can't see torch's allocator, so we measure bytes held by the result and
the process's peak RSS growth) against ``estimate_trace_bytes``.

    python benchmarks/bench_trace.py [--repeat 5] [--device cpu] [--method auto|loop|fused]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import torch

from lstm_viz import LSTMConfig, estimate_trace_bytes, trace

CONFIGS = [
    ("large", dict(input_size=128, hidden_size=512), 500, 32),
    ("bidir2", dict(input_size=64, hidden_size=256, num_layers=2, bidirectional=True), 200, 16),
    ("small", dict(input_size=8, hidden_size=32), 100, 4),
    ("proj", dict(input_size=64, hidden_size=256, proj_size=64, num_layers=2), 200, 16),
]
TARGETS = {"large": 1.3}
DEFAULT_TARGET = 2.0


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, repeat: int, device: str) -> float:
    fn()  # warm up
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--method", default="auto", choices=["auto", "loop", "fused"])
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    rows, ratios = [], {}
    for name, kw, T, B in CONFIGS:
        cfg = LSTMConfig(**kw)
        lstm = cfg.build(device=args.device).eval()
        x = torch.randn(T, B, cfg.input_size, device=args.device)
        # Interleave the two so that machine noise hits both alike.
        t_ref, t_trace = [], []
        for _ in range(args.repeat):
            with torch.no_grad():
                t_ref.append(_time(lambda: lstm(x), 1, args.device))
            t_trace.append(_time(lambda: trace(lstm, x, method=args.method), 1, args.device))
        ref, tr = statistics.median(t_ref), statistics.median(t_trace)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result = trace(lstm, x, method=args.method)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        est = estimate_trace_bytes(cfg, B, T)
        ratio = tr / ref
        ratios[name] = round(ratio, 3)
        target = TARGETS.get(name, DEFAULT_TARGET)
        rows.append((name, f"T={T} B={B}", result.method, ref * 1e3, tr * 1e3, ratio, target,
                     result.nbytes / 2**20, est / 2**20, max(0, rss1 - rss0) / 2**20))
    head = ("config", "size", "method", "nn.LSTM ms", "trace ms", "ratio", "target",
            "kept MiB", "estimate MiB", "peak RSS growth MiB")
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()}")
    print(" | ".join(head))
    for r in rows:
        print(f"{r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f}x | <={r[6]}x"
              f" | {r[7]:.1f} | {r[8]:.1f} | {r[9]:.1f}")
    misses = [r[0] for r in rows if r[5] > r[6]]
    print(("all targets met" if not misses else f"targets missed: {', '.join(misses)}"),
          file=sys.stderr)
    print(json.dumps(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
