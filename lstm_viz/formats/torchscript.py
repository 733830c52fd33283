"""Read TorchScript archives (``torch.jit.save``) without loading or running them.

A TorchScript archive is a zip holding ``data.pkl`` (the module tree: each module an object of
a ``__torch__.*`` class whose state is its attributes, parameters and submodules), the tensors
under ``data/``, and ``code/``, the classes' TorchScript source. ``torch.jit.load`` compiles
that source and calls methods it defines (a scripted ``__setstate__`` among them), so it is
never used here. Instead:

- ``data.pkl`` is unpickled by the restricted unpickler (``lstm_viz.formats.safe_pickle``): every
  ``__torch__`` class becomes an inert ``Placeholder`` holding its pickled attributes, and
  tensors are rebuilt with the usual checks against the memory budget;
- the source in ``code/`` is only scanned as text, line by line, for what each class declares:
  its ``__parameters__`` and ``__buffers__`` lists and its ``Final`` constants (nn.LSTM's
  ``batch_first``, ``num_layers`` ...). Values are read with ``ast.literal_eval``, which
  evaluates literals only.

``read_torchscript(path, budget)`` returns the state dict of the whole module tree and, by
module name, its class name and recorded settings: what ``torch.jit.load(path).state_dict()``
and ``named_modules()`` would give, without running anything from the file.
"""

from __future__ import annotations

import ast
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .safe_pickle import Placeholder, UnsafeFileError, check_zip, read_entry, safe_load

_CODE_LIMIT = 64 * 1024 * 1024  # bytes of TorchScript source scanned, in all
_MAX_DEPTH = 64  # nesting of submodules
_CLASS = re.compile(r"^class\s+([A-Za-z_]\w*)\s*\(\s*([\w.]*)\s*\)\s*:")
_NAMES = re.compile(r"^ {2}(__parameters__|__buffers__)\s*=\s*(\[.*\])\s*$")
_FINAL = re.compile(r"^ {2}([A-Za-z_]\w*)\s*:\s*Final\[\w+\]\s*=\s*(.{1,200}?)\s*$")


@dataclass
class ScriptClass:
    """What a TorchScript class declares about itself in the archive's ``code/``."""

    base: str  # "Module" for an nn.Module
    parameters: list[str] | None = None
    buffers: list[str] | None = None
    constants: dict = field(default_factory=dict)


def is_torchscript(names: list[str]) -> bool:
    """Whether a zip's entry names are those of a TorchScript archive."""
    return any(n.endswith("constants.pkl") for n in names) and any("/code/" in n for n in names)


def read_torchscript(path: str | Path, budget: int
                     ) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """The state dict and ``{module name: (class name, settings)}`` of a TorchScript file.

    Raises UnsafeFileError (a ValueError) when the archive is not one lstm-viz can read.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        check_zip(path, zf, budget)
        classes = script_classes(path, zf)
    root = safe_load(path, budget)
    if not isinstance(root, Placeholder) or not root.qualname.startswith("__torch__."):
        raise UnsafeFileError(f"{path.name} is a TorchScript archive whose data.pkl holds no"
                              " scripted module")
    return module_tree(root, classes)


def script_classes(path: Path, zf: zipfile.ZipFile) -> dict[str, ScriptClass]:
    """Every class defined in the archive's ``code/``, by qualified name
    (``__torch__.torch.nn.modules.rnn.LSTM``), read as text."""
    classes: dict[str, ScriptClass] = {}
    budget = _CODE_LIMIT
    for info in zf.infolist():
        name = info.filename
        marker = name.find("code/__torch__")
        if marker < 0 or not name.endswith(".py") or info.is_dir():
            continue
        budget -= info.file_size
        if budget < 0:
            raise UnsafeFileError(f"{path.name}: its TorchScript code is larger than"
                                  f" {_CODE_LIMIT // (1024 * 1024)} MiB")
        module = name[marker + len("code/"):-len(".py")].replace("/", ".")
        text = bytes(read_entry(path, zf, name, info.file_size)).decode("utf-8",
                                                                         errors="replace")
        _scan(text, module, classes)
    return classes


def _scan(text: str, module: str, classes: dict[str, ScriptClass]) -> None:
    current: ScriptClass | None = None
    for line in text.splitlines():
        match = _CLASS.match(line)
        if match:
            current = classes[f"{module}.{match[1]}"] = ScriptClass(match[2].rsplit(".", 1)[-1])
            continue
        if line[:1] not in (" ", "\t", ""):
            current = None  # a statement at the top level ends the class body
        if current is None:
            continue
        match = _NAMES.match(line)
        if match:
            names = _literal(match[2])
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                setattr(current, match[1].strip("_"), names)
            continue
        match = _FINAL.match(line)
        if match:
            value = _literal(match[2])
            if isinstance(value, (bool, int, float, str)):
                current.constants[match[1]] = value


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def module_tree(root: Placeholder, classes: dict[str, ScriptClass]
                ) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """Walk the scripted module ``root``: its state dict (parameters and buffers in the order
    torch gives them) and each module's class name and plain settings."""
    sd: dict[str, torch.Tensor] = {}
    modules: dict[str, tuple] = {}
    seen: set[int] = set()

    def walk(mod: Placeholder, name: str, depth: int) -> None:
        if depth > _MAX_DEPTH or id(mod) in seen:
            return
        seen.add(id(mod))
        attrs = mod.attributes()
        cls = classes.get(mod.qualname)
        settings = {k: v for k, v in attrs.items() if isinstance(v, (bool, int, float, str))}
        if cls is not None:
            settings.update(cls.constants)
        modules[name] = (mod.short_name, settings)
        prefix = f"{name}." if name else ""
        if cls is not None and cls.parameters is not None:
            keys = list(cls.parameters) + list(cls.buffers or [])
        else:  # a class whose source is missing: every tensor it holds
            keys = [k for k, v in attrs.items() if isinstance(v, torch.Tensor)]
        for key in keys:
            value = attrs.get(key)
            if isinstance(value, torch.Tensor):
                sd[f"{prefix}{key}"] = value
        for key, child in attrs.items():
            if _is_script_module(child, classes):
                walk(child, f"{prefix}{key}", depth + 1)

    walk(root, "", 0)
    return sd, modules


def _is_script_module(obj: object, classes: dict[str, ScriptClass]) -> bool:
    if not isinstance(obj, Placeholder) or not obj.qualname.startswith("__torch__."):
        return False
    cls = classes.get(obj.qualname)
    return cls.base == "Module" if cls is not None else bool(obj.attributes())
