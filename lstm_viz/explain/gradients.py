"""Why a unit holds what it holds: gradients of one value through time, and the forget-gate memory.

``influence`` picks one value, the *target*: h or c of one unit at input position t (in one
layer and direction), or, with an output head, the head's prediction or its loss at t. It then
answers, for every earlier number the LSTM saw or computed, "how much would the target move if
this number moved a little?" That is the gradient of the target with respect to

    x[s]        every input step (how much h[unit] at t would move if x at step s moved),
    h[l, d, s]  every hidden state, of every layer and direction,
    c[l, d, s]  every cell state, of every layer and direction,
    h_0, c_0    the initial state.

``nn.LSTM`` runs a fused kernel whose intermediate states are not tensors one can take a gradient
with respect to, so the LSTM is recomputed here step by step, differentiably, from the module's
own parameters (gate order i, f, g, o; proj_size's W_hr; packed sequences, batch_first and hx as
nn.LSTM handles them), and torch's autograd does the rest.

What each gradient holds still (the convention, stated once):

* ∂target/∂h[l, d, s] moves h at s and lets *everything* computed from it move too: the next
  step of its own layer and direction, the layer above at the same step, and the head.
* ∂target/∂c[l, d, s] moves the cell state that step s hands to step s + 1 while h at s stays as
  it is: the influence that travels along the cell path, the LSTM's long-term memory. (The part
  that goes through h at s is in ∂target/∂h[l, d, s].) It is exactly what one gets by running
  nn.LSTM up to s, nudging the c it returns, and running on.

Zero is the right answer for states the target cannot depend on (later steps of a
unidirectional layer, other batch elements); positions past a packed sequence's length are NaN,
as in the trace.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from ..config import LSTMConfig
from ..torch_devices import rnn_precision
from ..tracing import Trace, _check_input
from ..tracing.budget import DEFAULT_MEMORY_BUDGET, TraceBudgetError

STATES = ("h", "c", "prediction", "loss")
# Bytes of autograd nodes and tensor headers per step, layer and direction (measured peak RSS
# growth with hidden_size 16, where the values themselves are negligible).
_STEP_OVERHEAD = 16 << 10


@dataclass
class Influence:
    """Gradients of one target value with respect to every input step and every state.

    x: (T, B, input_size) ∂target/∂x, time-major like the trace's input; h: (L, D, T, B, H_out)
    ∂target/∂h; c: (L, D, T, B, H) ∂target/∂c (cell path, see the module docstring);
    h_0: (L*D, B, H_out) and c_0: (L*D, B, H) ∂target/∂(initial state). Zero where the target
    cannot depend on a value, NaN past a packed sequence's length. value: the target itself.
    """

    x: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor
    h_0: torch.Tensor
    c_0: torch.Tensor
    value: float
    state: str
    layer: int
    direction: int
    t: int
    unit: int | None
    batch: int
    lengths: torch.Tensor
    config: LSTMConfig
    elapsed_s: float = 0.0

    @property
    def num_steps(self) -> int:
        return self.x.shape[0]

    @property
    def x_norm(self) -> np.ndarray:
        """(T,) ‖∂target/∂x_s‖ over input features, for the target's batch element."""
        return _norm(self.x[:, self.batch])

    @property
    def h_norm(self) -> np.ndarray:
        """(L, D, T) ‖∂target/∂h_s‖ over units, per layer and direction, for the target's batch
        element: how strongly the target still depends on the hidden state at each step."""
        return _norm(self.h[:, :, :, self.batch])

    @property
    def c_norm(self) -> np.ndarray:
        """(L, D, T) ‖∂target/∂c_s‖ over units (the cell path), per layer and direction: where
        the memory carried by c fades, and where it does not."""
        return _norm(self.c[:, :, :, self.batch])


def _norm(grad: torch.Tensor) -> np.ndarray:
    """Euclidean norm over the last axis, as float64 numpy (NaN stays NaN)."""
    return torch.linalg.vector_norm(grad.detach().double(), dim=-1).cpu().numpy()


# ----- memory ------------------------------------------------------------------------------

def estimate_influence_bytes(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                             dtype: torch.dtype = torch.float32) -> int:
    """Bytes an influence map of this size needs: the autograd graph of one sequence's
    recomputation (about 24 H + 6 H_out values per step, layer and direction, with the
    backward pass's gradients, plus the bookkeeping of its small tensors), the returned
    gradients for the whole batch, and the weights."""
    B = batch_size or 1
    item = torch.empty((), dtype=dtype).element_size()
    H, Ho, L, D = cfg.hidden_size, cfg.h_out, cfg.num_layers, cfg.num_directions
    layer_inputs = sum(cfg.layer_input_size(layer) for layer in range(L))
    graph = seq_len * (L * D * (24 * H + 6 * Ho) + 3 * layer_inputs)
    probes = 2 * L * D * seq_len * (H + Ho)  # the zero probes and their gradients
    result = L * D * seq_len * B * (H + Ho) + seq_len * B * cfg.input_size
    weights = 2 * _parameter_count(cfg)
    return int((graph + probes + result + weights) * item) + _STEP_OVERHEAD * L * D * seq_len


def _parameter_count(cfg: LSTMConfig) -> int:
    H, Ho, D = cfg.hidden_size, cfg.h_out, cfg.num_directions
    per_dir = [4 * H * (cfg.layer_input_size(layer) + Ho) + (8 * H if cfg.bias else 0)
               + (Ho * H if cfg.proj_size else 0) for layer in range(cfg.num_layers)]
    return D * sum(per_dir)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_influence_budget(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                           dtype: torch.dtype = torch.float32, budget: int | None = None) -> int:
    """Return the bytes ``influence`` needs for this size, or raise TraceBudgetError naming the
    estimate and what to reduce. Called before anything is allocated."""
    budget = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
    need = estimate_influence_bytes(cfg, batch_size, seq_len, dtype)
    if need > budget:
        raise TraceBudgetError(
            f"this influence map would need about {_fmt_bytes(need)} (an autograd graph of"
            f" num_layers={cfg.num_layers} x directions={cfg.num_directions} x"
            f" seq_len={seq_len} steps, and gradients for batch={batch_size or 1}), over the"
            f" memory budget of {_fmt_bytes(budget)}; reduce seq_len, batch size, hidden_size"
            " or num_layers (or raise the budget)")
    return need


# ----- inputs ------------------------------------------------------------------------------

def _time_major(lstm: nn.LSTM, input: torch.Tensor | PackedSequence
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (x (T, B, in) time-major and detached, lengths (B,) int64 on the CPU)."""
    if isinstance(input, PackedSequence):
        x, lengths = pad_packed_sequence(input, batch_first=False)
        return x.detach(), lengths.to(torch.int64)
    if not isinstance(input, torch.Tensor):
        raise ValueError(f"input must be a tensor or a PackedSequence, got {type(input).__name__}")
    if input.dim() == 2:
        x = input.unsqueeze(1)
    elif input.dim() == 3:
        x = input.transpose(0, 1) if lstm.batch_first else input
    else:
        layout = "(batch, seq_len, input_size)" if lstm.batch_first else \
            "(seq_len, batch, input_size)"
        raise ValueError(f"input must be 2-D (seq_len, input_size) or 3-D {layout},"
                         f" got {input.dim()}-D with shape {tuple(input.shape)}")
    return x.detach(), torch.full((x.shape[1],), x.shape[0], dtype=torch.int64)


def _initial_state(cfg: LSTMConfig, hx: tuple[torch.Tensor, torch.Tensor] | None, B: int,
                   unbatched: bool, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (h_0 (L*D, B, H_out), c_0 (L*D, B, H)), detached; zeros when hx is None."""
    LD = cfg.num_layers * cfg.num_directions
    if hx is None:
        return like.new_zeros(LD, B, cfg.h_out), like.new_zeros(LD, B, cfg.hidden_size)
    if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise ValueError("hx must be a tuple (h_0, c_0)")
    h0, c0 = hx
    lead = (LD,) if unbatched else (LD, B)
    for name, value, size in (("h_0", h0, cfg.h_out), ("c_0", c0, cfg.hidden_size)):
        if tuple(value.shape) != lead + (size,):
            raise ValueError(f"{name} must have shape {lead + (size,)} = (D*num_layers"
                             f"{'' if unbatched else ', batch'}, "
                             f"{'H_out' if name == 'h_0' else 'hidden_size'}), got "
                             f"{tuple(value.shape)}")
    if unbatched:
        h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
    return h0.detach().to(like), c0.detach().to(like)


def _weights(lstm: nn.LSTM, layer: int, direction: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(W_ih, W_hh, b_ih + b_hh or None, W_hr or None) of one layer and direction, detached."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    w_ih = getattr(lstm, "weight_ih" + sfx).detach()
    w_hh = getattr(lstm, "weight_hh" + sfx).detach()
    b_ih = getattr(lstm, "bias_ih" + sfx, None)
    b_hh = getattr(lstm, "bias_hh" + sfx, None)
    bias = None if b_ih is None else (b_ih + b_hh).detach()
    w_hr = getattr(lstm, "weight_hr" + sfx, None)
    return w_ih, w_hh, bias, None if w_hr is None else w_hr.detach()


# ----- the differentiable recomputation ------------------------------------------------------

def _run(lstm: nn.LSTM, cfg: LSTMConfig, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
         probe_h: torch.Tensor, probe_c: torch.Tensor
         ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Run the LSTM step by step on one sequence x (T, 1, in), differentiably.

    probe_h (L, D, T, 1, H_out) and probe_c (L, D, T, 1, H) are zeros added to every h and to
    every carried c: their gradients are ∂target/∂h and ∂target/∂c. Returns
    (h (L, D) nested lists of (T, 1, H_out) sequences at input positions, c likewise).
    """
    L, D = cfg.num_layers, cfg.num_directions
    hs: list[list[torch.Tensor]] = []
    cs: list[list[torch.Tensor]] = []
    layer_in = x
    for layer in range(L):
        hs.append([])
        cs.append([])
        for d in range(D):
            w_ih, w_hh, bias, w_hr = _weights(lstm, layer, d)
            k = layer * D + d
            seq = layer_in if d == 0 else layer_in.flip(0)
            eh, ec = probe_h[layer, d], probe_c[layer, d]
            if d == 1:
                eh, ec = eh.flip(0), ec.flip(0)
            pre = F.linear(seq, w_ih, bias)  # (T, 1, 4H): the input part, for all steps at once
            # h @ W^T with W^T stored contiguous: several times faster than F.linear for a
            # single row on the CPU, forwards and backwards.
            w_hh_t = w_hh.t().contiguous()
            w_hr_t = None if w_hr is None else w_hr.t().contiguous()
            h, c = h0[k], c0[k]
            h_steps, c_steps = [], []
            for z_in, dh, dc in zip(pre.unbind(0), eh.unbind(0), ec.unbind(0)):
                i, f, g, o = (z_in + h @ w_hh_t).chunk(4, dim=-1)
                c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h_new = torch.sigmoid(o) * torch.tanh(c_new)
                if w_hr_t is not None:
                    h_new = h_new @ w_hr_t
                h, c = h_new + dh, c_new + dc  # h as everything after uses it; c as carried
                h_steps.append(h)
                c_steps.append(c)
            h_seq, c_seq = torch.stack(h_steps), torch.stack(c_steps)
            if d == 1:
                h_seq, c_seq = h_seq.flip(0), c_seq.flip(0)
            hs[layer].append(h_seq)
            cs[layer].append(c_seq)
        if layer + 1 < L:
            layer_in = torch.cat(hs[layer], dim=-1) if D == 2 else hs[layer][0]
    return hs, cs


def _target_value(hs: list[list[torch.Tensor]], cs: list[list[torch.Tensor]], cfg: LSTMConfig,
                  state: str, layer: int, direction: int, t: int, unit: int | None,
                  head: nn.Module | None, target: Any) -> torch.Tensor:
    """The scalar the gradients are taken of."""
    if state == "h":
        return hs[layer][direction][t, 0, unit]
    if state == "c":
        return cs[layer][direction][t, 0, unit]
    assert head is not None  # _check_target requires one for these states
    top = hs[cfg.num_layers - 1]
    features = torch.cat([seq[t] for seq in top], dim=-1)  # (1, D * H_out): output[t]
    out = head(features).reshape(-1)
    n = out.numel()
    if state == "prediction":
        if unit >= n:
            raise ValueError(f"unit must be in [0, {n - 1}]: the head has {n} outputs (got {unit})")
        return out[unit]
    if not torch.is_floating_point(target):
        if target.numel() != 1 or not 0 <= int(target) < n:
            raise ValueError(f"a class-index target must be one integer in [0, {n - 1}] (the"
                             f" head has {n} outputs), got {target.tolist()}")
        return F.cross_entropy(out.reshape(1, -1), target.reshape(1))
    if target.numel() != n:
        raise ValueError(f"a float target must have the head's {n} outputs (for MSE), got shape"
                         f" {tuple(target.shape)}")
    return F.mse_loss(out.reshape(target.shape), target)


def _check_target(cfg: LSTMConfig, state: str, layer: int | None, direction: int, t: int,
                  unit: int | None, batch: int, lengths: torch.Tensor, head: nn.Module | None,
                  target: Any, like: torch.Tensor) -> tuple[int, torch.Tensor | None]:
    """Validate the choice of target; -> (layer, target tensor or None)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)} (got {state!r})")
    B = lengths.shape[0]
    if not 0 <= batch < B:
        raise ValueError(f"batch must be in [0, {B - 1}] (got {batch})")
    n = int(lengths[batch])
    if not 0 <= t < n:
        raise ValueError(f"t must be an input position in [0, {n - 1}] for batch element"
                         f" {batch}, whose sequence has {n} steps (got {t})")
    if state in ("prediction", "loss"):
        if head is None:
            raise ValueError(f"state={state!r} needs an output head: pass head=nn.Module that"
                             " maps the LSTM's output features at one step to a prediction")
        if state == "loss":
            if target is None:
                raise ValueError("state='loss' needs target: a class index (cross-entropy) or"
                                 " a float tensor shaped like the head's output (MSE)")
            if unit is not None:
                raise ValueError("unit does not apply to state='loss'; leave it out")
            target = torch.as_tensor(target, device=like.device)
            if torch.is_floating_point(target):
                target = target.to(like.dtype)
        elif unit is None or unit < 0:
            raise ValueError("state='prediction' needs unit: the index of the head's output")
        return cfg.num_layers - 1, target
    if head is not None or target is not None:
        raise ValueError(f"head and target apply to state='prediction' or 'loss', not"
                         f" state={state!r}")
    layer = cfg.num_layers - 1 if layer is None else layer
    if not 0 <= layer < cfg.num_layers:
        raise ValueError(f"layer must be in [0, {cfg.num_layers - 1}] (got {layer})")
    if direction not in range(cfg.num_directions):
        raise ValueError(f"direction must be {'0 or 1' if cfg.num_directions == 2 else '0'}"
                         f" for this LSTM (got {direction})")
    size = cfg.h_out if state == "h" else cfg.hidden_size
    if unit is None or not 0 <= unit < size:
        raise ValueError(f"unit must be in [0, {size - 1}] for state={state!r} (got {unit})")
    return layer, None


def influence(lstm: nn.LSTM, input: torch.Tensor | PackedSequence, *, layer: int | None = None,
              direction: int = 0, t: int, unit: int | None = None, batch: int = 0,
              state: str = "h", hx: tuple[torch.Tensor, torch.Tensor] | None = None,
              head: nn.Module | None = None, target: Any = None,
              memory_budget: int | None = None) -> Influence:
    """Gradients of one value with respect to every input step and every h and c.

    The value (the target) is, by ``state``:
      "h" / "c": h or c of ``unit`` at input position ``t`` in ``layer`` (default: the last)
        and ``direction``, for batch element ``batch``;
      "prediction": output ``unit`` of ``head`` applied to the LSTM's output features at t
        (the (D * H_out,) row that ``lstm(input)`` returns at t);
      "loss": the head's loss at t against ``target``: cross-entropy on the head's logits when
        ``target`` is a class index, mean squared error when it is a float tensor.

    ``input`` is what ``lstm(input, hx)`` takes (tensor, batch_first or not, or a
    PackedSequence). Returns an Influence whose ``.x`` (T, B, input_size) says how much the
    target would move if x at step s moved, and ``.h`` (L, D, T, B, H_out), ``.c``
    (L, D, T, B, H) the same for every state (see the module docstring for what stays fixed).
    Raises TraceBudgetError before allocating when the graph would exceed ``memory_budget``.
    """
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"influence needs an nn.LSTM, got {type(lstm).__name__}")
    start = time.perf_counter()
    cfg = LSTMConfig.from_module(lstm)
    unbatched = isinstance(input, torch.Tensor) and input.dim() == 2
    x_all, lengths = _time_major(lstm, input)
    _check_input(lstm, cfg, x_all)  # the trace's own checks: features, steps, dtype, device
    T, B, n_in = x_all.shape
    w0 = lstm.get_parameter("weight_ih_l0")
    layer, target = _check_target(cfg, state, layer, direction, t, unit, batch, lengths, head,
                                  target, x_all)
    check_influence_budget(cfg, B, T, w0.dtype, memory_budget)
    if lstm.training and cfg.dropout > 0 and cfg.num_layers > 1:
        warnings.warn("the LSTM is in training mode with dropout > 0; torch's dropout draws"
                      " cannot be replayed, so its influence is computed with eval semantics"
                      " (no dropout)", UserWarning, stacklevel=2)
    h0_all, c0_all = _initial_state(cfg, hx, B, unbatched, x_all)
    L, D, H, Ho = cfg.num_layers, cfg.num_directions, cfg.hidden_size, cfg.h_out
    n = int(lengths[batch])
    # A unidirectional target at t cannot see later steps: recompute only up to t.
    steps = t + 1 if D == 1 else n
    x = x_all[:steps, batch:batch + 1].clone().requires_grad_(True)
    h0 = h0_all[:, batch:batch + 1].clone().requires_grad_(True)
    c0 = c0_all[:, batch:batch + 1].clone().requires_grad_(True)
    probe_h = x_all.new_zeros(L, D, steps, 1, Ho).requires_grad_(True)
    probe_c = x_all.new_zeros(L, D, steps, 1, H).requires_grad_(True)
    with torch.enable_grad(), rnn_precision(x.device):
        hs, cs = _run(lstm, cfg, x, h0, c0, probe_h, probe_c)
        value = _target_value(hs, cs, cfg, state, layer, direction, t, unit, head, target)
        grads = torch.autograd.grad(value, (x, h0, c0, probe_h, probe_c), allow_unused=True,
                                    materialize_grads=True)
    del hs, cs
    g_x, g_h0, g_c0, g_h, g_c = (g.detach() for g in grads)
    out_x = x_all.new_zeros(T, B, n_in)
    out_h = x_all.new_zeros(L, D, T, B, Ho)
    out_c = x_all.new_zeros(L, D, T, B, H)
    out_h0 = x_all.new_zeros(L * D, B, Ho)
    out_c0 = x_all.new_zeros(L * D, B, H)
    out_x[:steps, batch] = g_x[:, 0]
    out_h[:, :, :steps, batch] = g_h[:, :, :, 0]
    out_c[:, :, :steps, batch] = g_c[:, :, :, 0]
    out_h0[:, batch] = g_h0[:, 0]
    out_c0[:, batch] = g_c0[:, 0]
    if bool((lengths < T).any()):
        pad = (torch.arange(T).unsqueeze(1) >= lengths.unsqueeze(0)).to(w0.device)  # (T, B)
        out_x.masked_fill_(pad.unsqueeze(-1), math.nan)
        for buf in (out_h, out_c):
            buf.masked_fill_(pad.view(1, 1, T, B, 1), math.nan)
    if w0.device.type == "cuda":
        torch.cuda.synchronize(w0.device)
    return Influence(x=out_x, h=out_h, c=out_c, h_0=out_h0, c_0=out_c0,
                     value=float(value.detach()), state=state, layer=layer,
                     direction=direction if state in ("h", "c") else 0, t=t, unit=unit,
                     batch=batch, lengths=lengths, config=cfg,
                     elapsed_s=time.perf_counter() - start)


# ----- the forget-gate product ---------------------------------------------------------------

def forget_product(source: Trace, *, layer: int, direction: int = 0, unit: int, start: int,
                   stop: int | None = None, batch: int = 0) -> np.ndarray:
    """(stop - start,) ∏ f over a span of input positions: the memory the c path keeps.

    ``source`` is a Trace (``lstm_viz.trace(lstm, input)``). The cell state entering the span
    (c before step ``start`` for direction 0; c after position ``stop - 1`` is read, i.e. at
    ``stop``, for the reverse direction) reaches position p only through the forget gates in
    between: element k is the share of it still in c at p = start + k, ∏ f_r for r from start
    to p (direction 0) or from p to stop - 1 (direction 1). It is ∂c_p/∂c_entering along the cell
    path alone. float64, NaN past the sequence's length.
    """
    if not isinstance(source, Trace):
        raise ValueError(f"forget_product needs a Trace (lstm_viz.trace(lstm, input)), got"
                         f" {type(source).__name__}")
    L, D, T, B, _, H = source.gates.shape
    if not 0 <= layer < L:
        raise ValueError(f"layer must be in [0, {L - 1}] (got {layer})")
    if direction not in range(D):
        raise ValueError(f"direction must be {'0 or 1' if D == 2 else '0'} for this trace"
                         f" (got {direction})")
    if not 0 <= unit < H:
        raise ValueError(f"unit must be in [0, {H - 1}] (got {unit})")
    if not 0 <= batch < B:
        raise ValueError(f"batch must be in [0, {B - 1}] (got {batch})")
    stop = T if stop is None else stop
    if not 0 <= start < stop <= T:
        raise ValueError(f"the span must satisfy 0 <= start < stop <= {T} (got start={start},"
                         f" stop={stop})")
    end = min(stop, int(source.lengths[batch]))  # the reverse direction enters at its length
    product = np.full(stop - start, np.nan)
    if end > start:
        f = source.gates[layer, direction, start:end, batch, 1, unit].detach().double().cpu()
        kept = torch.cumprod(f, 0) if direction == 0 else torch.cumprod(f.flip(0), 0).flip(0)
        product[:end - start] = kept.numpy()
    return product


def forget_memory(trace: Trace, layer: int, direction: int, unit: int, t: int, batch: int
                  ) -> np.ndarray:
    """(T,) ∏ f between each step s and the cursor t for one unit: the share of the cell state
    handed on at s that is still in c at t along the cell path alone (∂c_t/∂c_s through c).
    1 at t itself, NaN on the side the direction has not read yet and past the length."""
    f = trace.gates[layer, direction, :, batch, 1, unit].detach().double().cpu().numpy()
    T = f.shape[0]
    out = np.full(T, np.nan)
    out[t] = 1.0
    if direction == 0:  # c_s reaches t through f_{s+1} ... f_t
        out[:t] = np.cumprod(f[1:t + 1][::-1])[::-1]
    else:  # the reverse direction reads t after t + 1: c_s reaches t through f_{s-1} ... f_t
        n = int(trace.lengths[batch])
        out[t + 1:n] = np.cumprod(f[t:n - 1])
    return out


def fade_distance(norms: np.ndarray, t: int, fraction: float = 0.01) -> int | None:
    """How many steps back from t the norm first stays below ``fraction`` of its maximum: the
    smallest k such that every step s <= t - k has norm < fraction * max (None if it never
    falls that low within the sequence)."""
    values = np.nan_to_num(np.asarray(norms[:t + 1], dtype=float), nan=0.0)
    if not values.size or values.max() <= 0:
        return None
    above = np.nonzero(values >= fraction * values.max())[0]
    earliest = int(above.min())
    return t - earliest + 1 if earliest > 0 else None


def reach(norms: Sequence[np.ndarray], t: int, fraction: float = 1e-4) -> tuple[int, int]:
    """(first, last) input positions the target depends on: where any of ``norms`` (each (T,),
    e.g. ‖∂target/∂x_s‖ and ‖∂target/∂c_s‖) is at least ``fraction`` of its own maximum,
    and the target's step ``t`` itself."""
    found = [t]
    for values in norms:
        v = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
        if v.size and v.max() > 0:
            found.extend(np.nonzero(v >= fraction * v.max())[0].tolist())
    return min(found), max(found)
