"""The state a user steps through: config, seeded weights, input, device, the trace and time t.

No Qt here: views subscribe to psygnal signals and re-read the session when told. Tracing is
split so that a GUI can run it on a worker thread:

    req = session.request()        # GUI thread: an immutable snapshot, cheap
    result = req.run()             # any thread: pure, touches no session state
    session.accept(req, result)    # GUI thread: installs it unless a newer request exists
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from psygnal import Signal
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from .config import LSTMConfig, reject_unknown_fields
from .formats.loader import Head
from .inputs import InputSpec, make_input
from .text import textinput  # noqa: F401  (every input source, "tokens" too, can be made)
from .torch_devices import resolve_device
from .tracing import Trace, checkpoints, trace, trace_window
from .tracing.budget import DEFAULT_WINDOW, needs_window, precheck
from .tracing.edits import Ablation, InputEdit, StateEdit
from .tracing.verification import verify
from .tracing.windowed import Checkpoints, Overview

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TraceRequest:
    """Everything one trace needs, taken from the session at request time.

    The module is shared, not copied: the session never changes a module it has built (every
    change of weights, config or device makes a new one), so a worker can trace it safely."""

    generation: int
    lstm: nn.LSTM
    x: torch.Tensor  # (T, B, input_size), time-major, on the module's device
    lengths: tuple[int, ...] | None
    batch_first: bool
    memory_budget: int | None
    input_edits: tuple[InputEdit, ...] = ()
    state_edits: tuple[StateEdit, ...] = ()
    window: tuple[int, int] | None = None  # trace only these positions (a windowed session)
    base: Checkpoints | None = None  # the run on show, reused up to the first edit
    #: the runs on show (the trace, and the run before the edits or None), whose window only
    #: moves: ``run()`` traces ``window`` from their checkpoints and nothing else
    moves: tuple[Trace, Trace | None] | None = None
    #: also trace the run without the edits (in ``meta["original"]``): the session has edits
    #: but no run before them to compare with (it was opened or built with its edits)
    with_original: bool = False

    def model_input(self) -> torch.Tensor | PackedSequence:
        """The input exactly as it is fed to ``lstm``: batch_first honoured, packed when the
        sequences have different lengths."""
        x = self.x.clone()
        for e in self.input_edits:
            x[e.t, e.batch, e.feature] = e.value
        if self.lengths is not None and len(set(self.lengths)) > 1:
            return pack_padded_sequence(x, torch.tensor(self.lengths), enforce_sorted=False)
        if self.lengths is not None and self.lengths[0] < x.shape[0]:
            x = x[: self.lengths[0]]
        return x.transpose(0, 1).contiguous() if self.batch_first else x

    def run(self) -> Trace:
        """Trace the snapshot (pure; safe on a worker thread)."""
        if self.moves is not None:
            return self._run_moved()
        edits = self.state_edits
        x = self.model_input()
        if self.window is not None:
            return self._run_windowed(x)
        with torch.no_grad():
            # with edits, the chosen method runs up to each layer's first edited step
            result = trace(self.lstm, x, memory_budget=self.memory_budget, overrides=edits)
        # The truth check the app shows: every step against the LSTM equations, and output,
        # h_n, c_n against torch's own nn.LSTM on the same input (a float-compatible
        # Verification). A state edit makes a run that nn.LSTM cannot make: nothing to compare.
        result.meta["nn_lstm_max_abs_diff"] = None if edits else verify(self.lstm, x, result)
        result.meta["edited"] = bool(self.input_edits or self.state_edits)
        return self._with_original(result)

    def _with_original(self, result: Trace) -> Trace:
        """``result``, with the run without the edits in ``meta["original"]`` when asked."""
        if self.with_original and (self.input_edits or self.state_edits):
            result.meta["original"] = replace(self, input_edits=(), state_edits=(), base=None,
                                              with_original=False).run()
        return result

    def _run_windowed(self, x: torch.Tensor | PackedSequence) -> Trace:
        """Trace the whole input once keeping states and an overview, then the window. No
        truth check here: a full nn.LSTM run would cost as much again (the tests compare
        windows with nn.LSTM)."""
        assert self.window is not None
        with torch.no_grad():
            ckpt = checkpoints(self.lstm, x, memory_budget=self.memory_budget,
                               overrides=self.state_edits, base=self.base)
            start, stop = self.window
            T = ckpt.num_steps
            stop = min(stop, T)
            result = trace_window(ckpt, max(0, min(start, stop - 1)), stop,
                                  packed=isinstance(x, PackedSequence))
        result.elapsed_s += ckpt.elapsed_s
        result.meta["edited"] = bool(self.input_edits or self.state_edits)
        return self._with_original(result)

    def _run_moved(self) -> Trace:
        """The window ``window`` of the runs in ``moves``; the run before the edits, if any,
        travels in ``meta["original"]`` (``Session.accept`` takes it out)."""
        assert self.moves is not None and self.window is not None
        trace, original = self.moves
        with torch.no_grad():
            result = _window_of(trace, self.window)
            if original is not None:
                result.meta["original"] = _window_of(original, self.window)
        return result


def _window_of(tr: Trace, window: tuple[int, int]) -> Trace:
    """The input positions [start, stop) of the run ``tr`` is a window of, as a new Trace."""
    assert tr.checkpoints is not None
    start, stop = window
    out = trace_window(tr.checkpoints, start, min(stop, tr.checkpoints.num_steps),
                       unbatched=tr.unbatched, packed=tr.packed)
    out.meta.update({k: v for k, v in tr.meta.items()
                     if k not in out.meta and k != "original"})
    return out


@dataclass
class Edits:
    """The session's what-if edits, in the order they were made."""

    inputs: list[InputEdit] = field(default_factory=list)
    states: list[StateEdit] = field(default_factory=list)
    ablations: list[Ablation] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inputs or self.states or self.ablations)

    def __len__(self) -> int:
        return len(self.inputs) + len(self.states) + len(self.ablations)


class Session:
    """A live LSTM, its input and the current timestep.

    Signals: ``config_changed()`` (config, weights, device or input changed; a retrace is due),
    ``input_changed()`` (the input changed; emitted just before its ``config_changed``),
    ``trace_changed()`` (a new trace is installed), ``step_changed(int)``, ``edits_changed()``,
    ``edits_cleared(int)`` (a change of config, weights, device or input dropped that many
    what-if edits, which were made for the run before it; emitted before ``config_changed``).
    """

    config_changed = Signal()
    input_changed = Signal()
    trace_changed = Signal()
    step_changed = Signal(int)
    edits_changed = Signal()
    edits_cleared = Signal(int)

    def __init__(self, config: LSTMConfig | None = None, input_spec: InputSpec | None = None,
                 seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32,
                 memory_budget: int | None = None) -> None:
        self._config = config or LSTMConfig(input_size=4, hidden_size=8)
        self._input_spec = input_spec or InputSpec()
        self._seed = int(seed)
        self._device = resolve_device(device)
        self._dtype = dtype
        self.memory_budget = memory_budget
        if not isinstance(self._config, LSTMConfig):
            raise ValueError(f"expected an LSTMConfig, got {type(self._config).__name__}")
        precheck(self._config, self._input_spec, dtype, memory_budget, windowed=True)
        self.model_source: dict | None = None  # set by loaders: where the weights came from
        self.head: Head | None = None  # the loaded model's output layer, if it has one
        # the Linear layers of the loaded model that could be its head, by name, and why the
        # one found (if any) was chosen or none was
        self.head_choices: dict[str, Head] = {}
        self.pairing_notes: tuple[str, ...] = ()
        self._lstm = self._build()
        self._x = self._make_x()
        self._edits = Edits()
        self._generation = 0
        self._lock = threading.Lock()
        self.trace: Trace | None = None
        self._trace_stale = True  # the trace on show is not of the current config/input
        self.original: Trace | None = None
        self._t = 0
        self.window_size = DEFAULT_WINDOW  # steps a windowed trace holds in full
        #: False: ``seek`` past the window traces the new window at once, on this thread.
        #: True (a GUI): ``seek`` only moves t; the caller traces ``request_window()`` off
        #: its thread while ``window_due`` says so
        self.defer_windows = False

    # ----- state ---------------------------------------------------------------------
    @property
    def config(self) -> LSTMConfig:
        return self._config

    @property
    def input_spec(self) -> InputSpec:
        return self._input_spec

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def lstm(self) -> nn.LSTM:
        return self._lstm

    @property
    def input(self) -> torch.Tensor | PackedSequence:
        """The input as fed to ``lstm`` (batch_first honoured; packed for mixed lengths)."""
        return self._snapshot(windowing=False).model_input()

    @property
    def input_tm(self) -> torch.Tensor:
        """The input, time-major (T, B, input_size), before what-if edits."""
        return self._x

    @property
    def edits(self) -> Edits:
        return self._edits

    @property
    def t(self) -> int:
        return self._t

    @property
    def num_steps(self) -> int:
        """The input's length (all of it, also when only a window is traced)."""
        if self.trace is not None:
            return int(self.trace.meta.get("total_steps", self.trace.num_steps))
        return int(self._x.shape[0])

    @property
    def windowed(self) -> bool:
        """Whether a full trace would exceed the memory budget, so that windows are traced."""
        lengths = self._input_spec.lengths
        T = int(self._x.shape[0]) if lengths is None else min(int(self._x.shape[0]),
                                                                 max(lengths))
        return needs_window(self._config, int(self._x.shape[1]), T, self._dtype,
                            self.memory_budget)

    @property
    def overview(self) -> Overview | None:
        """Per-bucket min, max and mean over time of every gate and state (windowed traces)."""
        ckpt = None if self.trace is None else self.trace.checkpoints
        return None if ckpt is None else ckpt.overview

    @property
    def window(self) -> tuple[int, int]:
        """The input positions [start, stop) the current trace holds."""
        if self.trace is None:
            return 0, self.num_steps
        return self.trace.start, self.trace.stop

    # ----- building ------------------------------------------------------------------
    def _build(self) -> nn.LSTM:
        """A new module from the config and the seed, as ``torch.manual_seed(seed)`` then
        ``nn.LSTM(...)`` draws it (sizes checked by the caller; the random input has a stream
        of its own, ``inputs.input_stream_seed``)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed)
            lstm = self._config.build(dtype=self._dtype)
        return lstm.to(self._device).eval()

    def _make_x(self) -> torch.Tensor:
        """The input, time-major, on the session's device (sizes checked by the caller; a file's
        are known only once it is read, and checked here)."""
        spec = self._input_spec
        x = make_input(spec, self._config.input_size, lambda T, B: needs_window(
            self._config, B, T, self._dtype, self.memory_budget))
        B = x.shape[1]
        if spec.lengths is not None and len(spec.lengths) != B:
            raise ValueError(f"lengths gives {len(spec.lengths)} lengths for {B} sequences")
        needs_window(self._config, B, x.shape[0], self._dtype, self.memory_budget)
        return x.to(device=self._device, dtype=self._dtype)

    def _changed(self, input_changed: bool = False) -> None:
        dropped = len(self._edits)
        self._edits = Edits()
        if dropped:
            self.edits_cleared.emit(dropped)
        self.original = None
        self._trace_stale = True
        if input_changed:
            self.input_changed.emit()
        self.config_changed.emit()

    def set_config(self, config: LSTMConfig, reinit: bool = True) -> None:
        """Use a new config; weights are re-drawn from the seed (``reinit``) or, where shapes
        allow, kept. Raises ValueError (nothing changes) if the input can't feed it."""
        if not isinstance(config, LSTMConfig):
            raise ValueError(f"expected an LSTMConfig, got {type(config).__name__}")
        precheck(config, self._input_spec, self._dtype, self.memory_budget,
                     windowed=True)
        old_cfg, old_lstm, old_x = self._config, self._lstm, self._x
        self._config = config
        kept = False
        try:
            self._lstm = self._build()
            if not reinit and LSTMConfig.from_module(old_lstm).replace(
                    batch_first=config.batch_first, dropout=config.dropout) == config:
                self._lstm.load_state_dict(old_lstm.state_dict())
                kept = True
            self._x = self._make_x()
        except ValueError:
            self._config, self._lstm, self._x = old_cfg, old_lstm, old_x
            raise
        # kept weights still come from where they came from (batch_first and dropout are not
        # part of a state dict); new ones come from the seed
        self.model_source = self.model_source if kept else None
        self.head = self.head if kept else None
        if not kept:
            self.head_choices, self.pairing_notes = {}, ()
        self._changed(input_changed=config.input_size != old_cfg.input_size)

    def set_input(self, spec: InputSpec) -> None:
        """Use a new input (ValueError, nothing changes, if it does not fit the config)."""
        if not isinstance(spec, InputSpec):
            raise ValueError(f"expected an InputSpec, got {type(spec).__name__}")
        precheck(self._config, spec, self._dtype, self.memory_budget,
                     windowed=True)
        old_spec, old_x = self._input_spec, self._x
        self._input_spec = spec
        try:
            self._x = self._make_x()
        except ValueError:
            self._input_spec, self._x = old_spec, old_x
            raise
        self._changed(input_changed=True)

    def set_device(self, device: str | torch.device) -> None:
        """Move the module and the input to ``device`` (ValueError naming the usable devices
        if it cannot run here); the numbers stay the same."""
        dev = resolve_device(device)
        self._device = dev
        self._lstm = copy.deepcopy(self._lstm).to(dev)  # a new module: requests share it
        self._x = self._x.to(dev)
        self._changed()

    def reinitialize(self, seed: int | None = None) -> None:
        """Draw the weights again from ``seed`` (default: the current seed)."""
        if seed is not None:
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise ValueError(f"seed must be an integer (got {seed!r})")
            self._seed = int(seed)
        precheck(self._config, self._input_spec, self._dtype, self.memory_budget,
                     windowed=True)
        self._lstm = self._build()
        self.model_source = None
        self.head = None
        self._changed()

    def load_module(self, lstm: nn.LSTM, source: dict | None = None,
                    input_spec: InputSpec | None = None, head: Head | None = None,
                    head_choices: dict[str, Head] | None = None,
                    pairing_notes: tuple[str, ...] = ()) -> None:
        """Use a trained ``nn.LSTM`` (copied); its config replaces the current one, and
        ``input_spec`` (if given) the input, in one change: either both or neither. ``head``
        is the output layer that reads its output, if the model has one; ``head_choices``
        the model's Linear layers that ``set_head`` may pair instead, and ``pairing_notes``
        why the head is the one it is."""
        cfg = LSTMConfig.from_module(lstm)
        spec = input_spec or self._input_spec
        old = (self._config, self._lstm, self._x, self._dtype, self._input_spec)
        try:
            precheck(cfg, spec, self._dtype, self.memory_budget,
                     windowed=True)
            lstm = copy.deepcopy(lstm).to(self._device).eval()
            self._config, self._lstm, self._input_spec = cfg, lstm, spec
            self._dtype = next(lstm.parameters()).dtype
            self._x = self._make_x()
        except ValueError:
            self._config, self._lstm, self._x, self._dtype, self._input_spec = old
            raise
        self.model_source = source
        self.head = head
        self.head_choices = dict(head_choices or {})
        if head is not None:
            self.head_choices.setdefault(head.key, head)
        self.pairing_notes = tuple(pairing_notes)
        self._changed(input_changed=input_spec is not None or cfg.input_size != old[0].input_size)

    def set_head(self, name: str | None) -> None:
        """Pair the LSTM with the output head ``name`` (a key of ``head_choices``), or with
        none; ``model_source["head"]`` records the choice, so a saved session keeps it."""
        if name is not None and name not in self.head_choices:
            raise ValueError(f"{name!r} is not one of this model's Linear layers that read the"
                             f" LSTM's output; choose one of: {', '.join(self.head_choices)}")
        self.head = self.head_choices[name] if name is not None else None
        if isinstance(self.model_source, dict):
            self.model_source = {**self.model_source, "head": name}
        self._changed()

    # ----- tracing -------------------------------------------------------------------
    def _snapshot(self, generation: int = 0, windowing: bool = True) -> TraceRequest:
        """What a trace of the session as it is now needs; ``windowing=False`` leaves out the
        window (and so the budget decision), for callers that want only the input."""
        return TraceRequest(
            generation=generation, lstm=self._lstm, x=self._x,
            lengths=self._input_spec.lengths, batch_first=self._config.batch_first,
            memory_budget=self.memory_budget, input_edits=tuple(self._edits.inputs),
            state_edits=tuple(self._edits.states) + tuple(
                e for a in self._edits.ablations for e in a.expand(int(self._x.shape[0]))),
            window=self._window_around(self._t) if windowing and self.windowed else None,
            base=None if self.trace is None or self._trace_stale else self.trace.checkpoints)

    def _window_around(self, t: int, current: tuple[int, int] | None = None
                       ) -> tuple[int, int]:
        """The window to trace for step t: stepping on past the current window keeps a
        quarter of it behind t; a jump centres t."""
        T, W = int(self._x.shape[0]), max(1, int(self.window_size))
        if current is not None and current[1] <= t < current[1] + W // 2:
            start = t - W // 4
        elif current is not None and current[0] - W // 2 <= t < current[0]:
            start = t - 3 * W // 4
        else:
            start = t - W // 2
        start = max(0, min(start, T - W))
        return start, min(T, start + W)

    def _covering(self, t: int, tr: Trace) -> Trace:
        """``tr`` if it holds step t, else a window of the same run that does."""
        if tr.start <= t < tr.stop or tr.checkpoints is None:
            return tr
        with torch.no_grad():
            return _window_of(tr, self._window_around(t, (tr.start, tr.stop)))

    def request(self) -> TraceRequest:
        """A snapshot to trace; any earlier request becomes stale."""
        with self._lock:
            self._generation += 1
            req = self._snapshot(self._generation)
        # no unedited run on show to keep as the original: trace it along
        if (req.input_edits or req.state_edits) and self.original is None and (
                self.trace is None or self._trace_stale or self.trace.meta.get("edited")):
            req = replace(req, with_original=True)
        return req

    @property
    def window_due(self) -> bool:
        """Whether t lies outside the window on show (``defer_windows``: a window to trace)."""
        tr = self.trace
        return tr is not None and not tr.start <= self._t < tr.stop

    def request_window(self) -> TraceRequest:
        """A snapshot that traces the window around t from the runs on show (the trace and the
        run before the edits), for when only t moved; any earlier request becomes stale."""
        tr = self.trace
        if tr is None or tr.checkpoints is None:
            raise ValueError("no windowed trace on show to move: request() a trace first")
        with self._lock:
            self._generation += 1
            return TraceRequest(
                generation=self._generation, lstm=self._lstm, x=self._x,
                lengths=self._input_spec.lengths, batch_first=self._config.batch_first,
                memory_budget=self.memory_budget,
                window=self._window_around(self._t, (tr.start, tr.stop)),
                moves=(tr, self.original))

    def accept(self, req: TraceRequest, result: Trace) -> bool:
        """Install ``result`` if ``req`` is the newest request; returns whether it was."""
        with self._lock:
            if req.generation != self._generation:
                return False
        original = result.meta.pop("original", None)
        if req.moves is not None:  # the same runs, another window
            if self.original is not None and original is not None:
                self.original = original
        elif not (req.input_edits or req.state_edits):
            self.original = None
        elif original is not None:  # traced along: nothing unedited was on show
            self.original = original
        elif self.original is None and self.trace is not None and not self._trace_stale \
                and not self.trace.meta.get("edited"):
            self.original = self.trace  # the run before the first edit, for comparison
        self.trace = result
        self._trace_stale = False
        self._t = min(self._t, int(result.meta.get("total_steps", result.num_steps)) - 1)
        self.trace_changed.emit()
        self.step_changed.emit(self._t)
        return True

    def retrace(self) -> Trace:
        """Trace now, on this thread."""
        req = self.request()
        result = req.run()
        self.accept(req, result)
        return result

    # ----- stepping ------------------------------------------------------------------
    def seek(self, t: int) -> int:
        """Move to timestep t (clamped to the sequence); returns the new t."""
        t = max(0, min(int(t), self.num_steps - 1))
        if t != self._t:
            self._t = t
            if self.window_due and not self.defer_windows:
                self._move_window(t)
            self.step_changed.emit(t)
        return self._t

    def _move_window(self, t: int) -> None:
        """Trace the window that holds step t (and the run before the edits, if kept)."""
        assert self.trace is not None
        self.trace = self._covering(t, self.trace)
        if self.original is not None:
            self.original = self._covering(t, self.original)
        self.trace_changed.emit()

    def step(self) -> int:
        return self.seek(self._t + 1)

    def back(self) -> int:
        return self.seek(self._t - 1)

    def first(self) -> int:
        return self.seek(0)

    def last(self) -> int:
        return self.seek(self.num_steps - 1)

    def reset(self) -> int:
        return self.first()

    def values_at(self, layer: int = 0, direction: int = 0, batch: int = 0,
                  t: int | None = None, trace: Trace | None = None) -> dict[str, np.ndarray]:
        """The step's values for one (layer, direction, batch element): x (the layer's input),
        i, f, g, o, c, h, and c_prev, h_prev (the state this step started from, in the
        direction's reading order)."""
        tr = trace or self.trace
        if tr is None:
            raise ValueError("nothing traced yet")
        cfg = tr.config
        if not 0 <= layer < cfg.num_layers:
            raise ValueError(f"layer must be in [0, {cfg.num_layers - 1}] (got {layer})")
        if not 0 <= direction < cfg.num_directions:
            raise ValueError(f"direction must be in [0, {cfg.num_directions - 1}]"
                             f" (got {direction})")
        if not 0 <= batch < tr.batch_size:
            raise ValueError(f"batch must be in [0, {tr.batch_size - 1}] (got {batch})")
        t = self._t if t is None else int(t)
        total = int(tr.meta.get("total_steps", tr.num_steps))
        if not 0 <= t < total:
            raise ValueError(f"t must be in [0, {total - 1}] (got {t})")
        tr = self._covering(t, tr)
        n = min(int(tr.lengths[batch]), tr.stop)
        prev = t - 1 if direction == 0 else t + 1
        k = layer * cfg.num_directions + direction
        # outside the window (or the sequence) the step starts from the window's entry state
        if tr.start <= prev < n:
            i = prev - tr.start
            h_prev, c_prev = tr.h[layer, direction, i, batch], tr.c[layer, direction, i, batch]
        else:
            h_prev, c_prev = tr.h_0[k, batch], tr.c_0[k, batch]
        i = t - tr.start
        if layer == 0:
            x = tr.x[i, batch]
        else:
            x = torch.cat([tr.h[layer - 1, d, i, batch] for d in range(cfg.num_directions)])
        g = tr.gates[layer, direction, i, batch]
        vals = {"x": x, "i": g[0], "f": g[1], "g": g[2], "o": g[3],
                "c": tr.c[layer, direction, i, batch], "h": tr.h[layer, direction, i, batch],
                "c_prev": c_prev, "h_prev": h_prev}
        return {k: v.detach().cpu().numpy() for k, v in vals.items()}

    # ----- what-if -------------------------------------------------------------------
    def _after_edit(self, rerun: bool) -> Trace | None:
        self.edits_changed.emit()
        if not rerun:  # the caller traces (e.g. on a worker: request() / run() / accept())
            return None
        return self.retrace()

    def edit_input(self, t: int, batch: int, feature: int, value: float,
                   rerun: bool = True) -> Trace | None:
        """Change one input value at step t; ``original`` keeps the run before the first edit.

        With ``rerun`` (default) the session re-traces now, on this thread; without, the edit is
        recorded and the next request() includes it."""
        T, B, F = self._x.shape
        for name, v, hi in (("t", t, T), ("batch", batch, B), ("feature", feature, F)):
            if not 0 <= int(v) < hi:
                raise ValueError(f"{name} must be in [0, {hi - 1}] (got {v})")
        self._check_within_length(t, batch)
        _check_finite(value)
        self._edits.inputs.append(InputEdit(int(t), int(batch), int(feature), float(value)))
        return self._after_edit(rerun)

    def edit_state(self, kind: str, t: int, layer: int, direction: int, batch: int, unit: int,
                   value: float, rerun: bool = True) -> Trace | None:
        """Set h or c of one unit at step t (layer, direction, batch) and recompute what follows
        in that direction's reading order and in the layers above. Setting c also recomputes
        h_t = o * tanh(c_t) from it."""
        cfg = self._config
        if kind not in ("h", "c"):
            raise ValueError(f"kind must be 'h' or 'c' (got {kind!r})")
        size = cfg.h_out if kind == "h" else cfg.hidden_size
        T, B, _ = self._x.shape
        for name, v, hi in (("t", t, T), ("layer", layer, cfg.num_layers),
                            ("direction", direction, cfg.num_directions),
                            ("batch", batch, B), ("unit", unit, size)):
            if not 0 <= int(v) < hi:
                raise ValueError(f"{name} must be in [0, {hi - 1}] (got {v})")
        self._check_within_length(t, batch)
        _check_finite(value)
        self._edits.states.append(StateEdit(kind, int(t), int(layer), int(direction),  # type: ignore[arg-type]
                                            int(batch), int(unit), float(value)))
        return self._after_edit(rerun)

    def ablate(self, ablation: Ablation, rerun: bool = True) -> Trace | None:
        """Add an ablation (a unit's h or c zeroed, or a gate clamped, over a span) and
        recompute what follows; ``original`` keeps the run before the first edit."""
        from .validate import check_ablation_fits
        if not isinstance(ablation, Ablation):
            raise ValueError(f"expected an Ablation, got {type(ablation).__name__}")
        check_ablation_fits(ablation, self._config, int(self._x.shape[0]),
                            int(self._x.shape[1]), self._input_spec.lengths)
        self._edits.ablations.append(ablation)
        return self._after_edit(rerun)

    def _check_within_length(self, t: int, batch: int) -> None:
        lengths = self._input_spec.lengths
        if lengths is not None and int(t) >= lengths[int(batch)]:
            raise ValueError(f"t={t} is past the end of sequence {batch}, which has"
                             f" {lengths[int(batch)]} steps: nothing is computed there to edit")

    def clear_edits(self) -> None:
        """Drop every what-if edit and return to the original run."""
        if not self._edits:
            return
        self._edits = Edits()
        if self.original is not None:
            self.trace = self.original
            self.original = None
            self.trace_changed.emit()
        self.edits_changed.emit()

    # ----- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict:
        """The session's settings as JSON-ready data (no weights: they follow from the seed,
        or from ``model_source`` for a loaded model)."""
        spec = self._input_spec.to_dict()
        return {
            "format_version": FORMAT_VERSION,
            **self._config.to_dict(),
            "seq_len": spec.pop("seq_len"), "batch_size": spec.pop("batch_size"),
            "input": spec, "seed": self._seed, "device": str(self._device),
            "dtype": str(self._dtype).replace("torch.", ""), "step": self._t,
            "model_source": self.model_source,
            "edits": {"inputs": [e.to_list() for e in self._edits.inputs],
                      "states": [e.to_list() for e in self._edits.states],
                      # written only when there are some: files without stay as they were
                      **({"ablations": [a.to_list() for a in self._edits.ablations]}
                         if self._edits.ablations else {})},
        }

    @classmethod
    def from_dict(cls, data: dict, device: str | None = None,
                  memory_budget: int | None = None) -> Session:
        """Rebuild a session from ``to_dict()`` output (or a hand-written session.json); the
        memory budget is the caller's (a file that names one is refused)."""
        from .validate import check_ablations, check_edits, check_session_dict
        check_session_dict(data, budget=memory_budget)
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(f"this session was written by a newer lstm-viz (format"
                             f" {version!r}; this version reads up to {FORMAT_VERSION})")
        cfg_keys = {f for f in LSTMConfig.__dataclass_fields__}
        cfg = LSTMConfig.from_dict({k: v for k, v in data.items() if k in cfg_keys})
        inp = dict(data.get("input") or {})
        for k in ("seq_len", "batch_size"):
            if k in data:
                inp[k] = data[k]
        if "source" in data and "source" not in inp:
            inp["source"] = data["source"]
        if "seed" in data and "seed" not in inp:
            inp["seed"] = data["seed"]
        spec = InputSpec.from_dict(inp)
        dtype_name = str(data.get("dtype", "float32"))
        if dtype_name not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64 (got {dtype_name!r})")
        known = cfg_keys | {"format_version", "seq_len", "batch_size", "input", "seed",
                            "device", "dtype", "step", "model_source", "edits", "source",
                            "selection"}
        reject_unknown_fields(data, known, "session", list_allowed=False)
        seed = data.get("seed", 0)
        s = cls(cfg, spec, seed=seed, device=device or data.get("device", "cpu"),
                dtype=getattr(torch, dtype_name), memory_budget=memory_budget)
        T, B, _ = s._x.shape
        inputs, states = check_edits(data.get("edits"), cfg, T, B, spec.lengths)
        ablations = check_ablations(data.get("edits"), cfg, T, B, spec.lengths)
        s._edits = Edits([InputEdit(*e) for e in inputs], [StateEdit(*e) for e in states],
                         ablations)
        s._t = int(data.get("step", 0))
        return s


def _check_finite(value: float) -> None:
    """A what-if value must be a finite number that float32 holds: NaN or infinity would only
    poison the trace, and a larger number cannot be stored in it."""
    from .validate import FLOAT32_MAX
    if not math.isfinite(float(value)):
        raise ValueError(f"a what-if value must be a finite number (got {value})")
    if abs(float(value)) > FLOAT32_MAX:
        raise ValueError(f"a what-if value must be a finite number in [-3.4e38, 3.4e38] (what"
                         f" float32 holds; got {float(value):g})")
