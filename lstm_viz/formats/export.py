"""Export a session's data without Qt: the whole trace as NPZ, the data behind each view as CSV,
the session config as JSON, and a standalone script that checks the trace with torch alone.

NPZ keys: input (as fed to nn.LSTM, batch_first honoured, zero-padded), input_unedited (the
input before what-if edits, time-major (T, B, input_size)), lengths, h_0, c_0,
gates (L, D, T, B, 4, H), c (L, D, T, B, H), h (L, D, T, B, H_out) (NaN past each length),
output / h_n / c_n (as nn.LSTM returns them; a packed output is padded with zeros), every
parameter under its torch name (``weight_ih_l0`` ...), ``config_json`` (the session JSON) and,
with an output head, ``head_weight``, ``head_bias``, ``head_target`` (``codegen.head_arrays``).
A windowed session (a long input traced in windows) writes its window: gates, c, h, input and
output hold input positions [window_start, window_stop) of total_steps, and overview_gates,
overview_c, overview_h hold per-bucket min, max and mean over time of the whole input
(``window_json`` and ``window.json`` say so in words; the CSVs add ``overview_*.csv``).

The streamed export (``save_stream``, ``stream_trace``) writes every step of any trace, long
or short, chunk by chunk into one NPZ archive with a ``manifest.json``; ``read_stream`` reads
it back one chunk at a time.
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..codegen import head_arrays
from ..shapes import all_shapes
from ..tracing import GATE_NAMES
from ..tracing.windowed import STATS
from .atomic import atomic_open, write_text

if TYPE_CHECKING:
    from torch.nn.utils.rnn import PackedSequence

    from ..config import LSTMConfig
    from ..session import Session
    from ..tracing import Trace
    from ..tracing.windowed import Checkpoints

PathArg = str | os.PathLike[str]
Progress = Callable[[int, int], object]  # (done, total)
Cancelled = Callable[[], bool]  # true once the user cancels
Table = tuple[list[str], list[list]]  # (header, rows)

DATA_FORMATS = ("csv", "npz", "json", "py")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _require_trace(session: Session) -> Trace:
    if session.trace is None:
        raise ValueError("nothing to export yet: the session has no trace (run it first)")
    return session.trace


def trace_arrays(session: Session) -> dict[str, np.ndarray]:
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
    if tr.windowed:  # a window of a longer input: which steps, and the whole run's overview
        assert tr.checkpoints is not None  # a windowed trace keeps the checkpoints of its run
        ov = tr.checkpoints.overview
        out.update({"window_start": np.array(tr.start), "window_stop": np.array(tr.stop),
                    "total_steps": np.array(session.num_steps),
                    "overview_bucket": np.array(ov.bucket_size), "overview_gates": _np(ov.gates),
                    "overview_c": _np(ov.c), "overview_h": _np(ov.h),
                    "window_json": np.array(json.dumps(window_labels(session)))})
    for name, p in session.lstm.named_parameters():
        out[name] = _np(p)
    out.update(head_arrays(session))  # head_weight, head_bias, head_target with a head
    out["config_json"] = np.array(json.dumps(session_dict(session)))
    return out


def window_labels(session: Session) -> dict:
    """What a windowed session's export holds: the window's input positions and how to read
    the overview (JSON-ready)."""
    tr = _require_trace(session)
    assert tr.checkpoints is not None  # a windowed trace keeps the checkpoints of its run
    ov = tr.checkpoints.overview
    return {
        "window": [tr.start, tr.stop], "total_steps": session.num_steps,
        "about": f"gates, c, h, input and output hold input positions [{tr.start}, {tr.stop})"
                 f" of {session.num_steps} only (a windowed trace); the overview covers all of"
                 " them; lstm-viz export --stream writes every step",
        "overview": {"bucket_size": ov.bucket_size, "num_buckets": ov.num_buckets,
                     "stats": list(STATS),
                     "dims": {"overview_gates": list(STREAM_DIMS["overview_gates"]),
                              "overview_c": list(STREAM_DIMS["overview_c"]),
                              "overview_h": list(STREAM_DIMS["overview_h"])},
                     "about": "per bucket of bucket_size steps: min, max and mean over time of"
                              " every gate and state, ignoring padding; bucket j covers input"
                              " positions [j * bucket_size, (j + 1) * bucket_size)"},
    }


def save_npz(session: Session, path: PathArg) -> Path:
    """Write ``trace_arrays(session)`` to ``path`` (compressed); loads with allow_pickle=False."""
    path = Path(path)
    arrays = trace_arrays(session)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub
    return path


def save_check_script(session: Session, path: PathArg, target: Any = None
                      ) -> tuple[Path, Path]:
    """Write the Code view's script to ``path`` (``.py``) and the NPZ it reads beside it (same
    name, ``.npz``), both atomically; returns (script, npz). The script needs torch and numpy
    only and exits non-zero when it cannot reproduce the recorded numbers. ``target``: the
    gradient target (a ``codegen.GradientTarget``; default: ``codegen.default_target``)."""
    from ..codegen import build_code

    script = Path(path)
    if script.suffix != ".py":
        raise ValueError(f"the code export writes a Python script: give a .py file name"
                         f" (got {script.name!r})")
    data = script.with_suffix(".npz")
    code = build_code(session, data_file=data.name, target=target)  # no half-done pair
    save_npz(session, data)
    write_text(script, code)
    return script, data


def session_dict(session: Session) -> dict:
    """The session JSON: LSTMConfig fields plus seq_len, batch_size, input source, seed."""
    return session.to_dict()


def save_config_json(session: Session, path: PathArg) -> Path:
    """Write the session JSON to ``path`` (atomically: an old file survives a failed write)."""
    return write_text(Path(path), json.dumps(session_dict(session), indent=2) + "\n")


def _fmt(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.7g}"


def gates_table(session: Session, layer: int, direction: int, batch: int
                ) -> tuple[list[str], list[list]]:
    """Rows t, unit, i, f, g, o for one layer, direction and batch element (blank = padding)."""
    tr = _require_trace(session)
    g = _np(tr.gates[layer, direction, :, batch])  # (T, 4, H)
    header = ["t", "unit", *GATE_NAMES]
    rows = [[tr.start + t, u, *(_fmt(g[t, k, u]) for k in range(4))]
            for t in range(g.shape[0]) for u in range(g.shape[2])]
    return header, rows


def states_table(session: Session, layer: int, direction: int, batch: int
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


def overview_table(session: Session, layer: int, direction: int, batch: int
                   ) -> tuple[list[str], list[list]]:
    """Rows bucket, t_start, t_stop, unit, then min, max and mean over the bucket's steps of
    i, f, g, o, c and h (a windowed session's overview of the whole input; h blank past
    H_out when proj_size > 0)."""
    tr = _require_trace(session)
    if tr.checkpoints is None:
        raise ValueError("only a windowed trace has an overview: this session holds every step")
    ov = tr.checkpoints.overview
    g = _np(ov.gates[:, layer, direction, :, batch])  # (3, NB, 4, H)
    c = _np(ov.c[:, layer, direction, :, batch])  # (3, NB, H)
    h = _np(ov.h[:, layer, direction, :, batch])  # (3, NB, H_out)
    H, Ho, k, T = c.shape[2], h.shape[2], ov.bucket_size, ov.num_steps
    header = ["bucket", "t_start", "t_stop (exclusive)", "unit",
              *(f"{n}_{s}" for n in (*GATE_NAMES, "c", "h") for s in STATS)]
    rows = []
    for j in range(c.shape[1]):
        for u in range(H):
            vals = [_fmt(g[s, j, q, u]) for q in range(4) for s in range(3)]
            vals += [_fmt(c[s, j, u]) for s in range(3)]
            vals += [_fmt(h[s, j, u]) if u < Ho else "" for s in range(3)]
            rows.append([j, j * k, min(T, (j + 1) * k), u, *vals])
    return header, rows


def step_table(session: Session, layer: int, direction: int, batch: int, t: int | None = None
               ) -> tuple[list[str], list[list]]:
    """Rows unit, i, f, g, o, c_prev, c, h at one step (the state view's bar charts)."""
    v = session.values_at(layer, direction, batch, t)
    names = ["i", "f", "g", "o", "c_prev", "c", "h"]
    header = ["unit", *names]
    H = len(v["c"])
    rows = [[u, *(_fmt(v[n][u]) if u < len(v[n]) else "" for n in names)] for u in range(H)]
    return header, rows


def shapes_table(session: Session) -> Table:
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


def write_csv(path: PathArg, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    path = Path(path)
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def export_data(session: Session, out_dir: PathArg, formats: Iterable[str] = DATA_FORMATS, *,
                layer: int = 0, direction: int = 0, batch: int = 0, target: Any = None
                ) -> list[Path]:
    """Write the data files for ``formats`` (csv, npz, json, py) into ``out_dir``; return paths.
    ``target``: the gradient target of the ``py`` script (see ``save_check_script``)."""
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
        if _require_trace(session).windowed:
            written.append(write_csv(out / f"overview_{tag}.csv",
                                     *overview_table(session, layer, direction, batch)))
    if formats & {"csv", "npz"} and _require_trace(session).windowed:
        written.append(write_text(out / "window.json",
                                  json.dumps(window_labels(session), indent=2) + "\n"))
    if "npz" in formats:
        written.append(save_npz(session, out / "trace.npz"))
    if "py" in formats:
        written += save_check_script(session, out / "lstm_check.py", target)
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


def write_animation(frames: Sequence[np.ndarray], path: PathArg, *, fps: float = 8.0,
                    keep: Sequence[np.ndarray] = (), progress: Progress | None = None,
                    cancelled: Cancelled | None = None) -> Path:
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


# ----- streamed export ------------------------------------------------------------------------
STREAM_FORMAT = "lstm-viz trace stream"
STREAM_VERSION = 1
STREAM_MANIFEST = "manifest.json"
STREAM_ARRAYS = ("gates", "c", "h", "input")  # what each chunk holds
STREAM_DIMS = {
    "gates": ("layer", "direction", "t", "batch", "gate", "unit"),
    "c": ("layer", "direction", "t", "batch", "unit"),
    "h": ("layer", "direction", "t", "batch", "feature"),
    "input": ("t", "batch", "feature"),
    "lengths": ("batch",),
    "h_0": ("layer*direction", "batch", "feature"),
    "c_0": ("layer*direction", "batch", "unit"),
    "h_n": ("layer*direction", "batch", "feature"),
    "c_n": ("layer*direction", "batch", "unit"),
    "overview_gates": ("stat", "layer", "direction", "bucket", "batch", "gate", "unit"),
    "overview_c": ("stat", "layer", "direction", "bucket", "batch", "unit"),
    "overview_h": ("stat", "layer", "direction", "bucket", "batch", "feature"),
}


class TraceStream:
    """A trace to write to disk chunk by chunk (``write``), never more than one chunk of steps
    in memory beyond what the source already holds.

    The source is either a full Trace (chunks are slices of it) or the Checkpoints of a
    windowed trace (each chunk is traced as a window from the nearest kept states, forward
    from the chunk before it). Build one with ``from_session`` or ``from_checkpoints`` (on the
    thread that owns the session), then ``write`` it on any thread.
    """

    def __init__(self, *, num_steps: int, chunk_steps: int,
                 chunk: Callable[[int, int], dict[str, torch.Tensor]], config: LSTMConfig,
                 dtype: torch.dtype, lengths: torch.Tensor, h_0: torch.Tensor,
                 c_0: torch.Tensor, h_n: torch.Tensor, c_n: torch.Tensor,
                 overview: dict | Callable[[], dict], parameters: dict,
                 session: dict | None, windowed: bool) -> None:
        self.num_steps, self.chunk_steps = int(num_steps), int(chunk_steps)
        self._chunk = chunk  # (start, stop) -> {name: tensor} for STREAM_ARRAYS
        self.config, self.dtype, self.session, self.windowed = config, dtype, session, windowed
        self.whole = {"lengths": _np(lengths), "h_0": _np(h_0), "c_0": _np(c_0),
                      "h_n": _np(h_n), "c_n": _np(c_n)}
        self._overview = overview  # bucket_size, gates, c, h (numpy), or what makes them
        self.parameters = {name: _np(p) for name, p in parameters.items()}

    @classmethod
    def from_session(cls, session: Session, chunk_steps: int | None = None) -> TraceStream:
        """The session's current trace: all of it when it is held in full, else every window
        of its run (the checkpoints it was traced from; what-if edits included)."""
        tr = _require_trace(session)
        budget = session.memory_budget
        if tr.checkpoints is not None:
            return cls.from_checkpoints(tr.checkpoints, chunk_steps, memory_budget=budget,
                                        session=session_dict(session),
                                        default_chunk=session.window_size)
        return cls._from_full_trace(
            tr, session.lstm, session.window_size if chunk_steps is None else chunk_steps,
            session_dict(session))

    @classmethod
    def from_checkpoints(cls, ckpt: Checkpoints, chunk_steps: int | None = None, *,
                         memory_budget: int | None = None, session: dict | None = None,
                         default_chunk: int | None = None) -> TraceStream:
        """Every window of the run ``ckpt`` keeps (lstm_viz.tracing.checkpoints), in chunks of
        ``chunk_steps`` (default: the session's window rounded to the kept-state spacing);
        ValueError when a chunk that long would not fit the memory budget."""
        import copy

        from ..config import LSTMConfig
        from ..tracing.budget import DEFAULT_WINDOW

        T, every = ckpt.num_steps, ckpt.every
        if chunk_steps is None:
            chunk_steps = max(every, (default_chunk or DEFAULT_WINDOW) // every * every)
        chunk_steps = _check_chunk_steps(chunk_steps, T)
        cfg = LSTMConfig.from_module(ckpt.lstm)
        _check_chunk_budget(cfg, ckpt.x, chunk_steps, memory_budget)
        walker = copy.copy(ckpt)  # its own "last window": the caller's views keep theirs
        walker.last = None

        def chunk(a: int, b: int) -> dict:
            w = walker.window(a, b)
            return {"gates": w.gates, "c": w.c, "h": w.h, "input": ckpt.x[a:b]}

        ov = ckpt.overview
        return cls(num_steps=T, chunk_steps=chunk_steps, chunk=chunk, config=cfg,
                   dtype=ckpt.x.dtype, lengths=ckpt.lengths, h_0=ckpt.h_0, c_0=ckpt.c_0,
                   h_n=ckpt.h_n, c_n=ckpt.c_n,
                   overview={"bucket_size": ov.bucket_size, "gates": _np(ov.gates),
                             "c": _np(ov.c), "h": _np(ov.h)},
                   parameters=dict(ckpt.lstm.named_parameters()), session=session,
                   windowed=True)

    @classmethod
    def _from_full_trace(cls, tr: Trace, lstm: torch.nn.LSTM, chunk_steps: int,
                         session: dict | None
                         ) -> TraceStream:
        from ..tracing.budget import overview_buckets
        from ..tracing.windowed import _bucket_stats, plan  # the overview a windowed trace keeps

        T = tr.num_steps
        chunk_steps = _check_chunk_steps(chunk_steps, T)
        B = tr.batch_size
        bucket, _ = plan(T, overview_buckets(tr.config, B, T, tr.x.dtype))
        exact = bool((tr.lengths == T).all())

        def overview() -> dict:
            out: dict = {"bucket_size": bucket}
            for name, v in (("gates", tr.gates), ("c", tr.c), ("h", tr.h)):
                out[name] = _np(torch.stack([torch.stack(
                    [_bucket_stats(v[layer, d], bucket, exact) for d in range(v.shape[1])], 1)
                    for layer in range(v.shape[0])], 1))
            return out

        def chunk(a: int, b: int) -> dict:
            return {"gates": tr.gates[:, :, a:b], "c": tr.c[:, :, a:b], "h": tr.h[:, :, a:b],
                    "input": tr.x[a:b]}

        def batched(s: torch.Tensor) -> torch.Tensor:  # an unbatched call's h_n, c_n: (L*D, 1, …)
            return s.unsqueeze(1) if s.dim() == 2 else s

        return cls(num_steps=T, chunk_steps=chunk_steps, chunk=chunk, config=tr.config,
                   dtype=tr.x.dtype, lengths=tr.lengths, h_0=tr.h_0, c_0=tr.c_0,
                   h_n=batched(tr.h_n), c_n=batched(tr.c_n), overview=overview,
                   parameters=dict(lstm.named_parameters()), session=session, windowed=False)

    @property
    def overview(self) -> dict:
        """bucket_size, and gates, c, h (3, L, D, NB, B, ...): min, max, mean per bucket."""
        if callable(self._overview):  # made on first use: on the thread that writes
            self._overview = self._overview()
        return self._overview

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The chunks' input positions [start, stop), in order."""
        n, T = self.chunk_steps, self.num_steps
        return [(a, min(a + n, T)) for a in range(0, T, n)]

    def manifest(self) -> dict:
        """What the archive holds: format, sizes, each chunk's members and the arrays' axes."""
        width = len(str(self.num_steps))
        chunks = [{"start": a, "stop": b, "members": {
            name: f"{name}_{a:0{width}d}_{b:0{width}d}" for name in STREAM_ARRAYS}}
            for a, b in self.ranges]
        ov = self.overview
        return {
            "format": STREAM_FORMAT, "version": STREAM_VERSION,
            "num_steps": self.num_steps, "batch_size": int(self.whole["lengths"].shape[0]),
            "chunk_steps": self.chunk_steps, "dtype": str(self.dtype).replace("torch.", ""),
            "windowed": self.windowed, "config": self.config.to_dict(),
            "gate_names": list(GATE_NAMES),
            "dims": {k: list(v) for k, v in STREAM_DIMS.items()},
            "about": "each chunk holds input positions [start, stop), time-major (batch_first"
                     " does not apply); h's feature is H_out (proj_size when > 0);"
                     " values past a sequence's length are NaN",
            "overview": {"bucket_size": ov["bucket_size"],
                         "num_buckets": int(ov["gates"].shape[3]),
                         "stats": list(STATS),
                         "about": "per bucket of bucket_size steps: min, max and mean over"
                                  " time of every gate and state, ignoring padding; bucket j"
                                  " covers positions [j * bucket_size, (j + 1) * bucket_size)"},
            "whole": ["lengths", "h_0", "c_0", "h_n", "c_n", "overview_gates", "overview_c",
                      "overview_h", *self.parameters],
            "chunks": chunks,
            "session": self.session,
        }

    def write(self, path: PathArg, *, progress: Progress | None = None,
              cancelled: Cancelled | None = None) -> Path:
        """Write the archive to ``path`` (``.npz``) atomically, one chunk at a time.

        ``progress(done, total)`` counts steps written (0 first, ``num_steps`` last); when
        ``cancelled()`` turns true ExportCancelled is raised and no file is left (an old one
        is kept)."""
        import zipfile

        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ValueError(f"a streamed trace is an NPZ archive: give a file name ending in"
                             f" .npz (got {path.name!r})")
        total = self.num_steps
        manifest = self.manifest()

        def check(done: int | None = None) -> None:
            if cancelled is not None and cancelled():
                raise ExportCancelled(f"cancelled: {path.name} was not written")
            if progress is not None and done is not None:
                progress(done, total)

        check(0)
        with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED,
                                                            allowZip64=True) as zf:
            zf.writestr(STREAM_MANIFEST, json.dumps(manifest, indent=1))
            ov = self.overview
            whole = {**self.whole, "overview_gates": ov["gates"], "overview_c": ov["c"],
                     "overview_h": ov["h"], **self.parameters}
            for name, arr in whole.items():
                _write_member(zf, name, arr)
            for entry in manifest["chunks"]:
                a, b = entry["start"], entry["stop"]
                for name, t in self._chunk(a, b).items():
                    _write_member(zf, entry["members"][name], _np(t))
                check(b)
            check()  # a cancel after the last chunk still leaves no file
        return path


def _write_member(zf: zipfile.ZipFile, name: str, arr: np.ndarray) -> None:
    from numpy.lib import format as npy

    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        npy.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)


def _check_chunk_steps(chunk_steps: Any, T: int) -> int:
    if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, (int, np.integer)) \
            or chunk_steps < 1:
        raise ValueError(f"chunk_steps must be a positive whole number of steps (got"
                         f" {chunk_steps!r})")
    return min(int(chunk_steps), T)


def _check_chunk_budget(cfg: LSTMConfig, x: torch.Tensor, chunk_steps: int,
                        budget: int | None) -> None:
    """ValueError naming the longest chunk that fits when ``chunk_steps`` does not."""
    from ..tracing.budget import TraceBudgetError, check_windowed_budget

    T, B = int(x.shape[0]), int(x.shape[1])

    def fits(n: int) -> bool:
        try:
            check_windowed_budget(cfg, B, T, x.dtype, budget, window=n)
        except TraceBudgetError:
            return False
        return True

    if fits(chunk_steps):
        return
    lo, hi = 0, chunk_steps  # fits(lo) (or lo = 0), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    hint = f"use at most {lo} steps per chunk" if lo else "no chunk fits: raise the budget"
    raise ValueError(f"chunk_steps={chunk_steps} is more than the memory budget allows for"
                     f" one chunk; {hint}")


def save_stream(session: Session, path: PathArg, *, chunk_steps: int | None = None,
                progress: Progress | None = None, cancelled: Cancelled | None = None) -> Path:
    """Write the session's whole trace to ``path`` (.npz) chunk by chunk, also when only a
    window of it is held (see ``TraceStream``); read it back with ``read_stream``."""
    return TraceStream.from_session(session, chunk_steps).write(
        path, progress=progress, cancelled=cancelled)


def stream_trace(lstm: torch.nn.LSTM, input: torch.Tensor | PackedSequence, path: PathArg,
                 hx: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                 memory_budget: int | None = None, chunk_steps: int | None = None,
                 progress: Progress | None = None, cancelled: Cancelled | None = None) -> Path:
    """Trace ``lstm`` on ``input`` (tensor or PackedSequence, as ``lstm_viz.trace`` takes
    them) and write every gate and state to ``path`` (.npz) chunk by chunk, in the memory a
    windowed trace needs: one pass keeps states and the overview, then each chunk is traced
    from them and written."""
    from ..tracing import checkpoints

    ckpt = checkpoints(lstm, input, hx, memory_budget=memory_budget)
    return TraceStream.from_checkpoints(ckpt, chunk_steps, memory_budget=memory_budget).write(
        path, progress=progress, cancelled=cancelled)


def stream_manifest(path: PathArg) -> dict:
    """The manifest of a streamed trace archive (see ``TraceStream.manifest``); ValueError
    when ``path`` is not one."""
    import zipfile

    path = Path(path)
    how = "write one with lstm_viz.formats.export.save_stream or `lstm-viz export --stream`"
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(STREAM_MANIFEST)
    except (zipfile.BadZipFile, KeyError):
        raise ValueError(f"{path} is not a streamed lstm-viz trace (no {STREAM_MANIFEST});"
                         f" {how}") from None
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ValueError(f"{path}: its {STREAM_MANIFEST} is not valid JSON; {how}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != STREAM_FORMAT:
        raise ValueError(f"{path} is not a streamed lstm-viz trace (its manifest names another"
                         f" format); {how}")
    if int(manifest.get("version", 0)) > STREAM_VERSION:
        raise ValueError(f"{path} was written by a newer lstm-viz (stream format"
                         f" {manifest['version']}; this one reads up to {STREAM_VERSION})")
    return manifest


def read_stream(path: PathArg, names: Sequence[str] = STREAM_ARRAYS
                ) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Yield ``(start, stop, {name: array})`` for each chunk of a streamed trace, in order,
    reading one chunk at a time: gates (L, D, n, B, 4, H), c (L, D, n, B, H),
    h (L, D, n, B, H_out), input (n, B, input_size) for input positions [start, stop)."""
    manifest = stream_manifest(path)
    unknown = [n for n in names if n not in STREAM_ARRAYS]
    if unknown:
        raise ValueError(f"a chunk holds {', '.join(STREAM_ARRAYS)} (got {', '.join(unknown)})")
    with np.load(path, allow_pickle=False) as npz:
        for entry in manifest["chunks"]:
            yield entry["start"], entry["stop"], {n: npz[entry["members"][n]] for n in names}
