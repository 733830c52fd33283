"""safetensors state dicts, read after their header's names, dtypes and shapes are checked."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch

from .candidates import clip_text, first_line

# A safetensors header lists names, dtypes, shapes and offsets: a few kilobytes for an LSTM.
_MAX_SAFETENSORS_HEADER = 16 << 20  # bytes
_SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                       "I8": 1, "U8": 1, "BOOL": 1, "C64": 8, "C128": 16, "F8_E4M3": 1,
                       "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def is_safetensors(head: bytes, size: int) -> bool:
    """Whether a file starting with ``head`` (its first bytes) of ``size`` bytes is safetensors."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def read_safetensors(path: Path, size: int, budget: int
                     ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of the safetensors file ``path`` (``size`` bytes) by name, and its metadata
    (each value cut to a readable length); ValueError when the header is damaged or the tensors
    would take more than ``budget`` bytes."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > _MAX_SAFETENSORS_HEADER:
            raise ValueError(f"{path.name}: its safetensors header claims {n:,} bytes, more than"
                             f" the {_MAX_SAFETENSORS_HEADER:,} lstm-viz reads (a state dict's"
                             " header takes a few kilobytes; is the file damaged?)")
        try:
            header = json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"{path.name} is a corrupt safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path.name} is a corrupt safetensors file (its header is not an"
                         " object)")
    total = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(info, dict) or info.get("dtype") not in _SAFETENSORS_DTYPES or \
                not isinstance(info.get("shape"), list) or \
                not all(isinstance(d, int) and d >= 0 for d in info["shape"]):
            raise ValueError(f"{path.name}: tensor {key!r} has a bad or unknown dtype/shape"
                             f" in the safetensors header ({info!r:.80})")
        count = int(np.prod(info["shape"], dtype=object)) if info["shape"] else 1
        total += count * _SAFETENSORS_DTYPES[info["dtype"]]
    if total > size - 8 - n:
        raise ValueError(f"{path.name}: its header claims {total} bytes of tensors but the file"
                         f" holds {size - 8 - n}")
    if total > budget:
        raise ValueError(f"{path.name} holds {total} bytes of tensors, more than the memory"
                         " budget")
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            sd = {k: f.get_tensor(k) for k in header if k != "__metadata__"}
            meta = f.metadata() or {}
    except Exception as exc:  # the safetensors package raises its own error types
        raise ValueError(f"{path.name} is a corrupt safetensors file:"
                         f" {first_line(str(exc))}") from None
    return sd, {clip_text(str(k)): clip_text(str(v)) for k, v in meta.items()}
