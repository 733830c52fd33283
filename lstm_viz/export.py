"""Export a session's data without Qt: the whole trace as NPZ, the data behind each view as CSV,
the session config as JSON, and a standalone script that checks the trace with torch alone.

NPZ keys: input (as fed to nn.LSTM, batch_first honoured, zero-padded), input_unedited (the
input before what-if edits, time-major (T, B, input_size)), lengths, h_0, c_0,
gates (L, D, T, B, 4, H), c (L, D, T, B, H), h (L, D, T, B, H_out) (NaN past each length),
output / h_n / c_n (as nn.LSTM returns them; a packed output is padded with zeros), every
parameter under its torch name (``weight_ih_l0`` ...), and ``config_json`` (the session JSON).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_open, write_text
from .shapes import all_shapes
from .tracing import GATE_NAMES

DATA_FORMATS = ("csv", "npz", "json", "py")


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _require_trace(session):
    if session.trace is None:
        raise ValueError("nothing to export yet: the session has no trace (run it first)")
    return session.trace


def trace_arrays(session) -> dict[str, np.ndarray]:
    """Everything needed to recompute the trace, as numpy arrays keyed by name."""
    from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

    tr = _require_trace(session)
    cfg = tr.config
    T = tr.gates.shape[2]
    x = tr.x.transpose(0, 1) if cfg.batch_first and not tr.unbatched else tr.x
    output = tr.output
    if isinstance(output, PackedSequence):
        output, _ = pad_packed_sequence(output, batch_first=cfg.batch_first, total_length=T)
    out = {
        "input": _np(x), "input_unedited": _np(session.input_tm), "lengths": _np(tr.lengths),
        "h_0": _np(tr.h_0), "c_0": _np(tr.c_0),
        "gates": _np(tr.gates), "c": _np(tr.c), "h": _np(tr.h),
        "output": _np(output), "h_n": _np(tr.h_n), "c_n": _np(tr.c_n),
    }
    for name, p in session.lstm.named_parameters():
        out[name] = _np(p)
    out["config_json"] = np.array(json.dumps(session_dict(session)))
    return out


def save_npz(session, path) -> Path:
    """Write ``trace_arrays(session)`` to ``path`` (compressed); loads with allow_pickle=False."""
    path = Path(path)
    arrays = trace_arrays(session)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub
    return path


def save_check_script(session, path) -> tuple[Path, Path]:
    """Write the Code view's script to ``path`` (``.py``) and the NPZ it reads beside it (same
    name, ``.npz``), both atomically; returns (script, npz). The script needs torch and numpy
    only and exits non-zero when it cannot reproduce the recorded numbers."""
    from .codegen import build_code

    script = Path(path)
    if script.suffix != ".py":
        raise ValueError(f"the code export writes a Python script: give a .py file name"
                         f" (got {script.name!r})")
    data = script.with_suffix(".npz")
    code = build_code(session, data_file=data.name)  # before writing: no half-done pair
    save_npz(session, data)
    write_text(script, code)
    return script, data


def session_dict(session) -> dict:
    """The session JSON: LSTMConfig fields plus seq_len, batch_size, input source, seed."""
    return session.to_dict()


def save_config_json(session, path) -> Path:
    """Write the session JSON to ``path`` (atomically: an old file survives a failed write)."""
    return write_text(Path(path), json.dumps(session_dict(session), indent=2) + "\n")


def _fmt(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.7g}"


def gates_table(session, layer: int, direction: int, batch: int
                ) -> tuple[list[str], list[list]]:
    """Rows t, unit, i, f, g, o for one layer, direction and batch element (blank = padding)."""
    tr = _require_trace(session)
    g = _np(tr.gates[layer, direction, :, batch])  # (T, 4, H)
    header = ["t", "unit", *GATE_NAMES]
    rows = [[t, u, *(_fmt(g[t, k, u]) for k in range(4))]
            for t in range(g.shape[0]) for u in range(g.shape[2])]
    return header, rows


def states_table(session, layer: int, direction: int, batch: int
                 ) -> tuple[list[str], list[list]]:
    """Rows t, unit, c, h (h blank for units >= H_out when proj_size > 0)."""
    tr = _require_trace(session)
    c = _np(tr.c[layer, direction, :, batch])  # (T, H)
    h = _np(tr.h[layer, direction, :, batch])  # (T, H_out)
    header = ["t", "unit", "c", "h"]
    rows = [[t, u, _fmt(c[t, u]), _fmt(h[t, u]) if u < h.shape[1] else ""]
            for t in range(c.shape[0]) for u in range(c.shape[1])]
    return header, rows


def step_table(session, layer: int, direction: int, batch: int, t: int | None = None
               ) -> tuple[list[str], list[list]]:
    """Rows unit, i, f, g, o, c_prev, c, h at one step (the state view's bar charts)."""
    v = session.values_at(layer, direction, batch, t)
    names = ["i", "f", "g", "o", "c_prev", "c", "h"]
    header = ["unit", *names]
    H = len(v["c"])
    rows = [[u, *(_fmt(v[n][u]) if u < len(v[n]) else "" for n in names)] for u in range(H)]
    return header, rows


def shapes_table(session) -> tuple[list[str], list[list]]:
    """Rows name, shape, dims (meaning=size), count, note: every tensor and parameter."""
    x = session.input_tm
    T, B = int(x.shape[0]), int(x.shape[1])
    if session.trace is not None:
        T = int(session.trace.num_steps)
    header = ["name", "shape", "dims", "count", "note"]
    rows = []
    for name, shape in all_shapes(session.config, B, T).items():
        n = int(np.prod(shape)) if len(shape) else 1
        rows.append([name, "x".join(str(s) for s in shape), shape.describe(), n, shape.note])
    return header, rows


def write_csv(path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    path = Path(path)
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def export_data(session, out_dir, formats: Iterable[str] = DATA_FORMATS, *, layer: int = 0,
                direction: int = 0, batch: int = 0) -> list[Path]:
    """Write the data files for ``formats`` (csv, npz, json) into ``out_dir``; return paths."""
    formats = set(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tag = f"l{layer}_{'rev' if direction else 'fwd'}_b{batch}"
    if "csv" in formats:
        written.append(write_csv(out / f"gates_{tag}.csv",
                                 *gates_table(session, layer, direction, batch)))
        written.append(write_csv(out / f"states_{tag}.csv",
                                 *states_table(session, layer, direction, batch)))
        written.append(write_csv(out / f"step_{tag}_t{session.t}.csv",
                                 *step_table(session, layer, direction, batch)))
        written.append(write_csv(out / "shapes.csv", *shapes_table(session)))
    if "npz" in formats:
        written.append(save_npz(session, out / "trace.npz"))
    if "py" in formats:
        written += save_check_script(session, out / "lstm_check.py")
    if "json" in formats or "npz" in formats:
        written.append(save_config_json(session, out / "session.json"))
    return written
