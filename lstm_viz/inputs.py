"""Input sources: seeded random, sine/ramp/step/impulse patterns, one-hot text, .npy/.csv files.

Every source makes a time-major float tensor (T, B, input_size); the Session turns it into the
layout the LSTM expects (batch_first) and packs it when the sequences have different lengths.
Adding a source: write ``_make_<name>(spec, input_size)`` and register it in ``INPUT_SOURCES``.
"""

from __future__ import annotations

import csv
import hashlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import reject_unknown_fields


@dataclass(frozen=True)
class InputSpec:
    """What to feed the LSTM: a source name, sizes, a seed, and the source's own settings.

    lengths: per-sequence lengths for a variable-length (packed) batch, each in [1, seq_len];
    None means every sequence has seq_len steps. For a file source, seq_len and batch_size are
    taken from the file.
    """

    source: str = "random"
    seq_len: int = 20
    batch_size: int = 2
    seed: int = 0
    text: str = ""
    path: str = ""
    lengths: tuple[int, ...] | None = None
    params: dict = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        if self.source not in INPUT_SOURCES:
            raise ValueError(f"source must be one of {', '.join(INPUT_SOURCES)}"
                             f" (got {self.source!r})")
        for name in ("seq_len", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1 (got {v!r})")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer (got {self.seed!r})")
        if self.lengths is not None:
            if isinstance(self.lengths, (str, bytes)) or not hasattr(self.lengths, "__iter__"):
                raise ValueError(f"lengths must be a list of integers >= 1 (got"
                                 f" {self.lengths!r})")
            odd = [n for n in self.lengths
                   if isinstance(n, bool) or not isinstance(n, (int, np.integer))]
            if odd:
                raise ValueError(f"lengths must be whole numbers of steps (got {odd[0]!r});"
                                 " give each sequence's length as an integer")
            lengths = tuple(int(n) for n in self.lengths)
            object.__setattr__(self, "lengths", lengths)
            if self.source != "file" and len(lengths) != self.batch_size:
                raise ValueError(f"lengths must give one length per sequence: batch_size is"
                                 f" {self.batch_size} but {len(lengths)} lengths were given")
            bad = [n for n in lengths if not 1 <= n <= self.seq_len] if self.source != "file" \
                else [n for n in lengths if n < 1]
            if bad:
                raise ValueError(f"lengths must be between 1 and seq_len={self.seq_len}"
                                 f" (got {list(lengths)})")
        if self.source == "text" and not self.text:
            raise ValueError("text source needs some text to encode")
        if self.source == "file" and not self.path:
            raise ValueError("file source needs a path to a .npy or .csv file")

    def replace(self, **changes: Any) -> InputSpec:
        import dataclasses
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["lengths"] = list(self.lengths) if self.lengths is not None else None
        d["params"] = dict(self.params)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        reject_unknown_fields(data, {f.name for f in fields(cls)}, "input")
        d = dict(data)
        if d.get("lengths") is not None:
            d["lengths"] = tuple(d["lengths"])
        return cls(**d)


#: what the input seed is mixed with before it seeds the random input's generator
INPUT_STREAM = b"lstm-viz random input"


def input_stream_seed(seed: int) -> int:
    """The 64-bit seed of the random input's own generator: the input seed hashed with
    ``INPUT_STREAM``. The weights come from ``torch.manual_seed(seed)``; without the hash an
    input seed equal to the weight seed would replay the very numbers the weights were drawn
    from, and x[t] would correlate with row t of W_ih (a structure the LSTM never made)."""
    digest = hashlib.sha256(INPUT_STREAM + b":" + str(int(seed)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _generator(spec: InputSpec) -> torch.Generator:
    return torch.Generator().manual_seed(input_stream_seed(spec.seed))


def _make_random(spec: InputSpec, input_size: int) -> torch.Tensor:
    """Standard normal noise, reproducible from the input seed, from a stream of its own (never
    the one the weights are drawn from)."""
    return torch.randn(spec.seq_len, spec.batch_size, input_size, generator=_generator(spec))


def _time_grid(spec: InputSpec) -> torch.Tensor:
    return torch.arange(spec.seq_len, dtype=torch.float32).view(-1, 1, 1)


def _make_sine(spec: InputSpec, input_size: int) -> torch.Tensor:
    """Sine waves; feature k of sequence b has period ``period*(1+k/2)`` and phase b/B."""
    period = float(spec.params.get("period", 16.0))
    if period <= 0:
        raise ValueError(f"sine period must be > 0 (got {period})")
    t = _time_grid(spec)
    k = torch.arange(input_size, dtype=torch.float32).view(1, 1, -1)
    b = torch.arange(spec.batch_size, dtype=torch.float32).view(1, -1, 1)
    return torch.sin(2 * math.pi * (t / (period * (1 + k / 2)) + b / spec.batch_size))


def _make_ramp(spec: InputSpec, input_size: int) -> torch.Tensor:
    """A linear ramp from -1 to 1 over the sequence, the same on every feature."""
    t = torch.linspace(-1.0, 1.0, spec.seq_len).view(-1, 1, 1)
    return t.expand(spec.seq_len, spec.batch_size, input_size).clone()


def _make_step(spec: InputSpec, input_size: int) -> torch.Tensor:
    """0 before ``at`` (default: the middle), 1 from there on."""
    at = int(spec.params.get("at", spec.seq_len // 2))
    x = torch.zeros(spec.seq_len, spec.batch_size, input_size)
    x[max(0, at):] = 1.0
    return x


def _make_impulse(spec: InputSpec, input_size: int) -> torch.Tensor:
    """A single 1 at timestep ``at`` (default 0), zeros elsewhere: the impulse response."""
    at = int(spec.params.get("at", 0))
    if not 0 <= at < spec.seq_len:
        raise ValueError(f"impulse position must be in [0, seq_len-1={spec.seq_len - 1}]"
                         f" (got {at})")
    x = torch.zeros(spec.seq_len, spec.batch_size, input_size)
    x[at] = 1.0
    return x


def text_vocabulary(text: str) -> list[str]:
    """Sorted distinct characters of ``text``: index k is one-hot feature k."""
    return sorted(set(text))


def _make_text(spec: InputSpec, input_size: int) -> torch.Tensor:
    """One-hot characters: seq_len characters of the text, each sequence starting further in.

    The vocabulary is the text's sorted distinct characters unless ``params["vocab"]`` (a
    string) gives it; it must fit in input_size.
    """
    vocab = list(spec.params.get("vocab") or text_vocabulary(spec.text))
    if len(vocab) > input_size:
        raise ValueError(f"the text has {len(vocab)} distinct characters but input_size is"
                         f" {input_size}; one-hot text needs input_size >= {len(vocab)}")
    index = {ch: i for i, ch in enumerate(vocab)}
    missing = sorted(set(spec.text) - set(index))
    if missing:
        raise ValueError(f"characters not in the vocabulary: {''.join(missing)!r}")
    x = torch.zeros(spec.seq_len, spec.batch_size, input_size)
    n = len(spec.text)
    for b in range(spec.batch_size):
        offset = (b * spec.seq_len) % n
        for t in range(spec.seq_len):
            x[t, b, index[spec.text[(offset + t) % n]]] = 1.0
    return x


MAX_INPUT_BYTES = 1 << 30
_CSV_ENCODING = "utf-8-sig"  # a byte-order mark is not part of the first row
_CSV_BLANK = np.zeros(256, dtype=bool)  # bytes of a line csv.reader finds empty
_CSV_BLANK[[ord(c) for c in " \t\r\n\f\v,"]] = True
_CSV_CHUNK = 4 << 20


def load_array(path: str | Path) -> np.ndarray:
    """A .npy or .csv file as a float32 array; CSV rows are timesteps, columns features, and a
    header row (any non-numeric first row) is skipped.

    Refused with a ValueError: anything but a regular file, object and complex arrays (by name;
    nothing is unpickled, no imaginary part dropped), values beyond float32's range. NaN and
    infinite values are kept with a warning that counts them."""
    from .validate import check_regular_file

    p = check_regular_file(path, "input file", MAX_INPUT_BYTES)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        _check_npy_header(p)
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as exc:  # numpy raises several kinds for a bad file
            raise ValueError(f"{p.name} is not a readable .npy array: {exc}") from None
    elif suffix in (".csv", ".txt"):
        arr = _read_csv(p)
    else:
        raise ValueError(f"unsupported input file type {suffix!r}; use .npy or .csv")
    return _to_float32(arr, p.name)


def input_shape(path: str | Path) -> tuple[int, ...]:
    """The shape ``load_array(path)`` gives, found without reading the values: a .npy file's
    header, a CSV's columns and its non-blank lines (counted in bytes, not parsed)."""
    from .validate import check_regular_file

    p = check_regular_file(path, "input file", MAX_INPUT_BYTES)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return _check_npy_header(p)
    if suffix in (".csv", ".txt"):
        header, width = _csv_first_rows(p)
        return (_csv_line_count(p) - header, width)
    raise ValueError(f"unsupported input file type {suffix!r}; use .npy or .csv")


def file_steps(spec: InputSpec) -> tuple[int, int] | None:
    """(seq_len, batch) of a file input, from ``input_shape`` and the spec's batch_first, or
    None when the file's shape is one ``array_to_input`` refuses anyway."""
    shape = input_shape(spec.path)
    if 0 in shape:
        return None
    if len(shape) in (1, 2):
        return shape[0], 1
    if len(shape) == 3:
        return (shape[1], shape[0]) if spec.params.get("batch_first") else (shape[0], shape[1])
    return None


def _csv_first_rows(p: Path) -> tuple[int, int]:
    """(1 if the first non-blank row is a header else 0, columns of the first numeric row)."""
    with p.open(newline="", encoding=_CSV_ENCODING, errors="replace") as fh:
        rows = (r for r in csv.reader(fh) if r and any(c.strip() for c in r))
        first = next(rows, None)
        if first is None:
            raise ValueError(f"{p.name} has no numeric rows")
        if _numeric_row(first):
            return 0, len(first)
        second = next(rows, None)
        if second is None:
            raise ValueError(f"{p.name} has no numeric rows")
        return 1, len(second)


def _csv_line_count(p: Path) -> int:
    """How many lines of ``p`` hold something besides spaces and commas, counted a few MiB at
    a time: csv.reader's non-empty rows, or a few more (quoted line breaks or blanks)."""
    rows, open_line = 0, False  # open_line: the line the last chunk ended in has content
    with p.open("rb") as fh:
        if fh.read(3) != b"\xef\xbb\xbf":
            fh.seek(0)
        while chunk := fh.read(_CSV_CHUNK):
            a = np.frombuffer(chunk, dtype=np.uint8)
            content = np.cumsum(~_CSV_BLANK[a], dtype=np.int32)
            ends = content[np.flatnonzero(a == 10)]
            if ends.size:
                lines = np.diff(ends, prepend=0) > 0
                lines[0] |= open_line
                rows += int(lines.sum())
                open_line = bool(content[-1] > ends[-1])
            else:
                open_line = open_line or bool(content[-1] > 0)
    return rows + open_line


def _read_csv(p: Path) -> np.ndarray:
    """The numeric rows of a CSV as float64 (rows, columns), a header row skipped."""
    header, width = _csv_first_rows(p)
    with p.open(newline="", encoding=_CSV_ENCODING, errors="replace") as fh:
        if header:
            next(r for r in csv.reader(fh) if r and any(c.strip() for c in r))
        try:
            # numpy's C parser reads most files fast; whatever it cannot read (quotes,
            # lines of commas, ragged rows) is read again below, which explains the problem.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no data": read again below
                arr = np.loadtxt(fh, delimiter=",", comments=None, dtype=np.float64, ndmin=2)
            if arr.size and arr.shape[1] == width:
                return arr
        except ValueError:
            pass
    with p.open(newline="", encoding=_CSV_ENCODING, errors="replace") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    rows = rows[header:]
    if not rows:
        raise ValueError(f"{p.name} has no numeric rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(f"{p.name}: rows have different numbers of columns {sorted(widths)}")
    try:
        return np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{p.name}: non-numeric value ({exc})") from None


def _check_npy_header(p: Path) -> tuple[int, ...]:
    """The shape a .npy's header declares; refused by its dtype before any data is read."""
    try:
        with p.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:  # numpy raises several kinds for a bad header
        raise ValueError(f"{p.name} is not a readable .npy array: {exc}") from None
    _check_dtype(dtype, p.name)
    return tuple(int(n) for n in shape)


def _check_dtype(dtype: np.dtype, name: str) -> None:
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"{name} holds complex numbers ({dtype}); an LSTM reads real numbers:"
                         " save data.real, data.imag or abs(data) instead")
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects ({dtype}), which are never unpickled;"
                         " save a numeric array (np.save(path, data.astype(np.float32)))")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise ValueError(f"{name} holds {dtype} values, expected real numbers")


def _to_float32(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as float32: values beyond float32's range are refused, NaN and infinities are
    kept with a warning that counts them."""
    _check_dtype(arr.dtype, name)
    finite = np.isfinite(arr)
    big = finite & (np.abs(arr) > np.finfo(np.float32).max)
    if big.any():
        example = arr[big].flat[0]
        raise ValueError(f"{name} has {int(big.sum())} value(s) beyond float32's range"
                         f" (+-3.4e38), e.g. {example:.3g}; they would become infinite:"
                         " rescale the data")
    out = arr.astype(np.float32)
    n_nan = int(np.isnan(out).sum())
    n_inf = int(np.isinf(out).sum())
    if n_nan or n_inf:
        found = " and ".join(t for t in (f"{n_nan} NaN" if n_nan else "",
                                         f"{n_inf} infinite" if n_inf else "") if t)
        warnings.warn(f"{found} values in the input {name}; the trace will carry them",
                      UserWarning, stacklevel=3)
    return out


def _numeric_row(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
        return True
    except ValueError:
        return False


def array_to_input(arr: Any, input_size: int, batch_first: bool = False,
                   name: str = "input") -> torch.Tensor:
    """Interpret a 1-, 2- or 3-D array as a (T, B, input_size) float32 tensor, time-major.

    1-D: (seq_len,) when input_size is 1. 2-D: (seq_len, input_size), one sequence.
    3-D: (seq_len, batch, input_size), or (batch, seq_len, input_size) when batch_first.
    A mismatch raises ValueError naming the expected and found shapes and the likely fix
    (transpose, batch_first, a different input_size).
    """
    a = np.asarray(arr)
    _check_dtype(a.dtype, name)
    t = torch.as_tensor(a, dtype=torch.float32)
    I = input_size
    found = tuple(t.shape)
    what = f"{name} shape {found} does not fit"
    if 0 in found:
        raise ValueError(f"{name} has shape {found}, with nothing along a dimension of size 0;"
                         " an input needs at least one timestep, one sequence and one feature")
    if t.ndim == 1 and I == 1:
        return t[:, None, None].contiguous()
    if t.ndim == 2:
        if t.shape[1] == I:
            return t[:, None, :].contiguous()
        if t.shape[0] == I:
            hint = (f"it looks transposed: rows should be timesteps and columns features;"
                    f" transpose it (data.T, shape {found[::-1]})")
        else:
            hint = (f"the model reads input_size={I} features per timestep, the data has"
                    f" {t.shape[1]} columns: pick {I} columns, set input_size to"
                    f" {t.shape[1]} or open a model with input_size={t.shape[1]}")
        raise ValueError(f"{what}: expected (seq_len, input_size={I}); {hint}")
    if t.ndim == 3:
        layout = "(batch, seq_len, input_size)" if batch_first else \
            "(seq_len, batch, input_size)"
        if t.shape[2] == I:
            return t.transpose(0, 1).contiguous() if batch_first else t.contiguous()
        if t.shape[1] == I:
            hint = ("features are in the middle dimension; move them last"
                    " (np.transpose(data, (0, 2, 1)))")
        elif t.shape[0] == I:
            hint = "features are in the first dimension; move them last (np.moveaxis(data, 0, -1))"
        else:
            hint = (f"the model reads input_size={I} features, the data's last dimension has"
                    f" {t.shape[2]}: set input_size to {t.shape[2]} or open a model with"
                    f" input_size={t.shape[2]}")
        raise ValueError(f"{what}: expected {layout} with input_size={I}"
                         f" (batch_first={batch_first}); {hint}. Note: batch_first=False reads"
                         " (seq_len, batch, features), batch_first=True reads (batch, seq_len,"
                         " features)")
    if t.ndim == 1:
        raise ValueError(f"{what}: a 1-D sequence works only for input_size=1, this model"
                         f" expects (seq_len, input_size={I}); reshape it to (seq_len, {I})"
                         " or set input_size to 1")
    raise ValueError(f"{what}: expected 2 or 3 dimensions, (seq_len, {I}) or"
                     f" (seq_len, batch, {I}); found {t.ndim}")


def _make_file(spec: InputSpec, input_size: int) -> torch.Tensor:
    arr = load_array(spec.path)
    return array_to_input(arr, input_size, bool(spec.params.get("batch_first", False)),
                          name=Path(spec.path).name)


INPUT_SOURCES: OrderedDict[str, tuple[str, Callable[[InputSpec, int], torch.Tensor]]] = \
    OrderedDict([
        ("random", ("Random normal (seeded)", _make_random)),
        ("sine", ("Sine waves", _make_sine)),
        ("ramp", ("Ramp -1 to 1", _make_ramp)),
        ("step", ("Step (0 then 1)", _make_step)),
        ("impulse", ("Impulse at t=0", _make_impulse)),
        ("text", ("Text, one-hot characters", _make_text)),
        ("file", ("File (.npy / .csv)", _make_file)),
    ])
"""Input sources by name: (the label a GUI shows, the function that makes the input).
The function takes the ``InputSpec`` and ``input_size`` and returns ``(T, B, input_size)``."""


def source_labels() -> OrderedDict[str, str]:
    """Source name -> label for a combo box."""
    return OrderedDict((k, v[0]) for k, v in INPUT_SOURCES.items())


def make_input(spec: InputSpec, input_size: int,
               check_size: Callable[[int, int], object] | None = None) -> torch.Tensor:
    """The input as a time-major float32 tensor (T, B, input_size).

    ``check_size(seq_len, batch)``, when given, is called with a file's sizes before its
    values are read (found from its header or by counting its rows), to refuse a file too
    large for the memory budget at once."""
    if not isinstance(input_size, int) or input_size < 1:
        raise ValueError(f"input_size must be an integer >= 1 (got {input_size!r})")
    if check_size is not None and spec.source == "file":
        steps = file_steps(spec)
        if steps is not None:
            try:
                check_size(*steps)
            except ValueError as exc:
                raise type(exc)(f"{Path(spec.path).name} holds {steps[0]:,} timesteps of"
                                f" {steps[1]} sequence(s): {exc}") from None
    x = INPUT_SOURCES[spec.source][1](spec, input_size)
    if spec.lengths is not None and len(spec.lengths) != x.shape[1]:
        raise ValueError(f"lengths gives {len(spec.lengths)} lengths but the input has"
                         f" {x.shape[1]} sequences")
    if spec.lengths is not None and max(spec.lengths) > x.shape[0]:
        raise ValueError(f"lengths must be <= the sequence length {x.shape[0]}"
                         f" (got {list(spec.lengths)})")
    return x.contiguous()
