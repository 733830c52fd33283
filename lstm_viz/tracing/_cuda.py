"""The trace's pieces for CUDA devices: the cell state's scan as one kernel, and the step loop
replayed from a CUDA graph.

Private: ``_kernels`` calls these only for tensors on a CUDA device; the CPU paths never reach
them. Everything here imports and runs without a GPU, so its logic is tested on the CPU:

``act_scan`` activates the gates (T, B, 4, H) and computes c_t = f_t c_{t-1} + i_t g_t in one
Triton kernel where Triton imports and passes a check on first use (one program per block of
units, looping over time), else in torch ops: the activations and a log-depth scan
(``_scan.torch_act_scan``, about 3 log2(T) launches instead of 2 T).

``GraphSteps`` runs the step loop's unedited steps ``chunk`` at a time: the element-wise and
recurrent kernels of ``chunk`` steps are captured once per shape (batch, sizes, dtype, device)
into a ``torch.cuda.CUDAGraph`` over static buffers, weights included, and replayed for each run
of ``chunk`` unedited steps of every layer and trace of that shape (about ten launches per step
become seven per chunk: the states copied in, the replay, the results copied out). Steps with
edits, and the tail shorter than a chunk, run eagerly. Without CUDA graphs (or on the CPU) the
same chunks run eagerly, which is what the CPU tests exercise.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from ._scan import torch_act_scan
from .edits import StateEdit

log = logging.getLogger("lstm_viz.tracing")
Tensor = torch.Tensor
Linear = Callable[..., Tensor]

GRAPH_CHUNK = 32  # steps per captured graph: long enough to amortise the copies in and out
_TRITON: list[Any] = []  # [kernel or None], decided once


def act_scan(gates: Tensor, c0: Tensor, c: Tensor, backwards: bool = False) -> str:
    """As ``torch_act_scan``, in one Triton kernel where one is available and agrees with the
    torch ops (checked once; float32 with rows of units); returns "triton_act_scan" or
    "torch_log_scan"."""
    kernel = _triton_kernel()
    if kernel is not None and gates.dtype == torch.float32 and _layout_ok(gates, c0, c):
        _launch(kernel, gates, c0, c, backwards)
        return "triton_act_scan"
    return torch_act_scan(gates, c0, c, backwards)


def _layout_ok(gates: Tensor, c0: Tensor, c: Tensor) -> bool:
    """Whether the kernel can address these: rows of units, a gates row's four blocks back to
    back, c0 rows of units."""
    H = c.shape[-1]
    return all(t.stride(-1) == 1 for t in (gates, c0, c)) and gates.stride(-2) == H and \
        gates.stride(1) == 4 * H and c.stride(1) == H and gates.is_cuda and c.is_cuda


def _launch(kernel: Any, gates: Tensor, c0: Tensor, c: Tensor, backwards: bool) -> None:
    T, B, H = c.shape
    first, sign = (T - 1, -1) if backwards else (0, 1)
    block = 256
    grid = ((B * H + block - 1) // block,)
    kernel[grid](gates, c0, c, T, B * H, H, gates.stride(0), gates.stride(1), c0.stride(0),
                 c.stride(0), c.stride(1), first, sign, BLOCK=block)


def _triton_kernel() -> Any:
    """The Triton kernel, or None where Triton does not import, no CUDA device is present, or
    the kernel fails or disagrees with the torch ops on a small case (logged once)."""
    if _TRITON:
        return _TRITON[0]
    kernel = None
    if torch.cuda.is_available():
        try:
            kernel = _build_triton()
        except Exception as exc:  # missing (ImportError) or broken: torch ops, never a failure
            log.info("Triton is not available (%s); the cell state's scan runs in torch ops",
                     exc)
        if kernel is not None and not _kernel_agrees(kernel):
            kernel = None
    _TRITON[:] = [kernel]
    return kernel


def _kernel_agrees(kernel: Any) -> bool:
    """Whether the kernel runs and equals the torch ops on a small case, both reading orders."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(7, 3, 4, 5, generator=gen).cuda()
    c0 = torch.randn(3, 5, generator=gen).cuda()
    try:
        for backwards in (False, True):
            mine, theirs = z.clone(), z.clone()
            c_mine, c_theirs = torch.empty(7, 3, 5, device="cuda"), torch.empty(7, 3, 5,
                                                                               device="cuda")
            _launch(kernel, mine, c0, c_mine, backwards)
            torch_act_scan(theirs, c0, c_theirs, backwards)
            if not (torch.allclose(mine, theirs, atol=1e-5) and
                    torch.allclose(c_mine, c_theirs, atol=1e-5)):
                log.warning("the Triton scan disagrees with torch ops here; using torch ops")
                return False
    except Exception as exc:  # a compiler or driver failure: fall back, do not fail the trace
        log.info("the Triton scan does not run here (%s); using torch ops", exc)
        return False
    return True


def _build_triton() -> Any:
    """The Triton kernel (``_triton_scan``); ImportError where Triton is not installed."""
    return importlib.import_module("lstm_viz.tracing._triton_scan").act_scan_kernel


class GraphSteps:
    """The step loop's unedited steps in chunks of ``chunk``, one CUDA graph replay each.

    ``make_step(project_h)`` makes the loop's element-wise step (``_kernels._TorchStep``) with
    ``project_h`` the projection by W_hr (None without one); it and the recurrent product run
    inside the captured graph on static buffers: per step (B, 4, H), (B, H), (B, H_out), and the
    weights, which ``load`` copies in before each use, so one graph serves every layer and
    every trace of its shape (``take``, ``give_back``). ``graphs=False`` (or a device without
    CUDA graphs) runs the same chunks eagerly.
    """

    def __init__(self, B: int, H: int, Ho: int, like: Tensor,
                 make_step: Callable[[Linear | None], Callable[..., None]], proj: bool,
                 chunk: int = GRAPH_CHUNK, graphs: bool | None = None) -> None:
        self.chunk = int(chunk)
        self.w_hh_t = like.new_empty(Ho, 4 * H)
        self.w_hr_t = like.new_empty(H, Ho) if proj else None
        self.step = make_step(self._project if proj else None)
        self.z = like.new_empty(self.chunk, B, 4, H)
        self.c = like.new_empty(self.chunk, B, H)
        self.h = like.new_empty(self.chunk, B, Ho)
        self.h0 = like.new_empty(B, Ho)
        self.c0 = like.new_empty(B, H)
        self.use_graphs = like.is_cuda and hasattr(torch.cuda, "CUDAGraph") if graphs is None \
            else bool(graphs)
        self.graph: Any = None
        self.replays = 0  # chunks run from the graph (for tests and benchmarks)

    def _project(self, x: Tensor, bias: Tensor | None = None, out: Tensor | None = None
                 ) -> Tensor:
        assert self.w_hr_t is not None
        return torch.mm(x, self.w_hr_t, out=out)

    def recurrent(self, h: Tensor) -> Tensor:
        """h (B, H_out) @ W_hh^T, with the weight ``load`` copied in."""
        return torch.mm(h, self.w_hh_t)

    def load(self, w_hh: Tensor, w_hr: Tensor | None) -> None:
        """Copy the layer's weights (4H, H_out) and (H_out, H) into the static buffers."""
        self.w_hh_t.copy_(w_hh.t())
        if self.w_hr_t is not None:
            assert w_hr is not None
            self.w_hr_t.copy_(w_hr.t())

    def _body(self) -> None:
        """``chunk`` steps on the static buffers, in reading order."""
        B, H = self.c.shape[1], self.c.shape[2]
        h_prev, c_prev = self.h0, self.c0
        for k in range(self.chunk):
            zk = self.z[k]
            self.step(zk.view(B, 4 * H), self.recurrent(h_prev), zk[:, :2], zk.unbind(1),
                      c_prev, self.c[k], self.h[k], None)
            h_prev, c_prev = self.h[k], self.c[k]

    def _run(self) -> None:
        if not self.use_graphs:
            self._body()
            return
        with torch.cuda.device(self.z.device):  # capture and replay on the buffers' GPU
            if self.graph is None:
                self.graph = self._capture()
                if self.graph is None:
                    self._body()
                    return
            self.graph.replay()
        self.replays += 1

    def _capture(self) -> Any:
        """The graph of ``_body`` (after one warm-up run on a side stream, as CUDA graphs need);
        None, logged, where capturing fails (the chunks then run eagerly)."""
        saved = (self.z.clone(), self.h0.clone(), self.c0.clone())
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._body()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            self.z.copy_(saved[0])
            # thread_local: work that other threads (another trace, a gradient) put on the
            # GPU meanwhile neither breaks the capture nor is broken by it
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self._body()
        except Exception as exc:  # any capture failure: run step by step, never fail the trace
            log.info("the step loop cannot be captured in a CUDA graph here (%s); it runs"
                     " step by step", exc)
            self.use_graphs = False
            self.z.copy_(saved[0])
            self.h0.copy_(saved[1])
            self.c0.copy_(saved[2])
            return None
        # capturing ran nothing: the static buffers hold the chunk's input again
        self.z.copy_(saved[0])
        return graph

    def run(self, gates: Tensor, c: Tensor, h: Tensor, h0: Tensor, c0: Tensor,
            by_step: dict[int, list[StateEdit]], backwards: bool,
            eager: Callable[[int, Tensor, Tensor, list[StateEdit] | None], None]) -> None:
        """All T steps of gates (T, B, 4, H) (the input projections in, the activated gates
        out), c (T, B, H), h (T, B, H_out) from (h0, c0), in reading order: runs of ``chunk``
        unedited steps from the graph, every other step by ``eager(pos, h_prev, c_prev,
        edits)``, which writes position ``pos``."""
        T = c.shape[0]
        edited = sorted(by_step)
        t = 0
        h_prev, c_prev = h0, c0
        while t < T:
            nxt = next((e for e in edited if e >= t), T)
            if nxt - t >= self.chunk:
                lo, hi = (T - t - self.chunk, T - t) if backwards else (t, t + self.chunk)
                span = slice(lo, hi)
                self.z.copy_(gates[span].flip(0) if backwards else gates[span])
                self.h0.copy_(h_prev)
                self.c0.copy_(c_prev)
                self._run()
                for mine, buf in ((self.z, gates), (self.c, c), (self.h, h)):
                    buf[span] = mine.flip(0) if backwards else mine
                t += self.chunk
            else:
                pos = T - 1 - t if backwards else t
                eager(pos, h_prev, c_prev, by_step.get(t))
                t += 1
            last = T - t if backwards else t - 1
            h_prev, c_prev = h[last], c[last]


_GRAPHS: OrderedDict[tuple, GraphSteps] = OrderedDict()  # the least recently used first
_GRAPHS_LOCK = threading.Lock()
MAX_GRAPHS = 8  # shapes whose graphs are kept (each holds its buffers and its memory pool)


def graph_key(B: int, H: int, Ho: int, like: Tensor, proj: bool, *extra: object) -> tuple:
    """What a captured graph depends on: device, dtype, sizes, projection, the float32 matmul
    precision in force (a graph replays the kernels it captured), and ``extra``."""
    matmul = torch.backends.cuda.matmul
    precision = (getattr(matmul, "fp32_precision", None), matmul.allow_tf32,
                 torch.get_float32_matmul_precision())
    return (str(like.device), like.dtype, B, H, Ho, proj, precision, *extra)


def take(key: tuple, make: Callable[[], GraphSteps]) -> GraphSteps:
    """The kept GraphSteps of ``key`` (out of the cache while in use, so that two traces never
    share one), else ``make()``."""
    with _GRAPHS_LOCK:
        kept = _GRAPHS.pop(key, None)
    return kept if kept is not None else make()


def give_back(key: tuple, steps: GraphSteps) -> None:
    """Keep ``steps`` for the next trace of its shape (the least recently used dropped)."""
    with _GRAPHS_LOCK:
        _GRAPHS[key] = steps
        while len(_GRAPHS) > MAX_GRAPHS:
            _GRAPHS.popitem(last=False)


def pays(x: Tensor, T: int) -> bool:
    """Whether the step loop on ``x`` runs from CUDA graphs: on a CUDA device, with at least one
    whole chunk of steps."""
    return x.is_cuda and hasattr(torch.cuda, "CUDAGraph") and T >= GRAPH_CHUNK
