"""What a model file holds, as ``load_model`` reports it: the LSTMs found (``LSTMCandidate``),
the output head paired with each (``Head``), the file's other contents (``LoadedModel``), and the
errors and listings that name them."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..config import LSTMConfig
from ..tracing.budget import DEFAULT_MEMORY_BUDGET

if TYPE_CHECKING:
    from os import PathLike

# How many names an error or warning line lists before it says how many more there are.
LISTED = 5


_BUDGET: ContextVar[int] = ContextVar("memory_budget", default=DEFAULT_MEMORY_BUDGET)


def _memory_budget() -> int:
    """The memory budget in bytes of the load in progress (``load_model``'s)."""
    return _BUDGET.get()


def models_command(path: str | PathLike[str]) -> str:
    """The command that lists every LSTM of the model file ``path``, one per line."""
    return f"`lstm-viz models {shlex.quote(str(path))}`"


def first_few(items: Iterable[str], path: str | PathLike[str], sep: str = "; ") -> str:
    """The first few of ``items`` joined by ``sep``; past ``LISTED``, how many more there are
    and the command that lists them all (``models_command(path)``)."""
    items = list(items)
    shown = sep.join(items[:LISTED])
    if len(items) <= LISTED:
        return shown
    return (f"{shown}{sep}and {len(items) - LISTED} more ({models_command(path)} lists them"
            " all)")


def _capped(lines: list[str], path: str | PathLike[str], more: str) -> list[str]:
    """``lines`` up to ``LISTED`` of them, then one line saying how many ``more`` there are."""
    if len(lines) <= LISTED:
        return lines
    return lines[:LISTED] + [f"and {len(lines) - LISTED} more {more} ({models_command(path)}"
                             " lists them all)"]


_MAX_METADATA = 2000  # characters of one metadata value kept (and shown)


def clip_text(text: str) -> str:
    """``text`` cut to _MAX_METADATA characters, saying how long it was."""
    if len(text) <= _MAX_METADATA:
        return text
    return f"{text[:_MAX_METADATA]}… ({len(text):,} characters)"


def first_line(msg: str) -> str:
    return msg.strip().splitlines()[0][:300] if msg.strip() else "no details"


class UnusableLSTMs(ValueError):
    """The file ``path`` has LSTMs, none usable; ``problems`` says why for each of them."""

    def __init__(self, message: str, path: str | PathLike[str] | None = None,
                 problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.problems = tuple(problems)


class PickleConsentNeeded(ValueError):
    """The file ``path``'s LSTM can only be read by running code stored in it (allow_pickle)."""

    def __init__(self, message: str, path: str | PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Head:
    """The output layer paired with an LSTM: a Linear (out_features, lstm output size)."""

    key: str  # the module's name, e.g. "decoder.out"
    weight: torch.Tensor = field(repr=False, compare=False)
    bias: torch.Tensor | None = field(default=None, repr=False, compare=False)
    tied: bool = False  # the weight is the paired embedding matrix

    @property
    def out_features(self) -> int:
        """How many outputs the head gives per step."""
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class LSTMCandidate:
    """One nn.LSTM found in a file: where it sits, its inferred config and its weights.

    ``location`` is the path inside the loaded object (``"['model']"``), ``prefix`` the key prefix
    inside that state dict (``"encoder.rnn."``). ``batch_first`` is True/False when the file
    records it (TorchScript, pickled modules, ONNX layout) and None when it cannot be known
    (state dicts). ``origin`` says what the file holds: "LSTM" (an nn.LSTM), "LSTMCell" (one
    nn.LSTMCell, stepped in a loop), "LSTMCell stack" (chained cells, ``cells`` names them) or
    "ONNX LSTM". ``head`` is the output layer paired with it, if any.
    """

    location: str
    prefix: str
    config: LSTMConfig
    state_dict: dict = field(repr=False, compare=False)
    batch_first: bool | None = None
    embedding: torch.Tensor | None = field(default=None, repr=False, compare=False)
    embedding_key: str | None = None
    origin: str = "LSTM"
    cells: tuple[str, ...] = ()
    head: Head | None = None
    # Embeddings (keys) and Linear modules (names) of the right size that could be paired by
    # hand, their tensors, and why the ones found were not paired.
    embedding_options: tuple[str, ...] = ()
    head_options: tuple[str, ...] = ()
    pairing_notes: tuple[str, ...] = ()
    option_tensors: dict = field(default_factory=dict, repr=False, compare=False)

    def with_embedding(self, key: str | None) -> LSTMCandidate:
        """This LSTM paired with the embedding ``key`` (one of ``embedding_options``), or with
        none."""
        if key is None:
            return replace(self, embedding=None, embedding_key=None)
        weight = self.option_tensors.get(key) if key in self.embedding_options else None
        if weight is None:
            raise ValueError(f"{key!r} is not an embedding of this LSTM's input width; choose"
                             f" one of: {', '.join(self.embedding_options) or 'none'}")
        return replace(self, embedding=weight.detach().clone(), embedding_key=key)

    def with_head(self, name: str | None) -> LSTMCandidate:
        """This LSTM paired with the Linear module ``name`` (one of ``head_options``) as its
        output head, or with none."""
        if name is None:
            return replace(self, head=None)
        prefix = f"{name}." if name else ""
        weight = self.option_tensors.get(f"{prefix}weight") if name in self.head_options \
            else None
        if weight is None:
            raise ValueError(f"{name!r} is not a Linear that reads this LSTM's output size;"
                             f" choose one of: {', '.join(self.head_options) or 'none'}")
        bias = self.option_tensors.get(f"{prefix}bias")
        bias = bias.detach().clone() if isinstance(bias, torch.Tensor) and bias.ndim == 1 \
            and bias.shape[0] == weight.shape[0] else None
        weight = weight.detach().clone()
        tied = self.embedding is not None and self.embedding.shape == weight.shape and \
            bool(torch.equal(self.embedding, weight))
        return replace(self, head=Head(name, weight, bias, tied))

    @property
    def name(self) -> str:
        """A short label: the location and prefix, e.g. ``['model'] encoder.rnn``."""
        prefix = self.prefix.rstrip(".") or "<root>"
        return f"{self.location} {prefix}".strip() if self.location else prefix

    def describe(self) -> str:
        """One line for a picker: name and the nn.LSTM call that would rebuild it."""
        c = self.config
        args = [f"{c.input_size}, {c.hidden_size}"]
        if c.num_layers != 1:
            args.append(f"num_layers={c.num_layers}")
        if not c.bias:
            args.append("bias=False")
        if c.bidirectional:
            args.append("bidirectional=True")
        if c.proj_size:
            args.append(f"proj_size={c.proj_size}")
        if self.batch_first:
            args.append("batch_first=True")
        emb = (f", embedding {tuple(self.embedding.shape)} from {self.embedding_key}"
               if self.embedding is not None else "")
        head = (f", head {self.head.key} ({self.head.out_features} outputs)"
                if self.head is not None else "")
        origin = {"LSTMCell": " from an nn.LSTMCell",
                  "LSTMCell stack": f" from {len(self.cells)} stacked nn.LSTMCells",
                  "ONNX LSTM": " from an ONNX LSTM node",
                  "Keras LSTM": " from a Keras LSTM layer"}.get(self.origin, "")
        return f"{self.name}: nn.LSTM({', '.join(args)}){origin}{emb}{head}"

    def build(self, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32, batch_first: bool | None = None
              ) -> nn.LSTM:
        """A fresh ``nn.LSTM`` in eval mode with these weights.

        batch_first is the argument if given, else what the file records, else False.
        """
        if batch_first is None:
            batch_first = self.batch_first
        cfg = self.config if batch_first is None else \
            self.config.replace(batch_first=bool(batch_first))
        lstm = cfg.build(device=device, dtype=dtype)
        lstm.load_state_dict(self.state_dict)
        return lstm.eval()


@dataclass(frozen=True)
class LoadedModel:
    """What ``load_model`` found: the file kind, its LSTMs, and optional vocabulary/metadata.

    ``warnings`` lists what was dropped or changed on the way (e.g. an unusable vocabulary, NaN
    or infinite weights), a few of each kind; ``skipped`` says, for every LSTM the file holds
    that cannot be used, why.
    """

    path: Path
    # "state_dict", "checkpoint", "pickled_module" (a whole model read without running code),
    # "torchscript", "safetensors", "onnx", "keras", or "pickle" (unpickled with
    # allow_pickle=True)
    kind: str
    lstms: tuple[LSTMCandidate, ...]
    vocab: tuple[str, ...] | None = None
    metadata: dict = field(default_factory=dict, compare=False)
    warnings: tuple[str, ...] = ()
    # The LSTM, LSTMCell, Embedding, Linear (GRU, RNN) modules a whole model records, by name,
    # with their recorded settings: {"rnn": {"kind": "LSTM", "batch_first": True, ...}}.
    modules: dict = field(default_factory=dict, compare=False)
    skipped: tuple[str, ...] = ()

    def pick(self, name: str | None = None) -> LSTMCandidate:
        """The LSTM called ``name`` (see ``LSTMCandidate.name``, or just its prefix).

        Without a name the file must hold exactly one LSTM.
        """
        if name is None:
            if len(self.lstms) == 1:
                return self.lstms[0]
            raise ValueError(f"{self.path.name} holds {len(self.lstms)} LSTMs: "
                             + first_few((c.name for c in self.lstms), self.path)
                             + ". Choose one.")
        for cand in self.lstms:
            if name in (cand.name, cand.prefix, cand.prefix.rstrip(".")):
                return cand
        raise ValueError(f"no LSTM called {name!r} in {self.path.name}; found: "
                         + first_few((c.name for c in self.lstms), self.path))


@dataclass(frozen=True)
class _Module:
    """A module as the file records it: its class name and a way to read its attributes."""

    kind: str
    attrs: Mapping

    def get(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)
