"""Large CPU buffers for traces, whose memory is kept for the next trace when a trace is freed.

Private: ``_kernels`` and ``windowed`` allocate a trace's gates, c and h with ``empty``. A buffer
this large is a fresh mapping under torch's allocator (glibc maps anything over 32 MiB on its
own and unmaps it when freed), so every trace would pay the kernel for zeroing hundreds of MiB
page by page, about a fifth of a large trace's time. Here each large buffer is an anonymous
mapping lent to one tensor; when the last tensor viewing it is freed, the mapping goes back to a
small pool (at most ``POOL_LIMIT`` bytes, the most recently freed kept) and the next trace of a
similar size writes into memory that is already mapped. ``release()`` unmaps what the pool
holds (``release(keep=1)`` all but the largest: enough for traces of similar sizes).

The tensor is ``torch.from_numpy`` of an array whose base is the lender (numpy's
``__array_interface__``), so the lender's ``__del__`` runs exactly when no view of the buffer is
left, on whichever thread drops the last one.
"""

from __future__ import annotations

import math
import mmap
import threading
from typing import Any

import numpy as np
import torch

Tensor = torch.Tensor

MIN_POOLED = 32 << 20  # bytes: below this torch's allocator reuses freed memory itself
POOL_LIMIT = 512 << 20  # bytes of freed buffers kept for reuse, at most
_SLACK = 2  # a freed mapping serves a request of at least 1/_SLACK of its size

_lock = threading.RLock()  # a lender's __del__ may run while this thread holds it
_free: list[mmap.mmap] = []  # oldest first


class _Lender:
    """One mapping, lent to one buffer; back to the pool when that buffer is freed."""

    def __init__(self, region: mmap.mmap, nbytes: int) -> None:
        self.region = region
        anchor = torch.frombuffer(region, dtype=torch.uint8)  # an export: pins the mapping
        self.anchor = anchor
        self.__array_interface__: dict[str, Any] = {
            "shape": (nbytes,), "typestr": "|u1", "data": (anchor.data_ptr(), False),
            "version": 3}

    def __del__(self) -> None:
        del self.anchor  # the last view is gone: nothing reads the mapping any more
        try:
            _give_back(self.region)
        except (TypeError, AttributeError):  # the interpreter is shutting down
            pass


def empty(*shape: int, like: Tensor) -> Tensor:
    """An uninitialized tensor of ``like``'s dtype and device; a large CPU one lives in a
    mapping from the pool (contents left from an earlier trace, as ``torch.empty`` may)."""
    nbytes = math.prod(shape) * like.element_size()
    if like.device.type != "cpu" or nbytes < MIN_POOLED:
        return like.new_empty(shape)
    region = _take(nbytes)
    if region is None:
        try:
            region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except OSError:  # no address space left for a mapping of its own
            return like.new_empty(shape)
    array = np.asarray(_Lender(region, nbytes))
    return torch.from_numpy(array).view(like.dtype).view(shape)


def _take(nbytes: int) -> mmap.mmap | None:
    """The smallest freed mapping that holds ``nbytes`` without wasting most of itself."""
    with _lock:
        fits = [r for r in _free if nbytes <= len(r) <= _SLACK * nbytes]
        if not fits:
            return None
        best = min(fits, key=len)
        _free.remove(best)
        return best


def _give_back(region: mmap.mmap) -> None:
    with _lock:
        _free.append(region)
        while sum(len(r) for r in _free) > POOL_LIMIT:
            _free.pop(0).close()


def pooled_bytes() -> int:
    """Bytes of freed buffers the pool holds now."""
    with _lock:
        return sum(len(r) for r in _free)


def release(keep: int = 0) -> None:
    """Unmap the freed buffers the pool holds but the ``keep`` largest (buffers in use are not
    touched)."""
    with _lock:
        kept = sorted(_free, key=len)[len(_free) - keep:] if keep > 0 else []
        for region in [r for r in _free if not any(r is k for k in kept)]:
            _free.remove(region)
            region.close()
