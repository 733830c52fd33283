"""Keras LSTM layers as nn.LSTM weights, read with h5py as data (never with Keras or TensorFlow).

Three kinds of file: a Keras 3 ``.keras`` archive (a zip of ``config.json`` and
``model.weights.h5``), a legacy HDF5 ``.h5`` model (a ``model_config`` attribute and a
``model_weights`` group) and a weights-only ``.weights.h5``. The model's config is JSON, read as
data; no layer is ever rebuilt and no code in the file runs. The HDF5 library is not hardened
against damaged files, so h5py runs in a child process: a crash or hang there is one error.

A Keras LSTM keeps ``kernel`` (input, 4*units), ``recurrent_kernel`` (units, 4*units) and one
``bias`` (4*units,) with the gates in the order i, f, c, o, which is nn.LSTM's i, f, g, o: the
kernels are transposed into ``weight_ih_l0`` and ``weight_hh_l0``, the bias becomes
``bias_ih_l0`` and ``bias_hh_l0`` is zero. ``Bidirectional`` wrappers that concatenate become
bidirectional LSTMs, LSTM layers that feed each other their whole sequence also form one
multi-layer LSTM, and the ``Embedding`` that feeds an LSTM and the ``Dense`` that reads it are
paired with it when the model's layer graph shows that nothing else sits between them.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

_CONFIG_LIMIT = 64 * 1024 * 1024  # bytes of config.json read at most
_MAX_DEPTH = 12  # nested models and groups followed at most
_CHILD_TIMEOUT = 300  # seconds the reading process may take
# Layers that pass their input through unchanged at inference.
_PASS = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
         "ActivityRegularization", "Masking"}
_MODELS = {"Sequential", "Functional", "Model"}


@dataclass
class KerasLSTM:
    """One Keras LSTM layer (or a stack of them) as nn.LSTM state dict and sizes.

    embedding: (vocab, input_size) of the Embedding that feeds it; head_weight: (out, output
    size) and head_bias (out,) of the Dense that reads its output.
    """

    name: str
    state_dict: dict
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    bidirectional: bool
    batch_first: bool = True
    embedding_key: str | None = None
    embedding: Any = field(default=None, repr=False)
    head_key: str | None = None
    head_weight: Any = field(default=None, repr=False)
    head_bias: Any = field(default=None, repr=False)


@dataclass
class KerasFile:
    """What ``read_keras`` found: the LSTMs, why other LSTM layers were refused, notes for the
    user, and the file's Keras version and backend."""

    lstms: list[KerasLSTM]
    problems: list[str]
    warnings: list[str]
    metadata: dict
    layers: list[str]  # "name (Class)" of every layer seen, for a message when no LSTM is found


def read_keras(path: Path, budget: int) -> KerasFile:
    """The LSTM layers of the Keras file ``path`` (``.keras``, ``.h5`` or ``.weights.h5``),
    their arrays as torch tensors.

    The HDF5 library can crash or hang on a damaged file, so the file is read in a child
    Python process (``python -m lstm_viz.formats.keras_lstm``) that hands back plain arrays.
    ValueError when h5py is missing or the file is not a readable Keras file.
    """
    path = Path(path).resolve()
    if not _have_h5py():
        raise ValueError(f"{path.name} is a Keras file; reading it needs h5py:"
                         " pip install lstm-viz[keras]")
    with tempfile.TemporaryDirectory(prefix="lstm-viz-keras-") as tmp:
        # run in the empty folder, so that nothing beside the user's files is imported
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[2]),  # the folder of lstm_viz
                        os.environ.get("PYTHONPATH", "")) if p))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "lstm_viz.formats.keras_lstm", str(path), str(budget), tmp],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=_CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ValueError(f"{path.name}: reading it with h5py took more than"
                             f" {_CHILD_TIMEOUT} s; the file is damaged or far too large"
                             ) from None
        except OSError as exc:
            raise ValueError(f"{path.name}: the reader for Keras files could not start"
                             f" ({exc})") from None
        error = Path(tmp, "error.txt")
        if done.returncode == 2 and error.exists():
            raise ValueError(error.read_text(encoding="utf-8"))
        if done.returncode != 0 or not Path(tmp, "result.json").exists():
            how = f"signal {-done.returncode}" if done.returncode < 0 else \
                _first_line(Exception(done.stderr.decode("utf-8", "replace").strip()
                                      .splitlines()[-1:] or [f"status {done.returncode}"]))
            raise ValueError(f"{path.name} is a damaged HDF5 file: reading it stopped the HDF5"
                             f" library ({how}); save or copy it again")
        return _load_result(Path(tmp))


def _have_h5py() -> bool:
    try:
        return importlib.util.find_spec("h5py") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["h5py"] is None
        return False


def _write_result(found: KerasFile, out: Path) -> None:
    """``found`` as ``result.json`` and its arrays as ``arrays.npz`` (no pickles)."""
    arrays: dict[str, np.ndarray] = {}
    items = []
    for index, item in enumerate(found.lstms):
        for key, value in item.state_dict.items():
            arrays[f"{index}/sd/{key}"] = value
        for key in ("embedding", "head_weight", "head_bias"):
            if getattr(item, key) is not None:
                arrays[f"{index}/{key}"] = getattr(item, key)
        items.append({k: v for k, v in vars(item).items()
                      if isinstance(v, (str, int, bool)) or v is None} |
                     {"keys": list(item.state_dict)})
    np.savez(out / "arrays.npz", **cast(dict[str, Any], arrays))
    (out / "result.json").write_text(json.dumps(
        {"lstms": items, "problems": found.problems, "warnings": found.warnings,
         "metadata": found.metadata, "layers": found.layers}), encoding="utf-8")


def _load_result(out: Path) -> KerasFile:
    """What the child process wrote, with the arrays as torch tensors."""
    import torch

    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    with np.load(out / "arrays.npz", allow_pickle=False) as npz:
        # float16 weights are widened: the session computes in float32 or float64
        arrays = {k: torch.from_numpy(npz[k].astype(np.float32) if npz[k].dtype == np.float16
                                      else npz[k]) for k in npz.files}
    lstms = []
    for index, item in enumerate(result["lstms"]):
        keys = item.pop("keys")
        item = item | {k: arrays.get(f"{index}/{k}")
                       for k in ("embedding", "head_weight", "head_bias")}
        lstms.append(KerasLSTM(**item | {"state_dict": {
            k: arrays[f"{index}/sd/{k}"] for k in keys}}))
    return KerasFile(lstms, result["problems"], result["warnings"], result["metadata"],
                     result["layers"])


def _read_here(path: Path, budget: int) -> KerasFile:
    """``read_keras`` in this process, with numpy arrays (the child process's work)."""
    try:
        import h5py
    except ImportError:
        raise ValueError(f"{path.name} is a Keras file; reading it needs h5py:"
                         " pip install lstm-viz[keras]") from None
    budget_left = _Budget(budget, path.name)
    metadata: dict = {}
    with open(path, "rb") as fh:
        is_zip = fh.read(2) == b"PK"
    if is_zip:
        try:
            config, weights, metadata = _read_archive(path, budget)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError,
                NotImplementedError) as exc:
            raise ValueError(f"{path.name} is a damaged .keras archive ({_first_line(exc)});"
                             " save or copy it again") from None
        opener: Any = io.BytesIO(weights)
    else:
        config, opener = None, str(path)
    try:
        h5 = h5py.File(opener, "r", locking=False)  # read-only media cannot be locked
    except Exception as exc:  # h5py raises OSError and its own errors for damaged files
        raise ValueError(f"{path.name} is not a readable HDF5 file ({_first_line(exc)}); save"
                         " or copy it again") from None
    with h5:
        try:
            found = _read_h5(h5, config, metadata, path.name, budget_left)
            found.warnings = list(dict.fromkeys(found.warnings))
            return found
        except ValueError:
            raise
        except (RecursionError, MemoryError) as exc:
            raise ValueError(f"{path.name} cannot be read: {type(exc).__name__}") from None
        except Exception as exc:  # h5py's errors for damaged groups and datasets
            raise ValueError(f"{path.name} is a damaged HDF5 file ({type(exc).__name__}:"
                             f" {_first_line(exc)}); save or copy it again") from None


def _read_archive(path: Path, budget: int) -> tuple[Any, bytes, dict]:
    """config.json (parsed), model.weights.h5 (bytes) and metadata.json of a .keras zip."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if "config.json" not in names or "model.weights.h5" not in names:
            raise ValueError(f"{path.name} is a zip archive but not a Keras 3 model: it holds"
                             f" {', '.join(names[:4]) or 'nothing'}, not config.json and"
                             " model.weights.h5")
        info = zf.getinfo("config.json")
        if info.file_size > _CONFIG_LIMIT:
            raise ValueError(f"{path.name}: its config.json takes {info.file_size} bytes")
        if zf.getinfo("model.weights.h5").file_size > budget:
            raise ValueError(f"{path.name}: its model.weights.h5 is larger than the memory"
                             " budget")
        config = _parse_json(zf.read("config.json"), f"{path.name}'s config.json")
        metadata = {}
        if "metadata.json" in names and zf.getinfo("metadata.json").file_size < 65536:
            try:
                meta = json.loads(zf.read("metadata.json"))
            except (ValueError, RecursionError):
                meta = None
            if isinstance(meta, dict):
                metadata = {str(k): v for k, v in meta.items() if isinstance(v, (str, int))}
        return config, zf.read("model.weights.h5"), metadata


def _parse_json(raw: bytes | str, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not valid JSON ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class _Budget:
    """Bytes of weights still allowed to be read."""

    def __init__(self, left: int, file_name: str) -> None:
        self.left = left
        self.file_name = file_name

    def take(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise ValueError(f"{self.file_name}: {what} takes more than the memory budget")
        self.left -= nbytes


# ----- the HDF5 file ---------------------------------------------------------------------------
def _read_h5(h5: Any, config: Any, metadata: dict, file_name: str, budget: _Budget) -> KerasFile:
    """Dispatch on what the HDF5 file holds: a model with its config, or weights only."""
    attrs = h5.attrs
    if config is None and "model_config" in attrs:  # legacy .h5 full model
        config = _parse_json(_text(attrs["model_config"]), f"{file_name}'s model_config")
        for key in ("keras_version", "backend"):
            if key in attrs:
                metadata[key] = _text(attrs[key])
        weights = _child(h5, "model_weights")
        if weights is None:
            raise ValueError(f"{file_name} is a legacy Keras .h5 model saved without its"
                             " weights (no model_weights group)")
        store: _Store = _LegacyStore(weights, budget)
    elif config is not None:
        if not _lists_layers(config):  # a subclassed model: its layers are Python code
            found = _weights_only(h5, file_name, budget, f"{file_name} is a subclassed Keras"
                                  f" model ({_text(config.get('class_name', '?'))}) whose"
                                  " config records no layers")
            found.metadata = metadata
            return found
        store = _Keras3Store(h5, budget)
    elif _child(h5, "layers") is not None or "layer_names" in attrs:
        return _weights_only(h5, file_name, budget, f"{file_name} holds weights only")
    else:
        raise ValueError(f"{file_name} is an HDF5 file but not a Keras model (no model_config"
                         " attribute, model_weights or layers group)")
    found = KerasFile([], [], [], metadata, [])
    _read_model(config, store, file_name, found, "", 0)
    return found


def _lists_layers(config: Any) -> bool:
    """Whether a model config lists its layers (a Sequential or functional model)."""
    body = config.get("config") if isinstance(config, dict) else None
    return isinstance(body, list) or (isinstance(body, dict) and
                                      isinstance(body.get("layers"), list))


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _child(group: Any, key: str) -> Any:
    """``group[key]`` when it is stored in this file; None if absent. Links to other files are
    refused: h5py would open the file they name."""
    import h5py

    try:
        link = group.get(key, getlink=True)
    except (KeyError, TypeError, ValueError):
        return None
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise ValueError(f"{group.name.rstrip('/')}/{key} links to another file"
                         f" ({link.filename}); lstm-viz reads self-contained files only")
    try:
        return group[key]
    except (KeyError, ValueError):
        return None


def _array(ds: Any, what: str, budget: _Budget) -> np.ndarray:
    """The floating-point dataset ``ds`` as an array, after checking where its data lives."""
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{what} is not a dataset")
    if ds.is_virtual or ds.external:
        raise ValueError(f"{what} keeps its data in another file; lstm-viz reads"
                         " self-contained files only")
    if ds.attrs.get("dtype") in ("bfloat16", b"bfloat16") or ds.dtype.kind != "f" or \
            ds.dtype.itemsize not in (2, 4, 8):
        kind = _text(ds.attrs.get("dtype", ds.dtype))
        raise ValueError(f"{what} has dtype {kind}; lstm-viz reads float16, float32 and"
                         " float64 weights")
    budget.take(int(ds.size) * ds.dtype.itemsize, what)
    return np.array(ds[()], dtype=ds.dtype.newbyteorder("="))


def _numbered(group: Any, what: str, budget: _Budget) -> list[np.ndarray]:
    """The datasets ``0``, ``1``, ... of a Keras 3 ``vars`` group, in order."""
    keys = sorted((k for k in group.keys() if k.isdigit()), key=int)
    return [_array(_child(group, k), f"{what}/{k}", budget) for k in keys]


class _Store:
    """Where a model's layers keep their weights."""

    def weights(self, layer: _Layer, part: str = "") -> list[np.ndarray]:
        """The layer's variables in Keras' order; ``part`` picks a wrapper's inner layer
        ("forward_layer", "backward_layer", "layer")."""
        raise NotImplementedError

    def nested(self, layer: _Layer) -> _Store | None:
        """The store of a model used as a layer, or None if it cannot be read."""
        return None


class _Keras3Store(_Store):
    """model.weights.h5 of Keras 3: ``layers/<snake_case class name>[_n]/.../vars/0, 1, ...``."""

    def __init__(self, root: Any, budget: _Budget) -> None:
        self.root = root
        self.budget = budget
        self.groups: dict[str, Any] = {}
        layers = _child(root, "layers")
        if layers is not None:
            for key in layers.keys():
                group = _child(layers, key)
                names = _child(group, "vars") if hasattr(group, "keys") else None
                name = names.attrs.get("name") if names is not None else None
                if name is not None:  # newer Keras 3 record each layer's name here
                    self.groups.setdefault(_text(name), group)
        self.layers = layers

    def place(self, layers: list[_Layer], sequential: bool) -> None:
        """Name the groups of layers whose name is not recorded as Keras does: the class name
        in snake case, numbered in layer order (a Sequential model skips its InputLayer)."""
        used: dict[str, int] = {}
        for layer in layers:
            if sequential and layer.cls == "InputLayer":
                continue
            key = _snake(layer.cls)
            if key in used:
                used[key] += 1
                key = f"{key}_{used[key]}"
            else:
                used[key] = 0
            if layer.name not in self.groups and self.layers is not None:
                group = _child(self.layers, key)
                if group is not None:
                    self.groups[layer.name] = group

    def _group(self, layer: _Layer) -> Any:
        group = self.groups.get(layer.name)
        if group is None:
            raise ValueError("its weights are not in model.weights.h5")
        return group

    def weights(self, layer: _Layer, part: str = "") -> list[np.ndarray]:
        group = self._group(layer)
        path = [part] if part else []
        if layer.cls in ("LSTM", "RNN") or layer.inner_cls in ("LSTM", "RNN"):
            path.append("cell")
        path.append("vars")
        for key in path:
            group = _child(group, key)
            if group is None:
                raise ValueError(f"its weights are not in model.weights.h5 (no"
                                 f" {'/'.join(path)})")
        return _numbered(group, f"layer {layer.name}", self.budget)

    def nested(self, layer: _Layer) -> _Store | None:
        return _Keras3Store(self._group(layer), self.budget)


class _LegacyStore(_Store):
    """A legacy .h5's ``model_weights``: one group per layer name, whose ``weight_names``
    attribute lists its variables in order."""

    def __init__(self, root: Any, budget: _Budget) -> None:
        self.root = root
        self.budget = budget

    def weights(self, layer: _Layer, part: str = "") -> list[np.ndarray]:
        arrays = _legacy_layer(self.root, layer.name, self.budget)
        if part in ("forward_layer", "backward_layer"):  # forward variables come first
            half = len(arrays) // 2
            arrays = arrays[:half] if part == "forward_layer" else arrays[half:]
        return arrays


def _legacy_layer(root: Any, name: str, budget: _Budget) -> list[np.ndarray]:
    group = _child(root, name)
    if group is None or "weight_names" not in group.attrs:
        raise ValueError("its weights are not in the file's model_weights")
    arrays = []
    for weight in group.attrs["weight_names"]:
        weight = _text(weight)
        ds = _child(group, weight)
        if ds is None:
            raise ValueError(f"its weight {weight} is missing")
        arrays.append(_array(ds, f"layer {name} weight {weight}", budget))
    return arrays


def _snake(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ----- the model's layer graph -----------------------------------------------------------------
@dataclass
class _Layer:
    """One layer of a model config: its class, settings and what it reads."""

    name: str
    cls: str
    config: dict
    inputs: list[tuple[str, int, int]]  # (layer, node index, tensor index) of its only call
    calls: int = 1
    extra_inputs: bool = False  # called with more than one tensor (e.g. initial_state)

    @property
    def inner_cls(self) -> str:
        """The class of a wrapper's inner layer (Bidirectional, TimeDistributed)."""
        inner = self.config.get("layer")
        return str(inner.get("class_name", "")) if isinstance(inner, dict) else ""


def _layers_of(config: Any) -> tuple[list[_Layer], bool]:
    """The layers of a Sequential or functional model config and whether it is Sequential."""
    if not isinstance(config, dict):
        raise ValueError("the model config is not a JSON object")
    cls = str(config.get("class_name", ""))
    body = config.get("config")
    entries = body if isinstance(body, list) else \
        body.get("layers") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"the model {cls or '?'} records no layers in its config (a"
                         " subclassed model); lstm-viz reads the layers of Sequential and"
                         " functional models")
    sequential = cls == "Sequential" or isinstance(body, list)
    layers: list[_Layer] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise ValueError("a layer of the model config is not a JSON object")
        lcfg = entry["config"]
        name = str(entry.get("name") or lcfg.get("name") or f"layer_{len(layers)}")
        layer = _Layer(name, str(entry.get("class_name", "")), lcfg, [])
        if sequential:
            if layers:
                layer.inputs = [(layers[-1].name, 0, 0)]
        else:
            nodes = entry.get("inbound_nodes") or []
            layer.calls = len(nodes) if isinstance(nodes, list) else 0
            if isinstance(nodes, list) and nodes:
                main, extra = _node_inputs(nodes[0])
                layer.inputs, layer.extra_inputs = main, extra
        layers.append(layer)
    return layers, sequential


def _node_inputs(node: Any) -> tuple[list[tuple[str, int, int]], bool]:
    """The tensors one call of a layer reads: those of its first argument, and whether it reads
    any other tensor (more arguments, or keyword arguments such as initial_state)."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = node.get("args") or []
        first = _tensors(args[0]) if isinstance(args, list) and args else []
        rest = _tensors(args[1:]) if isinstance(args, list) else []
        kwargs = node.get("kwargs")
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        others = _tensors({k: v for k, v in kwargs.items() if k != "mask"})
        return first, bool(rest or others) or len(first) > 1
    if isinstance(node, list):  # Keras 2: [[name, node index, tensor index, kwargs], ...]
        tensors = [(str(t[0]), int(t[1]), int(t[2])) for t in node
                   if isinstance(t, list) and len(t) >= 3 and isinstance(t[1], int)
                   and isinstance(t[2], int)]
        kwargs = [t[3] for t in node if isinstance(t, list) and len(t) > 3]
        return tensors[:1], len(tensors) > 1 or any(bool(_tensors(k) or
                                                         _legacy_refs(k)) for k in kwargs)
    return [], False


def _tensors(obj: Any, depth: int = 0) -> list[tuple[str, int, int]]:
    """Every Keras 3 tensor reference (``__keras_tensor__``) inside ``obj``."""
    if depth > 32:
        return []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            history = _dict(obj.get("config")).get("keras_history")
            if isinstance(history, list) and len(history) == 3 and \
                    isinstance(history[1], int) and isinstance(history[2], int):
                return [(str(history[0]), history[1], history[2])]
            return []
        return [t for v in obj.values() for t in _tensors(v, depth + 1)]
    if isinstance(obj, list):
        return [t for v in obj for t in _tensors(v, depth + 1)]
    return []


def _legacy_refs(obj: Any, depth: int = 0) -> bool:
    """Whether a Keras 2 call's keyword arguments name other tensors ([name, node, tensor])."""
    if depth > 32 or not isinstance(obj, (list, dict)):
        return False
    if isinstance(obj, dict):
        return any(_legacy_refs(v, depth + 1) for v in obj.values())
    if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int):
        return True
    return any(_legacy_refs(v, depth + 1) for v in obj)


@dataclass
class _Spec:
    """A usable LSTM layer: its weights as nn.LSTM layer 0 and what it returns."""

    layer: _Layer
    state_dict: dict
    input_size: int
    hidden_size: int
    bias: bool
    bidirectional: bool
    return_sequences: bool
    batch_first: bool


def _read_model(config: Any, store: _Store, file_name: str, found: KerasFile, prefix: str,
                depth: int) -> None:
    """Add the LSTMs of one (possibly nested) model to ``found``."""
    try:
        layers, sequential = _layers_of(config)
    except (TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{file_name}: its model config cannot be read ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{file_name}: {exc}") from None
    if isinstance(store, _Keras3Store):
        store.place(layers, sequential)
    by_name = {layer.name: layer for layer in layers}
    specs: dict[str, _Spec] = {}
    for layer in layers:
        if layer.cls != "InputLayer":
            found.layers.append(f"{prefix}{layer.name} ({layer.cls})")
        if layer.cls in _MODELS and depth < _MAX_DEPTH:
            nested = f"the layers of the nested model {prefix}{layer.name} are not read"
            try:
                sub = store.nested(layer)
                if sub is None:
                    found.warnings.append(f"{nested} from a legacy .h5 file")
                else:
                    _read_model({"class_name": layer.cls, "config": layer.config}, sub,
                                file_name, found, f"{prefix}{layer.name}/", depth + 1)
            except ValueError as exc:
                found.warnings.append(f"{nested}: {exc}")
            continue
        if not _is_lstm(layer):
            continue
        try:
            specs[layer.name] = _lstm_spec(layer, store, prefix, found.warnings)
        except ValueError as exc:
            found.problems.append(f"Keras layer {prefix}{layer.name}: {exc}")
        except (TypeError, AttributeError, KeyError) as exc:
            found.problems.append(f"Keras layer {prefix}{layer.name}: its config cannot be"
                                  f" read ({type(exc).__name__}: {_first_line(exc)})")

    graph = _Graph(layers, by_name)
    for spec in specs.values():
        found.lstms.append(_candidate([spec], graph, store, prefix, found.warnings))
    for chain in _stacks(specs, graph):
        found.lstms.append(_candidate(chain, graph, store, prefix, found.warnings))


def _is_lstm(layer: _Layer) -> bool:
    if layer.cls == "Bidirectional":
        inner = layer.config.get("layer")
        return isinstance(inner, dict) and _is_lstm(
            _Layer(layer.name, str(inner.get("class_name", "")), _dict(inner.get("config")), []))
    if layer.cls == "RNN":
        cell = layer.config.get("cell")
        return isinstance(cell, dict) and cell.get("class_name") == "LSTMCell"
    return layer.cls == "LSTM"


def _cell_config(cls: str, cfg: dict) -> dict:
    """The settings of an LSTM's cell: the layer's own, or an RNN(LSTMCell)'s cell's."""
    if cls == "RNN":
        cell = cfg.get("cell") or {}
        return _dict(cell.get("config")) if isinstance(cell, dict) else {}
    return cfg


def _activation(value: Any) -> str:
    if isinstance(value, dict):  # a serialized function or object
        inner = value.get("config")
        return str(inner if isinstance(inner, str) else value.get("class_name", value))
    return str(value)


def _check_settings(cls: str, cfg: dict, backward: bool = False) -> None:
    """Refuse what nn.LSTM does not compute, by name."""
    cell = _cell_config(cls, cfg)
    act = _activation(cell.get("activation", "tanh"))
    if act != "tanh":
        raise ValueError(f"activation {act!r}; nn.LSTM uses tanh for its cell input and"
                         " output, so lstm-viz does not open it")
    rec = _activation(cell.get("recurrent_activation", "sigmoid"))
    if rec != "sigmoid":
        raise ValueError(f"recurrent_activation {rec!r}; nn.LSTM's gates use sigmoid, so"
                         " lstm-viz does not open it")
    if bool(cfg.get("go_backwards")) != backward:
        raise ValueError("go_backwards=True: it runs over the sequence backwards and returns"
                         " its outputs reversed; nn.LSTM has no reverse-only mode (use"
                         " Bidirectional, or a forward LSTM over the time-reversed input)")


def _lstm_spec(layer: _Layer, store: _Store, prefix: str, warnings: list[str]) -> _Spec:
    """The layer's weights as nn.LSTM layer 0, after refusing what nn.LSTM does not compute."""
    cfg = layer.config
    where = f"{prefix}{layer.name}"
    if layer.cls == "Bidirectional":
        merge = cfg.get("merge_mode", "concat")
        if merge != "concat":
            raise ValueError(f"Bidirectional with merge_mode {merge!r}; nn.LSTM(bidirectional="
                             "True) concatenates the two directions (merge_mode='concat')")
        inner = cfg["layer"]
        fwd_cls, fwd_cfg = str(inner["class_name"]), _dict(inner.get("config"))
        back = cfg.get("backward_layer")
        if isinstance(back, dict):
            back_cls, back_cfg = str(back.get("class_name", "")), _dict(back.get("config"))
            if back_cls != fwd_cls:
                raise ValueError(f"its backward layer is a {back_cls}, its forward layer a"
                                 f" {fwd_cls}")
        else:  # Keras builds the backward layer from the forward one's config
            back_cls, back_cfg = fwd_cls, dict(fwd_cfg, go_backwards=True)
        _check_settings(fwd_cls, fwd_cfg)
        _check_settings(back_cls, back_cfg, backward=True)
        parts = [("forward_layer", fwd_cls, fwd_cfg, ""),
                 ("backward_layer", back_cls, back_cfg, "_reverse")]
    else:
        _check_settings(layer.cls, cfg)
        parts = [("", layer.cls, cfg, "")]
    sd: dict[str, np.ndarray] = {}
    sizes = set()
    for part, cls, pcfg, suffix in parts:
        cell = _cell_config(cls, pcfg)
        units = cell.get("units")
        use_bias = bool(cell.get("use_bias", True))
        arrays = store.weights(layer, part)
        w_ih, w_hh, b = _gates(arrays, units, use_bias)
        sd[f"weight_ih_l0{suffix}"], sd[f"weight_hh_l0{suffix}"] = w_ih, w_hh
        if b is not None:
            sd[f"bias_ih_l0{suffix}"], sd[f"bias_hh_l0{suffix}"] = b, np.zeros_like(b)
        sizes.add((w_ih.shape[1], w_hh.shape[1], b is not None))
        dropout = cell.get("recurrent_dropout") or 0
        if isinstance(dropout, (int, float)) and dropout > 0 and not suffix:
            warnings.append(f"Keras layer {where} has recurrent_dropout={dropout:g}, which"
                            " Keras applies only in training; lstm-viz shows inference")
    if len(sizes) != 1:
        raise ValueError("its forward and backward layers differ in size or bias")
    (input_size, hidden, bias), = sizes
    outer = parts[0][2]  # the settings of the (forward) LSTM layer itself
    return _Spec(layer, sd, int(input_size), int(hidden), bias, layer.cls == "Bidirectional",
                 bool(outer.get("return_sequences")), not outer.get("time_major"))


def _gates(arrays: list[np.ndarray], units: Any, use_bias: bool
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """nn.LSTM's weight_ih (4H, I), weight_hh (4H, H) and bias (4H,) from Keras' kernel
    (I, 4H), recurrent_kernel (H, 4H) and bias (4H,); the gate order i, f, c, o is the same."""
    want = 3 if use_bias else 2
    if len(arrays) != want:
        raise ValueError(f"it has {len(arrays)} weight arrays; a Keras LSTM with"
                         f" use_bias={use_bias} has {want}")
    kernel, recurrent = arrays[0], arrays[1]
    if kernel.ndim != 2 or recurrent.ndim != 2 or recurrent.shape[1] % 4 or \
            recurrent.shape[1] != 4 * recurrent.shape[0] or \
            kernel.shape[1] != recurrent.shape[1] or \
            (isinstance(units, int) and recurrent.shape[0] != units):
        raise ValueError(f"its kernel {kernel.shape} and recurrent_kernel {recurrent.shape}"
                         " are not (input, 4*units) and (units, 4*units)"
                         + (f" with units={units}" if isinstance(units, int) else ""))
    bias = None
    if use_bias:
        if arrays[2].shape != (kernel.shape[1],):
            raise ValueError(f"its bias has shape {arrays[2].shape}, expected"
                             f" ({kernel.shape[1]},)")
        bias = np.ascontiguousarray(arrays[2])
    return np.ascontiguousarray(kernel.T), np.ascontiguousarray(recurrent.T), bias


class _Graph:
    """Who reads whom, through the layers that pass values through unchanged."""

    def __init__(self, layers: list[_Layer], by_name: dict[str, _Layer]) -> None:
        self.by_name = by_name
        self.readers: dict[str, list[_Layer]] = {}
        for layer in layers:
            for name, node, tensor in layer.inputs:
                if node == 0 and tensor == 0:
                    self.readers.setdefault(name, []).append(layer)

    def source(self, layer: _Layer) -> tuple[_Layer | None, list[_Layer]]:
        """The layer whose output ``layer`` reads, and the pass-through layers between them.
        None when it reads more than one tensor or a shared layer."""
        passed: list[_Layer] = []
        current = layer
        for _ in range(64):
            if len(current.inputs) != 1 or current.calls != 1 or \
                    (current.extra_inputs and current is not layer):
                return None, passed
            name, node, tensor = current.inputs[0]
            up = self.by_name.get(name)
            if up is None or node != 0 or tensor != 0 or up.calls > 1:
                return None, passed
            if up.cls not in _PASS:
                return up, passed
            passed.append(up)
            current = up
        return None, passed

    def readers_of(self, layer: _Layer) -> list[tuple[_Layer, list[_Layer]]]:
        """The layers that read ``layer``'s output, with the pass-through layers between."""
        out: list[tuple[_Layer, list[_Layer]]] = []
        stack: list[tuple[_Layer, list[_Layer]]] = [(layer, [])]
        while stack and len(out) < 64:
            current, passed = stack.pop()
            for reader in self.readers.get(current.name, []):
                if reader.calls != 1 or len(reader.inputs) != 1:
                    continue
                if reader.cls in _PASS:
                    stack.append((reader, passed + [reader]))
                else:
                    out.append((reader, passed))
        return out


def _stacks(specs: dict[str, _Spec], graph: _Graph) -> list[list[_Spec]]:
    """Chains of LSTM layers, each reading the whole output sequence of the one before."""
    below: dict[str, _Spec] = {}
    for spec in specs.values():
        up, _ = graph.source(spec.layer)
        prev = specs.get(up.name) if up is not None else None
        if prev is None or spec.layer.extra_inputs or not prev.return_sequences or \
                prev.bidirectional != spec.bidirectional or prev.bias != spec.bias or \
                prev.hidden_size != spec.hidden_size or prev.batch_first != spec.batch_first or \
                spec.input_size != prev.hidden_size * (2 if prev.bidirectional else 1):
            continue
        below[spec.layer.name] = prev
    above: dict[str, list[str]] = {}
    for name, prev in below.items():
        above.setdefault(prev.layer.name, []).append(name)
    chains = []
    for spec in specs.values():
        if spec.layer.name in below or len(above.get(spec.layer.name, [])) != 1:
            continue
        chain = [spec]
        while len(above.get(chain[-1].layer.name, [])) == 1:
            chain.append(specs[above[chain[-1].layer.name][0]])
        chains.append(chain)
    return chains


def _candidate(chain: list[_Spec], graph: _Graph, store: _Store, prefix: str,
               warnings: list[str]) -> KerasLSTM:
    """One KerasLSTM from a chain of layers, with the Embedding before and Dense after."""
    first, last = chain[0], chain[-1]
    sd: dict[str, np.ndarray] = {}
    for index, spec in enumerate(chain):
        sd.update({k.replace("_l0", f"_l{index}"): v for k, v in spec.state_dict.items()})
    name = "+".join(f"{prefix}{s.layer.name}" for s in chain)
    item = KerasLSTM(name, sd, first.input_size, first.hidden_size, len(chain), first.bias,
                     first.bidirectional, first.batch_first)
    # worded by layer, so that a stack and its layers alone give the same notes once
    where = f"Keras layer {prefix}{first.layer.name}"
    if first.layer.extra_inputs:
        warnings.append(f"{where} is called with more than its input (e.g. initial_state);"
                        " lstm-viz starts it from zero h and c")
    up, passed = graph.source(first.layer)
    if any(p.cls == "Masking" for p in passed):
        warnings.append(f"{where} reads a Masking layer: Keras skips masked steps, lstm-viz"
                        " runs every step (a packed batch shows padding at the end)")
    if up is not None and up.cls == "Lambda":
        warnings.append(f"{where} reads Lambda layer {prefix}{up.name}, whose code lstm-viz"
                        " never runs; nothing before it is paired")
    if up is not None and up.cls == "Embedding":
        matrix = _embedding(up, store, first.input_size, warnings)
        if matrix is not None:
            item.embedding_key, item.embedding = f"{prefix}{up.name}", matrix
            if up.config.get("mask_zero"):
                warnings.append(f"Keras layer {prefix}{up.name} has mask_zero=True: Keras skips"
                                " steps whose token is 0, lstm-viz runs every step")
    where = f"Keras layer {prefix}{last.layer.name}"
    out_size = last.hidden_size * (2 if last.bidirectional else 1)
    readers = graph.readers_of(last.layer)
    heads = [r for r, _ in readers if _is_dense(r)]
    if any(r.cls == "Lambda" for r, _ in readers) and not heads:
        warnings.append(f"{where} feeds a Lambda layer, whose code lstm-viz never runs;"
                        " no output head is paired")
    if len(heads) == 1:
        head = heads[0]
        act = _activation(_dense_config(head).get("activation", "linear"))
        if last.bidirectional and not last.return_sequences:
            warnings.append(f"{where} returns its last step only: Keras joins the forward"
                            " direction's last step with the backward direction's, which no"
                            " single step of nn.LSTM's output holds; Dense"
                            f" {prefix}{head.name} is not paired as its head")
        elif act not in ("linear", "softmax"):
            warnings.append(f"Dense {prefix}{head.name} after {where} applies {act!r}, so"
                            " it is not paired as a head (a head shows raw outputs)")
        else:
            weight, bias = _dense(head, store, out_size, warnings)
            if weight is not None:
                item.head_key, item.head_weight, item.head_bias = \
                    f"{prefix}{head.name}", weight, bias
    return item


def _is_dense(layer: _Layer) -> bool:
    return layer.cls == "Dense" or (layer.cls == "TimeDistributed" and
                                    layer.inner_cls == "Dense")


def _dense_config(layer: _Layer) -> dict:
    if layer.cls == "TimeDistributed":
        return _dict(layer.config["layer"].get("config"))
    return layer.config


def _embedding(layer: _Layer, store: _Store, width: int, warnings: list[str]
               ) -> np.ndarray | None:
    try:
        arrays = store.weights(layer)
    except ValueError as exc:
        warnings.append(f"Embedding {layer.name} is not paired: {exc}")
        return None
    if len(arrays) < 1 or arrays[0].ndim != 2 or arrays[0].shape[1] != width:
        return None
    return np.ascontiguousarray(arrays[0])


def _dense(layer: _Layer, store: _Store, width: int, warnings: list[str]
           ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A Dense's kernel (in, out) as a Linear's weight (out, in), and its bias."""
    use_bias = bool(_dense_config(layer).get("use_bias", True))
    try:
        arrays = store.weights(layer, "layer" if layer.cls == "TimeDistributed" else "")
    except ValueError as exc:
        warnings.append(f"Dense {layer.name} is not paired: {exc}")
        return None, None
    if len(arrays) != (2 if use_bias else 1) or arrays[0].ndim != 2 or \
            arrays[0].shape[0] != width:
        return None, None
    weight = np.ascontiguousarray(arrays[0].T)
    bias = np.ascontiguousarray(arrays[1]) if use_bias else None
    if bias is not None and bias.shape != (weight.shape[0],):
        return None, None
    return weight, bias


# ----- weights-only files ----------------------------------------------------------------------
def _weights_only(h5: Any, file_name: str, budget: _Budget, what: str) -> KerasFile:
    """Weights without a model config: LSTMs recognised by their weights' shapes."""
    found = KerasFile([], [], [f"{what}: lstm-viz assumes Keras' default tanh and sigmoid"
                               " activations and batch-major input, and pairs no embedding or"
                               " head"], {}, [])
    if "layer_names" not in h5.attrs:
        _scan_keras3(h5, "", found, budget, 0)
    else:
        for name in h5.attrs["layer_names"]:
            name = _text(name)
            found.layers.append(name)
            group = _child(h5, name)
            names = [_text(n) for n in group.attrs.get("weight_names", [])] \
                if group is not None else []
            if not any(n.split(":")[0].endswith("recurrent_kernel") for n in names):
                continue
            try:
                arrays = _legacy_layer(h5, name, budget)
                if _lstm_shaped(arrays):
                    _add_weights_only(found, name, arrays,
                                      bidirectional=any("backward" in n for n in names))
            except ValueError as exc:
                found.problems.append(f"Keras layer {name}: {exc}")
    return found


def _scan_keras3(group: Any, path: str, found: KerasFile, budget: _Budget, depth: int) -> None:
    import h5py

    if depth > _MAX_DEPTH:
        return
    for key in group.keys():
        child = _child(group, key)
        if not isinstance(child, h5py.Group):
            continue
        where = f"{path}/{key}".lstrip("/")
        label = _vars_name(child) or where
        parts = [_child(child, p) for p in ("forward_layer", "backward_layer")]
        cells = [_cell_vars(p) if p is not None else None for p in parts]
        if path.rsplit("/", 1)[-1] == "layers":
            found.layers.append(label)
        try:
            if cells[0] is not None and cells[1] is not None:
                forward, backward = (_numbered(c, where, budget) for c in cells)
                if _lstm_shaped(forward):
                    _add_weights_only(found, label, forward + backward, bidirectional=True)
                continue
            cell = _cell_vars(child)
            if cell is not None:
                arrays = _numbered(cell, where, budget)
                if _lstm_shaped(arrays):
                    _add_weights_only(found, label, arrays)
                continue
        except ValueError as exc:
            found.problems.append(f"Keras layer {label}: {exc}")
            continue
        _scan_keras3(child, where, found, budget, depth + 1)


def _lstm_shaped(arrays: list[np.ndarray]) -> bool:
    """Whether a recurrent layer's variables have an LSTM's four gates (not a GRU's three)."""
    return len(arrays) >= 2 and arrays[1].ndim == 2 and \
        arrays[1].shape[1] == 4 * arrays[1].shape[0]


def _cell_vars(group: Any) -> Any:
    """The ``cell/vars`` group of an RNN layer's group, or None."""
    import h5py

    cell = _child(group, "cell")
    found = _child(cell, "vars") if isinstance(cell, h5py.Group) else None
    return found if isinstance(found, h5py.Group) else None


def _vars_name(group: Any) -> str | None:
    names = _child(group, "vars")
    name = names.attrs.get("name") if names is not None else None
    return _text(name) if name is not None else None


def _add_weights_only(found: KerasFile, name: str, arrays: list[np.ndarray],
                      bidirectional: bool = False) -> None:
    halves = [arrays[:len(arrays) // 2], arrays[len(arrays) // 2:]] if bidirectional \
        else [arrays]
    sd: dict[str, np.ndarray] = {}
    for part, suffix in zip(halves, ("", "_reverse")):
        w_ih, w_hh, b = _gates(part, None, len(part) == 3)
        sd[f"weight_ih_l0{suffix}"], sd[f"weight_hh_l0{suffix}"] = w_ih, w_hh
        if b is not None:
            sd[f"bias_ih_l0{suffix}"], sd[f"bias_hh_l0{suffix}"] = b, np.zeros_like(b)
    w_ih, w_hh = sd["weight_ih_l0"], sd["weight_hh_l0"]
    if bidirectional and (sd["weight_ih_l0_reverse"].shape != w_ih.shape or
                          sd["weight_hh_l0_reverse"].shape != w_hh.shape or
                          ("bias_ih_l0" in sd) != ("bias_ih_l0_reverse" in sd)):
        raise ValueError("its forward and backward layers differ in size or bias")
    found.lstms.append(KerasLSTM(name, sd, int(w_ih.shape[1]), int(w_hh.shape[1]), 1,
                                 "bias_ih_l0" in sd, bidirectional))


def _main(argv: list[str]) -> int:
    """The child process: read ``argv[0]`` within ``argv[1]`` bytes, write into ``argv[2]``."""
    path, budget, out = Path(argv[0]), int(argv[1]), Path(argv[2])
    try:
        found = _read_here(path, budget)
    except ValueError as exc:
        (out / "error.txt").write_text(_first_line(exc) if "\n" in str(exc) else str(exc),
                                       encoding="utf-8")
        return 2
    _write_result(found, out)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
