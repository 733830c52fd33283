"""The one check for JSON that comes from outside: config, session and export files.

Everything a file says is checked here before anything is built, allocated or looped over:
types, finite numbers, ranges, sizes, nesting depth and unknown fields. A problem is a
ValueError with one line that names the field, the value found and what is allowed, in the
style of LSTMConfig's own messages ("num_layers must be an integer in [1, 10000] (got 10**9)").

``read_json_file`` reads a file safely (regular files only, a size cap, a depth guard on the raw
text); ``check_session_dict`` checks a session / config dict (``Session.to_dict()`` or a
hand-written one); ``check_session_document`` checks a whole ``*.lstmviz.json`` document;
``check_edits`` and ``check_ablations`` check what-if edits against the LSTM and the input
they apply to;
``check_lstm_size`` refuses by arithmetic an LSTM too large to build.

Unknown fields are refused everywhere except in ``model_source`` (a model file's own free-form
metadata) and in the GUI's ``selection`` and ``view`` state, whose known fields are still
type-checked. ``memory_budget`` is refused in every file: the budget belongs to
whoever runs lstm-viz (``Session(memory_budget=...)``), never to a file.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .tracing.edits import Ablation


class LSTMSizes(Protocol):
    """The sizes of an nn.LSTM that checks need (an ``LSTMConfig`` has them)."""

    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def h_out(self) -> int: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def num_directions(self) -> int: ...


# an LSTMConfig, or a mapping with its fields (a file's config before it is built)
ConfigLike = LSTMSizes | Mapping[str, Any]

MAX_JSON_BYTES = 256 * 1024 * 1024  # a session with 20 MB of weights and input is ~60 MB
MAX_JSON_DEPTH = 32  # the deepest a session file written by lstm-viz goes is 5
MAX_NUM_LAYERS = 10_000
MAX_EDITS = 100_000
MAX_TEXT = 10_000_000  # characters of text input
MAX_VOCAB = 1_000_000  # tokens of a vocabulary stored in a session (the largest in use: ~260k)
MAX_OVERRIDES = 1_000_000  # values what-if edits and ablations set in one run
INT64 = (-(1 << 63), (1 << 63) - 1)  # what an integer field may hold
FLOAT32_MAX = 3.4028234663852886e38  # the largest finite float32: what an edited value may be
DEFAULT_BUDGET = 1 << 30  # bytes; the same default as the trace's memory budget
BUDGET_HINT = ("the memory budget is set by whoever runs lstm-viz (Session(memory_budget=...)),"
               " never by a file; remove the field")



# ----- reading a file -------------------------------------------------------------------------
def shown_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], most: int = 120) -> str:
    """``path`` as a one-line message shows it: cut in the middle when longer than ``most``."""
    text = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    if len(text) <= most:
        return text
    return f"{text[:most // 2]}...{text[-most // 3:]} ({len(text):,} characters)"


def check_regular_file(path: str | os.PathLike[str], what: str = "file",
                       max_bytes: int | None = None) -> Path:
    """``path`` if it is a regular file no larger than ``max_bytes``; ValueError otherwise.

    Checked with ``os.stat`` before opening, so a FIFO, a device such as /dev/zero or a
    directory is refused at once instead of hanging or reading forever."""
    p = Path(path)
    max_bytes = MAX_JSON_BYTES if max_bytes is None else max_bytes
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ValueError(f"{what} not found: {shown_path(p)}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {what} {shown_path(p)}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                "a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ValueError(f"{shown_path(p)} is {kind}; the {what} must be a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"{p.name} is {st.st_size:,} bytes; a {what} may be at most"
                         f" {max_bytes:,} bytes")
    return p


def json_depth(raw: bytes, chunk: int = 1 << 24) -> int:
    """How deeply the arrays and objects of JSON text nest (brackets inside strings skipped),
    without parsing: in vectorized chunks, so that millions of strings take a second."""
    return json_shape(raw, chunk)[0]


def json_shape(raw: bytes, chunk: int = 1 << 24) -> tuple[int, int]:
    """``json_depth`` of JSON text, and how many strings it holds, found the same way."""
    import numpy as np

    a = np.frombuffer(raw, dtype=np.uint8)
    deepest = depth = quotes = 0
    inside = 0  # within a string at the end of the previous chunk
    run = 0  # backslashes that ended the previous chunk
    for lo in range(0, a.size, chunk):
        c = a[lo:lo + chunk]
        n = c.size
        slash = c == ord("\\")
        # backslashes in the run that ends at each position (the previous chunk's run carried)
        idx = np.arange(n, dtype=np.int64)
        last_other = np.maximum.accumulate(np.where(slash, -1, idx))
        runs = np.where(last_other < 0, idx + 1 + run, idx - last_other)
        escaped = np.empty(n, dtype=bool)
        escaped[0] = run % 2 == 1
        escaped[1:] = slash[:-1] & (runs[:-1] % 2 == 1)
        quote = (c == ord('"')) & ~escaped
        quotes += int(quote.sum())
        within = (np.bitwise_xor.accumulate(quote.astype(np.uint8)) ^ inside).astype(bool)
        step = ((c == ord("[")) | (c == ord("{"))).astype(np.int32) \
            - ((c == ord("]")) | (c == ord("}"))).astype(np.int32)
        step[within] = 0
        levels = np.cumsum(step, dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max()))
        depth, inside = int(levels[-1]), int(within[-1])
        run = int(runs[-1]) if slash[-1] else 0
    return deepest, quotes // 2


def parse_json(raw: bytes | str, name: str, what: str = "JSON file") -> object:
    """Parse JSON text, refusing nesting deeper than MAX_JSON_DEPTH before the parser recurses."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{name} nests {depth} levels deep; lstm-viz files nest at most"
                         f" {MAX_JSON_DEPTH} (the file is damaged or not an lstm-viz file)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name} is not a {what}: it is not text (an lstm-viz {what} is a"
                         " JSON file)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is broken: invalid JSON at line {exc.lineno}, column"
                         f" {exc.colno} ({exc.msg}); the file may be truncated") from None
    except RecursionError:  # a guard behind the guard: never a traceback
        raise ValueError(f"{name} nests too deeply to read") from None


def read_json_file(path: str | os.PathLike[str], what: str = "session file") -> object:
    """The parsed JSON of a regular file of at most MAX_JSON_BYTES (ValueError otherwise)."""
    p = check_regular_file(path, what)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    return parse_json(raw, p.name, what)


def field_name(key: object) -> str:
    """A key as a message shows it: as written when it is short and printable, else quoted
    with its control characters escaped and cut to 40 characters (a message stays one line)."""
    text = str(key)
    if text.isprintable() and 0 < len(text) <= 40:
        return text
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


# ----- the schema -----------------------------------------------------------------------------
def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6:
        exp = len(str(abs(value))) - 1
        if abs(value) == 10**exp:
            return f"{'-' if value < 0 else ''}10**{exp}"
        if abs(value) >= 1 << 63:
            return f"an integer of {abs(value).bit_length()} bits"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class Spec:
    """One kind of JSON value; ``check`` returns the value (normalized) or raises ValueError."""

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError


class Int(Spec):
    """An integer in [lo, hi]; where a bound is not given, within ``limit`` (64 bits: what
    torch takes)."""

    def __init__(self, lo: int | None = None, hi: int | None = None,
                 limit: tuple[int, int] = INT64) -> None:
        self.lo, self.hi, self.limit = lo, hi, limit

    def allowed(self, wide: bool = False) -> str:
        """What the field takes; ``wide``: said of an integer outside ``limit``."""
        if self.lo is not None and self.hi is not None:
            return f"an integer in [{_bound(self.lo)}, {_bound(self.hi)}]"
        if self.lo is not None:
            return f"an integer >= {self.lo}" + (" that fits in 64 bits" if wide else "")
        if wide:
            return f"an integer in [{_bound(self.limit[0])}, {_bound(self.limit[1])}]"
        return "an integer"

    def check(self, value: Any, path: str) -> Any:
        lo = self.limit[0] if self.lo is None else self.lo
        hi = self.limit[1] if self.hi is None else self.hi
        if not _is_int(value) or not lo <= value <= hi:
            wide = _is_int(value) and not self.limit[0] <= value <= self.limit[1]
            raise ValueError(f"{path} must be {self.allowed(wide)} (got {_show(value)})")
        return value


def _bound(n: int) -> str:
    """A range's end as a message shows it: 64-bit limits as powers of two."""
    names = {INT64[0]: "-2**63", INT64[1]: "2**63 - 1", (1 << 64) - 1: "2**64 - 1"}
    return names.get(n, str(n))


class Number(Spec):
    def __init__(self, lo: float | None = None, hi: float | None = None,
                 positive: bool = False, what: str = "") -> None:
        self.lo, self.hi, self.positive, self.what = lo, hi, positive, what

    def check(self, value: Any, path: str) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        if ok and self.positive and not value > 0:
            raise ValueError(f"{path} must be a finite number > 0 (got {_show(value)})")
        if ok and ((self.lo is not None and value < self.lo)
                   or (self.hi is not None and value > self.hi)):
            ok = False
        if not ok:
            if self.what:  # a range worth naming only to a finite number outside it
                rng = self.what if isinstance(value, (int, float)) \
                    and not isinstance(value, bool) and math.isfinite(value) else ""
            else:
                rng = f" in [{self.lo}, {self.hi}]" if self.lo is not None else \
                    (" > 0" if self.positive else "")
            raise ValueError(f"{path} must be a finite number{rng} (got {_show(value)})")
        return value


class Bool(Spec):
    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"{path} must be true or false (got {_show(value)})")
        return value


class Str(Spec):
    def __init__(self, choices: Sequence[str] | None = None, max_len: int = 4096) -> None:
        self.choices, self.max_len = choices, max_len

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            what = f"one of {', '.join(self.choices)}" if self.choices else "a string"
            raise ValueError(f"{path} must be {what} (got {_show(value)})")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{path} must be one of {', '.join(self.choices)}"
                             f" (got {_show(value)})")
        if len(value) > self.max_len:
            raise ValueError(f"{path} is {len(value):,} characters long; at most"
                             f" {self.max_len:,} are allowed")
        return value


class Null(Spec):
    """``inner`` or null."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.check(value, path)


class Either(Spec):
    def __init__(self, *options: Spec, what: str) -> None:
        self.options, self.what = options, what

    def check(self, value: Any, path: str) -> Any:
        for option in self.options:
            try:
                return option.check(value, path)
            except ValueError:
                pass
        raise ValueError(f"{path} must be {self.what} (got {_show(value)})")


class List(Spec):
    def __init__(self, item: Spec, max_len: int = 100_000, exact: int | None = None,
                 what: str = "") -> None:
        self.item, self.max_len, self.exact, self.what = item, max_len, exact, what

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{path} must be a list{self.what} (got {_show(value)})")
        if self.exact is not None and len(value) != self.exact:
            raise ValueError(f"{path} must hold {self.exact} values{self.what}"
                             f" (got {len(value)})")
        if len(value) > self.max_len:
            raise ValueError(f"{path} has {len(value):,} entries; at most {self.max_len:,}")
        return [self.item.check(v, _join(path, i)) for i, v in enumerate(value)]


class Tuple(Spec):
    def __init__(self, items: list[tuple[str, Spec]]) -> None:
        self.items = items

    def check(self, value: Any, path: str) -> Any:
        names = ", ".join(n for n, _ in self.items)
        if not isinstance(value, (list, tuple)) or len(value) != len(self.items):
            got = f"{len(value)} values" if isinstance(value, (list, tuple)) else _show(value)
            raise ValueError(f"{path} must be a list of {len(self.items)} values [{names}]"
                             f" (got {got})")
        return [spec.check(v, f"{path} {name}") for (name, spec), v in zip(self.items, value)]


class Obj(Spec):
    """A JSON object with known fields; ``open_`` objects may hold other fields too."""

    def __init__(self, fields: dict[str, Spec], open_: bool = False,
                 forbidden: dict[str, str] | None = None, name: str = "") -> None:
        self.fields, self.open_, self.forbidden = fields, open_, forbidden or {}
        self.name = name

    def check(self, value: Any, path: str) -> Any:
        where = path or self.name or "the file"
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a JSON object (got {_show(value)})")
        for key, why in self.forbidden.items():
            if key in value:
                raise ValueError(f"{_join(path, key)} cannot be set in a file (got"
                                 f" {_show(value[key])}): {why}")
        if not self.open_:
            unknown = sorted(field_name(k) for k in value if k not in self.fields)
            if unknown:
                raise ValueError(f"unknown {where} field(s): {', '.join(unknown)};"
                                 f" allowed: {', '.join(sorted(self.fields))}")
        out = dict(value)
        for key, spec in self.fields.items():
            if key in value:
                out[key] = spec.check(value[key], _join(path, key))
        return out


class AnyJSON(Spec):
    """Any JSON value (its depth is already bounded by parse_json)."""

    def check(self, value: Any, path: str) -> Any:
        return value


# ----- config, input, edits, session ----------------------------------------------------------
CONFIG_FIELDS: dict[str, Spec] = {
    "input_size": Int(1), "hidden_size": Int(1), "num_layers": Int(1, MAX_NUM_LAYERS),
    "bias": Bool(), "batch_first": Bool(), "dropout": Number(0.0, 1.0),
    "bidirectional": Bool(), "proj_size": Int(0),
}

PARAMS = Obj({
    "period": Number(positive=True), "at": Int(), "batch_first": Bool(),
    "vocab": Either(Str(max_len=MAX_VOCAB), List(Str(), max_len=MAX_VOCAB),
                    what=f"a string or a list of strings (at most {MAX_VOCAB:,} tokens)"),
    "vocab_path": Str(), "model_path": Str(), "lstm": Str(), "tokenizer": Str(),
    "embedding_key": Str(),
})

SEED = Int(limit=(INT64[0], (1 << 64) - 1))  # torch.manual_seed's range

INPUT = Obj({
    "source": Str(), "seq_len": Int(1), "batch_size": Int(1), "seed": SEED,
    "text": Str(max_len=MAX_TEXT), "path": Str(),
    "lengths": Null(List(Int(1), what=" of integers >= 1")), "params": PARAMS,
})

EDITED = Number(-FLOAT32_MAX, FLOAT32_MAX,  # a value the trace holds, in float32 too
                what=" in [-3.4e38, 3.4e38] (what float32 holds)")
INPUT_EDIT = Tuple([("t", Int(0)), ("batch", Int(0)), ("feature", Int(0)),
                    ("value", EDITED)])
STATE_EDIT = Tuple([("kind", Str(("h", "c"))), ("t", Int(0)), ("layer", Int(0)),
                    ("direction", Int(0)), ("batch", Int(0)), ("unit", Int(0)),
                    ("value", EDITED)])
ABLATION = Tuple([("kind", Str(("h", "c", "i", "f", "g", "o"))), ("layer", Int(0)),
                  ("direction", Int(0)), ("batch", Int(0)),
                  ("units", List(Int(0), max_len=MAX_EDITS, what=" of unit indices >= 0")),
                  ("value", EDITED), ("start", Int(0)), ("stop", Null(Int(1)))])
EDITS = Obj({"inputs": List(INPUT_EDIT, max_len=MAX_EDITS),
             "states": List(STATE_EDIT, max_len=MAX_EDITS),
             "ablations": List(ABLATION, max_len=MAX_EDITS)})

MODEL_SOURCE = Obj({"path": Str(), "lstm": Str(), "kind": Str(), "sha256": Str(),
                    "batch_first": Null(Bool()), "metadata": Obj({}, open_=True),
                    "embedding": Str(), "has_vocab": Bool(), "head": Null(Str()),
                    "embedding_key": Null(Str()), "recorded": List(Str(), max_len=8),
                    "embedding_options": List(Str(), max_len=64)},
                   open_=True)

SESSION = Obj({
    **CONFIG_FIELDS, "format_version": Int(1), "seq_len": Int(1), "batch_size": Int(1),
    "input": Null(INPUT), "seed": SEED, "device": Str(), "dtype": Str(("float32", "float64")),
    "step": Int(0), "model_source": Null(MODEL_SOURCE), "edits": Null(EDITS), "source": Str(),
    "selection": Null(Obj({}, open_=True)),
}, forbidden={"memory_budget": BUDGET_HINT}, name="session")

SELECTION = Obj({"layer": Int(0), "direction": Int(0), "batch": Int(0), "unit": Int(0),
                 "span": List(Int(0), exact=2, what=" [first, last]"), "span_kind": Str()},
                open_=True)
VIEW = Obj({"tab": Str()}, open_=True)
TENSOR = Obj({"dtype": Str(("float32", "float64")),
              "shape": List(Int(0), max_len=8, what=" of sizes >= 0"), "data": Str(
                  max_len=MAX_JSON_BYTES)})
INPUT_DATA = Obj({"name": Str(), "sha256": Str(), "data": Str(max_len=MAX_JSON_BYTES)})


def check_session_dict(data: Any, path: str = "", budget: int | None = None) -> dict:
    """Check a session or config dict (``Session.to_dict()`` or hand-written): every field's
    type and range, unknown fields, the LSTM's size by arithmetic against ``budget`` (bytes;
    default 1 GiB) and, where the input's sizes are written in it, how many what-if edits it
    can hold. Returns it unchanged."""
    SESSION.check(data, path)
    check_lstm_size(data, path, budget)
    sizes = _written_input_sizes(data)
    if sizes is not None and data.get("edits"):
        check_edit_counts(data["edits"], data, *sizes, path=_join(path, "edits"))
    return data


def _written_input_sizes(data: Mapping) -> tuple[int, int] | None:
    """(seq_len, batch_size) as a session dict states them, or None where the input decides
    (a file) or they are not written."""
    inp = data.get("input") or {}
    if (inp.get("source") or data.get("source")) == "file":
        return None
    sizes = [data.get(k, inp.get(k)) for k in ("seq_len", "batch_size")]
    return (sizes[0], sizes[1]) if all(_is_int(v) for v in sizes) else None


def check_config_dict(data: Any, path: str = "") -> dict:
    """Check an LSTM config dict (LSTMConfig's fields only)."""
    Obj(CONFIG_FIELDS, name="LSTM config").check(data, path)
    check_lstm_size(data, path)
    return data


def check_session_document(doc: Any, budget: int | None = None) -> dict:
    """Check the top level of a ``*.lstmviz.json`` document (format and version are checked by
    the caller); the ``session`` inside is checked by ``check_session_dict``."""
    Obj({"format": Str(), "format_version": Int(1), "session": AnyJSON(),
         "weights": Null(Obj({}, open_=True)), "input_data": Null(INPUT_DATA),
         "selection": Null(SELECTION), "view": Null(VIEW)}).check(doc, "")
    for key, tensor in (doc.get("weights") or {}).items():
        TENSOR.check(tensor, f"weights.{key}")
    check_session_dict(doc["session"], "session", budget)
    return doc


def parameter_count(cfg: ConfigLike) -> int:
    """nn.LSTM's number of parameters in closed form (no loop over layers).

    ``cfg``: an LSTMConfig or a mapping with its fields."""
    get = (lambda k, d: cfg.get(k, d)) if isinstance(cfg, Mapping) \
        else (lambda k, d: getattr(cfg, k))
    i, h, n = get("input_size", 1), get("hidden_size", 1), get("num_layers", 1)
    p = get("proj_size", 0)
    d = 2 if get("bidirectional", False) else 1
    ho = p or h
    per_dir_first = 4 * h * (i + ho) + (8 * h if get("bias", True) else 0) + p * h
    per_dir_rest = 4 * h * (d * ho + ho) + (8 * h if get("bias", True) else 0) + p * h
    return d * (per_dir_first + (n - 1) * per_dir_rest)


def check_lstm_size(cfg: ConfigLike, path: str = "", budget: int | None = None,
                    item_size: int = 4) -> int:
    """Refuse, by arithmetic alone, an LSTM whose weights (held twice while loading) would not
    fit the memory budget; returns the parameter count. ``cfg``: LSTMConfig or a mapping."""
    if isinstance(cfg, Mapping) and not all(_is_int(cfg.get(k, 1)) for k in
                                            ("input_size", "hidden_size", "num_layers",
                                             "proj_size")):
        return 0  # the field checks report it
    budget = DEFAULT_BUDGET if budget is None else int(budget)
    n = parameter_count(cfg)
    need = 2 * n * item_size
    if need > budget:
        where = f"{path}: " if path else ""
        raise ValueError(f"{where}this LSTM would have {n:,} parameters ({need / 2**30:,.1f} GiB"
                         f" while loading), over the memory budget of {budget / 2**30:.1f} GiB;"
                         " reduce num_layers, hidden_size or input_size")
    return n


def _lstm_sizes(cfg: ConfigLike) -> tuple[int, int, int, int, int]:
    """(input_size, hidden_size, h_out, num_layers, directions) of an LSTMConfig or a mapping
    with its fields."""
    get = (lambda k, d: cfg.get(k, d)) if isinstance(cfg, Mapping) \
        else (lambda k, d: getattr(cfg, k))
    h = get("hidden_size", 1)
    return (get("input_size", 1), h, get("proj_size", 0) or h, get("num_layers", 1),
            2 if get("bidirectional", False) else 1)


def check_edit_counts(edits: Any, cfg: ConfigLike, seq_len: int, batch_size: int,
                      path: str = "edits") -> None:
    """ValueError when checked what-if ``edits`` hold more than the LSTM and its input can
    hold (more input edits than input values, more state edits than h and c values) or set
    more than MAX_OVERRIDES values in one run (each ablated unit at each step of its span)."""
    F, H, Ho, L, D = _lstm_sizes(cfg)
    T, B = int(seq_len), int(batch_size)
    inputs, states = edits.get("inputs") or [], edits.get("states") or []
    for key, found, most, what in (
            ("inputs", len(inputs), T * B * F,
             f"the input holds {T * B * F:,} values (seq_len={T} x batch={B} x"
             f" input_size={F})"),
            ("states", len(states), T * L * D * B * (H + Ho),
             f"the LSTM holds {T * L * D * B * (H + Ho):,} values of h and c (seq_len={T} x"
             f" num_layers={L} x directions={D} x batch={B} x {H + Ho} units)")):
        if found > most:
            raise ValueError(f"{path}.{key} has {found:,} edits but {what}: remove the"
                             " repeated ones")
    ablated = sum(len(units) * max(1, min(T, T if stop is None else stop) - start)
                  for _, _, _, _, units, _, start, stop in edits.get("ablations") or [])
    if len(states) + ablated > MAX_OVERRIDES:
        raise ValueError(f"{path} set {len(states) + ablated:,} values of the run (state edits,"
                         " and every ablated unit at every step of its span), more than the"
                         f" {MAX_OVERRIDES:,} one run may set; remove ablations, or give"
                         " them fewer units or shorter spans")


def check_edits(edits: Any, cfg: LSTMSizes, seq_len: int, batch_size: int,
                lengths: Sequence[int] | None = None, path: str = "edits"
                ) -> tuple[list[tuple], list[tuple]]:
    """What-if edits checked against the LSTM and the input they apply to.

    Returns (inputs, states) as tuples ``(t, batch, feature, value)`` and ``(kind, t, layer,
    direction, batch, unit, value)``; an edit outside the LSTM or past a sequence's end, or a
    value that is not a finite number, is a ValueError naming it (never silently ignored)."""
    edits = EDITS.check({} if edits is None else edits, path)
    check_edit_counts(edits, cfg, seq_len, batch_size, path)
    ranges_in = (("t", seq_len, "steps"), ("batch", batch_size, "sequences"),
                 ("feature", cfg.input_size, "input features"))
    inputs = []
    for k, (t, b, feature, value) in enumerate(edits.get("inputs", [])):
        where = f"{path}.inputs[{k}]"
        for (name, hi, what), v in zip(ranges_in, (t, b, feature)):
            _in_range(where, name, v, hi, what)
        _within_length(where, t, b, lengths)
        inputs.append((t, b, feature, float(value)))
    states = []
    for k, (kind, t, layer, direction, b, unit, value) in enumerate(edits.get("states", [])):
        where = f"{path}.states[{k}]"
        size = cfg.h_out if kind == "h" else cfg.hidden_size
        for name, v, hi, what in (("t", t, seq_len, "steps"),
                                  ("layer", layer, cfg.num_layers, "layers"),
                                  ("direction", direction, cfg.num_directions, "directions"),
                                  ("batch", b, batch_size, "sequences"),
                                  ("unit", unit, size, f"units in {kind}")):
            _in_range(where, name, v, hi, what)
        _within_length(where, t, b, lengths)
        states.append((kind, t, layer, direction, b, unit, float(value)))
    return inputs, states


def check_ablations(edits: Any, cfg: LSTMSizes, seq_len: int, batch_size: int,
                    lengths: Sequence[int] | None = None, path: str = "edits"
                    ) -> list[Ablation]:
    """The ablations of a file's what-if edits (``[kind, layer, direction, batch, [units],
    value, start, stop]`` each) as Ablation objects, checked against the LSTM and its input;
    a unit, layer or span outside them, or a clamp outside the gate's range, is a ValueError
    naming it."""
    from .tracing.edits import Ablation
    edits = EDITS.check({} if edits is None else edits, path)
    check_edit_counts(edits, cfg, seq_len, batch_size, path)
    out = []
    for k, (kind, layer, direction, b, units, value, start, stop) in enumerate(
            edits.get("ablations", [])):
        where = f"{path}.ablations[{k}]"
        seen: set[int] = set()
        for unit in units:
            if unit in seen:
                raise ValueError(f"{where}: unit {unit} is named more than once; name each"
                                 " unit once")
            seen.add(unit)
        try:
            ablation = Ablation(kind, layer, direction, b, tuple(units), float(value), start,
                                stop)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        check_ablation_fits(ablation, cfg, seq_len, batch_size, lengths, where)
        out.append(ablation)
    return out


def check_ablation_fits(ablation: Ablation, cfg: LSTMSizes, seq_len: int, batch_size: int,
                        lengths: Sequence[int] | None = None,
                        where: str = "ablation") -> None:
    """ValueError naming what does not fit when ``ablation`` points outside the LSTM (layer,
    direction, unit) or the input (batch element, span start)."""
    size = cfg.h_out if ablation.kind == "h" else cfg.hidden_size
    for name, v, hi, what in (("layer", ablation.layer, cfg.num_layers, "layers"),
                              ("direction", ablation.direction, cfg.num_directions,
                               "directions"),
                              ("batch", ablation.batch, batch_size, "sequences"),
                              ("start", ablation.start, seq_len, "steps")):
        _in_range(where, name, v, hi, what)
    for unit in ablation.units:
        _in_range(where, "unit", unit, size, f"units in {ablation.kind}")
    _within_length(where, ablation.start, ablation.batch, lengths)


def _in_range(where: str, name: str, value: int, hi: int, what: str) -> None:
    if not 0 <= value < hi:
        raise ValueError(f"{where}: {name}={value} is outside the {hi} {what} (allowed: 0 to"
                         f" {hi - 1})")


def _within_length(where: str, t: int, b: int, lengths: Sequence[int] | None) -> None:
    if lengths is not None and t >= lengths[b]:
        raise ValueError(f"{where}: t={t} is past the end of sequence {b}, which has"
                         f" {lengths[b]} steps: nothing is computed there to edit")
