"""The PyTorch code for the current session: nn.LSTM on this input, and the same as an explicit
loop over timesteps (LSTMCell-style equations). The GUI's Code view shows it.

Both snippets are runnable as they are and give the numbers the app shows
(tests run them and compare with nn.LSTM and with the engine's trace).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .inputs import InputSpec
    from .session import Session


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


def _build_lines(session: Session, args: list[str]) -> list[str]:
    """The LSTM with the session's weights: from the model file it was opened from, or drawn
    from the seed exactly as the app draws them."""
    src = session.model_source if isinstance(session.model_source, dict) else {}
    if src.get("path"):
        pickle = ", allow_pickle=True" if src.get("kind") == "pickle" else ""
        return [
            "from lstm_viz.io import load_model",
            "",
            f"loaded = load_model({src['path']!r}{pickle})  # the model file opened in the app",
            f"lstm = loaded.pick({src.get('lstm')!r}).build("
            f"batch_first={session.config.batch_first})  # {', '.join(args)}",
        ]
    return [f"torch.manual_seed({session.seed})  # the app's weight seed",
            f"lstm = nn.LSTM({', '.join(args)})"]


def build_code(session: Session) -> str:
    """Build the LSTM with the session's weights, make its input, run it; print the shapes."""
    cfg = session.config
    spec = session.input_spec
    args = [f"input_size={cfg.input_size}", f"hidden_size={cfg.hidden_size}"]
    defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                "bidirectional": False, "proj_size": 0}
    for name, default in defaults.items():
        value = getattr(cfg, name)
        if value != default:
            args.append(f"{name}={value!r}")
    lengths = spec.lengths or ()
    packed = len(set(lengths)) > 1
    lines = [
        "import torch",
        "from torch import nn",
    ]
    if packed:
        lines.append("from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence")
    lines += [
        "from lstm_viz import InputSpec, make_input  # the app's input sources",
        "",
        *_build_lines(session, args),
        "lstm.eval()  # dropout (if any) is off, as in the app",
        "",
        f"spec = {_spec_repr(spec)}",
        f"x = make_input(spec, {cfg.input_size})  # (seq_len, batch, input_size), time-major",
    ]
    if lengths and not packed and lengths[0] < session.input_tm.shape[0]:
        lines.append(f"x = x[:{lengths[0]}]  # every sequence has length {lengths[0]}")
    if packed:
        lines += [
            f"lengths = torch.tensor({list(lengths)})",
            "# different lengths: pack, so each sequence stops at its own length",
            "x_in = pack_padded_sequence(x, lengths, enforce_sorted=False)",
        ]
    elif cfg.batch_first:
        lines.append("x_in = x.transpose(0, 1)  # batch_first=True: (batch, seq_len, input_size)")
    else:
        lines.append("x_in = x")
    lines += ["", "with torch.no_grad():",
              "    output, (h_n, c_n) = lstm(x_in)  # h_0, c_0 default to zeros"]
    if packed:
        lines.append(f"    output, _ = pad_packed_sequence(output, batch_first={cfg.batch_first},"
                     f" total_length=x.shape[0])")
    lines += [
        "",
        "print('input ', tuple(x.shape) if not isinstance(x_in, torch.Tensor)"
        " else tuple(x_in.shape))",
        "print('output', tuple(output.shape))  # last layer's h_t at every t",
        "print('h_n   ', tuple(h_n.shape))  # (D*num_layers, batch, H_out): batch_first never"
        " applies",
        "print('c_n   ', tuple(c_n.shape))  # (D*num_layers, batch, hidden_size)",
    ]
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
        "from lstm_viz.io import load_model",
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
