"""What several test files build the same way: an nn.LSTM with its input in every form, the
compiled loop or a skip, and a session's output layer as a plain nn.Linear (a reference made
from torch alone)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_viz.tracing import _native

_REAL_NATIVE = _native.native  # before any test replaces it


def model_and_input(kw, lengths, T, B, *, seed, dtype=torch.float32):
    """``nn.LSTM(**kw)`` drawn from ``seed`` in eval mode, and a (T, B) input for it: batch
    first where ``kw`` says so, packed with ``lengths`` when given."""
    torch.manual_seed(seed)
    lstm = nn.LSTM(**kw).to(dtype).eval()
    x = torch.randn(T, B, kw["input_size"], dtype=dtype)
    batch_first = kw.get("batch_first", False)
    if batch_first:
        x = x.transpose(0, 1).contiguous()
    if lengths is not None:
        x = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                 enforce_sorted=False)
    return lstm, x


def looped_steps(monkeypatch) -> list[int]:
    """The number of steps each call of the step loop ran, appended as the trace runs."""
    from lstm_viz.tracing import _kernels

    looped: list[int] = []
    real_loop = _kernels.run_loop

    def loop(x, *args, **kw):
        looped.append(x.shape[0])
        return real_loop(x, *args, **kw)

    monkeypatch.setattr(_kernels, "run_loop", loop)
    return looped


def real_native():
    """The compiled code as ``_native`` builds it, whatever a test put in its place."""
    return _REAL_NATIVE()


def native_or_skip(loop: bool = True):
    """The compiled code (with its C loop when ``loop``); skips where it cannot be had, except
    under CI, whose machines have a C compiler and torch's MKL: there it must build."""
    compiled = real_native()
    if compiled is None or (loop and compiled.loop is None):
        if os.environ.get("CI") == "true":
            pytest.fail("the compiled steps did not build on this CI machine")
        pytest.skip("the compiled steps do not build here")
    return compiled


def head_linear(session) -> nn.Linear:
    """An nn.Linear with the weights of the session's output layer."""
    head = session.head
    linear = nn.Linear(head.weight.shape[1], head.out_features)
    with torch.no_grad():
        linear.weight.copy_(head.weight)
        linear.bias.copy_(head.bias)
    return linear


def session_file(path: Path, **session) -> Path:
    """A small session file at ``path`` (LSTM(2, 3) on a 6-step sine), ``session`` overriding
    its fields: what the command-line tests open with --config."""
    doc = {"format": "lstm-viz session", "format_version": 1, "weights": None,
           "session": {"input_size": 2, "hidden_size": 3, "seq_len": 6, "batch_size": 1,
                       "input": {"source": "sine"}, "seed": 1, **session}}
    path.write_text(json.dumps(doc))
    return path
