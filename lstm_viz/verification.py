"""Check a trace against nn.LSTM itself: the app's "matches nn.LSTM" figure."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .tracing import Trace


def verify(lstm: nn.LSTM, input: torch.Tensor | PackedSequence, result: Trace,
           hx: Any = None) -> float:
    """Run ``lstm(input, hx)`` itself (eval semantics, no grad) and return the largest absolute
    difference between its output, h_n, c_n and the trace's: the app's "matches nn.LSTM" check."""
    module = copy.deepcopy(lstm).eval() if lstm.training else lstm  # never touch the caller's
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
        out, (h_n, c_n) = module(input, hx) if hx is not None else module(input)
    ours = result.output.data if isinstance(result.output, PackedSequence) else result.output
    theirs = out.data if isinstance(out, PackedSequence) else out
    return max(float((a - b).abs().max()) if a.numel() else 0.0
               for a, b in ((ours, theirs), (result.h_n, h_n), (result.c_n, c_n)))
