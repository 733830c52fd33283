"""What happens when a unit is switched off: ablation and clamping replayed, and the difference.

An ``Ablation`` (lstm_viz.tracing.edits) zeroes a unit's h or c, or clamps one of its gates, at
every input position of a span. ``replay`` traces the LSTM as it is and with the ablations applied,
and ``difference`` subtracts the two runs for every gate and state and, when the model has an
output head, for its prediction and its loss at every step::

    run = replay(lstm, x, [Ablation("f", layer=0, direction=0, batch=0, units=(3,), value=0.0,
                                    start=10)], head=head, target=next_tokens)
    run.difference.c          # (L, D, T, B, H) edited minus original
    run.difference.loss       # (T, B) edited minus original, or None without a head

A Session applies ablations itself (``session.ablate``) and keeps the run before the first edit
as ``session.original``; ``difference(session.original, session.trace)`` compares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..text.textinput import encode, spec_vocab
from ..tracing import Trace, trace
from ..tracing.edits import Ablation, StateEdit
from ..validate import check_ablation_fits


@dataclass
class Difference:
    """Edited minus original for every value the trace holds, NaN past a sequence's length.

    gates (L, D, T, B, 4, H), c (L, D, T, B, H), h (L, D, T, B, H_out); with a head:
    prediction (T, B, n_out), and loss (T, B) when a target was given (else None), plus both
    runs' own predictions and losses for showing side by side."""

    gates: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor
    prediction: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    original_prediction: torch.Tensor | None = None
    edited_prediction: torch.Tensor | None = None
    original_loss: torch.Tensor | None = None
    edited_loss: torch.Tensor | None = None

    def max_abs(self) -> dict[str, float]:
        """The largest |difference| of each part (NaN ignored): how far the ablation reached."""
        parts = {"i": self.gates[..., 0, :], "f": self.gates[..., 1, :],
                 "g": self.gates[..., 2, :], "o": self.gates[..., 3, :], "c": self.c,
                 "h": self.h, "prediction": self.prediction, "loss": self.loss}
        return {k: float(torch.nan_to_num(v.abs(), nan=0.0).max()) if v.numel() else 0.0
                for k, v in parts.items() if v is not None}


@dataclass
class Replay:
    """Both runs of a replay and their difference."""

    original: Trace
    edited: Trace
    difference: Difference
    ablations: tuple[Ablation, ...]


def expand(ablations: Sequence[Ablation], seq_len: int) -> list[StateEdit]:
    """The per-step edits the trace applies for ``ablations``."""
    return [e for a in ablations for e in a.expand(seq_len)]


def head_outputs(source: Trace, head: Any) -> torch.Tensor:
    """(T, B, n_out) the head applied to the LSTM's output features at every step (the top
    layer's h, both directions side by side, as ``lstm(input)`` returns them).

    ``head`` is an nn.Module, or anything with a ``weight`` (n_out, features) and ``bias``
    (an io.Head found next to a loaded LSTM)."""
    cfg = source.config
    top = torch.cat([source.h[cfg.num_layers - 1, d] for d in range(cfg.num_directions)], -1)
    with torch.no_grad():
        if isinstance(head, nn.Module):
            return head(top)
        weight = getattr(head, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"head must be an nn.Module or have a weight tensor, got"
                             f" {type(head).__name__}")
        if weight.shape[-1] != top.shape[-1]:
            raise ValueError(f"the head takes {weight.shape[-1]} features but the LSTM gives"
                             f" {top.shape[-1]} at each step")
        bias = getattr(head, "bias", None)
        return F.linear(top, weight.to(top), None if bias is None else bias.to(top))


def step_losses(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(T, B) the loss at every step: cross-entropy against class indices ``target`` (T, B),
    or mean squared error against float ``target`` (T, B, n_out)."""
    T, B, n = prediction.shape
    target = torch.as_tensor(target, device=prediction.device)
    if not torch.is_floating_point(target):
        if tuple(target.shape) != (T, B):
            raise ValueError(f"a class-index target must have shape (T, B) = {(T, B)}, got"
                             f" {tuple(target.shape)}")
        if bool(((target < 0) | (target >= n)).any()):
            raise ValueError(f"class-index targets must be in [0, {n - 1}] (the head has {n}"
                             " outputs)")
        return F.cross_entropy(prediction.reshape(T * B, n), target.reshape(-1),
                               reduction="none").view(T, B)
    if tuple(target.shape) != (T, B, n):
        raise ValueError(f"a float target must have shape (T, B, n_out) = {(T, B, n)}, got"
                         f" {tuple(target.shape)}")
    return ((prediction - target.to(prediction)) ** 2).mean(-1)


def difference(original: Trace, edited: Trace, head: Any = None, target: Any = None
               ) -> Difference:
    """Edited minus original for every gate and state, and for the head's prediction (and the
    loss, given ``target``) when ``head`` is given. Both traces must be of the same LSTM and
    input shape."""
    if original.gates.shape != edited.gates.shape or original.h.shape != edited.h.shape:
        raise ValueError(f"the two runs differ in shape ({tuple(original.gates.shape)} and"
                         f" {tuple(edited.gates.shape)}): compare runs of the same LSTM on the"
                         " same input")
    diff = Difference(gates=edited.gates - original.gates, c=edited.c - original.c,
                      h=edited.h - original.h)
    if head is None:
        if target is not None:
            raise ValueError("a target needs a head: the loss is taken of the head's output")
        return diff
    before, after = head_outputs(original, head), head_outputs(edited, head)
    diff.original_prediction, diff.edited_prediction = before, after
    diff.prediction = after - before
    if target is not None:
        diff.original_loss, diff.edited_loss = step_losses(before, target), \
            step_losses(after, target)
        diff.loss = diff.edited_loss - diff.original_loss
    return diff


def changed_steps(before: Any, after: Any, atol: float = 0.0, axis: int = -1
                  ) -> tuple[int, int] | None:
    """(first, stop): the input positions where ``after`` differs from ``before`` by more than
    ``atol`` anywhere, first <= t < stop, for two equally shaped arrays (numpy or torch) whose
    time axis is ``axis`` (-1 for a view's (units, T); 0 for a trace's ``c[layer, direction]``
    (T, B, H)). NaN in both (past a sequence's end) is no change. None when nothing changed."""
    a, b = (v.detach().cpu().double().numpy() if isinstance(v, torch.Tensor)
            else np.asarray(v, dtype=float) for v in (before, after))
    if a.ndim == 0:
        raise ValueError("changed_steps needs arrays with a time axis, got scalars")
    if a.shape != b.shape:
        raise ValueError(f"the two runs differ in shape ({a.shape} and {b.shape}): compare"
                         " the same quantity of two runs of the same LSTM and input")
    with np.errstate(invalid="ignore"):
        delta = np.abs(b - a)
    moved = np.moveaxis((delta > atol) | (np.isnan(a) != np.isnan(b)), axis, -1)
    steps = np.nonzero(moved.reshape(-1, moved.shape[-1]).any(axis=0))[0]
    if not len(steps):
        return None
    return int(steps[0]), int(steps[-1]) + 1


def replay(lstm: nn.LSTM, input: torch.Tensor | PackedSequence, ablations: Sequence[Ablation],
           *, head: Any = None, target: Any = None, hx: Any = None,
           memory_budget: int | None = None) -> Replay:
    """Trace ``lstm`` on ``input`` as it is and with ``ablations`` applied; returns both runs
    and their difference (see ``difference``). Checked against the budget before tracing."""
    ablations = tuple(ablations)
    for k, a in enumerate(ablations):
        if not isinstance(a, Ablation):
            raise ValueError(f"ablations[{k}] must be an Ablation, got {type(a).__name__}")
    with torch.no_grad():
        # both runs by the same kernel: the difference is exactly zero where nothing changed
        original = trace(lstm, input, hx, memory_budget=memory_budget, method="loop")
        T, B = original.num_steps, original.batch_size
        lengths = [int(n) for n in original.lengths]
        for k, a in enumerate(ablations):
            check_ablation_fits(a, original.config, T, B, lengths, f"ablations[{k}]")
        edited = trace(lstm, input, hx, memory_budget=memory_budget, method="loop",
                       overrides=expand(ablations, T))
    return Replay(original, edited, difference(original, edited, head, target), ablations)


def head_module(head: Any, like: torch.Tensor) -> nn.Linear:
    """An nn.Linear holding a loaded head's weights (an io.Head), in ``like``'s dtype/device."""
    n_out, n_in = head.weight.shape
    linear = nn.Linear(n_in, n_out, bias=head.bias is not None, dtype=like.dtype,
                       device=like.device)
    with torch.no_grad():
        linear.weight.copy_(head.weight)
        if head.bias is not None:
            linear.bias.copy_(head.bias)
    return linear.eval()


def next_step_targets(session: Any) -> torch.Tensor | None:
    """What the head predicts at each step, when the input says it: the next token's index
    (T, B) for tokens input whose vocabulary is the head's outputs, or the next input vector
    (T, B, n) when the head gives input_size outputs. The last step's target is the first
    step's (nothing follows it; its loss is not shown). None when neither applies."""
    head, spec, x = session.head, session.input_spec, session.input_tm
    if head is None:
        return None
    T, B, n_in = x.shape
    n_out = head.out_features
    if spec.source == "tokens":
        try:
            vocab = spec_vocab(spec)
            ids = encode(spec.text, vocab)
        except ValueError:
            return None
        if len(vocab) != n_out or not ids:
            return None
        n = len(ids)
        return torch.tensor([[ids[(b * spec.seq_len + t + 1) % n] for b in range(B)]
                             for t in range(T)], dtype=torch.long)
    if n_out == n_in:
        return torch.roll(x.detach().cpu(), -1, 0)
    return None
