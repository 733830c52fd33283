"""Consent to run a model file's code: which files the user agreed, in this run, to unpickle."""

from __future__ import annotations

from pathlib import Path

from lstm_viz.formats.hashing import file_sha256


class PickleConsent:
    """The model files the user agreed to unpickle (the unsafe-pickle dialog, or
    ``--allow-pickle`` with ``--model``), each as it was at that moment: a file that changed
    since is no longer covered."""

    def __init__(self) -> None:
        self._files: dict[Path, str] = {}  # path -> SHA-256 when the user agreed

    def agree(self, path: str | Path) -> None:
        """The user agreed to unpickling ``path`` as it is now; OSError when it cannot be
        read."""
        p = Path(path).resolve()
        self._files[p] = file_sha256(p)

    def covers(self, path: str | Path) -> bool:
        """True when the user agreed to unpickling ``path`` and the file has not changed."""
        p = Path(path).resolve()
        digest = self._files.get(p)
        try:
            return digest is not None and file_sha256(p) == digest
        except OSError:
            return False

    def files(self) -> list[Path]:
        """The model files ``covers`` covers now."""
        return [p for p in self._files if self.covers(p)]
