"""A long input in bounded memory: a windowed Session against a plain nn.LSTM forward.

Hidden 512, batch 1, one layer, ``--steps`` steps (default 200 000). Prints:
- the first pass (the Session's trace: states every 256 steps, the overview and the first
  window) against nn.LSTM over the whole input, alternating, best and median of ``--repeat``;
- seeking to a step outside the traced window (a new window is traced from the nearest kept
  state) and inside it (indexing), p50 / p95 / max over ``--seeks`` seeks, with values_at;
- the peak memory growth of the first pass (Linux VmHWM, reset through /proc/self/clear_refs)
  against the memory budget.
Targets: first pass <= 1.5x nn.LSTM; seek p95 <= 100 ms to a new window, <= 16 ms inside.

    python benchmarks/bench_long.py [--steps 200000] [--repeat 3] [--seeks 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

import torch

from lstm_viz import DEFAULT_MEMORY_BUDGET, InputSpec, LSTMConfig, Session, check_budget


def _rss(key: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _pcts(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return (f"p50 {statistics.median(xs) * 1e3:7.1f} ms  p95 {p95 * 1e3:7.1f} ms"
            f"  max {xs[-1] * 1e3:7.1f} ms  (n={len(xs)})"), p95  # type: ignore[return-value]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeks", type=int, default=30)
    ap.add_argument("--window", type=int, default=1024, help="steps a window holds")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--budget", type=int, default=DEFAULT_MEMORY_BUDGET,
                    help="bytes (lowered below a full trace's need for a short --steps)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LSTMConfig(input_size=args.input_size, hidden_size=args.hidden)
    spec = InputSpec(seq_len=args.steps, batch_size=1)
    full = check_budget(cfg, 1, args.steps, budget=1 << 62)
    if full <= args.budget:  # a short run: a budget just under the full trace, to window it
        args.budget = full - 1
    session = Session(cfg, spec, memory_budget=args.budget)
    session.window_size = args.window
    x = session.input
    lstm = session.lstm
    with torch.no_grad():
        lstm(x[:64])
    rng = random.Random(0)

    ref_s, first_s = [], []
    peak = None
    for i in range(max(1, args.repeat)):
        with torch.no_grad():
            start = time.perf_counter()
            lstm(x)
            ref_s.append(time.perf_counter() - start)
        session.trace = None
        base = _rss("VmRSS")
        can_peak = _reset_peak()
        start = time.perf_counter()
        session.retrace()
        first_s.append(time.perf_counter() - start)
        if can_peak and i == 0:
            peak = _rss("VmHWM") - base
    tr = session.trace
    assert tr is not None and tr.checkpoints is not None
    windowed = tr.windowed

    T = session.num_steps
    far, near = [], []
    for _ in range(max(1, args.seeks)):
        lo, hi = session.window
        t = rng.randrange(T)
        while lo - 2 * args.window <= t < hi + 2 * args.window:  # a window not yet traced
            t = rng.randrange(T)
        start = time.perf_counter()
        session.seek(t)
        session.values_at()
        far.append(time.perf_counter() - start)
        lo, hi = session.window
        t_in = rng.randrange(lo, hi)
        start = time.perf_counter()
        session.seek(t_in)
        session.values_at()
        near.append(time.perf_counter() - start)

    ratios = [f / r for f, r in zip(first_s, ref_s)]
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} steps={T}"
          f" input={args.input_size} hidden={args.hidden} batch=1 layers=1"
          f" window={args.window} every={tr.checkpoints.every}"
          f" buckets={tr.checkpoints.overview.num_buckets} windowed={windowed}"
          f" first-pass method={tr.checkpoints.method}")
    print("(a shared machine: 2 CPU cores under other load; compare ratios, not seconds)")
    print(f"nn.LSTM forward      best {min(ref_s):8.2f} s  median {statistics.median(ref_s):8.2f} s"
          f"  ({min(ref_s) / T * 1e6:.0f} us/step)")
    print(f"first pass (session) best {min(first_s):8.2f} s  median"
          f" {statistics.median(first_s):8.2f} s")
    print(f"ratio first pass / nn.LSTM: best {min(ratios):.2f}x  median"
          f" {statistics.median(ratios):.2f}x  worst {max(ratios):.2f}x   target <= 1.5x")
    far_txt, far95 = _pcts(far)
    near_txt, near95 = _pcts(near)
    print(f"seek to a new window:    {far_txt}   target p95 <= 100 ms")
    print(f"seek inside the window:  {near_txt}   target p95 <= 16 ms")
    steps_per_seek = args.window + tr.checkpoints.every
    print(f"  (a new window traces up to {steps_per_seek} steps; nn.LSTM alone needs"
          f" {min(ref_s) / T * steps_per_seek * 1e3:.0f} ms for that many here)")
    kept = tr.checkpoints.nbytes + tr.nbytes
    if peak is not None:
        print(f"peak memory growth of the first pass {peak / 2**20:8.1f} MiB; kept afterwards"
              f" {kept / 2**20:.1f} MiB; budget {args.budget / 2**20:.0f} MiB"
              f" -> {'within' if peak <= args.budget else 'OVER'} the budget")
    print(json.dumps({"steps": T, "ratio_best": round(min(ratios), 3),
                      "ratio_median": round(statistics.median(ratios), 3),
                      "seek_new_p95_ms": round(far95 * 1e3, 1),
                      "seek_inside_p95_ms": round(near95 * 1e3, 2),
                      "peak_mib": None if peak is None else round(peak / 2**20, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
