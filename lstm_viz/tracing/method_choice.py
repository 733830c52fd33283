"""Which method traces fastest here, measured once per machine, dtype, device and size class.

The methods compute the same numbers at different speeds, and which is fastest depends on the
CPU (MKL's packed GEMM is not the fast path everywhere), the thread count, the dtype, the device
and the sizes. So the first trace of a size class times each candidate on a few steps of its
own input (layer 0, one direction, the best of two runs at each of two lengths, the first run
also paying each method's set-up), extrapolates to the whole input, and keeps the fastest:

    "loop"     the step loop in compiled C (float32 on the CPU, where it builds)
    "torch"    the step loop in torch calls
    "fused"    torch's fused kernel for h, the gates recomputed in bulk, c by a log-depth scan
    "layered"  torch's fused kernel for h, the gates recomputed in bulk, c by a plain scan

The choice is kept in the user's cache, in the compiled loop's private folder, as JSON scoped by
the CPU model, the torch version and lstm-viz's version: a file of another scope, or one that is
not exactly what this module writes, is ignored (and replaced on the next choice), never
trusted. ``LSTM_VIZ_METHOD`` forces one method.

A trace too short to pay for measuring (its layers' steps fewer than a few times the steps the
probes take) takes the rule used before measuring: the compiled loop where it runs, else the
loop in torch calls for large steps and "fused" for small ones. Where the compiled loop runs,
the loop in torch calls is not timed: it does the same work with Python between the steps.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._version import __version__
from ..config import LSTMConfig
from ..torch_devices import rnn_precision
from . import _kernels, _native

log = logging.getLogger("lstm_viz.tracing")
Tensor = torch.Tensor

METHODS = ("loop", "torch", "fused", "layered")
ENV_METHOD = "LSTM_VIZ_METHOD"
CACHE_FILE = "method_choice.json"
PROBE_STEPS = (4, 12)  # the two lengths timed; the whole input is extrapolated from them
# A trace is measured only where its layers' steps (T x layers x directions) are at least this
# many times the steps all the probes take: the first trace stays within about 1.3x of itself.
MEASURE_FACTOR = 4
# Per-step matmul size (B * 4H * H_out multiply-adds) above which, in the rule for short traces,
# the loop in torch calls beats "fused" (benchmarks/bench_trace.py).
LOOP_THRESHOLD = 200_000
MAX_CACHE_BYTES = 1 << 20  # a cache file larger than this is not read
MAX_CLASSES = 256  # classes kept in the cache file (the oldest are dropped)


@dataclass(frozen=True)
class Choice:
    """A method and why: ``source`` is "measured", "cache", "rule" (a short trace) or
    "environment"; ``times_ms`` the estimated time of one layer and direction over the whole
    input, per candidate."""

    method: str
    source: str
    size_class: str = ""
    times_ms: dict[str, float] = field(default_factory=dict)

    @property
    def why(self) -> str:
        """In a line for people, e.g. "measured: layered 3.1 ms, loop 4.0 ms, ..."."""
        if self.source == "environment":
            return f"forced by {ENV_METHOD}={self.method}"
        if self.source == "rule":
            return "a trace too short to pay for measuring the methods: " + {
                "loop": "the compiled loop, which runs here",
                "torch": "the loop in torch calls, for large steps",
                "fused": "torch's fused kernel and a bulk recompute, for small steps"}.get(
                    self.method, self.method)
        times = ", ".join(f"{m} {ms:.3g} ms" if ms < 1000 else f"{m} {ms:.0f} ms" for m, ms in
                          sorted(self.times_ms.items(), key=lambda kv: kv[1]))
        how = "measured on the first trace of this size" if self.source == "measured" else \
            "measured earlier on this machine (cached)"
        return f"{how}: {times} (one layer and direction, estimated)"


_CHOSEN: dict[str, Choice] = {}
_LAST: list[Choice] = []  # the most recent choice, for Help > About
_LOCK = threading.Lock()


def forced() -> str | None:
    """The method ``LSTM_VIZ_METHOD`` forces, or None where it is unset or empty; ValueError
    for any other value."""
    value = os.environ.get(ENV_METHOD, "").strip()
    if not value:
        return None
    if value not in METHODS:
        raise ValueError(f"{ENV_METHOD} must be one of {', '.join(METHODS)} (got {value!r});"
                         " unset it to let lstm-viz choose by measuring")
    return value


def candidates(x: Tensor) -> list[str]:
    """The methods worth timing for input ``x``: the compiled loop where it runs (and then not
    the same loop in torch calls), else the loop in torch calls; and both fused methods."""
    return ["loop" if _native.runs_loop(x) else "torch", "fused", "layered"]


def probe_steps(methods: int) -> int:
    """The layer-steps all the probes of ``methods`` methods take together."""
    return methods * 2 * sum(PROBE_STEPS)


def rule(cfg: LSTMConfig, x: Tensor) -> str:
    """The method for a trace too short to measure (the rule used before measuring)."""
    if _native.runs_loop(x):
        return "loop"
    return "torch" if x.shape[1] * 4 * cfg.hidden_size * cfg.h_out >= LOOP_THRESHOLD \
        else "fused"


def cpu_model() -> str:
    """This CPU's model name, as /proc/cpuinfo or the platform names it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def scope() -> dict[str, str]:
    """What a cached choice holds for: this CPU, this torch, this lstm-viz."""
    return {"cpu": cpu_model(), "torch": str(torch.__version__), "lstm_viz": __version__}


def size_class(cfg: LSTMConfig, x: Tensor) -> str:
    """The class of sizes that share a choice: device, dtype, threads, and the powers of two
    nearest the steps, the batch times the gates' width, the recurrent width and the input."""
    T, B, F = x.shape

    def p2(v: int) -> int:
        return round(math.log2(max(1, v)))

    device = x.device.type
    if device == "cuda":
        device = f"cuda({torch.cuda.get_device_name(x.device)})"
    dtype = str(x.dtype).removeprefix("torch.")
    return (f"{device}/{dtype}/threads{torch.get_num_threads()}/T2^{p2(T)}/B4H2^"
            f"{p2(B * 4 * cfg.hidden_size)}/Hout2^{p2(cfg.h_out)}/in2^{p2(F)}"
            f"/proj{int(cfg.proj_size > 0)}")


def choose(lstm: nn.LSTM, cfg: LSTMConfig, x: Tensor, h0: Tensor, c0: Tensor) -> Choice:
    """The method for tracing ``x`` (T, B, in) with ``lstm``: forced by the environment, else
    the one chosen for this size class in this process or in the cache, else measured now on
    a few steps of ``x`` (h0, c0: (L*D, B, H_out), (L*D, B, H)) and cached."""
    method = forced()
    if method is not None:
        return _remember(Choice(method, "environment"))
    key = size_class(cfg, x)
    allowed = candidates(x)
    layer_steps = x.shape[0] * cfg.num_layers * cfg.num_directions
    if layer_steps < MEASURE_FACTOR * probe_steps(len(allowed)):
        return _remember(Choice(rule(cfg, x), "rule", key))
    with _LOCK:
        known = _CHOSEN.get(key)
        if known is None or known.method not in allowed:
            known = _read_cache().get(key)
            if known is not None and known.method not in allowed:
                known = None
        if known is None:
            times = measure(lstm, x, h0[0], c0[0], allowed)
            known = Choice(min(times, key=times.__getitem__), "measured", key, times)
            _write_cache(key, known)
            log.info("trace method for %s: %s (%s)", key, known.method, known.why)
        _CHOSEN[key] = known
    return _remember(known)


def last_choice() -> Choice | None:
    """The most recent choice in this process (None before the first trace)."""
    return _LAST[0] if _LAST else None


def describe() -> str:
    """The most recent choice in a line for people (Help > About); never measures."""
    env = os.environ.get(ENV_METHOD, "").strip()
    if env:
        return f"{env} (forced by {ENV_METHOD})" if env in METHODS else \
            f"{ENV_METHOD}={env!r} is not a method; traces will refuse it"
    choice = last_choice()
    if choice is None:
        return "chosen by measuring, on the first trace of each size"
    if not choice.size_class:
        return f"{choice.method} ({choice.why})"
    return f"{choice.method} for {choice.size_class}: {choice.why}"


def forget() -> None:
    """Forget this process's choices (tests; the cache file stays)."""
    with _LOCK:
        _CHOSEN.clear()
        _LAST.clear()


def _remember(choice: Choice) -> Choice:
    _LAST[:] = [choice]
    return choice


def measure(lstm: nn.LSTM, x: Tensor, h0: Tensor, c0: Tensor, methods: list[str]
            ) -> dict[str, float]:
    """Estimated milliseconds of layer 0, direction 0 over all of ``x`` (T, B, in) for each
    method: each timed at PROBE_STEPS steps (the best of two runs: a machine busy with other
    work slows a run down, never speeds it up), extrapolated linearly."""
    T = x.shape[0]
    lengths = sorted({min(T, p) for p in PROBE_STEPS})
    params = _kernels.layer_params(lstm, 0, 0)
    best = {(m, p): math.inf for m in methods for p in lengths}
    if x.device.type == "cpu":
        _native.native()  # built (or found) before anything is timed
    with torch.no_grad(), rnn_precision(x.device):  # in the precision the trace runs in
        for _ in range(2):  # the first round also pays each method's one-off set-up
            for m in methods:
                for p in lengths:
                    best[m, p] = min(best[m, p], _time_once(m, x[:p], h0, c0, params))
    out = {}
    for m in methods:
        if len(lengths) == 1:
            est = best[m, lengths[0]] * T / lengths[0]
        else:
            p1, p2 = lengths
            slope = max(0.0, (best[m, p2] - best[m, p1]) / (p2 - p1))
            est = best[m, p1] + slope * (T - p1)
        out[m] = est * 1e3
    return out


def _time_once(method: str, x: Tensor, h0: Tensor, c0: Tensor,
               params: _kernels.LayerParams) -> float:
    """Seconds for one layer and direction of ``method`` on ``x``."""
    T, B, _ = x.shape
    H, Ho = c0.shape[-1], h0.shape[-1]
    gates = x.new_empty(T, B, 4, H)
    c, h = x.new_empty(T, B, H), x.new_empty(T, B, Ho)
    cuda = x.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    _kernels.run_direction(method, x, h0, c0, params, gates, c, h)
    if cuda:
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start


def _cache_path() -> Path | None:
    """The cache file, in the compiled loop's folder where that folder is trusted; else None."""
    folder = _native._cache_dir()
    try:
        if _native._distrust(folder):
            return None
    except OSError:
        return None
    return folder / CACHE_FILE


def _read_cache() -> dict[str, Choice]:
    """The cached choices for this scope; {} where the file is missing, not this user's alone,
    of another scope, or not exactly what ``_write_cache`` writes."""
    path = _cache_path()
    if path is None or not path.exists():
        return {}
    if not _native._ours(path) or path.stat().st_size > MAX_CACHE_BYTES:
        log.info("the trace method cache %s is not this user's alone or too large; ignored",
                 path)
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        log.info("the trace method cache %s is unreadable (%s); ignored", path, exc)
        return {}
    if not (isinstance(data, dict) and data.get("scope") == scope()
            and isinstance(data.get("choices"), dict)):
        log.info("the trace method cache %s is of another machine or version; ignored", path)
        return {}
    out = {}
    for key, entry in data["choices"].items():
        choice = _parse(key, entry)
        if choice is None:
            log.info("the trace method cache %s holds a malformed entry; ignored", path)
            return {}
        out[key] = choice
    return out


def _parse(key: object, entry: object) -> Choice | None:
    """A cached entry as a Choice, or None unless it is exactly a method and finite times."""
    if not (isinstance(key, str) and isinstance(entry, dict)
            and set(entry) == {"method", "times_ms"}):
        return None
    method, times = entry["method"], entry["times_ms"]
    if method not in METHODS or not isinstance(times, dict) or method not in times:
        return None
    if not all(m in METHODS and isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v) and v >= 0 for m, v in times.items()):
        return None
    return Choice(method, "cache", key, {m: float(v) for m, v in times.items()})


def _write_cache(key: str, choice: Choice) -> None:
    """Add ``choice`` to the cache file, written whole or not at all (logged where it cannot
    be)."""
    path = _cache_path()
    if path is None:
        return
    kept = _read_cache()
    kept.pop(key, None)
    kept[key] = choice
    entries = list(kept.items())[-MAX_CLASSES:]
    data = {"scope": scope(),
            "choices": {k: {"method": c.method, "times_ms": c.times_ms} for k, c in entries}}
    try:
        fd, tmp = tempfile.mkstemp(prefix=CACHE_FILE + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        log.info("the trace method choice is not kept in the cache (%s)", exc)
