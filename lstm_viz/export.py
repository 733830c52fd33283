"""Export a session's data without Qt: the whole trace as NPZ, the data behind each view as CSV,
the session config as JSON, and a standalone script that checks the trace with torch alone.

NPZ keys: input (as fed to nn.LSTM, batch_first honoured, zero-padded), input_unedited (the
input before what-if edits, time-major (T, B, input_size)), lengths, h_0, c_0,
gates (L, D, T, B, 4, H), c (L, D, T, B, H), h (L, D, T, B, H_out) (NaN past each length),
output / h_n / c_n (as nn.LSTM returns them; a packed output is padded with zeros), every
parameter under its torch name (``weight_ih_l0`` ...), ``config_json`` (the session JSON) and,
with an output head, ``head_weight``, ``head_bias``, ``head_target`` (``codegen.head_arrays``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_open, write_text
from .codegen import head_arrays
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
    if tr.windowed:  # a window of a longer input: where it starts, and the whole run's overview
        ov = tr.checkpoints.overview
        out.update({"window_start": np.array(tr.start), "overview_bucket": np.array(
            ov.bucket_size), "overview_gates": _np(ov.gates), "overview_c": _np(ov.c),
            "overview_h": _np(ov.h)})
    for name, p in session.lstm.named_parameters():
        out[name] = _np(p)
    out.update(head_arrays(session))  # head_weight, head_bias, head_target with a head
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
    rows = [[tr.start + t, u, *(_fmt(g[t, k, u]) for k in range(4))]
            for t in range(g.shape[0]) for u in range(g.shape[2])]
    return header, rows


def states_table(session, layer: int, direction: int, batch: int
                 ) -> tuple[list[str], list[list]]:
    """Rows t, unit, c, h; with proj_size > 0, rows t, state, index, value instead, as c has
    hidden_size units and h has proj_size features that are not the same index space."""
    tr = _require_trace(session)
    c = _np(tr.c[layer, direction, :, batch])  # (T, H)
    h = _np(tr.h[layer, direction, :, batch])  # (T, H_out)
    if tr.config.proj_size:
        rows = [[tr.start + t, "c", u, _fmt(c[t, u])] for t in range(c.shape[0])
                for u in range(c.shape[1])]
        rows += [[tr.start + t, "h", k, _fmt(h[t, k])] for t in range(h.shape[0])
                 for k in range(h.shape[1])]
        return ["t", "state", "index (c: unit, h: projected feature)", "value"], rows
    header = ["t", "unit", "c", "h"]
    rows = [[tr.start + t, u, _fmt(c[t, u]), _fmt(h[t, u])]
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
        T = int(session.num_steps)
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


# ----- animations ---------------------------------------------------------------------------
ANIMATION_FORMATS = ("gif", "webp")
GIF_KEPT_COLOURS = 192  # palette entries for the colour maps; the other 64 for text and lines


class ExportCancelled(Exception):
    """The user cancelled an export; nothing was written."""


def gif_palette(frames: Sequence[np.ndarray], keep: Sequence[np.ndarray] = ()) -> np.ndarray:
    """A 256-colour palette, (256, 3) uint8, for frames (H, W, 3) uint8: up to
    GIF_KEPT_COLOURS entries spread evenly along each colour map in ``keep`` ((N, 3) lookup
    tables, in order), so colour bars and heatmaps keep their colours, and the rest for the
    frames' other pixels (text, lines, backgrounds): the most frequent ones exactly, then a
    median cut."""
    from PIL import Image

    maps = [np.asarray(k, dtype=np.uint8).reshape(-1, 3) for k in keep]
    total = sum(len(m) for m in maps)
    kept = []
    for m in maps:
        n = len(m) if total <= GIF_KEPT_COLOURS else max(2, GIF_KEPT_COLOURS * len(m) // total)
        kept.append(m[_even_along(m, n)])
    kept_arr = np.unique(np.concatenate(kept), axis=0) if kept else np.zeros((0, 3), np.uint8)
    rest = 256 - len(kept_arr)
    step = max(1, len(frames) // 8)
    sample = np.concatenate([f.reshape(-1, 3) for f in frames[::step]])
    if len(kept_arr):
        lut = np.zeros(1 << 24, dtype=bool)
        lut[_pack(np.concatenate(maps))] = True
        sample = sample[~lut[_pack(sample)]]  # heatmap colours are covered by the maps
    if len(sample) == 0:
        sample = np.full((1, 3), 255, np.uint8)
    # the most frequent colours exactly (background, text, lines), median cut for the rest
    codes, counts = np.unique(_pack(sample), return_counts=True)
    top = codes[np.argsort(-counts, kind="stable")[: rest // 2]]
    exact = np.stack([(top >> 16) & 255, (top >> 8) & 255, top & 255], 1).astype(np.uint8)
    rest -= len(exact)
    side = int(np.ceil(np.sqrt(len(sample))))
    padded = np.concatenate([sample, np.repeat(sample[:1], side * side - len(sample), 0)])
    quant = Image.fromarray(padded.reshape(side, side, 3), "RGB").quantize(
        colors=max(1, rest), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    used = (quant.getpalette() or [])[: 3 * rest]
    others = np.concatenate([exact, np.asarray(used, dtype=np.uint8).reshape(-1, 3)])
    palette = np.concatenate([kept_arr, others])[:256]
    if len(palette) < 256:
        palette = np.concatenate([palette, np.repeat(palette[-1:], 256 - len(palette), 0)])
    return palette


def _even_along(lut: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` entries of a colour map spaced evenly along its path through RGB, so a
    map that changes fast somewhere gets more entries there."""
    steps = np.sqrt((np.diff(lut.astype(float), axis=0) ** 2).sum(1))
    along = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, along[-1], n)
    return np.unique(np.clip(np.searchsorted(along, targets), 0, len(lut) - 1))


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def to_palette(frame: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Indices (H, W) uint8 of each pixel's nearest palette colour (Euclidean in RGB, no
    dithering: a colour bar stays a clean ramp)."""
    codes, inverse = np.unique(_pack(frame.reshape(-1, 3)), return_inverse=True)
    colours = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], 1)
    pal = palette.astype(np.int64)
    nearest = np.empty(len(colours), dtype=np.uint8)
    for start in range(0, len(colours), 4096):
        block = colours[start:start + 4096, None, :] - pal[None, :, :]
        nearest[start:start + 4096] = np.argmin((block * block).sum(-1), axis=1)
    return nearest[inverse.reshape(-1)].reshape(frame.shape[:2])


def write_animation(frames: Sequence[np.ndarray], path, *, fps: float = 8.0,
                    keep: Sequence[np.ndarray] = (), progress=None, cancelled=None) -> Path:
    """Write frames (H, W, 3) uint8 as an animated GIF or lossless WebP (by ``path``'s
    suffix), atomically: on an error or a cancel (``cancelled()`` true) no file appears and an
    old one is kept. GIF: one palette for all frames, keeping the colour maps in ``keep``
    (see ``gif_palette``). ``progress(done, total)`` is called as frames are encoded."""
    from PIL import Image

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ANIMATION_FORMATS:
        raise ValueError(f"an animation is written as {' or '.join(ANIMATION_FORMATS)}; give"
                         f" a file name ending in .gif or .webp (got {path.name!r})")
    if not frames:
        raise ValueError("nothing to animate: no frames")
    total = len(frames)

    def check(done: int) -> None:
        if cancelled is not None and cancelled():
            raise ExportCancelled(f"cancelled: {path.name} was not written")
        if progress is not None:
            progress(done, total)

    images = []
    if fmt == "gif":
        palette = gif_palette(frames, keep)
        flat = palette.reshape(-1).tolist()
        for k, frame in enumerate(frames):
            check(k)
            im = Image.fromarray(to_palette(frame, palette), "P")
            im.putpalette(flat)
            images.append(im)
        options: dict = {"optimize": False, "loop": 0}
    else:
        for k, frame in enumerate(frames):
            check(k)
            images.append(Image.fromarray(np.ascontiguousarray(frame), "RGB"))
        options = {"lossless": True, "quality": 100, "method": 4, "loop": 0}
    check(total)
    duration = max(20, int(round(1000 / fps)))
    with atomic_open(path, "wb") as fh:
        images[0].save(fh, format=fmt.upper(), save_all=True, append_images=images[1:],
                       duration=duration, **options)
        check(total)
    return path
