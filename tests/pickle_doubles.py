"""Pickled objects that run code when a file is fully unpickled, for the tests that check no
file makes lstm-viz run its code (the engine's reader and the GUI's consent alike)."""

from __future__ import annotations

import builtins

from torch import nn


class WriteMarker:
    """Fully unpickling this runs Python code that creates the file ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


class BuiltOnLoad:
    """Holds no weights: unpickling calls ``nn.LSTM(*args)``, so only a full (unsafe) load
    finds an LSTM in it."""

    def __init__(self, *args: int) -> None:
        self.args = args or (3, 4)

    def __reduce__(self):
        return nn.LSTM, self.args


class NetWithPayload(nn.Module):
    """A whole model with an ``nn.LSTM(4, 6)`` the safe reader finds; a full unpickle also runs
    the payload, which creates ``marker``."""

    def __init__(self, marker) -> None:
        super().__init__()
        self.rnn = nn.LSTM(4, 6)
        self.payload = WriteMarker(marker)
