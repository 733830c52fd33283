"""Open trained models: state dicts, training checkpoints, TorchScript and (if allowed) pickles.

``load_model(path)`` returns a ``LoadedModel`` listing every nn.LSTM found in the file as an
``LSTMCandidate`` (its prefix, inferred ``LSTMConfig`` and weights), plus an embedding matrix
and a vocabulary when the checkpoint has them. Anything that is not a usable LSTM file raises
``ValueError`` saying what was found and what was expected. ``fit_input`` checks an array
against a config and explains a shape mismatch.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import LSTMConfig, find_lstm_prefixes, lstm_state_dict
from .hashing import file_sha256
from .inputs import InputSpec, array_to_input

EXPECTED = ("expected a file written by torch.save (an nn.LSTM's state_dict, or a checkpoint"
            " dict holding one) or by torch.jit.save")
_MAX_DEPTH = 6
_CHECKSUM_LIMIT = 256 * 1024 * 1024  # bytes
# Keys whose tensor is taken to be an embedding matrix (vocab_size, input_size).
_EMBED_KEY = re.compile(r"(^|[._])(embed\w*|emb|embedding|word_embeddings|tok_embeddings|"
                        r"encoder)\.weight$", re.IGNORECASE)


@dataclass(frozen=True)
class LSTMCandidate:
    """One nn.LSTM found in a file: where it sits, its inferred config and its weights.

    ``location`` is the path inside the loaded object (``"['model']"``), ``prefix`` the key prefix
    inside that state dict (``"encoder.rnn."``). ``batch_first`` is True/False when the file
    records it (TorchScript, pickled modules) and None when it cannot be known (state dicts).
    """

    location: str
    prefix: str
    config: LSTMConfig
    state_dict: dict = field(repr=False, compare=False)
    batch_first: bool | None = None
    embedding: torch.Tensor | None = field(default=None, repr=False, compare=False)
    embedding_key: str | None = None

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
        return f"{self.name}: nn.LSTM({', '.join(args)}){emb}"

    def build(self, device=None, dtype=torch.float32, batch_first: bool | None = None
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
    """What ``load_model`` found: the file kind, its LSTMs, and optional vocabulary/metadata."""

    path: Path
    kind: str  # "state_dict", "checkpoint", "torchscript" or "pickle"
    lstms: tuple[LSTMCandidate, ...]
    vocab: tuple[str, ...] | None = None
    metadata: dict = field(default_factory=dict, compare=False)

    def pick(self, name: str | None = None) -> LSTMCandidate:
        """The LSTM called ``name`` (see ``LSTMCandidate.name``, or just its prefix).

        Without a name the file must hold exactly one LSTM.
        """
        if name is None:
            if len(self.lstms) == 1:
                return self.lstms[0]
            raise ValueError(f"{self.path.name} holds {len(self.lstms)} LSTMs: "
                             + "; ".join(c.name for c in self.lstms) + ". Choose one.")
        for cand in self.lstms:
            if name in (cand.name, cand.prefix, cand.prefix.rstrip(".")):
                return cand
        raise ValueError(f"no LSTM called {name!r} in {self.path.name}; found: "
                         + "; ".join(c.name for c in self.lstms))


# ----- loading ---------------------------------------------------------------------------------
def load_model(path, *, allow_pickle: bool = False) -> LoadedModel:
    """Open ``path`` and list the nn.LSTMs in it.

    Reads state dicts and checkpoints with ``torch.load(weights_only=True)`` (nested dicts are
    searched), TorchScript with ``torch.jit.load``, and full pickled models only when
    ``allow_pickle`` is True, because unpickling can run arbitrary code.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file not found: {path}; {EXPECTED}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a model file; {EXPECTED}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path.name} is empty (0 bytes); {EXPECTED}")
    with open(path, "rb") as fh:
        head = fh.read(64)

    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"{path.name} is truncated or corrupt: it starts like a PyTorch zip archive but"
                f" its end is missing or damaged ({size} bytes). Save or copy it again.")
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            # Checksums catch flipped bytes that torch.load may not notice; skip them for big
            # files, where reading everything twice would be slow.
            bad = _zip_damage(zf) if size <= _CHECKSUM_LIMIT else ""
        if bad:
            raise ValueError(f"{path.name} is corrupt: {bad}. Save or copy it again.")
        if any(n.endswith("constants.pkl") for n in names) and \
                any("/code/" in n for n in names):
            return _load_torchscript(path)
        if not any(n.endswith("data.pkl") for n in names):
            raise ValueError(f"{path.name} is a zip archive but not a PyTorch file (it holds"
                             f" {', '.join(names[:4]) or 'nothing'}); {EXPECTED}")
    elif not head.startswith(b"\x80"):
        raise ValueError(f"{path.name} is not a PyTorch file: found {_sniff(head)}; {EXPECTED}")
    return _load_pickled(path, allow_pickle)


def _zip_damage(zf: zipfile.ZipFile) -> str:
    try:
        bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return f"its archive cannot be read ({exc})"
    return f"entry {bad} fails its checksum" if bad else ""


def _sniff(head: bytes) -> str:
    text = head[:40]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        return f"text starting with {text.decode('ascii')!r}"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array (an input, not a model)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras/h5py), which lstm-viz cannot read"
    return f"binary data starting with {text[:8].hex(' ')}"


def _load_pickled(path: Path, allow_pickle: bool) -> LoadedModel:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Weights only load failed" not in msg:
            raise ValueError(f"{path.name} is corrupt: {_first_line(msg)}; {EXPECTED}") from None
        if not allow_pickle:
            found = re.search(r"GLOBAL ([\w.]+)", msg)
            what = f" (it refers to {found.group(1)})" if found else ""
            raise ValueError(
                f"{path.name} holds a pickled Python object{what}, not just tensors. Loading it"
                " would run code stored in the file, which can do anything on this machine."
                " Open it with unsafe loading allowed (--allow-pickle) only if you trust where"
                " it came from, or re-save it with torch.save(model.state_dict(), path)."
            ) from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # arbitrary code ran; report whatever it raised
            raise ValueError(f"{path.name} could not be unpickled: {type(exc2).__name__}:"
                             f" {_first_line(str(exc2))}") from None
        return _from_object(path, obj, "pickle")
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path.name} is truncated or corrupt: {_first_line(str(exc))};"
                         f" {EXPECTED}") from None
    kind = "state_dict" if _is_tensor_dict(obj) else "checkpoint"
    return _from_object(path, obj, kind)


def _load_torchscript(path: Path) -> LoadedModel:
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; loading existing files still works.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(f"{path.name} looks like TorchScript but cannot be loaded:"
                         f" {_first_line(str(exc))}") from None
    return _from_object(path, module, "torchscript")


def _first_line(msg: str) -> str:
    return msg.strip().splitlines()[0][:300] if msg.strip() else "no details"


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and \
        all(isinstance(v, torch.Tensor) for v in obj.values())


def _from_object(path: Path, obj, kind: str) -> LoadedModel:
    """Search ``obj`` (module, state dict, nested checkpoint) for LSTMs."""
    found: list[LSTMCandidate] = []
    problems: list[str] = []
    seen_tensors: list[str] = []
    for location, sd, modules in _state_dicts(obj):
        seen_tensors.extend(f"{location}{k} {tuple(v.shape)}" for k, v in list(sd.items())[:3])
        embed_key, embedding = _embedding(sd, modules, obj)
        for prefix in find_lstm_prefixes(sd):
            where = f"{location} {prefix.rstrip('.') or '<root>'}".strip()
            try:
                cfg = LSTMConfig.from_state_dict(sd, prefix)
            except ValueError as exc:
                problems.append(f"{where}: {exc}{_other_rnn_hint(sd, prefix)}")
                continue
            weights = {k: v.detach().clone() for k, v in lstm_state_dict(sd, prefix).items()}
            lstm_mod = modules.get(prefix.rstrip("."))
            bf = getattr(lstm_mod, "batch_first", None) if lstm_mod is not None else None
            cand = LSTMCandidate(location, prefix, cfg, weights,
                                 bool(bf) if isinstance(bf, bool) else None)
            if embedding is not None and embedding.shape[1] == cfg.input_size:
                cand = replace(cand, embedding=embedding, embedding_key=embed_key)
            found.append(cand)
    if not found:
        if problems:
            raise ValueError(f"{path.name} has LSTM-like keys but no usable LSTM: "
                             + " | ".join(problems))
        listing = ", ".join(seen_tensors[:6]) or f"a {type(obj).__name__} with no tensors"
        raise ValueError(
            f"{path.name} holds no nn.LSTM: found {listing}. Expected an nn.LSTM's parameters"
            " (keys like 'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', possibly under a prefix"
            " such as 'rnn.' or inside a checkpoint dict).")
    meta = obj if isinstance(obj, Mapping) else {}
    metadata = {k: v for k, v in meta.items()
                if isinstance(v, (str, int, float, bool)) or
                (isinstance(v, dict) and all(isinstance(x, (str, int, float, bool))
                                             for x in v.values()))}
    return LoadedModel(path, kind, tuple(found), _vocab(meta), metadata)


def _state_dicts(obj, location: str = "", depth: int = 0):
    """Yield (location, {key: tensor}, {module name: module}) for each tensor dict in ``obj``."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(obj, (nn.Module, torch.jit.ScriptModule)):
        modules = dict(obj.named_modules())
        yield location, dict(obj.state_dict()), modules
        return
    if isinstance(obj, Mapping):
        tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and find_lstm_prefixes(tensors):
            yield location, tensors, {}
        elif tensors and depth == 0:
            yield location, tensors, {}  # reported as "found ..." when nothing else turns up
        for k, v in obj.items():
            if isinstance(v, (Mapping, nn.Module, list, tuple)):
                yield from _state_dicts(v, f"{location}[{k!r}]", depth + 1)
    elif isinstance(obj, (list, tuple)) and len(obj) < 64:
        for i, v in enumerate(obj):
            if isinstance(v, (Mapping, nn.Module, list, tuple)):
                yield from _state_dicts(v, f"{location}[{i}]", depth + 1)


def _embedding(sd: Mapping, modules: Mapping, root) -> tuple[str | None, torch.Tensor | None]:
    """The embedding matrix (vocab_size, features) in ``sd``, if one is recognisable."""
    hinted = root.get("embedding_key") if isinstance(root, Mapping) else None
    names = [hinted] if isinstance(hinted, str) and hinted in sd else []
    names += [f"{n}.weight" if n else "weight" for n, m in modules.items()
              if isinstance(m, nn.Embedding) or getattr(m, "original_name", "") == "Embedding"]
    names += [k for k in sd if _EMBED_KEY.search(k)]
    for key in names:
        value = sd.get(key)
        if isinstance(value, torch.Tensor) and value.ndim == 2 and value.is_floating_point():
            return key, value.detach().clone()
    return None, None


def _vocab(meta: Mapping) -> tuple[str, ...] | None:
    for key in ("vocab", "itos", "chars", "tokens"):
        v = meta.get(key)
        if isinstance(v, Sequence) and not isinstance(v, str) and v and \
                all(isinstance(t, str) for t in v):
            return tuple(v)
        if isinstance(v, str) and len(v) > 1:
            return tuple(v)
    for key in ("stoi", "vocab"):
        v = meta.get(key)
        if isinstance(v, Mapping) and v and all(isinstance(i, int) for i in v.values()):
            out = [""] * (max(v.values()) + 1)
            for tok, i in v.items():
                out[i] = str(tok)
            return tuple(out)
    return None


def _other_rnn_hint(sd: Mapping, prefix: str) -> str:
    w = sd.get(f"{prefix}weight_hh_l0")
    if isinstance(w, torch.Tensor) and w.ndim == 2:
        rows, cols = w.shape
        if rows == 3 * cols:
            return " (weight_hh_l0 has 3*hidden rows: this looks like an nn.GRU, not an nn.LSTM)"
        if rows == cols:
            return " (weight_hh_l0 is square: this looks like an nn.RNN, not an nn.LSTM)"
    return ""


# ----- input shapes ----------------------------------------------------------------------------
def fit_input(data, config: LSTMConfig) -> torch.Tensor:
    """``data`` as the (T, B, input_size) float32 tensor to feed ``config``'s LSTM, time-major
    (``lstm_viz.inputs.array_to_input`` with the config's input_size and batch_first)."""
    return array_to_input(np.asarray(data), config.input_size, config.batch_first)


# ----- into a session --------------------------------------------------------------------------
def model_source(loaded: LoadedModel, cand: LSTMCandidate) -> dict:
    """JSON-ready record of where a session's weights came from (``Session.model_source``)."""
    src = {"path": str(Path(loaded.path).resolve()), "lstm": cand.name, "kind": loaded.kind,
           "sha256": file_sha256(loaded.path), "batch_first": cand.batch_first,
           "metadata": {k: v for k, v in loaded.metadata.items()
                        if k in ("description", "train", "epoch", "step")}}
    if cand.embedding is not None:
        src["embedding"] = f"{cand.embedding_key} {tuple(cand.embedding.shape)}"
    src["has_vocab"] = loaded.vocab is not None
    return src


def load_into_session(session, loaded: LoadedModel, cand: LSTMCandidate | None = None,
                      batch_first: bool | None = None, input_spec=None) -> str:
    """Make ``session`` use the LSTM ``cand`` of ``loaded`` (default: its only one), and
    ``input_spec`` (if given) as its input in the same change.

    Without ``input_spec``, when the session's current input cannot feed the new model (a
    different input_size), the input becomes seeded random noise of the same length and batch;
    the returned note says so ('' otherwise). On any ValueError the session is left as it was.
    """
    cand = cand or loaded.pick()
    lstm = cand.build(dtype=session.dtype, batch_first=batch_first)
    source = model_source(loaded, cand)
    try:
        session.load_module(lstm, source=source, input_spec=input_spec)
        return ""
    except ValueError as first:
        old = session.input_spec
        if input_spec is not None or old.source == "random":
            raise
        noise = InputSpec(source="random", seq_len=old.seq_len, batch_size=old.batch_size,
                          seed=old.seed)
        session.load_module(lstm, source=source, input_spec=noise)
        return (f"the previous input does not fit this model ({first}); it was replaced by"
                " random input")
