"""File digests shared by the model loaders and the session files."""

from __future__ import annotations

import hashlib
from os import PathLike


def file_sha256(path: str | PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
