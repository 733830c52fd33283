"""What a model's output head predicts at every step, against the next input when it has one.

The head is the Linear (or tied embedding) that reads the LSTM's output
(``lstm_viz.formats.loader.Head``).
Its input at step t is the last layer's h of every direction, concatenated: exactly the
``output`` nn.LSTM returns. The target is the next input:

- a head with one output per vocabulary token, on text read through that vocabulary
  (the ``"tokens"`` or ``"text"`` input), predicts the next token: softmax probabilities,
  the probability of the true next token and the cross-entropy loss in nats;
- a head with as many outputs as the LSTM has input features forecasts the next input
  x_{t+1}: the error (forecast − truth) and the squared error summed over features;
- any other head gives its outputs only, with no target and no loss.

The last step has no next input, and steps past a sequence's length no output: NaN there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..formats.loader import Head
from ..inputs import InputSpec, text_vocabulary
from ..text.textinput import spec_encoding, spec_vocab
from ..tracing import Trace

KINDS = ("next token", "forecast", "outputs")


@dataclass(frozen=True)
class Predictions:
    """The head's answer at every step of one trace.

    kind: one of ``KINDS``. outputs: (T, B, K) the head's raw outputs (logits for tokens).
    target: (T, B, F) next input for a forecast, (T, B) next token index (−1: none) for
    tokens, None otherwise. probs: (T, B, V) softmax for tokens. p_target: (T, B) probability
    of the true next token. error: (T, B, F) forecast − truth. loss: (T, B) per step (nats for
    tokens, squared error for a forecast), NaN where there is no target. vocab: the tokens.
    """

    kind: str
    outputs: np.ndarray
    target: np.ndarray | None = None
    probs: np.ndarray | None = None
    p_target: np.ndarray | None = None
    error: np.ndarray | None = None
    loss: np.ndarray | None = None
    vocab: tuple[str, ...] = ()

    def top(self, t: int, batch: int = 0, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable next tokens at step ``t`` as (token, probability)."""
        if self.probs is None:
            raise ValueError(f"a {self.kind} head has no token probabilities")
        p = self.probs[t, batch]
        if not np.isfinite(p).all():
            return []
        order = np.argsort(-p, kind="stable")[:k]
        return [(self.vocab[i], float(p[i])) for i in order]


def lstm_output(trace: Trace) -> torch.Tensor:
    """The LSTM's output, time-major (T, B, D * H_out): the last layer's h of each direction,
    concatenated, NaN past a sequence's length."""
    last = trace.config.num_layers - 1
    return torch.cat([trace.h[last, d] for d in range(trace.config.num_directions)], dim=-1)


def head_outputs(trace: Trace, head: Head) -> np.ndarray:
    """The head run on every step's output: (T, B, out_features), float64."""
    out = lstm_output(trace).detach().to("cpu", torch.float64)
    if head.weight.shape[1] != out.shape[-1]:
        raise ValueError(f"the head {head.key} reads {head.weight.shape[1]} features but the"
                         f" LSTM's output has {out.shape[-1]}; load the head of this LSTM")
    y = out @ head.weight.detach().to("cpu", torch.float64).T
    if head.bias is not None:
        y = y + head.bias.detach().to("cpu", torch.float64)
    return y.numpy()


def token_grid(spec: InputSpec) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Token indices (T, B) of a text input, laid out as the input sources lay them out, and
    the vocabulary; None for input that is not text."""
    if spec.source == "tokens":
        # the spec's own tokenizer; its unknown tokens were already reported with the input
        vocab = list(spec_vocab(spec))
        index = list(spec_encoding(spec).indices)
    elif spec.source == "text":
        vocab = list(spec.params.get("vocab") or text_vocabulary(spec.text))
        lookup = {ch: i for i, ch in enumerate(vocab)}
        index = [lookup[ch] for ch in spec.text]
    else:
        return None
    n = len(index)
    if n == 0:
        return None
    grid = np.array([[index[(b * spec.seq_len + t) % n] for b in range(spec.batch_size)]
                     for t in range(spec.seq_len)], dtype=np.int64)
    return grid, tuple(vocab)


def predict(trace: Trace, head: Head, spec: InputSpec | None = None) -> Predictions:
    """The head's predictions for ``trace`` and, where it has one, their target: the next
    token of the input text (``spec``) or the next input value. A windowed trace's arrays hold
    its steps [start, stop); their targets come from the whole input (the step after the
    window's last has one too)."""
    y = head_outputs(trace, head)
    T, B, K = y.shape
    a, total = trace.start, int(trace.meta.get("total_steps") or T)
    position = a + np.arange(T)[:, None]  # (T, 1): input positions
    valid = position < trace.lengths.numpy()[None, :]  # (T, B)
    has_next = position + 1 < trace.lengths.numpy()[None, :]
    tokens = token_grid(spec) if spec is not None else None
    if tokens is not None and tokens[0].shape == (total, B) and len(tokens[1]) == K:
        grid, vocab = tokens
        with np.errstate(invalid="ignore"):
            z = y - np.nanmax(y, axis=-1, keepdims=True)
            e = np.exp(z)
            probs = e / e.sum(axis=-1, keepdims=True)
        target = np.full((T, B), -1, dtype=np.int64)
        following = grid[a + 1:a + T + 1]
        target[:len(following)] = following
        target[~has_next] = -1
        p_target = np.take_along_axis(probs, np.maximum(target, 0)[..., None], -1)[..., 0]
        p_target = np.where(target >= 0, p_target, np.nan)
        with np.errstate(divide="ignore"):
            loss = -np.log(p_target)
        return Predictions("next token", y, target, probs, p_target, None, loss, vocab)
    x = trace.x.detach().to("cpu", torch.float64).numpy()
    if K == x.shape[-1]:
        # the whole input, time-major: a windowed trace keeps it with its checkpoints
        whole = trace.x if trace.checkpoints is None else trace.checkpoints.x
        following = whole[a + 1:a + T + 1].detach().to("cpu", torch.float64).numpy()
        target = np.full_like(x, np.nan)
        target[:len(following)] = following
        target[~has_next] = np.nan
        y = np.where(valid[..., None], y, np.nan)
        error = y - target
        loss = (error ** 2).sum(axis=-1)
        loss[~has_next] = np.nan
        return Predictions("forecast", y, target, error=error, loss=loss)
    return Predictions("outputs", y)
