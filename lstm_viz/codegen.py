"""The PyTorch code for the current session, as one standalone script that checks the app.

``build_code`` writes a script that needs torch and numpy only: it rebuilds the LSTM and its
input from the NPZ the app writes beside it (``lstm_viz.formats.export.save_npz``), replays every
what-if edit as plain code, runs nn.LSTM and the LSTM equations as an explicit loop over
timesteps, and exits with status 1 when either differs from the gates, c, h, output, h_n and
c_n the app recorded. The GUI's Code view shows the same script.

The script then computes the gradients of one value, the *target* (h or c of one unit at input
position t, or the output head's prediction or loss there, as ``lstm_viz.influence`` takes it),
with respect to every input step and every h and c, by autograd through the same equations
written out step by step; it checks ∂target/∂x against autograd through nn.LSTM itself and
saves all of them to an NPZ named on its command line. ``GradientTarget`` says which value; the
script's command line can pick another. ``head_arrays`` are the head's arrays the NPZ carries.

A state edit (h or c of one unit at input position t) replaces that value right after step t
is computed, before anything reads it; an edit of c also recomputes h_t = o * tanh(c_t) from it
(then W_hr when projected), exactly as ``lstm_viz.tracing`` applies it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

import numpy as np
import torch

from .explain.ablation import next_step_targets

if TYPE_CHECKING:
    from .formats.loader import Head
    from .inputs import InputSpec
    from .session import Session

#: the NPZ the script reads, next to the script, unless the exporter names another
DATA_FILE = "lstm_check.npz"


STATES = ("h", "c", "prediction", "loss")


@dataclass(frozen=True)
class GradientTarget:
    """The value whose gradients the script computes: ``state`` ("h" or "c") of ``unit`` at
    input position ``t``, in ``layer`` and ``direction``, for batch element ``batch``; or, with
    an output head, its ``"prediction"`` (output ``unit``) or its ``"loss"`` at t against what it
    predicts (layer: the last, direction 0, and for the loss unit 0)."""

    state: str = "h"
    layer: int = 0
    direction: int = 0
    t: int = 0
    unit: int = 0
    batch: int = 0

    def check(self, session: Session) -> None:
        """Raise ValueError naming the field that does not fit this session's LSTM and input."""
        cfg = session.config
        _, lengths = _steps(session)
        head = _script_head(session)
        if self.state not in STATES:
            raise ValueError(f"the gradient target's state must be one of {', '.join(STATES)}"
                             f" (got {self.state!r})")
        if self.state in ("prediction", "loss"):
            if head is None:
                raise ValueError(f"state={self.state!r} needs an output head that reads this"
                                 " LSTM's output; pick h or c")
            if self.state == "loss" and next_step_targets(session) is None:
                raise ValueError("state='loss' needs a target the head predicts (the next token"
                                 " or the next input), which this input does not give")
            if (self.layer, self.direction) != (cfg.num_layers - 1, 0):
                raise ValueError(f"the head reads the last layer: a {self.state} target has"
                                 f" layer={cfg.num_layers - 1} and direction=0")
        units = {"h": cfg.h_out, "c": cfg.hidden_size, "loss": 1,
                 "prediction": head.out_features if head is not None else 0}[self.state]
        limits = {"layer": cfg.num_layers, "direction": cfg.num_directions,
                  "batch": len(lengths), "unit": units}
        for name, limit in limits.items():
            value = getattr(self, name)
            if not 0 <= value < limit:
                raise ValueError(f"the gradient target's {name} must be in [0, {limit - 1}]"
                                 f" (got {value})")
        n = lengths[self.batch]
        if not 0 <= self.t < n:
            raise ValueError(f"the gradient target's t must be in [0, {n - 1}]: batch element"
                             f" {self.batch} has {n} steps (got {self.t})")


def default_target(session: Session) -> GradientTarget:
    """h of unit 0 in layer 0 at the cursor (within batch element 0's length)."""
    return focus_target(session, "h", 0, 0, 0, 0)


def focus_target(session: Session, state: str, layer: int, direction: int, unit: int,
                 batch: int) -> GradientTarget:
    """The target for a selection at the cursor: ``state`` of ``unit``, t the cursor (within
    the sequence's length); for "prediction" the head's largest output there. c of the unit
    when h has no such feature (proj_size), h when there is no head (or no loss target), and
    ``default_target`` when the selection does not fit the session."""
    _, lengths = _steps(session)
    n = lengths[batch] if 0 <= batch < len(lengths) else 1
    t = max(0, min(session.t, n - 1))
    last = session.config.num_layers - 1
    candidates = {"h": [("h", layer, direction, unit), ("c", layer, direction, unit)],
                  "c": [("c", layer, direction, unit)],
                  "prediction": [("prediction", last, 0, _top_output(session, t, batch))],
                  "loss": [("loss", last, 0, 0)]}.get(state, [])
    if state in ("prediction", "loss"):
        candidates.append(("h", layer, direction, unit))
    for kind, layer_, direction_, unit_ in candidates:
        target = GradientTarget(kind, layer_, direction_, t, unit_, batch)
        try:
            target.check(session)
        except ValueError:
            continue
        return target
    return GradientTarget(t=max(0, min(session.t, lengths[0] - 1)))


def _top_output(session: Session, t: int, batch: int) -> int:
    """The head's largest output at step t of the trace on show (0 when there is none)."""
    trace, head = session.trace, _script_head(session)
    # a trace of the config before the last change may still be on show: it has no answer
    if trace is None or head is None or trace.config != session.config \
            or not trace.start <= t < trace.stop or batch >= trace.batch_size:
        return 0
    cfg = trace.config
    features = torch.cat([trace.h[cfg.num_layers - 1, d, t - trace.start, batch]
                          for d in range(cfg.num_directions)]).detach().cpu().double()
    out = features @ head.weight.detach().cpu().double().T
    if head.bias is not None:
        out = out + head.bias.detach().cpu().double()
    return int(torch.nan_to_num(out, nan=-torch.inf).argmax())



def lstm_args(session: Session) -> list[str]:
    """nn.LSTM's arguments for this session, defaults left out: ``["input_size=3", ...]``."""
    cfg = session.config
    args = [f"input_size={cfg.input_size}", f"hidden_size={cfg.hidden_size}"]
    defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                "bidirectional": False, "proj_size": 0}
    for name, default in defaults.items():
        value = getattr(cfg, name)
        if value != default:
            args.append(f"{name}={value!r}")
    return args


def _wrapped(head: str, items: list[str], tail: str, width: int = 96) -> list[str]:
    """``head + ", ".join(items) + tail``, broken into lines of at most ``width`` characters."""
    lines, line = [], head
    for k, item in enumerate(items):
        piece = item + (", " if k < len(items) - 1 else "")
        if len(line) + len(piece.rstrip()) > width and line.strip() != head.strip():
            lines.append(line.rstrip())
            line = " " * 4 + piece
        else:
            line += piece
    lines.append(line + tail)
    return lines


def _steps(session: Session) -> tuple[int, tuple[int, ...]]:
    """(T, lengths): the steps nn.LSTM runs and each sequence's length."""
    x = session.input_tm
    T, B = int(x.shape[0]), int(x.shape[1])
    lengths = tuple(session.input_spec.lengths or (T,) * B)
    if len(set(lengths)) == 1:
        T = lengths[0]
    return T, lengths


def _input_lines(session: Session, T: int, lengths: tuple[int, ...]) -> list[str]:
    lines = [
        "# The input, time-major (seq_len, batch, input_size), as the app made it before any",
        "# what-if edit.",
        'x = recorded["input_unedited"].clone()',
    ]
    if session.edits.inputs:
        lines.append("# What-if edits of the input, in the order they were made:"
                     " x[t, batch, feature] = value")
        lines += [f"x[{e.t}, {e.batch}, {e.feature}] = {e.value!r}"
                  for e in session.edits.inputs]
    if T < session.input_tm.shape[0]:
        lines.append(f"x = x[:{T}]  # every sequence has {T} steps")
    lines += _wrapped("lengths = [", [str(n) for n in lengths], "]  # each sequence's length")
    lines.append("T, B = x.shape[0], x.shape[1]")
    return lines


def _edit_lines(session: Session) -> list[str]:
    edits = session.edits.states
    lines = [
        "# What-if edits of the state, in the order they were made: at input position t, right",
        "# after the step is computed, h_t or c_t of one unit of (layer, direction, batch) is",
        "# replaced; an edited c_t also gives h_t = o * tanh(c_t).",
        "# (kind, t, layer, direction, batch, unit, value)",
    ]
    if not edits:
        return lines + ["STATE_EDITS = []"]
    lines.append("STATE_EDITS = [")
    lines += [f"    ({e.kind!r}, {e.t}, {e.layer}, {e.direction}, {e.batch}, {e.unit},"
              f" {e.value!r})," for e in edits]
    lines.append("]")
    return lines


_HEADER = '''"""Check lstm-viz's numbers with torch alone: nn.LSTM and the LSTM equations.

Rebuilds the LSTM and its input from {data} (beside this script), replays the what-if
edits made in the app, runs nn.LSTM and an explicit loop over timesteps, and exits with
status 1 if either differs from the gates, c, h, output, h_n and c_n the app recorded there.
Then takes the gradients of one value through time (section 4). Needs torch and numpy only.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

DATA = Path(__file__).resolve().with_name({data!r})
with np.load(DATA, allow_pickle=False) as npz:
    recorded = {{k: torch.from_numpy(npz[k]) for k in npz.files if k != "config_json"}}
dtype = recorded["weight_ih_l0"].dtype
ATOL = 2e-5 if dtype == torch.float32 else 1e-10  # float rounding; any real change is larger
# torch's note that oneDNN has no kernel for proj_size (it falls back): nothing to act on
warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
'''

_CELL = '''
def params(layer, d):
    """The weights of one layer and direction (d = 1: reverse), named without the suffix."""
    sfx = f"_l{{layer}}" + ("_reverse" if d else "")
    return {{n[: -len(sfx)]: p for n, p in lstm.named_parameters() if n.endswith(sfx)}}


def gates_and_c(x_t, h, c, p):
    """The LSTM equations for one step: x_t (B, in), h (B, H_out), c (B, H) -> gates (B, 4, H)
    (torch's order i, f, g, o) and c_t (B, H)."""
    z = x_t @ p["weight_ih"].T + h @ p["weight_hh"].T{bias}
    i, f, g, o = z.chunk(4, dim=1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    return torch.stack([i, f, g, o], dim=1), f * c + i * g


def h_from(o, c_t, p):
    """h_t = o * tanh(c_t){proj_doc}."""
    h_t = o * torch.tanh(c_t)
{proj}    return h_t


def edits_at(layer, d, t, kind):
    """The state edits of `kind` at input position t of (layer, direction d), in order."""
    return [e for e in STATE_EDITS if e[0] == kind and e[1:4] == (t, layer, d)]


def layer_input(h_layer):
    """The next layer's input: both directions' h concatenated (padding as 0), (T, B, .)."""
    return torch.cat(list(h_layer.nan_to_num(0.0)), dim=-1)


def final_states(h, c):
    """h, c (L, D, T, B, .) -> h_n (L*D, B, H_out), c_n: each sequence's last step read."""
    last = torch.tensor(lengths) - 1
    rows = torch.arange(B)
    h_n, c_n = [], []
    for layer in range(L):
        for d in range(D):
            end = last if d == 0 else torch.zeros_like(last)
            h_n.append(h[layer, d, end, rows])
            c_n.append(c[layer, d, end, rows])
    return torch.stack(h_n), torch.stack(c_n)


def caller_output(h):
    """nn.LSTM's output from h (L, D, T, B, H_out): the last layer, zero past each length."""
    out = layer_input(h[-1])
    return out.transpose(0, 1) if lstm.batch_first else out
'''

_NN_ONE_CALL = '''
# 1. nn.LSTM itself, in one call (packed when the sequences have different lengths).
with torch.no_grad():
{call}
nn_result = {{"output": output, "h_n": h_n, "c_n": c_n}}
'''

_NN_STEPWISE = '''
# 1. nn.LSTM itself. A state edit changes h or c in the middle of a sequence, which one call
# cannot do: each layer and direction runs as a one-layer nn.LSTM, one step per call, and the
# edits are made between the calls. An edited c_t needs the output gate o_t to give h_t, which
# nn.LSTM does not return: that one value comes from the equations above.
h_nn = torch.full((L, D, T, B, H_out), float("nan"), dtype=dtype)
c_nn = torch.full((L, D, T, B, H), float("nan"), dtype=dtype)
with torch.no_grad():
    layer_in = x
    for layer in range(L):
        for d in range(D):
            p = params(layer, d)
            one = nn.LSTM(layer_in.shape[-1], H, proj_size={proj_size}, bias={bias}, dtype=dtype)
            one.load_state_dict({{n + "_l0": v for n, v in p.items()}})
            h, c = recorded["h_0"][layer * D + d], recorded["c_0"][layer * D + d]
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                live = (t < torch.tensor(lengths)).unsqueeze(1)  # sequences still running
                _, (h_t, c_t) = one(layer_in[t : t + 1], (h[None], c[None]))
                h_t, c_t = h_t[0], c_t[0]
                if edits_at(layer, d, t, "c"):
                    for _, _, _, _, b, unit, value in edits_at(layer, d, t, "c"):
                        c_t[b, unit] = value
                    o = gates_and_c(layer_in[t], h, c, p)[0][:, 3]
                    h_t = h_from(o, c_t, p)
                for _, _, _, _, b, unit, value in edits_at(layer, d, t, "h"):
                    h_t[b, unit] = value
                h, c = torch.where(live, h_t, h), torch.where(live, c_t, c)
                h_nn[layer, d, t] = torch.where(live, h_t, float("nan"))
                c_nn[layer, d, t] = torch.where(live, c_t, float("nan"))
        layer_in = layer_input(h_nn[layer])
h_n, c_n = final_states(h_nn, c_nn)
nn_result = {{"c": c_nn, "h": h_nn, "output": caller_output(h_nn), "h_n": h_n, "c_n": c_n}}
'''

_LOOP = '''
# 2. The LSTM equations, one timestep at a time (what nn.LSTM's fused kernel computes). The
# reverse direction reads each sequence from its own last step; steps past a sequence's length
# are not computed (NaN here), as in the app.
gates = torch.full((L, D, T, B, 4, H), float("nan"), dtype=dtype)
cs = torch.full((L, D, T, B, H), float("nan"), dtype=dtype)
hs = torch.full((L, D, T, B, H_out), float("nan"), dtype=dtype)
with torch.no_grad():
    layer_in = x
    for layer in range(L):
        for d in range(D):
            p = params(layer, d)
            h, c = recorded["h_0"][layer * D + d], recorded["c_0"][layer * D + d]
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                live = (t < torch.tensor(lengths)).unsqueeze(1)  # sequences still running
                g_t, c_t = gates_and_c(layer_in[t], h, c, p)
                for _, _, _, _, b, unit, value in edits_at(layer, d, t, "c"):
                    c_t[b, unit] = value
                h_t = h_from(g_t[:, 3], c_t, p)
                for _, _, _, _, b, unit, value in edits_at(layer, d, t, "h"):
                    h_t[b, unit] = value
                h, c = torch.where(live, h_t, h), torch.where(live, c_t, c)
                gates[layer, d, t] = torch.where(live.unsqueeze(1), g_t, float("nan"))
                cs[layer, d, t] = torch.where(live, c_t, float("nan"))
                hs[layer, d, t] = torch.where(live, h_t, float("nan"))
        layer_in = layer_input(hs[layer])
h_n_loop, c_n_loop = final_states(hs, cs)
loop_result = {"gates": gates, "c": cs, "h": hs, "output": caller_output(hs),
               "h_n": h_n_loop, "c_n": c_n_loop}


# 3. Compare both with what the app recorded.
def differences(who, result):
    """One line for every array in `result` that is not the recorded one (NaN = not run)."""
    lines = []
    for name, got in result.items():
        want = recorded[name]
        if got.shape != want.shape:
            lines.append(f"{who}: {name} has shape {tuple(got.shape)}, the app recorded"
                         f" {tuple(want.shape)}")
            continue
        if not torch.equal(got.isnan(), want.isnan()):
            lines.append(f"{who}: {name} is computed where the app recorded nothing, or not")
            continue
        err = (got - want).nan_to_num(0.0).abs()
        if err.numel() and float(err.max()) > ATOL:
            where = tuple(int(k) for k in torch.nonzero(err == err.max())[0])
            lines.append(f"{who}: {name}{list(where)} is {float(got[where]):.7g}, the app"
                         f" recorded {float(want[where]):.7g} (max |difference|"
                         f" {float(err.max()):.3g})")
    return lines


problems = differences("nn.LSTM", nn_result) + differences("explicit loop", loop_result)
for line in problems:
    print("MISMATCH", line)
if problems:
    sys.exit(1)
print(f"nn.LSTM and the explicit loop both match the app's numbers (atol {ATOL:g}):"
      f" {', '.join(nn_result)} and {', '.join(loop_result)}")
'''

_GRADIENTS = '''

# 4. Gradients through time: how much one value, the target, would move if each earlier number
# moved a little. The target is h or c of one unit at input position t, in one layer, direction
# and batch element (what the app's Influence view shows).{head_doc}
# The LSTM is recomputed step by step with autograd on: x requires grad and every h and every
# carried c keeps its gradient (retain_grad). As in the app, the gradients are of the LSTM
# without the state edits, on the input with its edits. Pick another target on the command
# line, and give a file name to save every gradient there (NPZ):
#     python {script} gradients.npz state=c layer=0 direction=0 t=4 unit=2 batch=0
TARGET = {target}
for arg in sys.argv[1:]:
    key, is_field, value = arg.partition("=")
    if is_field and key not in TARGET:
        sys.exit(f"unknown target field {{key!r}}: use {{', '.join(TARGET)}}")
    if is_field:
        TARGET[key] = value if key == "state" else int(value)
GRADIENTS_FILE = next((arg for arg in sys.argv[1:] if "=" not in arg), None)
state, layer, d, t, unit, b = (TARGET[k] for k in ("state", "layer", "direction", "t", "unit",
                                                     "batch"))
n = lengths[b] if 0 <= b < B else 0  # the target's sequence has n steps
{head_setup}if not (units and 0 <= layer < L and 0 <= d < D and 0 <= t < n and 0 <= unit < units):
    sys.exit(f"no such target {{TARGET}}: state is {states}, layer < {{L}},"
             f" direction < {{D}}, batch < {{B}}, t < the sequence's length,"
             f" unit < {{H_out}} (h) or {{H}} (c){unit_note}")


def run_for_gradients():
    """Batch element b's n steps, recomputed with autograd on (other batch elements cannot move
    the target). Returns the leaves x_b (n, 1, input_size), h_0, c_0 and, per layer and
    direction, the lists of h (1, H_out), carried c (1, H) and gates (1, 4, H) at each input
    position."""
    x_b = x[:n, b : b + 1].clone().requires_grad_(True)
    h_0 = recorded["h_0"][:, b : b + 1].clone().requires_grad_(True)
    c_0 = recorded["c_0"][:, b : b + 1].clone().requires_grad_(True)
    hs = [[[None] * n for _ in range(D)] for _ in range(L)]
    cs = [[[None] * n for _ in range(D)] for _ in range(L)]
    gs = [[[None] * n for _ in range(D)] for _ in range(L)]
    layer_in = x_b
    for l_ in range(L):
        for d_ in range(D):
            p = params(l_, d_)
            h, c = h_0[l_ * D + d_], c_0[l_ * D + d_]
            for s in (range(n) if d_ == 0 else range(n - 1, -1, -1)):
                g_s, c_s = gates_and_c(layer_in[s], h, c, p)
                h = h_from(g_s[:, 3], c_s, p)
                # h reads c_s; the copy handed on to the next step is a tensor of its own, so
                # its gradient is the cell path alone (h at s held as it is)
                c = c_s.clone()
                h.retain_grad()
                c.retain_grad()
                hs[l_][d_][s], cs[l_][d_][s], gs[l_][d_][s] = h, c, g_s.detach()
        layer_in = torch.cat([torch.stack(hs[l_][d_]) for d_ in range(D)], dim=-1)
    return x_b, h_0, c_0, hs, cs, gs


{head_value}def target_through_nn_lstm(x_b):
    """The same target from nn.LSTM's own kernel: the layers below in one call, then the
    target's layer and direction as a one-layer nn.LSTM read up to t (its h_n and c_n)."""
    h_0, c_0 = recorded["h_0"][:, b : b + 1], recorded["c_0"][:, b : b + 1]
{head_nn}    layer_in = x_b
    if layer > 0:
        below = nn.LSTM(x.shape[-1], H, num_layers=layer, bias={bias},
                        bidirectional=D == 2, proj_size={proj_size}, dtype=dtype)
        below.load_state_dict({{k: v for k, v in lstm.state_dict().items()
                               if int(k.split("_l")[1].split("_")[0]) < layer}})
        layer_in, _ = below(x_b, (h_0[: layer * D], c_0[: layer * D]))
    one = nn.LSTM(layer_in.shape[-1], H, bias={bias}, proj_size={proj_size}, dtype=dtype)
    one.load_state_dict({{k + "_l0": v for k, v in params(layer, d).items()}})
    seq = layer_in[: t + 1] if d == 0 else layer_in[t:n].flip(0)
    k = layer * D + d
    _, (h_n, c_n) = one(seq, (h_0[k : k + 1], c_0[k : k + 1]))
    return (h_n if state == "h" else c_n)[0, 0, unit]


def grad_of(tensor):
    """The gradient autograd left on `tensor`, zero where the target does not depend on it."""
    return torch.zeros_like(tensor) if tensor.grad is None else tensor.grad


with torch.enable_grad():
    x_b, h_0, c_0, hs, cs, gs = run_for_gradients()
{value_line}
    value.backward()
    value = float(value.detach())
    x_nn = x[:n, b : b + 1].clone().requires_grad_(True)
    (dx_nn,) = torch.autograd.grad(target_through_nn_lstm(x_nn), x_nn)

# Shaped like the app's arrays: dx (T, B, input_size) time-major like the input, dh
# (L, D, T, B, H_out), dc (L, D, T, B, H); zero where the target cannot depend on a value (other
# batch elements, later steps of a forward layer), NaN past each sequence's length.
past = torch.arange(T)[:, None] >= torch.tensor(lengths)[None, :]  # (T, B)
dx = torch.zeros(T, B, x.shape[-1], dtype=dtype)
dh = torch.zeros(L, D, T, B, H_out, dtype=dtype)
dc = torch.zeros(L, D, T, B, H, dtype=dtype)
dx[:n, b] = grad_of(x_b)[:, 0]
for l_ in range(L):
    for d_ in range(D):
        dh[l_, d_, :n, b] = torch.cat([grad_of(h) for h in hs[l_][d_]])
        dc[l_, d_, :n, b] = torch.cat([grad_of(c) for c in cs[l_][d_]])
dx[past] = float("nan")
dh[:, :, past] = float("nan")
dc[:, :, past] = float("nan")
x_norm = torch.linalg.vector_norm(dx[:, b], dim=-1)  # (T,) per-step norms
h_norm = torch.linalg.vector_norm(dh[:, :, :, b], dim=-1)  # (L, D, T)
c_norm = torch.linalg.vector_norm(dc[:, :, :, b], dim=-1)

# The forget-gate product over the span from s to t: the share of the cell state handed on at
# s that is still in c at t along the cell path alone (1 at t, NaN on the side not read yet;
# of the target's unit, so NaN throughout for the head's prediction or loss).
forget = torch.full((T,), float("nan"), dtype=torch.float64)
f = torch.cat([g[:, 1, unit] for g in gs[layer][d]]).double()  # (n,) f of the unit
if state not in ("h", "c"):
    pass
elif d == 0:  # c_s reaches t through f_(s+1) ... f_t
    forget[: t + 1] = torch.cat([f[1 : t + 1].flip(0).cumprod(0).flip(0), f.new_ones(1)])
else:  # the reverse direction reaches t from s > t through f_(s-1) ... f_t
    forget[t:n] = torch.cat([f.new_ones(1), f[t : n - 1].cumprod(0)])

name = f"{{state}}[{{unit}}] at t={{t}} (layer {{layer}}, direction {{d}}, batch {{b}})"
if state in ("prediction", "loss"):
    name = (f"prediction[{{unit}}]" if state == "prediction" else "loss") + f" at t={{t}}"
    name += f" (batch {{b}}, the head on the output)"
print(f"\\nGradients of {{name}} = {{value:+.6g}}")
print("      s" + "".join(f" {{k:>11}}" for k in ("|d/dx_s|", "|d/dc_s|", "|d/dh_s|",
                                                  "prod f s..t")))
for s in range(max(t - 20, 0), min(t + 21, n) if D == 2 else t + 1):
    row = (x_norm[s], c_norm[layer, d, s], h_norm[layer, d, s], forget[s])
    print(f"  {{s:5d}}" + "".join(f" {{float(v):11.4g}}" for v in row))
print("  (|d/dc_s| and |d/dh_s| of the target's own layer and direction; steps within 20 of t)")
err = float((dx[:n, b] - dx_nn[:, 0]).abs().max())
scale = float(dx_nn.abs().max()) or 1.0
print(f"d/dx by autograd through nn.LSTM itself: max |difference| {{err:.2g}}"
      f" (largest |d/dx| {{scale:.3g}})")
if err > 10 * ATOL * scale:
    print("MISMATCH gradients: d/dx of the explicit loop differs from nn.LSTM's")
    sys.exit(1)
if GRADIENTS_FILE:
    dh_0, dc_0 = torch.zeros_like(recorded["h_0"]), torch.zeros_like(recorded["c_0"])
    dh_0[:, b], dc_0[:, b] = grad_of(h_0)[:, 0], grad_of(c_0)[:, 0]
    np.savez(GRADIENTS_FILE, dx=dx.numpy(), dh=dh.numpy(), dc=dc.numpy(), dh_0=dh_0.numpy(),
             dc_0=dc_0.numpy(), x_norm=x_norm.numpy(),
             h_norm=h_norm.numpy(), c_norm=c_norm.numpy(), forget_product=forget.numpy(),
             value=value, target=name)
    print(f"saved dx, dh, dc, dh_0, dc_0, their per-step norms and prod f in {{GRADIENTS_FILE}}")
'''


_HEAD_SETUP = """\
# The output head the app found with the LSTM: output[t] (D * H_out features) -> {outputs}
head = nn.Linear(D * H_out, {n_out}, bias={bias}, dtype=dtype)
head.load_state_dict({weights})
if state in ("prediction", "loss"):
    layer, d = L - 1, 0  # the head reads the last layer (both directions side by side)
    unit = 0 if state == "loss" else unit
units = {{"h": H_out, "c": H, "prediction": {n_out}, "loss": int("head_target" in recorded)}}
units = units.get(state, 0)
"""

_HEAD_VALUE = '''\
def head_value(features):
    """The head's prediction or loss at t from the LSTM's output there (1, D * H_out)."""
    out = head(features)[0]
    if state == "prediction":
        return out[unit]
    want = recorded["head_target"][t, b]  # what the head predicts at t (the app's target)
    if want.dtype == torch.int64:  # the next token: cross-entropy of the logits
        return nn.functional.cross_entropy(out[None], want[None])
    return nn.functional.mse_loss(out, want.to(dtype))  # the next input: mean squared error


'''

_HEAD_NN = """\
    if state in ("prediction", "loss"):  # nn.LSTM in one call, then the head on output[t]
        x_in = x_b.transpose(0, 1) if lstm.batch_first else x_b
        output, _ = lstm(x_in, (h_0, c_0))
        output = output.transpose(0, 1) if lstm.batch_first else output
        return head_value(output[t])
"""

_VALUE_WITH_HEAD = """\
    if state in ("prediction", "loss"):
        value = head_value(torch.cat([hs[L - 1][d_][t] for d_ in range(D)], dim=-1))
    else:
        value = (hs if state == "h" else cs)[layer][d][t][0, unit]"""


def _script_head(session: Session) -> Head | None:
    """The session's output head when the script can use it (it reads this LSTM's output)."""
    head, cfg = session.head, session.config
    if head is None or int(head.weight.shape[1]) != cfg.num_directions * cfg.h_out:
        return None
    return head


def _gradient_lines(session: Session, data_file: str, target: GradientTarget) -> list[str]:
    cfg = session.config
    head = _script_head(session)
    pieces = {"head_doc": "", "states": "h or c", "unit_note": "", "head_value": "",
              "head_nn": "",
              "head_setup": 'units = {"h": H_out, "c": H}.get(state, 0)\n',
              "value_line": '    value = (hs if state == "h" else cs)[layer][d][t][0, unit]'}
    if head is not None:
        n_out = head.out_features
        weights = '{"weight": recorded["head_weight"]' + \
            (', "bias": recorded["head_bias"]}' if head.bias is not None else "}")
        pieces.update({
            "head_doc": "\n# With the output head it can also be the head's prediction (unit:"
                        " which output) or its\n# loss against what the head predicts (the next"
                        " token or the next input) at t.",
            "states": "h, c, prediction or loss",
            "unit_note": f" or {n_out} (prediction)",
            "head_value": _HEAD_VALUE, "head_nn": _HEAD_NN, "value_line": _VALUE_WITH_HEAD,
            "head_setup": _HEAD_SETUP.format(n_out=n_out, bias=head.bias is not None,
                                             outputs=f"{n_out} output" + "s" * (n_out != 1),
                                             weights=weights)})
    return _GRADIENTS.format(script=PurePath(data_file).stem + ".py",
                             target=_target_literal(target), bias=cfg.bias,
                             proj_size=cfg.proj_size, **pieces).splitlines()


def head_arrays(session: Session) -> dict[str, np.ndarray]:
    """The NPZ arrays the script's head targets read: ``head_weight`` (n_out, D * H_out),
    ``head_bias`` (n_out,) and ``head_target``, what the head predicts at each step (the next
    token's index (T, B), or the next input (T, B, input_size)); none without a head."""
    head = _script_head(session)
    if head is None:
        return {}
    out = {"head_weight": head.weight.detach().cpu().numpy()}
    if head.bias is not None:
        out["head_bias"] = head.bias.detach().cpu().numpy()
    targets = next_step_targets(session)
    if targets is not None:
        out["head_target"] = targets.detach().cpu().numpy()
    return out


def _call_lines(session: Session, packed: bool) -> list[str]:
    cfg = session.config
    if packed:
        return [
            "    # sequences of different lengths: pack, so each one stops at its own length",
            "    x_in = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)",
            '    output, (h_n, c_n) = lstm(x_in, (recorded["h_0"], recorded["c_0"]))',
            f"    output, _ = pad_packed_sequence(output, batch_first={cfg.batch_first},"
            " total_length=T)",
        ]
    x_in = "x.transpose(0, 1)  # batch_first=True: (batch, seq_len, input_size)" \
        if cfg.batch_first else "x"
    return [f"    x_in = {x_in}",
            '    output, (h_n, c_n) = lstm(x_in, (recorded["h_0"], recorded["c_0"]))']


def _target_literal(target: GradientTarget) -> str:
    fields = ", ".join(f"{f.name!r}: {getattr(target, f.name)!r}"
                       for f in dataclasses.fields(target))
    return "{" + fields.replace("'", '"') + "}"


def build_code(session: Session, data_file: str = DATA_FILE,
               target: GradientTarget | None = None) -> str:
    """A standalone script (torch and numpy only) that rebuilds this session from
    ``data_file`` beside it, checks nn.LSTM and the explicit loop against its numbers, and
    computes the gradients of ``target`` (default: ``default_target``) through time."""
    cfg = session.config
    target = default_target(session) if target is None else target
    target.check(session)
    T, lengths = _steps(session)
    packed = len(set(lengths)) > 1
    lines = _HEADER.format(data=data_file).splitlines()
    lines += ["", "# The LSTM, with the weights the app used (read from the NPZ)."]
    lines += _wrapped("lstm = nn.LSTM(", [*lstm_args(session), "dtype=dtype"], ")")
    lines += [
        "lstm.load_state_dict({name: recorded[name] for name, _ in lstm.named_parameters()})",
        "lstm.eval()  # no dropout between layers, as in the app",
        f"L, D, H, H_out = {cfg.num_layers}, {cfg.num_directions}, {cfg.hidden_size},"
        f" {cfg.h_out}  # H_out: proj_size if > 0, else hidden_size",
        "",
        *_input_lines(session, T, lengths),
        "",
        *_edit_lines(session),
    ]
    cell = _CELL.format(
        bias=(' + p["bias_ih"] + p["bias_hh"]' if cfg.bias else ""),
        proj_doc=", then the projection W_hr" if cfg.proj_size else "",
        proj=('    h_t = h_t @ p["weight_hr"].T  # proj_size: h has H_out features\n'
              if cfg.proj_size else ""))
    lines += ["", *cell.splitlines(), ""]
    if session.edits.states:
        lines += _NN_STEPWISE.format(proj_size=cfg.proj_size, bias=cfg.bias).splitlines()
    else:
        lines += _NN_ONE_CALL.format(call="\n".join(_call_lines(session, packed))).splitlines()
    lines += _LOOP.splitlines()
    lines += _gradient_lines(session, data_file, target)
    return "\n".join(lines) + "\n"


def loop_code(session: Session) -> str:
    """The same computation as an explicit loop over layers, directions and timesteps."""
    cfg = session.config
    lines = [
        "# The same numbers, one timestep at a time (what nn.LSTM's fused kernel does).",
        "# Run after the code above: it reuses lstm and x.",
        "import torch",
        "",
        f"L, D, H = {cfg.num_layers}, {cfg.num_directions}, {cfg.hidden_size}",
        f"H_out = {cfg.h_out}  # proj_size if > 0, else hidden_size",
    ]
    lines.append("seq = x  # time-major (T, B, input_size), whatever batch_first says")
    lines += [
        "T, B = seq.shape[0], seq.shape[1]",
        "lengths = " + (f"torch.tensor({list(session.input_spec.lengths)})"
                        if session.input_spec.lengths and
                        len(set(session.input_spec.lengths)) > 1 else "torch.full((B,), T)"),
        "P = dict(lstm.named_parameters())",
        "",
        "def cell(x_t, h, c, sfx):",
        "    \"\"\"One LSTM step: x_t (B, in), h (B, H_out), c (B, H) -> gates, c_t, h_t.\"\"\"",
        "    z = x_t @ P['weight_ih' + sfx].T + h @ P['weight_hh' + sfx].T",
    ]
    if cfg.bias:
        lines.append("    z = z + P['bias_ih' + sfx] + P['bias_hh' + sfx]")
    lines += [
        "    i, f, g, o = z.chunk(4, dim=1)  # torch's gate order: input, forget, cell, output",
        "    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()",
        "    c_t = f * c + i * g",
        "    h_t = o * torch.tanh(c_t)",
    ]
    if cfg.proj_size:
        lines.append("    h_t = h_t @ P['weight_hr' + sfx].T  # projection to proj_size")
    lines += [
        "    return torch.stack([i, f, g, o], dim=1), c_t, h_t",
        "",
        "gates = torch.full((L, D, T, B, 4, H), float('nan'))  # NaN past each length",
        "cs = torch.full((L, D, T, B, H), float('nan'))",
        "hs = torch.full((L, D, T, B, H_out), float('nan'))",
        "h_n_loop, c_n_loop = [], []",
        "layer_in = seq",
        "with torch.no_grad():",
        "    for layer in range(L):",
        "        for d in range(D):",
        "            sfx = f'_l{layer}' + ('_reverse' if d else '')",
        "            h = torch.zeros(B, H_out)",
        "            c = torch.zeros(B, H)",
        "            steps = range(T) if d == 0 else range(T - 1, -1, -1)",
        "            for t in steps:",
        "                live = (t < lengths).unsqueeze(1)  # sequences still running at t",
        "                g_t, c_t, h_t = cell(layer_in[t], h, c, sfx)",
        "                h = torch.where(live, h_t, h)",
        "                c = torch.where(live, c_t, c)",
        "                gates[layer, d, t] = torch.where(live.unsqueeze(1), g_t, float('nan'))",
        "                cs[layer, d, t] = torch.where(live, c_t, float('nan'))",
        "                hs[layer, d, t] = torch.where(live, h_t, float('nan'))",
        "            h_n_loop.append(h)  # forward: last valid step; reverse: t = 0",
        "            c_n_loop.append(c)",
        "        # the next layer reads both directions concatenated (padding as 0)",
        "        layer_in = torch.cat(list(hs[layer].nan_to_num(0.0)), dim=-1)",
        "h_n_loop = torch.stack(h_n_loop)  # (L*D, B, H_out)",
        "c_n_loop = torch.stack(c_n_loop)",
        "print('h_n matches nn.LSTM:', torch.allclose(h_n_loop, h_n, atol=1e-5))",
        "print('c_n matches nn.LSTM:', torch.allclose(c_n_loop, c_n, atol=1e-5))",
    ]
    return "\n".join(lines) + "\n"


def cell_code(session: Session) -> str:
    """For a model made of nn.LSTMCells: the cell loop the model's own code runs and the
    equivalent nn.LSTM, side by side, asserting that they agree; '' for any other model."""
    src = session.model_source if isinstance(session.model_source, dict) else {}
    if src.get("origin") not in ("LSTMCell", "LSTMCell stack") or not src.get("path"):
        return ""
    cfg = session.config
    spec = session.input_spec
    I, H, L = cfg.input_size, cfg.hidden_size, cfg.num_layers
    names = [str(n) for n in src.get("cells") or []] or [f"cell{k}" for k in range(L)]
    dtype = str(session.dtype).replace("torch.", "")
    bias = "" if cfg.bias else ", bias=False"
    pickle = ", allow_pickle=True" if src.get("kind") == "pickle" else ""
    lengths = list(spec.lengths or ())
    packed = len(set(lengths)) > 1
    cells = ", ".join(f"nn.LSTMCell({I if k == 0 else H}, {H}{bias})" for k in range(L))
    what = "an nn.LSTMCell" if L == 1 else f"{L} chained nn.LSTMCells"
    lines = [
        f"# The model steps {what} ({', '.join(names)}) over the sequence;",
        "# one nn.LSTM with the same weights computes the same numbers in one call.",
        "import torch",
        "from torch import nn",
    ]
    if packed:
        lines.append("from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence")
    lines += [
        "from lstm_viz import InputSpec, make_input  # the app's input sources",
        "from lstm_viz.formats.loader import load_model",
        "",
        f"dtype = torch.{dtype}",
        f"loaded = load_model({src['path']!r}{pickle})  # the model file opened in the app",
        f"weights = loaded.pick({src.get('lstm')!r}).state_dict"
        "  # renamed as nn.LSTM names them: weight_ih_l0, ...",
        "",
        "# The cells, as the model's own code builds them (cell k reads cell k-1's h)",
        f"cells = nn.ModuleList([{cells}]).to(dtype)",
        "with torch.no_grad():",
        "    for k, cell in enumerate(cells):",
        "        for name, param in cell.named_parameters():",
        "            param.copy_(weights[f'{name}_l{k}'])",
        "",
        "# The same weights as one nn.LSTM",
        f"lstm = nn.LSTM({I}, {H}" + (f", num_layers={L}" if L > 1 else "") + f"{bias})"
        ".to(dtype).eval()",
        "lstm.load_state_dict(weights)",
        "",
        f"spec = {_spec_repr(spec)}",
        f"x = make_input(spec, {I}).to(dtype)  # (seq_len, batch, input_size), time-major",
    ]
    if lengths and not packed and lengths[0] < session.input_tm.shape[0]:
        lines.append(f"x = x[:{lengths[0]}]  # every sequence has length {lengths[0]}")
    lines += [
        "T, B = x.shape[0], x.shape[1]",
        f"lengths = torch.tensor({lengths})" if packed else "lengths = torch.full((B,), T)",
        "",
        "with torch.no_grad():",
        "    # LSTMCell: one step at a time, each cell feeding the next",
        f"    h = [torch.zeros(B, {H}, dtype=dtype) for _ in cells]",
        f"    c = [torch.zeros(B, {H}, dtype=dtype) for _ in cells]",
        "    steps = []",
        "    for t in range(T):",
        "        live = (t < lengths).unsqueeze(1)  # sequences still running at step t",
        "        inp = x[t]",
        "        for k, cell in enumerate(cells):",
        "            h_t, c_t = cell(inp, (h[k], c[k]))",
        "            h[k], c[k] = torch.where(live, h_t, h[k]), torch.where(live, c_t, c[k])",
        "            inp = h_t",
        "        steps.append(torch.where(live, inp, 0.0))",
        "    loop_output = torch.stack(steps)  # (T, B, hidden_size): the last cell's h",
        "",
        "    # nn.LSTM: the whole sequence in one call",
    ]
    if packed:
        lines += [
            "    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)",
            "    output, (h_n, c_n) = lstm(packed)",
            "    output, _ = pad_packed_sequence(output, total_length=T)",
        ]
    else:
        lines.append("    output, (h_n, c_n) = lstm(x)")
    tol = "1e-10" if dtype == "float64" else "1e-5"
    lines += [
        "",
        "for name, a, b in (('output', loop_output, output), ('h_n', torch.stack(h), h_n),",
        "                   ('c_n', torch.stack(c), c_n)):",
        "    diff = float((a - b).abs().max())",
        "    print(f'LSTMCell loop vs nn.LSTM, {name}: max |diff| {diff:.1e}')",
        f"    assert diff <= {tol}, name",
    ]
    return "\n".join(lines) + "\n"


def _spec_repr(spec: InputSpec) -> str:
    """``InputSpec(...)`` with only the fields that differ from their defaults."""
    parts = []
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if value == f.default or (f.default_factory is not dataclasses.MISSING
                                  and value == f.default_factory()):
            continue
        parts.append(f"{f.name}={value!r}")
    return f"InputSpec({', '.join(parts)})"
