"""Atomic file writes: a file is either its old self or completely new, never half-written.

The new content goes to a temporary file in the same folder, which is flushed and then renamed
over the target with ``os.replace`` (atomic on POSIX and Windows). On any failure the temporary
file is removed, the old file is left as it was, and the error names the file that could not be
written.

Temporaries are named ``.lstm-viz-XXXXXXXX.tmp`` (eight random characters), whatever the
target's name: short, so that a target whose name is close to the file system's 255-byte limit
can still be written, and recognisable, so that one left behind by a save that was killed
(``kill -9``, a power cut) can be told apart from anybody else's file. Each write into a folder
first removes such leftovers there: a regular file of that exact pattern, owned by this user,
untouched for ``STALE_AFTER_S`` seconds (an hour; a write in progress touches its temporary far
more often than that, so another lstm-viz's save in progress is never removed).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TEMP_PREFIX, TEMP_SUFFIX = ".lstm-viz-", ".tmp"
STALE_AFTER_S = 3600.0
# tempfile's random part: eight characters of its alphabet (lowercase, digits, underscore)
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX))


class WriteError(OSError):
    """A file could not be written; the message names it, and any old file is unchanged."""


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any
                ) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    ``mode`` is "w" or "wb" (with ``newline``/``encoding`` for text)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only; mode must be 'w' or 'wb' (got {mode!r})")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise _write_error(path, exc) from None
        raise


def remove_stale_temporaries(folder: str | os.PathLike[str],
                             older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporaries that killed lstm-viz saves left in ``folder``: regular files named
    ``.lstm-viz-XXXXXXXX.tmp``, owned by this user, unmodified for ``older_than_s`` seconds;
    the paths removed. Never raises: a folder that cannot be listed is left alone."""
    removed: list[Path] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    cutoff = time.time() - older_than_s
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.fullmatch(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if (not stat.S_ISREG(st.st_mode) or st.st_mtime > cutoff
                    or (uid is not None and st.st_uid != uid)):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    kept = "; the old file is unchanged" if path.exists() else ""
    err = WriteError(f"could not write {path}: {reason}{kept}")
    err.errno = exc.errno
    return err


def _keep_mode(path: Path, tmp: str) -> None:
    """Give the new file the old file's permissions (mkstemp makes it 0600), or the umask's."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    return Path(path)


def write_with(path: str | os.PathLike[str], writer: Callable[[IO], object], mode: str = "wb",
               **kwargs: Any) -> Path:
    """Call ``writer(file)`` on a temporary file that then replaces ``path``; returns the path."""
    with atomic_open(path, mode, **kwargs) as fh:
        writer(fh)
    return Path(path)
