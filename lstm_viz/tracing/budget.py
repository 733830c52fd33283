"""The memory budget: how many bytes a session of a given size needs, checked before building."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import LSTMConfig
from ..shapes import parameter_count

if TYPE_CHECKING:
    import torch

    from ..inputs import InputSpec

DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes
"""The memory a trace may use unless told otherwise: 1 GiB, in bytes."""
DEFAULT_WINDOW = 1024  # steps a windowed trace holds in full
# What a layer and direction costs beyond its numbers (its module, the trace's buffers and
# kernels for it, the views of it): measured at 50 to 100 KiB; counted so that thousands of
# layers of a tiny LSTM are judged by what they take, not by their few weights.
LAYER_COST = 128 << 10  # bytes
# Every step of every layer and direction takes time whatever its size (the trace's loop, the
# check against nn.LSTM): a session may trace one step per STEP_WORK bytes of the budget (at
# least of the default budget), about four million at the default, a few minutes' work.
STEP_WORK = 256  # bytes


class TraceBudgetError(ValueError):
    """The trace would take more memory than the budget allows."""


def _item_size(dtype: torch.dtype | None) -> int:
    """Bytes per element of ``dtype`` (None: float32)."""
    return 4 if dtype is None else int(dtype.itemsize)


def estimate_trace_bytes(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                         dtype: torch.dtype | None = None) -> int:
    """Bytes a trace of this size keeps (gates, c, h, input) plus its largest scratch buffer."""
    B = batch_size or 1
    item = _item_size(dtype)
    H, Ho, L, D = cfg.hidden_size, cfg.h_out, cfg.num_layers, cfg.num_directions
    kept = L * D * seq_len * B * (4 * H + H + Ho) + seq_len * B * cfg.input_size
    # Transients: one direction's buffers (twice for the reverse direction, which is re-ordered
    # into place), and a layer's input with its reversed copy.
    scratch = seq_len * B * ((4 * H + H + Ho) * D + 2 * max(cfg.input_size, D * Ho))
    return int((kept + scratch) * item)


def overview_buckets(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                     dtype: torch.dtype | None = None, budget: int | None = None,
                     most: int = 2048) -> int:
    """How many overview columns a windowed trace keeps: at most ``most`` and ``seq_len``,
    and at most an eighth of the budget (at least 16)."""
    budget = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
    B = batch_size or 1
    per_bucket = 3 * cfg.num_layers * cfg.num_directions * B * \
        (5 * cfg.hidden_size + cfg.h_out) * _item_size(dtype)
    return max(1, min(most, seq_len, max(16, budget // 8 // per_bucket)))


def estimate_windowed_bytes(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                            dtype: torch.dtype | None = None, window: int = DEFAULT_WINDOW,
                            every: int = 128, buckets: int = 2048, chunk: int = 2048) -> int:
    """Bytes a windowed trace keeps: the input, the overview (min, max, mean per bucket), the
    states every ``every`` steps, a layer's output while the next layer reads it, one chunk of
    the first pass and one window (with the steps it is traced from)."""
    B = batch_size or 1
    item = _item_size(dtype)
    H, Ho, L, D = cfg.hidden_size, cfg.h_out, cfg.num_layers, cfg.num_directions
    per_step = 4 * H + H + Ho
    nb = min(seq_len, buckets)
    overview = 3 * nb * L * D * B * per_step
    states = (seq_len // max(1, every) + 2) * L * D * B * (H + Ho)
    layer_out = 2 * seq_len * B * D * Ho if L > 1 else 0
    bucket = -(-seq_len // max(1, buckets))
    chunk = bucket * max(1, chunk // bucket)
    scratch = min(chunk, seq_len) * B * (3 * per_step + 2 * max(cfg.input_size, D * Ho))
    span = min(seq_len, window + 2 * every)
    held = estimate_trace_bytes(cfg, B, span, dtype) // item
    return int((seq_len * B * cfg.input_size + overview + states + layer_out + scratch + held)
               * item)


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} EiB"


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 10**3, "m": 1 << 20,
          "mib": 1 << 20, "mb": 10**6, "g": 1 << 30, "gib": 1 << 30, "gb": 10**9,
          "t": 1 << 40, "tib": 1 << 40, "tb": 10**12}
MIN_MEMORY_BUDGET = 16 << 20  # bytes: below this not even a windowed trace of a small LSTM fits
MAX_MEMORY_BUDGET = 1 << 60  # bytes (1 EiB): more than any machine has


def parse_size(text: str) -> int:
    """Bytes from a size as people write it: ``"4GiB"``, ``"512 MiB"``, ``"1.5G"``,
    ``"2000000000"`` (KiB, MiB, GiB, TiB and K, M, G, T are powers of 1024; kB, MB, GB, TB
    powers of 1000). ValueError, with what to write, for anything else or under 16 MiB."""
    raw = str(text).strip()
    number = raw.rstrip("bBiIkKmMgGtT ")
    unit = raw[len(number):].strip().lower()
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit not in _UNITS or not value > 0 or value == float("inf"):
        raise ValueError(f"a memory size looks like 4GiB, 512MiB or 2000000000 (got {raw!r})")
    if value * _UNITS[unit] > MAX_MEMORY_BUDGET:
        raise ValueError(f"a memory budget of {raw} is more than any machine has: at most"
                         f" {format_bytes(MAX_MEMORY_BUDGET)}")
    size = int(value * _UNITS[unit])
    if size < MIN_MEMORY_BUDGET:
        raise ValueError(f"a memory budget of {format_bytes(size)} is too small: at least"
                         f" {format_bytes(MIN_MEMORY_BUDGET)}")
    return size


def max_steps(budget: int | None = None) -> int:
    """How many steps (of one layer and direction each) a trace may take under ``budget``."""
    budget = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
    return max(budget, DEFAULT_MEMORY_BUDGET) // STEP_WORK


def check_steps(cfg: LSTMConfig, seq_len: int, budget: int | None = None) -> int:
    """Return the steps a trace of ``seq_len`` takes (num_layers x directions x seq_len), or
    raise TraceBudgetError when they are more than ``max_steps(budget)``: however small the
    LSTM, each step takes time."""
    steps = cfg.num_layers * cfg.num_directions * int(seq_len)
    most = max_steps(budget)
    if steps > most:
        shown = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
        raise TraceBudgetError(
            f"this would trace {steps:,} steps (num_layers={cfg.num_layers} x"
            f" directions={cfg.num_directions} x seq_len={seq_len}), more than the {most:,}"
            f" a memory budget of {format_bytes(shown)} allows (each step takes time, however"
            " small the LSTM); reduce seq_len or num_layers (or raise the budget)")
    return steps


def _fixed_costs(cfg: LSTMConfig, dtype: torch.dtype | None) -> tuple[int, int]:
    """(weights, layers): the weights twice (a module and the copy made while it is loaded or
    moved to another device) and LAYER_COST per layer and direction, in bytes."""
    return (2 * parameter_count(cfg) * _item_size(dtype),
            cfg.num_layers * cfg.num_directions * LAYER_COST)


def _parts(weights: int, layers: int, cfg: LSTMConfig) -> str:
    return (f"{format_bytes(weights)} of weights, {format_bytes(layers)} for"
            f" num_layers={cfg.num_layers} x directions={cfg.num_directions} at"
            f" {format_bytes(LAYER_COST)} each")


def check_budget(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                 dtype: torch.dtype | None = None, budget: int | None = None) -> int:
    """Return the bytes a session of this size needs (the trace, the weights twice and what
    each layer costs beyond its numbers), or raise TraceBudgetError naming the estimate and
    what to reduce, also when it takes more steps than ``check_steps`` allows. Call it before
    building anything."""
    budget = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
    check_steps(cfg, seq_len, budget)
    weights, layers = _fixed_costs(cfg, dtype)
    need = estimate_trace_bytes(cfg, batch_size, seq_len, dtype) + weights + layers
    if need > budget:
        raise TraceBudgetError(
            f"over the memory budget of {format_bytes(budget)}: this would need about"
            f" {format_bytes(need)} ({_parts(weights, layers, cfg)}, the rest for"
            f" num_layers={cfg.num_layers} x directions={cfg.num_directions} x"
            f" seq_len={seq_len} x batch={batch_size or 1} x"
            f" {5 * cfg.hidden_size + cfg.h_out} traced values per step); reduce seq_len, batch"
            " size, hidden_size or num_layers (or raise the budget)")
    return need


def check_windowed_budget(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                          dtype: torch.dtype | None = None, budget: int | None = None,
                          window: int = DEFAULT_WINDOW) -> int:
    """Like check_budget, for a windowed trace (lstm_viz.tracing.windowed): its bytes, or
    TraceBudgetError naming the estimate and what to reduce."""
    budget = DEFAULT_MEMORY_BUDGET if budget is None else int(budget)
    check_steps(cfg, seq_len, budget)
    weights, layers = _fixed_costs(cfg, dtype)
    buckets = overview_buckets(cfg, batch_size, seq_len, dtype, budget)
    need = estimate_windowed_bytes(cfg, batch_size, seq_len, dtype, window=window,
                                   buckets=buckets) + weights + layers
    if need > budget:
        raise TraceBudgetError(
            f"over the memory budget of {format_bytes(budget)} even in windows: a windowed trace"
            f" would need about {format_bytes(need)} ({_parts(weights, layers, cfg)}, the rest"
            f" for the input, the overview and the kept states of seq_len={seq_len} x"
            f" batch={batch_size or 1}); reduce seq_len, batch size, hidden_size or num_layers"
            " (or raise the budget)")
    return need


def needs_window(cfg: LSTMConfig, batch_size: int | None, seq_len: int,
                 dtype: torch.dtype | None = None, budget: int | None = None) -> bool:
    """Whether a full trace of this size is over the budget (so a session traces windows);
    TraceBudgetError when even a windowed trace is."""
    try:
        check_budget(cfg, batch_size, seq_len, dtype, budget)
        return False
    except TraceBudgetError:
        check_windowed_budget(cfg, batch_size, seq_len, dtype, budget)
        return True


def precheck(config: LSTMConfig, input_spec: InputSpec, dtype: torch.dtype | None = None,
             memory_budget: int | None = None, windowed: bool = False) -> None:
    """Refuse sizes over the memory budget before a session allocates anything.

    Raises TraceBudgetError (a ValueError) when the weights alone exceed the budget, or when
    the trace does (with ``windowed``: when even a windowed trace does), checked here only for
    inputs whose sizes are known before loading: not for a file, whose sizes are checked once
    it is read.
    """
    limit = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    count = parameter_count(config)
    weights = count * _item_size(dtype)
    if weights > limit:
        raise TraceBudgetError(
            f"the weights alone would need {weights / 2**30:.1f} GiB ({count:,} parameters),"
            f" over the memory budget of {limit / 2**30:.1f} GiB; reduce hidden_size,"
            " input_size or num_layers")
    if input_spec.source != "file":
        if windowed:
            needs_window(config, input_spec.batch_size, input_spec.seq_len, dtype,
                         memory_budget)
        else:
            check_budget(config, input_spec.batch_size, input_spec.seq_len, dtype,
                         memory_budget)
