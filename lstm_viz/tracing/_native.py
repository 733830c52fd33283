"""The loop's steps in compiled code (``_native_step.c``), where it can be built.

Private: ``_kernels.run_loop`` asks ``native()`` once per layer and direction. The first call
in a process finds the shared library in the user's cache, or builds it there with the C
compiler (``$CC``, else ``cc``; well under a second), loads it with ctypes and checks it against
torch on values from -40 to 40, NaN and infinities included. It then looks for MKL's packed GEMM
among the symbols torch's own library exports: with it, whole runs of steps go to one C call
(``loop``); without it, each step's element-wise work is one C call between torch matmuls
(``step``). The layered method's cell-state scan (``scans``, float32 and float64, and
``act_scan``, float32 with the activations fused in) is checked the same way and kept where it
agrees. Where any of that fails (no compiler, not x86-64 Linux, a check that disagrees)
``native()`` returns None, logs why once, and the loop keeps its torch calls.
``LSTM_VIZ_NATIVE=0`` turns it off.

Nothing runs that this package did not build and check: the library is built from the source
file beside this module, under a name that is the hash of that source and the flags, so a changed
source or compiler target never loads an older build. Only a build that passed the check is kept,
with its SHA-256 recorded beside it; a cached library is loaded only where that record matches
and the cache folder, and lstm-viz's cache folder above it, belong to this user and no one else
may write them. Anything else is rebuilt (in a private temporary folder where the cache is not
trusted), never loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

log = logging.getLogger("lstm_viz.tracing")
Tensor = torch.Tensor

SOURCE = Path(__file__).with_name("_native_step.c")
# -ffp-contract=off: c = i*g + f*c_prev rounds as torch's mul and addcmul do (no fused
# multiply-add); -fno-math-errno lets exp and tanh vectorize (libmvec) without -ffast-math.
BASE_FLAGS = ("-O3", "-std=c11", "-fPIC", "-shared", "-fopenmp", "-fno-math-errno",
              "-ffp-contract=off")
ISA_FLAGS = {"avx512": ("-mavx512f", "-mavx512dq", "-mfma", "-mprefer-vector-width=512"),
             "avx2": ("-mavx2", "-mfma"), "sse2": ()}
# Below this many cells (batch x hidden) a step runs on one thread: waking the pool costs more.
MIN_PARALLEL = 4096
CHECK_ATOL = 1e-6  # the self-check: float32 sigmoid and tanh within a few ulp of torch's
COMPILE_TIMEOUT_S = 60.0  # a compiler still running after this long is stopped
DIGEST_SUFFIX = ".sha256"  # beside a kept library: the SHA-256 of the build that passed its check
ENV_SWITCH = "LSTM_VIZ_NATIVE"
# MKL's CBLAS enum values, for packing a weight as the B matrix of B rows @ weight^T
_ROW_MAJOR, _TRANS, _B_MATRIX = 101, 112, 162
_MKL_SYMBOLS = ("cblas_sgemm_pack_get_size", "cblas_sgemm_pack", "cblas_sgemm_compute")


@dataclass(frozen=True)
class Native:
    """The compiled code. ``step(B, H, threads, min_parallel, z, z_rs, r, r_rs, c_prev, cp_rs,
    c, c_rs, h, h_rs)``: one step's element-wise work, on pointers to float32 rows and their
    strides in elements. ``loop(...)``: runs of whole steps, recurrent GEMM included (None where
    MKL's packed GEMM was not found); ``_native_step.c`` says what each argument holds.
    ``name`` says which ("native_loop_avx2", "native_step_avx2"). ``scans``: the layered
    method's cell-state recurrence by dtype (``scan(steps, B, H, threads, min_parallel, z, z_ts,
    z_rs, c0, c0_rs, c, c_ts, c_rs)``), for float32 and float64 where it agreed with torch;
    ``act_scan``: the float32 scan with the gates' activations fused in (same arguments, z the
    pre-activations), where it agreed with torch."""

    step: Callable[..., None]
    loop: Callable[..., None] | None
    isa: str
    _gemm: tuple[Callable[..., int], Callable[..., None], int] | None = None
    scans: dict[torch.dtype, Callable[..., None]] = field(default_factory=dict)
    act_scan: Callable[..., None] | None = None

    @property
    def name(self) -> str:
        return f"native_{'loop' if self.loop is not None else 'step'}_{self.isa}"

    @property
    def compute(self) -> int:
        """The address of MKL's cblas_sgemm_compute, for ``loop``."""
        assert self._gemm is not None
        return self._gemm[2]

    def pack(self, weight: Tensor, rows: int) -> Tensor:
        """``weight`` (N, K), transposed and packed by MKL as the B matrix of (rows, K) @ (K, N):
        a buffer for ``loop``, which must outlive the calls that read it."""
        assert self._gemm is not None
        get_size, pack, _ = self._gemm
        w = weight.detach().contiguous()
        n, k = w.shape
        out = torch.empty(-(-get_size(_B_MATRIX, rows, n, k) // 4), dtype=torch.float32)
        pack(_ROW_MAJOR, _B_MATRIX, _TRANS, rows, n, k, 1.0, w.data_ptr(), k, out.data_ptr())
        return out

    def accepts(self, *tensors: Tensor) -> bool:
        """Whether every tensor is float32 on the CPU and contiguous in its last two dimensions
        (what the C reads: rows of units, and a gates row's four blocks back to back)."""
        return all(t.device.type == "cpu" and t.dtype == torch.float32 and t.stride(-1) == 1
                   and (t.dim() < 2 or t.stride(-2) == t.shape[-1]) for t in tensors)


_NATIVE: Native | None = None
_TRIED = False
_REASON = ""  # why there is no compiled code, once tried
_LOCK = threading.Lock()


def native() -> Native | None:
    """The compiled code, built or read from the cache and checked once per process; None where
    it cannot be had here (the reason is logged once)."""
    global _NATIVE, _TRIED, _REASON
    if not _TRIED:
        with _LOCK:  # traces on two threads at once: one builds, the other waits for it
            if not _TRIED:
                try:
                    _NATIVE = _load()
                except _Unavailable as exc:
                    _REASON = str(exc)
                    log.info("element-wise step: torch calls (%s)", exc)
                else:
                    log.info("element-wise step: %s, built from %s", _NATIVE.name,
                             SOURCE.name)
                _TRIED = True
    return _NATIVE


def runs_loop(x: Tensor) -> bool:
    """Whether the trace loop's steps run in C for input ``x``: float32 on the CPU, where the
    compiled loop builds. The loop is then the fastest method at every size."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    compiled = native()
    return compiled is not None and compiled.loop is not None


def scan(t: Tensor) -> Callable[..., None] | None:
    """The compiled cell-state scan for tensors like ``t`` (CPU, float32 or float64), or None
    where it is not had here."""
    if t.device.type != "cpu":
        return None
    compiled = native()
    return None if compiled is None else compiled.scans.get(t.dtype)


def act_scan(t: Tensor) -> Callable[..., None] | None:
    """The compiled scan with the activations fused in, for tensors like ``t`` (float32 on the
    CPU), or None where it is not had here."""
    if t.device.type != "cpu" or t.dtype != torch.float32:
        return None
    compiled = native()
    return None if compiled is None else compiled.act_scan


def describe(build: bool = True) -> str:
    """How float32 CPU traces run their steps, in a line for people: "compiled C loop
    (native_loop_avx2)", or "torch calls (<why>)"; without ``build``, "not built yet" rather
    than building it (a GUI thread)."""
    if not (build or _TRIED):
        return "not built yet (the first trace builds it)"
    compiled = native()
    if compiled is None:
        return f"torch calls ({_REASON})"
    kind = "compiled C loop" if compiled.loop is not None else "compiled C step"
    return f"{kind} ({compiled.name})"


def reset() -> None:
    """Forget the outcome of the last ``native()`` (tests, and after changing $CC)."""
    global _NATIVE, _TRIED, _REASON
    _NATIVE, _TRIED, _REASON = None, False, ""


class _Unavailable(Exception):
    """Why the compiled step is not used here."""


def _isa() -> str:
    """The widest vector target this CPU runs that the build knows: "avx512", "avx2" or
    "sse2"."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "sse2"
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                  if line.startswith("flags")), [])
    have = set(flags)
    return "avx512" if {"avx512f", "avx512dq", "fma"} <= have else \
        "avx2" if {"avx2", "fma"} <= have else "sse2"


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lstm-viz")) / "native"


def _load() -> Native:
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        raise _Unavailable(f"turned off by {ENV_SWITCH}")
    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        raise _Unavailable(f"built only on x86-64 Linux, not {sys.platform} {platform.machine()}")
    if platform.libc_ver()[0] != "glibc":
        raise _Unavailable("needs glibc's vector math library")
    isa = _isa()
    flags = BASE_FLAGS + ISA_FLAGS[isa]
    try:
        source = SOURCE.read_bytes()
    except OSError as exc:
        raise _Unavailable(f"its source {SOURCE.name} is not installed ({exc.strerror})"
                           ) from None
    key = hashlib.sha256(source + " ".join(flags).encode()).hexdigest()[:16]
    return _library(f"lstm_viz_step-{isa}-{key}.so", flags, lambda lib: _checked(lib, isa))


def _checked(library: ctypes.CDLL, isa: str) -> Native:
    """The library's code, once its step agrees with torch; with its loop where MKL's packed
    GEMM is found and the loop agrees too."""
    try:
        step, loop = library.lstm_viz_step, library.lstm_viz_loop
    except AttributeError as exc:  # built, but not from our source
        raise _Unavailable(f"the built library lacks its functions ({exc})") from None
    step.restype = None
    step.argtypes = [ctypes.c_int64] * 4 + [ctypes.c_void_p, ctypes.c_int64] * 5
    loop.restype = None
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    # steps, B, H, K, threads, min_parallel; compute, whh, whr; z, z_ts, z_rs; h_prev, hp_rs;
    # c_prev, cp_rs; c, c_ts, c_rs; h, h_ts, h_rs; m, m_rs
    loop.argtypes = [i64] * 6 + [ptr] * 3 + [ptr, i64, i64] + [ptr, i64] * 2 + \
        [ptr, i64, i64] * 2 + [ptr, i64]
    _check_step(Native(step, None, isa))
    compiled = Native(step, None, isa, scans=_checked_scans(library),
                      act_scan=_checked_act_scan(library))
    gemm = _mkl_gemm()
    if gemm is None:
        return compiled
    with_loop = replace(compiled, loop=loop, _gemm=gemm)
    if not _loop_agrees(with_loop):
        return compiled
    return with_loop


def _checked_scans(library: ctypes.CDLL) -> dict[torch.dtype, Callable[..., None]]:
    """The library's cell-state scans that agree with torch's mul and addcmul over a few steps
    read forwards and backwards (one missing or wrong is left out, with a log line)."""
    out: dict[torch.dtype, Callable[..., None]] = {}
    for dtype, name in ((torch.float32, "lstm_viz_scan_f32"), (torch.float64, "lstm_viz_scan_f64")):
        fn = getattr(library, name, None)
        if fn is None:
            log.info("the built library has no %s; the layered method's scan runs in torch", name)
            continue
        fn.restype = None
        ptr, i64 = ctypes.c_void_p, ctypes.c_int64
        fn.argtypes = [i64] * 5 + [ptr, i64, i64, ptr, i64, ptr, i64, i64]
        if _scan_agrees(fn, dtype):
            out[dtype] = fn
        else:
            log.warning("the compiled %s scan disagrees with torch here; it runs in torch calls",
                        dtype)
    return out


def _checked_act_scan(library: ctypes.CDLL) -> Callable[..., None] | None:
    """The library's scan with fused activations, where it agrees with torch's sigmoid, tanh,
    mul and addcmul (over saturating values, NaN and infinities); else None, logged."""
    fn = getattr(library, "lstm_viz_act_scan_f32", None)
    if fn is None:
        return None
    fn.restype = None
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    fn.argtypes = [i64] * 5 + [ptr, i64, i64, ptr, i64, ptr, i64, i64]
    T, B, H = 5, 3, 37
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(T, B, 4, H, generator=gen) * 12
    z[1, 0, :, :8] = torch.tensor([-40.0, 40.0, 0.0, -0.0, float("nan"), float("inf"),
                                   float("-inf"), 1e-8])
    c0 = torch.randn(B, H, generator=gen) * 3
    for backwards in (False, True):
        want_g = torch.stack([z[:, :, 0].sigmoid(), z[:, :, 1].sigmoid(), z[:, :, 2].tanh(),
                              z[:, :, 3].sigmoid()], 2)
        want_c = torch.empty(T, B, H)
        prev = c0
        for t in (range(T - 1, -1, -1) if backwards else range(T)):
            want_c[t] = torch.mul(want_g[t, :, 0], want_g[t, :, 2]).addcmul_(want_g[t, :, 1],
                                                                                prev)
            prev = want_c[t]
        for threads, min_parallel in ((1, 1 << 62), (2, 1)):
            got_g, got_c = z.clone(), torch.full((T, B, H), math.nan)
            first, sign = (T - 1, -1) if backwards else (0, 1)
            fn(T, B, H, threads, min_parallel, got_g[first].data_ptr(), sign * got_g.stride(0),
               got_g.stride(1), c0.data_ptr(), c0.stride(0), got_c[first].data_ptr(),
               sign * got_c.stride(0), got_c.stride(1))
            gap = _disagreement((got_g, got_c), (want_g, want_c), CHECK_ATOL * 10)
            if gap:
                log.warning("the compiled scan with activations disagrees with torch here "
                            "(max |diff| %.3g); the layered method activates in torch", gap)
                return None
    return fn


def _scan_agrees(fn: Callable[..., None], dtype: torch.dtype) -> bool:
    """Whether ``fn`` gives c_t = i g + f c_{t-1} as torch's calls do, forwards and backwards,
    on one thread and on several."""
    T, B, H = 5, 3, 37
    gen = torch.Generator().manual_seed(2)
    z = torch.rand(T, B, 4, H, generator=gen, dtype=dtype)
    c0 = torch.randn(B, H, generator=gen, dtype=dtype)
    for backwards in (False, True):
        want = torch.empty(T, B, H, dtype=dtype)
        prev = c0
        for t in (range(T - 1, -1, -1) if backwards else range(T)):
            want[t] = torch.mul(z[t, :, 0], z[t, :, 2]).addcmul_(z[t, :, 1], prev)
            prev = want[t]
        for threads, min_parallel in ((1, 1 << 62), (2, 1)):
            got = torch.full((T, B, H), math.nan, dtype=dtype)
            first, sign = (T - 1, -1) if backwards else (0, 1)
            fn(T, B, H, threads, min_parallel, z[first].data_ptr(), sign * z.stride(0),
               z.stride(1), c0.data_ptr(), c0.stride(0), got[first].data_ptr(),
               sign * got.stride(0), got.stride(1))
            if not torch.allclose(got, want, rtol=0, atol=1e-12 if dtype == torch.float64
                                  else 1e-6):
                return False
    return True


def _mkl_gemm() -> tuple[Callable[..., int], Callable[..., None], int] | None:
    """MKL's packed GEMM (pack_get_size, pack, compute's address) from torch's own library, or
    from what the process has loaded; None (logged) where neither exports it."""
    places = [Path(torch.__file__).parent / "lib" / "libtorch_cpu.so", None]
    for place in places:
        try:
            lib = ctypes.CDLL(None if place is None else str(place))
            get_size, pack, compute = (getattr(lib, name) for name in _MKL_SYMBOLS)
        except (OSError, AttributeError):
            continue
        get_size.restype = ctypes.c_size_t
        get_size.argtypes = [ctypes.c_int] * 4
        pack.restype = None
        pack.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int,
                                              ctypes.c_void_p]
        address = ctypes.cast(compute, ctypes.c_void_p).value
        assert address is not None
        return get_size, pack, address
    log.info("MKL's packed GEMM is not exported here: the steps run one C call each")
    return None


def _library(name: str, flags: tuple[str, ...],
             check: Callable[[ctypes.CDLL], Native]) -> Native:
    """``check`` run on the library ``name``: the cached one where its digest is the one
    recorded when it passed, else a new build (kept in the cache only once it passes). Built
    into a private temporary folder where the cache is not trusted or not writable, or its
    library does not load (a loaded library stays mapped after its file is gone)."""
    folder = _cache_dir()
    try:
        distrust: str | None = _distrust(folder)
    except OSError:
        distrust = None  # the cache cannot be made here (not writable)
    if distrust:
        log.warning("the compiled step's cache is not trusted: %s; building it in a private "
                    "temporary folder instead (remove that folder to have lstm-viz make a "
                    "private one)", distrust)
    elif distrust is not None:
        try:
            return _from_cache(folder, name, flags, check)
        except OSError:
            pass
    try:
        with tempfile.TemporaryDirectory(prefix="lstm-viz-") as tmp:
            return check(ctypes.CDLL(str(_build(Path(tmp) / name, flags))))
    except OSError as exc:
        raise _Unavailable(f"the built library does not load here ({exc})") from None


def _distrust(folder: Path) -> str:
    """Makes ``folder`` and lstm-viz's cache folder above it where missing, private to this
    user; then "" where both are folders of this user's that no one else may write, else why
    not (raises OSError where they cannot be made)."""
    folder.parent.parent.mkdir(parents=True, exist_ok=True)
    for level in (folder.parent, folder):
        try:
            level.mkdir(mode=0o700)
        except FileExistsError:
            pass
        st = level.stat()
        if not stat.S_ISDIR(st.st_mode):
            return f"{level} is not a folder"
        if st.st_uid != os.getuid():
            return f"{level} belongs to another user"
        if st.st_mode & 0o022:
            return f"others may write {level} (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def _ours(path: Path) -> bool:
    """Whether ``path`` is a file this user owns that no one else may write."""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded(path: Path, record: Path) -> bool:
    """Whether ``path`` is the library whose digest ``record`` holds: the one that passed its
    check when it was built (a truncated, replaced or foreign file is not)."""
    if not (_ours(path) and _ours(record)):
        return False
    try:
        return record.read_text(encoding="ascii", errors="replace").strip() == _digest(path)
    except OSError:
        return False


def _from_cache(folder: Path, name: str, flags: tuple[str, ...],
                check: Callable[[ctypes.CDLL], Native]) -> Native:
    """``check`` on the recorded library in ``folder``, else on a new build there, which is
    then kept with its digest; a library that fails ``check`` is deleted (OSError where the
    folder cannot be written or its library does not load)."""
    path, record = folder / name, folder / (name + DIGEST_SUFFIX)
    if _recorded(path, record):
        try:
            return check(ctypes.CDLL(str(path)))
        except _Unavailable:  # a check that changed since: the library is not kept either
            for stale in (record, path):
                stale.unlink(missing_ok=True)
            raise
    fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        _build(Path(tmp), flags)
        compiled = check(ctypes.CDLL(tmp))
        digest = _digest(Path(tmp))
        try:
            # another process building the same name may replace it: with a checked build too
            os.replace(tmp, path)
            _write_record(record, digest)
        except OSError as exc:
            log.info("the compiled step is not kept in the cache (%s)", exc)
        return compiled
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_record(record: Path, digest: str) -> None:
    """``digest`` into ``record``, whole or not at all."""
    fd, tmp = tempfile.mkstemp(prefix=record.name + ".", suffix=".tmp", dir=record.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(digest + "\n")
        os.replace(tmp, record)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _build(out: Path, flags: tuple[str, ...]) -> Path:
    """The library compiled into ``out``, readable by this user alone; stops a compiler that
    runs past COMPILE_TIMEOUT_S, and its children."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise _Unavailable("no C compiler found (set CC, or install gcc)")
    cmd = [compiler, *flags, "-o", str(out), str(SOURCE), "-lm"]
    try:
        # messages to a file, not a pipe: a child the compiler left behind cannot hold it open
        with tempfile.TemporaryFile() as messages:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=messages, start_new_session=True)
            try:
                code = proc.wait(timeout=COMPILE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                raise _Unavailable(f"{compiler} did not finish within {COMPILE_TIMEOUT_S:g} s "
                                   "and was stopped") from None
            messages.seek(0)
            stderr = messages.read(1 << 16).decode(errors="replace")
    except OSError as exc:
        raise _Unavailable(f"{compiler} did not run: {exc}") from None
    if code != 0:
        first = (stderr.strip().splitlines() or ["no message"])[0]
        raise _Unavailable(f"{compiler} failed: {first}")
    try:
        written = out.stat().st_size > 0
        out.chmod(0o700)
    except OSError:
        written = False
    if not written:
        raise _Unavailable(f"{compiler} reported success but wrote no library")
    return out


def _activated(pre: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """torch's formulas: (the gates (B, 4H), c, o * tanh(c)) from pre-activations (B, 4H)."""
    B, H = c_prev.shape
    z = pre.view(B, 4, H)
    i, f, g, o = z[:, 0].sigmoid(), z[:, 1].sigmoid(), z[:, 2].tanh(), z[:, 3].sigmoid()
    c = i * g + f * c_prev
    return torch.stack([i, f, g, o], 1).view(B, 4 * H), c, o * c.tanh()


def _disagreement(got: tuple[Tensor, ...], want: tuple[Tensor, ...], atol: float) -> float:
    """0.0 where every pair is within ``atol`` (NaN where both are), else the largest gap."""
    for a, b in zip(got, want):
        if not torch.allclose(a, b, rtol=0, atol=atol, equal_nan=True):
            return float((a - b).abs().nan_to_num(nan=float("inf")).max())
    return 0.0


def _check_step(compiled: Native) -> None:
    """The step equals torch's formulas on a small case whose rows are not a multiple of any
    vector width, over saturating values, NaN and infinities, on one thread and on several."""
    B, H = 3, 37
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(B, 4 * H, generator=gen) * 12
    z[0, :8] = torch.tensor([-40.0, 40.0, 0.0, -0.0, float("nan"), float("inf"),
                             float("-inf"), 1e-8])
    r = torch.randn(B, 4 * H, generator=gen)
    c_prev = torch.randn(B, H, generator=gen) * 3
    want = _activated(z + r, c_prev)
    for threads, min_parallel in ((1, 1 << 62), (2, 1)):
        got = (z.clone(), torch.empty(B, H), torch.empty(B, H))
        compiled.step(B, H, threads, min_parallel, got[0].data_ptr(), 4 * H, r.data_ptr(),
                      4 * H, c_prev.data_ptr(), H, got[1].data_ptr(), H, got[2].data_ptr(), H)
        gap = _disagreement(got, want, CHECK_ATOL)
        if gap:
            log.warning("the compiled element-wise step disagrees with torch here "
                        "(max |diff| %.3g); using torch calls", gap)
            raise _Unavailable("self-check failed")


def _loop_agrees(compiled: Native) -> bool:
    """Whether ``loop`` equals torch's step by step over a few steps, read forwards and
    backwards, with and without a projection (logged where it does not)."""
    T, B, H = 5, 3, 37
    gen = torch.Generator().manual_seed(1)
    for Ho, backwards in ((H, False), (11, True)):
        z = torch.randn(T, B, 4 * H, generator=gen)
        w_hh = torch.randn(4 * H, Ho, generator=gen) * 0.3
        w_hr = torch.randn(Ho, H, generator=gen) * 0.3 if Ho != H else None
        h0, c0 = torch.randn(B, Ho, generator=gen), torch.randn(B, H, generator=gen)
        want = [torch.empty(T, B, 4 * H), torch.empty(T, B, H), torch.empty(T, B, Ho)]
        h_prev, c_prev = h0, c0
        for t in (range(T - 1, -1, -1) if backwards else range(T)):
            gates, c, m = _activated(z[t] + h_prev @ w_hh.t(), c_prev)
            h = m if w_hr is None else m @ w_hr.t()
            want[0][t], want[1][t], want[2][t] = gates, c, h
            h_prev, c_prev = h, c
        got = [z.clone(), torch.empty(T, B, H), torch.empty(T, B, Ho)]
        whh = compiled.pack(w_hh, B)
        whr = None if w_hr is None else compiled.pack(w_hr, B)
        m_buf = torch.empty(B, H)
        first, step = (T - 1, -1) if backwards else (0, 1)
        assert compiled.loop is not None
        compiled.loop(T, B, H, Ho, 2, 1, compiled.compute, whh.data_ptr(),
                      None if whr is None else whr.data_ptr(),
                      got[0][first].data_ptr(), step * B * 4 * H, 4 * H,
                      h0.data_ptr(), Ho, c0.data_ptr(), H,
                      got[1][first].data_ptr(), step * B * H, H,
                      got[2][first].data_ptr(), step * B * Ho, Ho, m_buf.data_ptr(), H)
        gap = _disagreement(tuple(got), tuple(want), 1e-5)
        if gap:
            log.warning("the compiled loop disagrees with torch here (max |diff| %.3g); "
                        "each step runs one C call instead", gap)
            return False
    return True
