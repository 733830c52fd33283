"""Which torch devices can run an LSTM here, and a clear error for one that can't."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def devices() -> list[str]:
    """Usable devices, ``"cpu"`` first, then ``cuda:N`` and ``mps`` when present."""
    found = ["cpu"]
    try:
        if torch.cuda.is_available():
            found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not take the app down
        pass
    mps = getattr(torch.backends, "mps", None)
    try:
        if mps is not None and mps.is_available():
            found.append("mps")
    except Exception:
        pass
    return found


def _why_missing(kind: str) -> str:
    if kind == "cuda":
        if not torch.backends.cuda.is_built():
            return "this torch was built without CUDA"
        return "no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)"
    if kind == "mps":
        return "Apple's Metal (MPS) backend is only available on Apple silicon Macs"
    return "torch cannot use it here"


def unavailable_devices() -> dict[str, str]:
    """The GPU backends lstm-viz supports that are not usable here, with the reason for each
    (``{"cuda": "this torch was built without CUDA"}``), so a GUI can say why."""
    have = {d.split(":")[0] for d in devices()}
    return {kind: _why_missing(kind) for kind in ("cuda", "mps") if kind not in have}


def resolve_device(name: str | torch.device) -> torch.device:
    """``torch.device(name)`` if it is usable here, else a ValueError that lists what is."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {name!r} is not a device name ({exc}); available:"
                         f" {', '.join(devices())}") from None
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", 0)
    available = devices()
    key = str(dev) if dev.type != "mps" else "mps"
    if key not in available:
        why = _why_missing(dev.type)
        raise ValueError(f"device {str(dev)!r} is not available: {why}; available:"
                         f" {', '.join(available)}")
    return dev


def rnn_uses_tf32(device: str | torch.device) -> bool:
    """True when nn.LSTM on ``device`` computes float32 through cuDNN in TF32.

    That is torch's default for recurrent layers on NVIDIA GPUs of compute capability 8.0 and
    newer: the matrix products round their inputs to TF32 (a 10-bit mantissa), so nn.LSTM's
    float32 results there differ from IEEE float32 arithmetic in about the fourth digit.
    """
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.backends.cudnn.enabled:
        return False
    try:
        if not torch.backends.cudnn.is_available() or \
                torch.cuda.get_device_capability(dev)[0] < 8:
            return False
        return _cudnn_rnn_tf32()
    except Exception:  # a broken driver: nothing runs there anyway
        return False


def _cudnn_rnn_tf32() -> bool:
    """cuDNN's TF32 setting for recurrent layers. Torch 2.9 and newer keep it per operator
    ("tf32", "ieee", or "none": as the level above) and refuse to read the older, single flag
    once the two APIs disagree, so the newer one is read where it exists."""
    levels = [getattr(getattr(torch.backends.cudnn, "rnn", None), "fp32_precision", None),
              getattr(torch.backends.cudnn, "fp32_precision", None),
              getattr(torch.backends, "fp32_precision", None)]
    if levels[0] is None:
        return bool(torch.backends.cudnn.allow_tf32)
    return next((p for p in levels if p not in (None, "none")), "ieee") == "tf32"


@contextmanager
def rnn_precision(device: str | torch.device) -> Iterator[None]:
    """Run the matrix products inside in the precision nn.LSTM itself uses on ``device``.

    Where cuDNN computes nn.LSTM in TF32 (``rnn_uses_tf32``), float32 matrix products inside
    the block use TF32 too, so that a trace holds the numbers nn.LSTM computes on that GPU; the
    process-wide setting is restored on exit. Elsewhere it changes nothing.
    """
    if not rnn_uses_tf32(device):
        yield
        return
    matmul = torch.backends.cuda.matmul
    if getattr(matmul, "fp32_precision", None) is not None:  # torch 2.9 and newer
        before = matmul.fp32_precision
        matmul.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision = before
        return
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
