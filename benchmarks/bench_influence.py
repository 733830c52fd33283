"""Time an influence map against a plain nn.LSTM forward + backward, side by side in one process.

The map: a 1-layer LSTM (input 32, hidden 256), T = 1000 steps, batch 1, the gradient of h[0]
at the last step with respect to every input step, h and c. The reference: nn.LSTM's own
forward and the backward of the same value to its input (what autograd through the fused
kernel costs; it gives ∂/∂x only, not the states). The two alternate, ``--repeat`` times each,
and the median and spread (min..max) of each are printed. Memory: each is run once more in a
fresh subprocess, whose peak RSS growth (Linux VmHWM) is printed next to influence's estimate.

    python benchmarks/bench_influence.py [--repeat 9] [--device cpu] [--steps 1000] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from lstm_viz import LSTMConfig, check_influence_budget, influence

INPUT, HIDDEN, BATCH = 32, 256, 1

_PEAK_SCRIPT = """
import json, sys, torch
from lstm_viz import influence
which, T, device, (n_in, hidden, batch), threads = json.loads(sys.argv[1])
if threads:
    torch.set_num_threads(threads)
def rss(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0
torch.manual_seed(0)
lstm = torch.nn.LSTM(n_in, hidden).to(device).eval()
x = torch.randn(T, batch, n_in, device=device)
def run(x):
    if which == 'influence':
        influence(lstm, x, t=x.shape[0] - 1, unit=0)
    else:
        xl = x.clone().requires_grad_(True)
        lstm(xl)[0][-1, 0, 0].backward()
run(x[:3])  # load the kernels on a short input
if device == 'cuda':
    torch.cuda.reset_peak_memory_stats()
base = rss('VmRSS')
run(x)
cuda = torch.cuda.max_memory_allocated() if device == 'cuda' else 0
print(json.dumps({'peak_growth': rss('VmHWM') - base, 'cuda_peak': cuda}))
"""


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _peak(which: str, steps: int, device: str, threads: int) -> dict:
    spec = [which, steps, device, [INPUT, HIDDEN, BATCH], threads]
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, json.dumps(spec)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads for both sides (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    T, device = args.steps, args.device
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(INPUT, HIDDEN).to(device).eval()
    x = torch.randn(T, BATCH, INPUT, device=device)

    def run_influence() -> None:
        influence(lstm, x, t=T - 1, unit=0)
        _sync(device)

    def run_nn_lstm() -> None:
        xl = x.clone().requires_grad_(True)
        lstm(xl)[0][-1, 0, 0].backward()
        _sync(device)

    times: dict[str, list[float]] = {"influence": [], "nn.LSTM fwd+bwd": []}
    for fn in (run_influence, run_nn_lstm):  # warm-up
        fn()
    for _ in range(args.repeat):
        for name, fn in (("influence", run_influence), ("nn.LSTM fwd+bwd", run_nn_lstm)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    estimate = check_influence_budget(LSTMConfig(INPUT, HIDDEN), BATCH, T)
    print(f"1-layer LSTM input {INPUT}, hidden {HIDDEN}, T {T}, batch {BATCH}, {device},"
          f" torch {torch.__version__}, {torch.get_num_threads()} threads,"
          f" {args.repeat} runs each")
    print(f"{'':18s} {'median':>9s} {'min..max':>19s} {'peak RSS growth':>16s}")
    figures = {}
    for name, key in (("influence", "influence"), ("nn.LSTM fwd+bwd", "nn_lstm")):
        ts = times[name]
        peak = _peak(key, T, device, args.threads)
        figures[key] = dict(median_s=statistics.median(ts), min_s=min(ts), max_s=max(ts),
                            **peak)
        extra = f"  (cuda peak {_mib(peak['cuda_peak'])})" if device == "cuda" else ""
        print(f"{name:18s} {statistics.median(ts) * 1e3:7.1f}ms"
              f" {min(ts) * 1e3:8.1f}..{max(ts) * 1e3:7.1f}ms"
              f" {_mib(peak['peak_growth']):>16s}{extra}")
    ratio = figures["influence"]["median_s"] / figures["nn_lstm"]["median_s"]
    print(f"influence / nn.LSTM fwd+bwd: {ratio:.2f}x (median); influence's memory estimate:"
          f" {_mib(estimate)}")
    print(json.dumps(dict(figures, ratio=ratio, estimate_bytes=estimate)))


if __name__ == "__main__":
    main()
