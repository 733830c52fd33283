"""Time lstm_viz.trace against a plain nn.LSTM forward, side by side in one process.

Prints the machine's load and CPU model, a table (per config: the trace method and its kernels,
both times, the trace/nn.LSTM ratio as the median and min-max over ``--repeat`` alternating
pairs, and the first trace's ratio, which for ``--method auto`` includes measuring the candidate
methods as a new user's first trace of that size does), why each method was chosen, then where
the large config's trace spends its time (matmuls, element-wise work (torch's or the compiled
step's), the C loop (recurrent GEMM and element-wise work of runs of steps), copies, other torch
calls, Python between them; page faults of the trace and of nn.LSTM), and on its last line the
median ratios as JSON (``<config>_first``: the first trace's; on a GPU also
``<config>_layered`` and ``<config>_edit_graph``, ``_edit_steps``, ``_edit_layered``: a trace
with one what-if edit by each route). Targets: <= 1.3x large, <= 1.5x
two-layer bidirectional, <= 2x the others and every first trace (nn.LSTM itself is 1.0x).
Memory: each config is traced once more in a fresh
subprocess, whose peak RSS growth (Linux VmHWM) is compared with check_budget's estimate.

    python benchmarks/bench_trace.py [--repeat 15] [--threads 2]
                                     [--method auto|loop|torch|fused|layered]
                                     [--thp] [--device cpu]

``--thp`` puts torch's large CPU buffers on transparent huge pages for both sides
(THP_MEM_ALLOC_ENABLE=1, read by torch when it loads); without it the figures are what a
library user and the app get.

The loop's steps are compiled (``step=native_loop_avx2`` in the method column) where they
build; ``LSTM_VIZ_NATIVE=0`` measures the torch calls they fall back to.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

if "--thp" in sys.argv[1:]:  # read by torch when it loads
    os.environ["THP_MEM_ALLOC_ENABLE"] = "1"

import torch  # noqa: E402

from lstm_viz import LSTMConfig, check_budget, trace  # noqa: E402
from lstm_viz.tracing import _native, method_choice  # noqa: E402

CONFIGS = [
    ("large", dict(input_size=128, hidden_size=512), 500, 32),
    ("bidir2", dict(input_size=64, hidden_size=256, num_layers=2, bidirectional=True), 200, 16),
    ("small", dict(input_size=8, hidden_size=32), 100, 4),
    ("proj", dict(input_size=64, hidden_size=256, proj_size=64, num_layers=2), 200, 16),
]
TARGETS = {"large": 1.3, "bidir2": 1.5}
DEFAULT_TARGET = 2.0
# Torch ops by what they do, for the time breakdown (self CPU time under torch.profiler).
MATMULS = {"mkldnn::_linear_pointwise", "mkl::_mkl_linear", "aten::addmm", "aten::addmm_",
           "aten::mm", "aten::lstm", "aten::mkldnn_rnn_layer", "aten::_thnn_fused_lstm_cell",
           "mkldnn::_reorder_linear_weight", "mkl::_mkl_reorder_linear_weight"}
ELEMENTWISE = {"aten::sigmoid_", "aten::sigmoid", "aten::tanh_", "aten::tanh", "aten::mul",
               "aten::mul_", "aten::add", "aten::add_", "aten::addcmul", "aten::addcmul_",
               "aten::sub", "aten::where", "aten::masked_fill_", "lstm_viz::native_step",
               "lstm_viz::native_scan"}
NATIVE_STEP = "lstm_viz::native_step"  # the compiled code's calls, recorded for the breakdown
NATIVE_LOOP = "lstm_viz::native_loop"  # runs of steps in C: recurrent GEMM and element-wise
NATIVE_SCAN = "lstm_viz::native_scan"  # the layered method's cell-state scan in C
COPIES = {"aten::copy_", "aten::clone", "aten::cat", "aten::stack", "aten::index",
          "aten::gather", "aten::flip", "aten::contiguous", "aten::_to_copy",
          "aten::index_put_", "aten::empty", "aten::empty_strided", "aten::empty_like",
          "aten::zeros", "aten::new_empty", "aten::fill_", "aten::zero_"}

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


@contextlib.contextmanager
def _no_chosen_method():
    """Traces in here choose their method as on a machine that has not chosen one yet (this
    process's choices forgotten, the user's cache file not read; a new choice is still kept)."""
    saved = method_choice._read_cache
    method_choice.forget()
    method_choice._read_cache = dict
    try:
        yield
    finally:
        method_choice._read_cache = saved


def _measure(lstm, x, repeat: int, device: str, method: str
             ) -> tuple[float, list[float], list[float], dict]:
    """Seconds of the first trace (with ``auto``, measuring the methods included), then of
    ``repeat`` nn.LSTM calls and ``repeat`` traces, alternating the two, and the last trace's
    method, kernels and why that method."""
    def ref():
        with torch.no_grad():
            lstm(x)

    def ours():
        return trace(lstm, x, method=method)

    ref()  # warm-up of nn.LSTM; the trace's first call is timed as it is
    with _no_chosen_method():
        t_first = _once(ours, device)
    tr = ours()
    t_ref, t_ours = [], []
    for _ in range(max(1, repeat)):
        t_ref.append(_once(ref, device))
        t_ours.append(_once(ours, device))
    return t_first, t_ref, t_ours, dict(method=tr.method, kernels=tr.meta.get("kernels", ""),
                                        why=tr.meta.get("method_why", ""))


def _gpu_routes(lstm, x, repeat: int, ref_ms: float) -> dict[str, float]:
    """On a CUDA device: the median ms of the layered route, and of a trace with one what-if
    edit halfway (the step loop with runs of steps replayed from a CUDA graph, the same loop
    launched step by step, and the layered route up to the edit with the graph-replayed loop
    from there), each divided by nn.LSTM's (cuDNN's) median ``ref_ms``."""
    from lstm_viz.tracing import _cuda
    from lstm_viz.tracing.edits import StateEdit

    edit = [StateEdit("c", x.shape[0] // 2, 0, 0, 0, 0, 0.5)]
    routes = {"layered": dict(method="layered"),
              "edit_graph": dict(method="torch", overrides=edit),
              "edit_steps": dict(method="torch", overrides=edit, graphs=False),
              "edit_layered": dict(method="layered", overrides=edit)}
    out = {}
    real_pays = _cuda.pays
    for name, kw in routes.items():
        graphs = kw.pop("graphs", True)
        _cuda.pays = real_pays if graphs else (lambda x, T: False)
        try:
            trace(lstm, x, **kw)  # warm-up (and the graph's capture, which each trace repeats)
            times = [_once(lambda kw=kw: trace(lstm, x, **kw), x.device.type)
                     for _ in range(repeat)]
        finally:
            _cuda.pays = real_pays
        out[name] = statistics.median(times) * 1e3 / ref_ms
    return out


def _faults(fn) -> int:
    """Minor page faults (first touches of fresh memory) while ``fn`` runs."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@contextlib.contextmanager
def _native_recorded():
    """The compiled code's calls, while this runs, as profiler events of their own (a C call is
    otherwise invisible to torch.profiler and would count as Python)."""
    real = _native.native()
    if real is None:
        yield
        return

    def recorded(name, function):
        def call(*args):
            with torch.profiler.record_function(name):
                function(*args)
        return call

    saved = _native.native
    wrapped = dataclasses.replace(
        real, step=recorded(NATIVE_STEP, real.step),
        loop=None if real.loop is None else recorded(NATIVE_LOOP, real.loop),
        scans={dtype: recorded(NATIVE_SCAN, fn) for dtype, fn in real.scans.items()})
    _native.native = lambda: wrapped
    try:
        yield
    finally:
        _native.native = saved


def _breakdown(lstm, x, method: str) -> dict[str, float]:
    """Where one trace spends its time: ms per kind of torch op (self CPU time under
    torch.profiler, which adds a few us per op), the rest of the wall time (Python between
    the ops), and the page faults of the trace and of nn.LSTM."""
    from torch.profiler import ProfilerActivity, profile

    def ref():
        with torch.no_grad():
            lstm(x)

    trace(lstm, x, method=method)
    faults = _faults(lambda: trace(lstm, x, method=method))
    ref_faults = _faults(ref)
    with profile(activities=[ProfilerActivity.CPU]) as prof, _native_recorded():
        start = time.perf_counter()
        trace(lstm, x, method=method)
        wall = time.perf_counter() - start
    kinds = {"matmul": 0.0, "element-wise": 0.0, "C loop": 0.0, "copy/alloc": 0.0,
             "other ops": 0.0}
    for ev in prof.key_averages():
        kind = "matmul" if ev.key in MATMULS else "element-wise" if ev.key in ELEMENTWISE \
            else "C loop" if ev.key == NATIVE_LOOP else "copy/alloc" if ev.key in COPIES \
            else "other ops"
        kinds[kind] += ev.self_cpu_time_total / 1e3
    out = {k: round(v, 2) for k, v in kinds.items()}
    out["python"] = round(max(0.0, wall * 1e3 - sum(kinds.values())), 2)
    out["wall (profiled)"] = round(wall * 1e3, 2)
    out["page faults"] = faults
    out["page faults nn.LSTM"] = ref_faults
    return out


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
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--method", default="auto", choices=["auto", *method_choice.METHODS])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--thp", action="store_true",
                    help="torch's large buffers on transparent huge pages (THP_MEM_ALLOC_ENABLE=1)")
    ap.add_argument("--configs", default=",".join(c[0] for c in CONFIGS),
                    help="comma-separated names of the configs to run")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    wanted = args.configs.split(",")
    rows, ratios, breakdown = [], {}, None
    gpu_rows: list[tuple[str, dict[str, float]]] = []
    if args.device == "cpu":
        _native.native()  # built (or found in the cache) before anything is timed
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    for name, kw, T, B in CONFIGS:
        if name not in wanted:
            continue
        cfg = LSTMConfig(**kw)
        lstm = cfg.build(device=args.device).eval()
        x = torch.randn(T, B, cfg.input_size, device=args.device)
        t_first, t_ref, t_ours, used = _measure(lstm, x, args.repeat, args.device, args.method)
        pair = [o / r for o, r in zip(t_ours, t_ref)]
        ratio = statistics.median(pair)
        first = t_first / statistics.median(t_ref)
        ratios[name] = round(ratio, 3)
        ratios[f"{name}_first"] = round(first, 3)
        if name == "large" and args.device == "cpu":
            breakdown = _breakdown(lstm, x, args.method)
        if args.device.startswith("cuda"):
            gpu = _gpu_routes(lstm, x, args.repeat, statistics.median(t_ref) * 1e3)
            gpu_rows.append((name, gpu))
            ratios.update({f"{name}_{k}": round(v, 3) for k, v in gpu.items()})
        est = check_budget(cfg, B, T)  # the trace plus the weights (module and snapshot)
        peak = _peak(kw, T, B, args.device, args.method)
        rows.append(dict(name=name, size=f"L={cfg.num_layers} D={cfg.num_directions}"
                         f" in={cfg.input_size} H={cfg.hidden_size} T={T} B={B}",
                         ref_ms=statistics.median(t_ref) * 1e3,
                         trace_ms=statistics.median(t_ours) * 1e3, ratio=ratio,
                         lo=min(pair), hi=max(pair), first=first,
                         target=TARGETS.get(name, DEFAULT_TARGET),
                         est_mib=est / 2**20, peak_mib=None if peak is None else peak / 2**20,
                         **used))
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()}"
          f" repeat={args.repeat} (medians; ratio min-max over the alternating pairs)"
          f" THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '0')}")
    if load_before is not None and load_after is not None:
        print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in load_before)} before,"
              f" {' '.join(f'{v:.2f}' for v in load_after)} after, on {os.cpu_count()} CPUs")
    print(f"cpu: {method_choice.cpu_model()}")
    print(f"{'config':<7} {'size':<38} {'nn.LSTM ms':>10} {'trace ms':>9} {'ratio':>6}"
          f" {'min-max':>11} {'target':>7} {'first':>6} {'estimate MiB':>12} {'peak MiB':>9}"
          "  method")
    for r in rows:
        peak = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.1f}"
        print(f"{r['name']:<7} {r['size']:<38} {r['ref_ms']:>10.2f} {r['trace_ms']:>9.2f}"
              f" {r['ratio']:>5.2f}x {r['lo']:>5.2f}-{r['hi']:<5.2f}"
              f" {'<=' + str(r['target']) + 'x':>7} {r['first']:>5.2f}x {r['est_mib']:>12.1f}"
              f" {peak:>9}  {r['method']} ({r['kernels']})")
    for r in rows:
        print(f"{r['name']}: {r['method']}, {r['why']}")
    if gpu_rows:
        print("on the GPU, trace/nn.LSTM (cuDNN): layered route; one what-if edit halfway:"
              " step loop replayed from a CUDA graph, the same loop step by step, layered route"
              " up to the edit then the graph-replayed loop")
        for name, gpu in gpu_rows:
            print(f"{name:<7} layered {gpu['layered']:.2f}x, edit: graph {gpu['edit_graph']:.2f}x,"
                  f" step by step {gpu['edit_steps']:.2f}x, layered+graph"
                  f" {gpu['edit_layered']:.2f}x")
    if breakdown is not None:
        wall = breakdown["wall (profiled)"]
        parts = ", ".join(f"{k} {breakdown[k]:.1f} ms ({100 * breakdown[k] / wall:.0f}%)"
                          for k in ("matmul", "element-wise", "C loop", "copy/alloc",
                                    "other ops", "python"))
        print(f"large, one trace under torch.profiler ({wall:.1f} ms): {parts}")
        print(f"large, minor page faults: trace {breakdown['page faults']},"
              f" nn.LSTM {breakdown['page faults nn.LSTM']}")
    misses = [f"{r['name']} ({r['ratio']:.2f}x > {r['target']}x)" for r in rows
              if r["ratio"] > r["target"]]
    misses += [f"{r['name']} first trace ({r['first']:.2f}x > {DEFAULT_TARGET}x)" for r in rows
               if r["first"] > DEFAULT_TARGET]
    over = [r["name"] for r in rows if r["peak_mib"] is not None and r["peak_mib"] > r["est_mib"]]
    print("targets missed: " + ", ".join(misses) if misses else "all time targets met")
    print("peak above estimate: " + ", ".join(over) if over else "peak memory within estimate")
    print(json.dumps(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
