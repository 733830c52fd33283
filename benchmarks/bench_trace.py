"""Time lstm_viz.trace against a plain nn.LSTM forward, side by side in one process.

Prints a table, then (last line) the trace/nn.LSTM time ratios as JSON.
Targets: <= 1.3x on the large config, <= 2x on the others (nn.LSTM itself is 1.0x).
Timing: the two calls alternate, and each figure is the best of ``--repeat`` runs, so that
noise from other processes hits both alike. Memory: each config is traced once more in a
fresh subprocess, whose peak RSS growth (Linux VmHWM) is compared with check_budget's estimate.

    python benchmarks/bench_trace.py [--repeat 7] [--device cpu] [--method auto|loop|fused]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

# As the app does (app/cli.py): torch's large CPU buffers on transparent huge pages, for both
# sides. Set LSTM_VIZ_BENCH_THP=0 to measure without.
if os.environ.get("LSTM_VIZ_BENCH_THP", "1") == "1":
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch  # noqa: E402

from lstm_viz import LSTMConfig, check_budget, trace  # noqa: E402

CONFIGS = [
    ("large", dict(input_size=128, hidden_size=512), 500, 32),
    ("bidir2", dict(input_size=64, hidden_size=256, num_layers=2, bidirectional=True), 200, 16),
    ("small", dict(input_size=8, hidden_size=32), 100, 4),
    ("proj", dict(input_size=64, hidden_size=256, proj_size=64, num_layers=2), 200, 16),
]
TARGETS = {"large": 1.3}
DEFAULT_TARGET = 2.0

_PEAK_SCRIPT = """
import json, sys, torch, warnings
warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
from lstm_viz import LSTMConfig, trace
kw, T, B, device, method = json.loads(sys.argv[1])
def rss(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0
cfg = LSTMConfig(**kw)
lstm = cfg.build(device=device).eval()
x = torch.randn(T, B, cfg.input_size, device=device)
with torch.no_grad():
    lstm(x)
trace(lstm, x[:2], method=method)  # load the kernels trace uses, on a 2-step input
base = rss('VmRSS')
tr = trace(lstm, x, method=method)
print(json.dumps({'peak_growth': rss('VmHWM') - base, 'kept': tr.nbytes}))
"""


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _once(fn, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _measure(lstm, x, repeat: int, device: str, method: str) -> tuple[float, float, str]:
    """Best-of-``repeat`` seconds for nn.LSTM and for trace, alternating the two."""
    def ref():
        with torch.no_grad():
            lstm(x)

    def ours():
        return trace(lstm, x, method=method)

    ref()
    used = ours().method  # warm-up of both
    t_ref = t_ours = float("inf")
    for _ in range(max(1, repeat)):
        t_ref = min(t_ref, _once(ref, device))
        t_ours = min(t_ours, _once(ours, device))
    return t_ref, t_ours, used


def _peak(kw, T, B, device, method) -> int | None:
    if not sys.platform.startswith("linux") or device != "cpu":
        return None
    res = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT,
                          json.dumps([kw, T, B, device, method])],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_growth"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--method", default="auto", choices=["auto", "loop", "fused"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows, ratios = [], {}
    for name, kw, T, B in CONFIGS:
        cfg = LSTMConfig(**kw)
        lstm = cfg.build(device=args.device).eval()
        x = torch.randn(T, B, cfg.input_size, device=args.device)
        t_ref, t_ours, used = _measure(lstm, x, args.repeat, args.device, args.method)
        ratio = t_ours / t_ref
        ratios[name] = round(ratio, 3)
        est = check_budget(cfg, B, T)  # the trace plus the weights (module and snapshot)
        peak = _peak(kw, T, B, args.device, args.method)
        rows.append(dict(name=name, size=f"L={cfg.num_layers} D={cfg.num_directions}"
                         f" in={cfg.input_size} H={cfg.hidden_size} T={T} B={B}",
                         method=used, ref_ms=t_ref * 1e3, trace_ms=t_ours * 1e3, ratio=ratio,
                         target=TARGETS.get(name, DEFAULT_TARGET), est_mib=est / 2**20,
                         peak_mib=None if peak is None else peak / 2**20))
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()}"
          f" repeat={args.repeat} (best of)"
          f" THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '0')}")
    print(f"{'config':<7} {'size':<38} {'method':<6} {'nn.LSTM ms':>10} {'trace ms':>9}"
          f" {'ratio':>6} {'target':>7} {'estimate MiB':>12} {'peak MiB':>9}")
    for r in rows:
        peak = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.1f}"
        print(f"{r['name']:<7} {r['size']:<38} {r['method']:<6} {r['ref_ms']:>10.2f}"
              f" {r['trace_ms']:>9.2f} {r['ratio']:>5.2f}x {'<=' + str(r['target']) + 'x':>7}"
              f" {r['est_mib']:>12.1f} {peak:>9}")
    misses = [f"{r['name']} ({r['ratio']:.2f}x > {r['target']}x)" for r in rows
              if r["ratio"] > r["target"]]
    over = [r["name"] for r in rows if r["peak_mib"] is not None and r["peak_mib"] > r["est_mib"]]
    print("targets missed: " + ", ".join(misses) if misses else "all time targets met")
    print("peak above estimate: " + ", ".join(over) if over else "peak memory within estimate")
    print(json.dumps(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
