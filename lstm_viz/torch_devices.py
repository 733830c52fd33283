"""Which torch devices can run an LSTM here, and a clear error for one that can't."""

from __future__ import annotations

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
