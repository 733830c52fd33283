"""Open trained models: torch.save files, TorchScript, safetensors and ONNX, without running code.

``load_model(path)`` returns a ``LoadedModel`` listing every nn.LSTM found in the file as an
``LSTMCandidate`` (its prefix, inferred ``LSTMConfig`` and weights under nn.LSTM's names), plus
the embedding and output head paired with it and a vocabulary when the file has them.
nn.LSTMCell weights become one-layer (or, when cells chain, stacked) candidates; ONNX LSTM
nodes are regrouped into nn.LSTM's gate order. torch.save files are read by a restricted
unpickler (``lstm_viz.formats.safe_pickle``) that never imports or calls what the file names, and
TorchScript archives the same way (``lstm_viz.formats.torchscript``: their module tree and tensors,
never ``torch.jit.load``); only ``allow_pickle=True`` runs the full ``torch.load``. Anything
that is not a usable LSTM file raises ``ValueError`` saying what was found and what lstm-viz can
open. ``fit_input`` checks an array against a config and explains a shape mismatch. What a
file yields is described in ``lstm_viz.formats.candidates``; which embedding and head go with
an LSTM is decided in ``lstm_viz.formats.pairing``; each format other than torch.save has a
module of its own (``safetensors_file``, ``torchscript``, ``onnx_lstm``, ``keras_lstm``).
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from ..config import LSTMConfig, find_lstm_prefixes, lstm_state_dict
from ..inputs import InputSpec, array_to_input
from ..text.vocab import find_vocab
from ..tracing.budget import DEFAULT_MEMORY_BUDGET
from .candidates import (
    _BUDGET,
    LISTED,
    Head,
    LoadedModel,
    LSTMCandidate,
    PickleConsentNeeded,
    UnusableLSTMs,
    _capped,
    _memory_budget,
    _Module,
    clip_text,
    first_few,
    first_line,
    models_command,
)
from .cells import cell_state_dict, chains, find_cells
from .hashing import file_sha256
from .pairing import pair
from .safe_pickle import (
    Placeholder,
    UnsafeFileError,
    check_zip,
    contains_placeholder,
    placeholder_names,
    safe_load,
    tensor_problem,
)
from .safetensors_file import is_safetensors, read_safetensors
from .torchscript import is_torchscript, read_torchscript

if TYPE_CHECKING:
    from os import PathLike

# the candidate types (lstm_viz.formats.candidates) are part of what loading gives
__all__ = [
    "EXPECTED", "LISTED", "Head", "LSTMCandidate", "LoadedModel", "PickleConsentNeeded",
    "TakesModules", "UnusableLSTMs", "first_few", "fit_input", "head_choices",
    "load_into_session", "load_model", "model_source", "models_command", "nonfinite_weights",
]

EXPECTED = ("expected a file written by torch.save (a state dict, a checkpoint or a whole"
            " model) or torch.jit.save, a .safetensors state dict, an ONNX model with an"
            " LSTM node, or a Keras .keras or .h5 model")
_MAX_DEPTH = 6
_CHECKSUM_LIMIT = 256 * 1024 * 1024  # bytes


# ----- loading ---------------------------------------------------------------------------------
def load_model(path: str | PathLike[str], *, allow_pickle: bool = False,
               memory_budget: int | None = None) -> LoadedModel:
    """Open ``path`` and list the nn.LSTMs in it.

    Reads torch.save files (state dicts, checkpoints, whole pickled models) with a restricted
    unpickler that runs no code from the file, TorchScript archives read the same way (never
    ``torch.jit.load``, which runs the archive's code), safetensors, ONNX graphs and Keras files
    (read, never run). ``allow_pickle=True`` loads pickles with the full ``torch.load``, which
    runs whatever code the file names. ``memory_budget`` (bytes; default 1 GiB) bounds what is
    read: the user's, such as ``lstm-viz --memory-budget``.
    """
    token = _BUDGET.set(DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget))
    try:
        return _open_model(path, allow_pickle)
    finally:
        _BUDGET.reset(token)


def _open_model(path: str | PathLike[str], allow_pickle: bool) -> LoadedModel:
    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file not found: {path}; {EXPECTED}")
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            raise ValueError(f"{path.name} is a TensorFlow SavedModel folder, which lstm-viz"
                             f" cannot read; {EXPECTED}")
        raise ValueError(f"{path} is a folder, not a model file; {EXPECTED}")
    if path.name in ("saved_model.pb", "saved_model.pbtxt"):
        raise ValueError(f"{path.name} is a TensorFlow SavedModel, which lstm-viz cannot"
                         f" read; {EXPECTED}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path.name} is empty (0 bytes); {EXPECTED}")
    with open(path, "rb") as fh:
        head = fh.read(64)

    if head.startswith(b"PK"):
        if not _is_zip(path):
            raise ValueError(
                f"{path.name} is truncated or corrupt: it starts like a PyTorch zip archive but"
                f" its end is missing or damaged ({size} bytes). Save or copy it again.")
        try:
            names, bad = _zip_survey(path, size)
        except UnsafeFileError as exc:
            raise ValueError(f"{exc}; {EXPECTED}") from None
        except _ZIP_ERRORS as exc:
            raise ValueError(f"{path.name} is truncated or corrupt: its zip directory cannot be"
                             f" read ({first_line(str(exc))}). Save or copy it again.") from None
        if bad:
            raise ValueError(f"{path.name} is corrupt: {bad}. Save or copy it again.")
        if is_torchscript(names):
            return _load_torchscript(path, size)
        if "config.json" in names and "model.weights.h5" in names:
            return _load_keras(path)
        if not any(n.endswith("data.pkl") for n in names):
            raise ValueError(f"{path.name} is a zip archive but not a PyTorch file (it holds"
                             f" {', '.join(names[:4]) or 'nothing'}); {EXPECTED}")
    elif is_safetensors(head, size):
        sd, metadata = read_safetensors(path, size, _memory_budget())
        return replace(_from_object(path, sd, "safetensors"), metadata=metadata)
    elif head.startswith(b"\x89HDF"):
        return _load_keras(path)
    elif path.suffix.lower() == ".onnx" or head[:1] == b"\x08":
        return _load_onnx(path, size)
    elif not head.startswith(b"\x80"):
        raise ValueError(f"{path.name} is not a PyTorch file: found {_sniff(head)};"
                         f" {EXPECTED}")
    return _load_pickled(path, allow_pickle)


# What reading a damaged file raises, and what else a safe read can raise.
_DAMAGE_ERRORS = (pickle.UnpicklingError, EOFError, OSError, struct.error, zipfile.BadZipFile,
                  UnicodeDecodeError)
_READ_ERRORS = _DAMAGE_ERRORS + (RuntimeError, ValueError, KeyError, TypeError, AttributeError,
                                 IndexError, MemoryError, RecursionError, NotImplementedError)
_ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError,
               struct.error, KeyError, UnicodeDecodeError)


def _is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except _ZIP_ERRORS:  # a damaged end record can make the check itself fail
        return False


def _zip_survey(path: Path, size: int) -> tuple[list[str], str]:
    """The entry names of the zip at ``path`` and what is damaged in it ('' if nothing).

    Refuses (UnsafeFileError) lying directories and bombs, and .npz archives by name.
    """
    with zipfile.ZipFile(path) as zf:
        check_zip(path, zf, _memory_budget())
        names = zf.namelist()
        if names and all(n.endswith(".npy") for n in names):
            raise UnsafeFileError(f"{path.name} is a NumPy .npz archive (arrays, not a model)")
        # Checksums catch flipped bytes that torch.load may not notice; skip them for big
        # files, where reading everything twice would be slow.
        return names, _zip_damage(zf) if size <= _CHECKSUM_LIMIT else ""


def _zip_damage(zf: zipfile.ZipFile) -> str:
    try:
        bad = zf.testzip()
    except _ZIP_ERRORS as exc:
        return f"its archive cannot be read ({exc})"
    return f"entry {bad} fails its checksum" if bad else ""


def _sniff(head: bytes) -> str:
    text = head[:40]
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array (an input, not a model)"
    # What kind of file, never what it says: an error message may be shown or logged where the
    # file's contents should not be.
    if all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        return "a text file"
    return "binary data of an unknown kind"


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and \
        all(isinstance(v, torch.Tensor) for v in obj.values())


# ----- torch.save files ------------------------------------------------------------------------
def _load_pickled(path: Path, allow_pickle: bool) -> LoadedModel:
    try:
        obj = safe_load(path, _memory_budget())
    except UnsafeFileError as exc:
        raise ValueError(str(exc)) from None
    except _READ_ERRORS as exc:
        if allow_pickle:  # something the safe reader does not know; the user allowed it all
            return _load_unsafe(path)
        if isinstance(exc, _DAMAGE_ERRORS):
            raise ValueError(f"{path.name} is truncated or corrupt: {type(exc).__name__}:"
                             f" {first_line(str(exc))}; {EXPECTED}") from None
        # The pickle itself is whole; what it builds is beyond the safe reader.
        raise PickleConsentNeeded(
            f"{path.name} holds Python objects that lstm-viz cannot rebuild without running"
            f" code stored in the file ({type(exc).__name__}: {first_line(str(exc))}). Open"
            " it with unsafe loading allowed (--allow-pickle) only if you trust where it came"
            " from, or re-save it with torch.save(model.state_dict(), path).", path) from None
    if allow_pickle and contains_placeholder(obj):
        return _load_unsafe(path)
    if _is_tensor_dict(obj):
        kind = "state_dict"
    elif isinstance(obj, Placeholder) and _is_module(obj):
        kind = "pickled_module"  # a whole model, read without running its code
    else:
        kind = "checkpoint"
    return _from_object(path, obj, kind)


def _load_unsafe(path: Path) -> LoadedModel:
    """The full torch.load, which runs whatever code the file names (allow_pickle=True)."""
    try:
        full = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # arbitrary code ran; report whatever it raised
        raise ValueError(f"{path.name} could not be unpickled: {type(exc).__name__}:"
                         f" {first_line(str(exc))}") from None
    return _from_object(path, full, "pickle")


@dataclass(frozen=True)
class _ModuleTree:
    """A TorchScript module tree as read from its archive: state dict and module table."""

    state_dict: dict
    modules: dict


def _load_torchscript(path: Path, size: int) -> LoadedModel:
    """A TorchScript archive read as data (``lstm_viz.formats.torchscript``): nothing in it runs."""
    try:
        sd, table = read_torchscript(path, _memory_budget())
    except UnsafeFileError as exc:
        raise ValueError(str(exc)) from None
    except _READ_ERRORS as exc:
        raise ValueError(f"{path.name} is a TorchScript archive that is truncated or corrupt:"
                         f" {type(exc).__name__}: {first_line(str(exc))}. Save or copy it"
                         " again.") from None
    modules = {name: _Module(kind, attrs) for name, (kind, attrs) in table.items()}
    return _from_object(path, _ModuleTree(sd, modules), "torchscript")


# ----- ONNX ------------------------------------------------------------------------------------
def _load_onnx(path: Path, size: int) -> LoadedModel:
    from .onnx_lstm import read_onnx

    if size > _memory_budget():
        raise ValueError(f"{path.name} ({size} bytes) is larger than the memory budget")
    found, problems, notes, n_nodes = read_onnx(path, _memory_budget())
    if not found:
        if problems:
            raise UnusableLSTMs(f"{path.name} is an ONNX model whose LSTM nodes lstm-viz cannot"
                                " open: " + first_few(problems, path, " | "), path,
                                problems)
        raise ValueError(f"{path.name} is an ONNX model with {n_nodes} nodes but no LSTM node;"
                         f" {EXPECTED}")
    cands = [_read_candidate(item, "ONNX LSTM") for item in found]
    found_warnings = _capped([f"skipped {p}" for p in problems], path, "LSTM nodes skipped") + \
        _capped(notes, path, "notes on LSTM nodes that feed others") + \
        _nonfinite_warnings(cands, path)
    return LoadedModel(path, "onnx", tuple(cands), warnings=tuple(found_warnings),
                       skipped=tuple(problems))


# ----- Keras -----------------------------------------------------------------------------------
def _load_keras(path: Path) -> LoadedModel:
    """A Keras .keras, .h5 or .weights.h5 file read as data with h5py
    (``lstm_viz.formats.keras_lstm``): its config is JSON, its weights HDF5 datasets; no Keras
    or TensorFlow code runs."""
    from .keras_lstm import read_keras

    read = read_keras(path, _memory_budget())
    if not read.lstms:
        if read.problems:
            raise UnusableLSTMs(f"{path.name} is a Keras model whose LSTM layers lstm-viz cannot"
                                " open: " + first_few(read.problems, path, " | "), path,
                                read.problems)
        listing = ", ".join(read.layers[:8]) or "no layers"
        raise ValueError(f"{path.name} is a Keras model with no LSTM layer (found {listing});"
                         " lstm-viz shows LSTM layers only")
    cands = []
    for item in read.lstms:
        head = Head(item.head_key, item.head_weight, item.head_bias) \
            if item.head_key is not None and item.head_weight is not None else None
        cands.append(_read_candidate(item, "Keras LSTM", embedding=item.embedding,
                                     embedding_key=item.embedding_key, head=head))
    found_warnings = read.warnings + \
        _capped([f"skipped {p}" for p in read.problems], path, "LSTM layers skipped") + \
        _nonfinite_warnings(cands, path)
    return LoadedModel(path, "keras", tuple(cands), metadata=read.metadata,
                       warnings=tuple(found_warnings), skipped=tuple(read.problems))


def _read_candidate(item: Any, origin: str, **extra: Any) -> LSTMCandidate:
    """An LSTM a graph reader found (``onnx_lstm.OnnxLSTM``, ``keras_lstm.KerasLSTM``: its
    name, sizes and nn.LSTM state dict) as a candidate."""
    cfg = LSTMConfig(item.input_size, item.hidden_size, num_layers=item.num_layers,
                     bias=item.bias, bidirectional=item.bidirectional)
    return LSTMCandidate("", f"{item.name}.", cfg, item.state_dict, item.batch_first,
                         origin=origin, **extra)


# ----- finding LSTMs in what was loaded --------------------------------------------------------
def _is_module(obj: Any) -> bool:
    if not isinstance(obj, Placeholder):
        return False
    attrs = obj.attributes()
    return isinstance(attrs.get("_modules"), Mapping) and \
        isinstance(attrs.get("_parameters"), Mapping)


def _flatten_placeholder(root: Placeholder) -> tuple[dict, dict]:
    """The state dict and module table of a pickled module tree that was never imported."""
    sd: dict[str, torch.Tensor] = {}
    modules: dict[str, _Module] = {}

    def walk(mod: Placeholder, name: str, depth: int) -> None:
        if depth > 64:
            return
        attrs = mod.attributes()
        modules[name] = _Module(mod.short_name, attrs)
        prefix = f"{name}." if name else ""
        skip = attrs.get("_non_persistent_buffers_set") or set()
        for table in ("_parameters", "_buffers"):
            for key, value in (attrs.get(table) or {}).items():
                if isinstance(value, torch.Tensor) and key not in skip:
                    sd[f"{prefix}{key}"] = value
        for key, child in (attrs.get("_modules") or {}).items():
            if _is_module(child):
                walk(child, f"{prefix}{key}", depth + 1)

    walk(root, "", 0)
    return sd, modules


# Modules listed in ``LoadedModel.modules``, and the attributes a module records about itself.
_LISTED_KINDS = ("LSTM", "LSTMCell", "GRU", "GRUCell", "RNN", "RNNCell", "Embedding", "Linear")
_MODULE_FIELDS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                  "bidirectional", "proj_size", "num_embeddings", "embedding_dim",
                  "padding_idx", "in_features", "out_features")


def _module_table(obj: Any) -> dict[str, _Module]:
    table = {}
    for name, m in obj.named_modules():
        attrs = {a: getattr(m, a) for a in _MODULE_FIELDS if hasattr(m, a)}
        table[name] = _Module(type(m).__name__, attrs)
    return table


def _state_dicts(obj: Any, location: str = "", depth: int = 0
                 ) -> Iterator[tuple[str, dict[str, Any], dict[str, _Module]]]:
    """Yield (location, {key: tensor}, {module name: _Module}) for each tensor dict in ``obj``."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(obj, _ModuleTree):
        yield location, obj.state_dict, obj.modules
        return
    if isinstance(obj, nn.Module):
        yield location, dict(obj.state_dict()), _module_table(obj)
        return
    if _is_module(obj):
        sd, modules = _flatten_placeholder(obj)
        yield location, sd, modules
        return
    if isinstance(obj, Placeholder):
        obj = obj.attributes() or obj.items
    if isinstance(obj, Mapping):
        tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and (find_lstm_prefixes(tensors) or find_cells(tensors)[0]):
            yield location, tensors, {}
        elif tensors and depth == 0:
            yield location, tensors, {}  # reported as "found ..." when nothing else turns up
        for k, v in obj.items():
            if isinstance(v, (Mapping, nn.Module, list, tuple, Placeholder)):
                yield from _state_dicts(v, f"{location}[{k!r}]", depth + 1)
    elif isinstance(obj, (list, tuple)) and len(obj) < 64:
        for i, v in enumerate(obj):
            if isinstance(v, (Mapping, nn.Module, list, tuple, Placeholder)):
                yield from _state_dicts(v, f"{location}[{i}]", depth + 1)


def _weights_problem(sd: Mapping) -> str:
    total = 0
    for key, value in sd.items():
        if value.layout != torch.strided:
            return f"{key} is a {value.layout} tensor; nn.LSTM weights must be dense"
        if value.is_complex() or not value.is_floating_point():
            return f"{key} has dtype {value.dtype}; nn.LSTM weights must be real floating point"
        layout = tensor_problem(value)
        if layout:
            return f"{key} is {layout}"
        total += value.numel() * value.element_size()
    if total > _memory_budget():
        return f"its weights take {total} bytes, more than the memory budget"
    return ""


def _lstm_candidates(location: str, sd: Mapping, modules: Mapping[str, _Module],
                     problems: list[str]) -> list[LSTMCandidate]:
    """The nn.LSTMs (keys ``weight_ih_l0`` ...) in ``sd``; what is unusable goes to problems."""
    made = []
    for prefix in find_lstm_prefixes(sd):
        where = f"{location} {prefix.rstrip('.') or '<root>'}".strip()
        module = modules.get(prefix.rstrip("."))
        other = module.kind if module is not None and module.kind in ("GRU", "RNN") else \
            _other_rnn(sd, prefix)
        if other:
            problems.append(f"{where} is an nn.{other}, not an nn.LSTM; lstm-viz shows"
                            " LSTMs only")
            continue
        try:
            cfg = LSTMConfig.from_state_dict(sd, prefix)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        bf = module.get("batch_first") if module is not None else None
        dropout = module.get("dropout") if module is not None else None
        if isinstance(dropout, float) and 0 < dropout < 1 and cfg.num_layers > 1:
            cfg = cfg.replace(dropout=dropout)  # what the pickled module records
        made.append(LSTMCandidate(location, prefix, cfg, lstm_state_dict(sd, prefix),
                                  bool(bf) if isinstance(bf, bool) else None))
    return made


def _cell_candidates(location: str, sd: Mapping, modules: Mapping[str, _Module],
                     problems: list[str]) -> list[LSTMCandidate]:
    """Each nn.LSTMCell in ``sd`` as a one-layer LSTM, then each chain of cells stacked."""
    cells, cell_problems = find_cells(sd, {name: m.kind for name, m in modules.items()})
    problems.extend(f"{location} {p}".strip() for p in cell_problems)
    made = [LSTMCandidate(location, cell.prefix,
                          LSTMConfig(cell.input_size, cell.hidden_size, bias=cell.bias),
                          cell_state_dict(sd, [cell]), origin="LSTMCell",
                          cells=(cell.prefix.rstrip("."),)) for cell in cells]
    for run in chains(cells):
        names = tuple(c.prefix.rstrip(".") or "<root>" for c in run)
        cfg = LSTMConfig(run[0].input_size, run[0].hidden_size, num_layers=len(run),
                         bias=run[0].bias)
        made.append(LSTMCandidate(location, "+".join(names) + ".", cfg,
                                  cell_state_dict(sd, run), origin="LSTMCell stack",
                                  cells=names))
    return made


def _from_object(path: Path, obj: Any, kind: str) -> LoadedModel:
    """Search ``obj`` (module, state dict, nested checkpoint, placeholders) for LSTMs."""
    found: list[LSTMCandidate] = []
    problems: list[str] = []
    seen_tensors: list[str] = []
    listed: dict[str, dict] = {}
    for location, sd, modules in _state_dicts(obj):
        for name, module in modules.items():
            if module.kind in _LISTED_KINDS:
                listed[f"{location} {name or '<root>'}".strip()] = {"kind": module.kind} | {
                    a: module.get(a) for a in _MODULE_FIELDS
                    if isinstance(module.get(a), (bool, int, float))}
        seen_tensors.extend(f"{location}{k} {tuple(v.shape)}" for k, v in list(sd.items())[:3])
        made = _lstm_candidates(location, sd, modules, problems) + \
            _cell_candidates(location, sd, modules, problems)
        for cand in made:
            bad = _weights_problem(cand.state_dict)
            if bad:
                problems.append(f"{cand.name}: {bad}")
                continue
            weights = {k: v.detach().clone() for k, v in cand.state_dict.items()}
            cand = replace(cand, state_dict=weights)
            found.append(pair(cand, sd, modules, obj))
    if not found:
        if problems:
            lead = "holds no nn.LSTM" if all(p.endswith("lstm-viz shows LSTMs only")
                                             for p in problems) \
                else "has LSTM-like keys but no usable LSTM"
            raise UnusableLSTMs(f"{path.name} {lead}: " + first_few(problems, path, " | "),
                                path, problems)
        if contains_placeholder(obj) and not _is_module(obj):
            classes = ", ".join(placeholder_names(obj, 3))
            raise PickleConsentNeeded(
                f"{path.name} holds a pickled Python object ({classes}) and no nn.LSTM weights"
                " that can be read without running code stored in the file. Open it with"
                " unsafe loading allowed (--allow-pickle) only if you trust where it came from,"
                " or re-save it with torch.save(model.state_dict(), path).", path)
        listing = ", ".join(seen_tensors[:6]) or f"a {_type_name(obj)} with no tensors"
        raise ValueError(
            f"{path.name} holds no nn.LSTM: found {listing}. Expected an nn.LSTM's parameters"
            " (keys like 'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', possibly under a prefix"
            " such as 'rnn.' or inside a checkpoint dict) or an nn.LSTMCell's ('weight_ih',"
            " 'weight_hh', ...).")
    meta = obj if isinstance(obj, Mapping) else {}
    metadata = {k: clip_text(v) if isinstance(v, str) else v for k, v in meta.items()
                if isinstance(v, (str, int, float, bool)) or
                (isinstance(v, dict) and all(isinstance(x, (str, int, float, bool))
                                             for x in v.values()))}
    vocab, notes = find_vocab(obj) if not isinstance(obj, (nn.Module, _ModuleTree)) \
        else (None, [])
    return LoadedModel(path, kind, tuple(found), vocab, metadata,
                       tuple(notes + _nonfinite_warnings(found, path)), listed,
                       tuple(problems))


def nonfinite_weights(cand: LSTMCandidate) -> str:
    """How many NaN and infinite values ``cand``'s weights, embedding and head hold and where
    (``"2 NaN values in weight_hh_l0, head fc.bias"``); '' when all are finite."""
    tensors = [(k, v) for k, v in cand.state_dict.items()]
    if cand.embedding is not None:
        tensors.append((f"embedding {cand.embedding_key}", cand.embedding))
    if cand.head is not None:
        prefix = f"{cand.head.key}." if cand.head.key else ""
        tensors.append((f"head {prefix}weight", cand.head.weight))
        if cand.head.bias is not None:
            tensors.append((f"head {prefix}bias", cand.head.bias))
    n_nan = n_inf = 0
    where = []
    for key, value in tensors:
        if not value.is_floating_point():
            continue
        nan, inf = int(torch.isnan(value).sum()), int(torch.isinf(value).sum())
        if nan or inf:
            n_nan, n_inf = n_nan + nan, n_inf + inf
            where.append(key)
    if not where:
        return ""
    found = " and ".join(t for t in (f"{n_nan} NaN" if n_nan else "",
                                     f"{n_inf} infinite" if n_inf else "") if t)
    return f"{found} values in {', '.join(where[:LISTED])}" + \
        (f" and {len(where) - LISTED} more tensors" if len(where) > LISTED else "")


def _nonfinite_warnings(found: Iterable[LSTMCandidate], path: str | PathLike[str]
                        ) -> list[str]:
    """The warning NaN or infinite inputs give, for each LSTM whose weights hold such values."""
    lines = []
    for cand in found:
        bad = nonfinite_weights(cand)
        if bad:
            lines.append(f"{bad} of the LSTM {cand.name}; the trace will carry them")
    return _capped(lines, path, "LSTMs with NaN or infinite weights")


def _type_name(obj: Any) -> str:
    if isinstance(obj, _ModuleTree):
        return "TorchScript module"
    if isinstance(obj, Placeholder):
        names = placeholder_names(obj, 1)
        return names[0] if names else obj.qualname
    return type(obj).__name__


def _other_rnn(sd: Mapping, prefix: str) -> str:
    """"GRU" or "RNN" when the weights at ``prefix`` can only be an nn.GRU's or nn.RNN's:
    weight_hh_l0 with 3*hidden rows or square (an LSTM's has 4*hidden, or 4*hidden by
    proj_size < hidden)."""
    w = sd.get(f"{prefix}weight_hh_l0")
    if isinstance(w, torch.Tensor) and w.ndim == 2 and w.shape[1] > 0:
        rows, cols = w.shape
        if rows == 3 * cols:
            return "GRU"
        if rows == cols:
            return "RNN"
    return ""


# ----- input shapes ----------------------------------------------------------------------------
def fit_input(data: Any, config: LSTMConfig) -> torch.Tensor:
    """``data`` as the (T, B, input_size) float32 tensor to feed ``config``'s LSTM, time-major
    (``lstm_viz.inputs.array_to_input`` with the config's input_size and batch_first)."""
    return array_to_input(np.asarray(data), config.input_size, config.batch_first)


# ----- into a session --------------------------------------------------------------------------
def model_source(loaded: LoadedModel, cand: LSTMCandidate) -> dict:
    """JSON-ready record of where a session's weights came from (``Session.model_source``)."""
    src: dict = {"path": str(Path(loaded.path).resolve()), "lstm": cand.name, "kind": loaded.kind,
           "sha256": file_sha256(loaded.path), "batch_first": cand.batch_first,
           "metadata": {k: v for k, v in loaded.metadata.items()
                        if k in ("description", "train", "epoch", "step")}}
    if cand.embedding is not None:
        src["embedding"] = f"{cand.embedding_key} {tuple(cand.embedding.shape)}"
    src["has_vocab"] = loaded.vocab is not None
    src["head"] = cand.head.key if cand.head is not None else None
    src["embedding_key"] = cand.embedding_key
    src["embedding_options"] = list(cand.embedding_options)
    # settings the file itself records, beside the weights
    src["recorded"] = (["batch_first"] if cand.batch_first is not None else []) + \
        (["dropout"] if loaded.kind in ("pickled_module", "torchscript", "pickle")
         and cand.origin == "LSTM" else [])
    if cand.origin != "LSTM":
        src["origin"], src["cells"] = cand.origin, list(cand.cells)
    return src


def head_choices(cand: LSTMCandidate) -> dict[str, Head]:
    """Every Linear of ``cand``'s file that could be its output head, by name."""
    return {name: head for name in cand.head_options
            if (head := cand.with_head(name).head) is not None}


class TakesModules(Protocol):
    """What ``load_into_session`` needs of a ``Session``."""

    @property
    def dtype(self) -> torch.dtype: ...
    @property
    def input_spec(self) -> InputSpec: ...

    def load_module(self, lstm: nn.LSTM, source: dict | None = None,
                    input_spec: InputSpec | None = None, head: Head | None = None,
                    head_choices: dict[str, Head] | None = None,
                    pairing_notes: tuple[str, ...] = ()) -> None: ...


def load_into_session(session: TakesModules, loaded: LoadedModel, cand: LSTMCandidate | None = None,
                      batch_first: bool | None = None, input_spec: InputSpec | None = None, *,
                      lstm: nn.LSTM | None = None, source: dict | None = None) -> str:
    """Make ``session`` use the LSTM ``cand`` of ``loaded`` (default: its only one), and
    ``input_spec`` (if given) as its input in the same change.

    Without ``input_spec``, when the session's current input cannot feed the new model (a
    different input_size), the input becomes seeded random noise of the same length and batch;
    the returned note says so ('' otherwise). On any ValueError the session is left as it was.
    ``lstm`` and ``source``, when given, are ``cand.build(...)`` and ``model_source(...)`` made
    already (e.g. off the GUI thread).
    """
    cand = cand or loaded.pick()
    if lstm is None:
        lstm = cand.build(dtype=session.dtype, batch_first=batch_first)
    if source is None:
        source = model_source(loaded, cand)
    try:
        session.load_module(lstm, source=source, input_spec=input_spec, head=cand.head,
                            head_choices=head_choices(cand), pairing_notes=cand.pairing_notes)
        return ""
    except ValueError as first:
        old = session.input_spec
        if input_spec is not None or old.source == "random":
            raise
        noise = InputSpec(source="random", seq_len=old.seq_len, batch_size=old.batch_size,
                          seed=old.seed)
        session.load_module(lstm, source=source, input_spec=noise, head=cand.head,
                            head_choices=head_choices(cand), pairing_notes=cand.pairing_notes)
        return (f"the previous input does not fit this model ({first}); it was replaced by"
                " random input")
