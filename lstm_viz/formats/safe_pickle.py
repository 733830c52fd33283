"""Read torch.save files without running any code stored in them.

``safe_load(path, budget)`` unpickles a torch.save file (zip or legacy format) with a restricted
unpickler: tensors and plain containers are rebuilt, and every other class the pickle names
becomes an inert ``Placeholder`` recording the class's name, its constructor arguments and its
state. Nothing outside a fixed allow-list is imported or called, so a payload such as
``os.system`` or ``builtins.exec`` turns into a placeholder that is never invoked.

Tensors are checked before their storage is read: real dtype known to torch, dense layout,
shapes and strides inside their storage without stride-0 expansion or overlap, and the bytes of
all storages and tensors together within the memory budget.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import IO, Any, NoReturn

import torch

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_ENTRIES = 100_000


class UnsafeFileError(ValueError):
    """The file asks for something a safe read refuses (sparse, huge, stride-0 tensors...)."""


class Placeholder:
    """An object of a class that was not imported: its name, arguments and state.

    Its record is complete however the pickle builds it: by calling the class (``REDUCE``) or,
    as protocol 2 and later do, with ``cls.__new__(cls, *args)`` and no ``__init__``.
    """

    qualname = "?"
    args: tuple
    kwargs: dict
    state: object
    items: dict
    list_items: list

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        self = super().__new__(cls)
        self.args = args
        self.kwargs = kwargs
        self.state = None
        self.items = {}
        self.list_items = []
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # __new__ recorded everything

    def __setstate__(self, state: object) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> Placeholder:
        # A pickle may call what an earlier call returned (getattr(module, "system")(...));
        # the result is one more inert record.
        return placeholder_class(f"{self.qualname}(...)")(*args, **kwargs)

    def __setitem__(self, key: object, value: object) -> None:
        self.items[key] = value

    def append(self, value: object) -> None:
        self.list_items.append(value)

    def extend(self, values: Iterable[object]) -> None:
        self.list_items.extend(values)

    def add(self, value: object) -> None:
        # a set subclass's items (pickle's ADDITEMS)
        self.list_items.append(value)

    @property
    def short_name(self) -> str:
        """The class name without its module (``LSTM`` for ``torch.nn.modules.rnn.LSTM``)."""
        return self.qualname.rsplit(".", 1)[-1]

    def attributes(self) -> dict:
        """The instance's recorded attributes (its pickled ``__dict__``), or {}."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            merged = dict(state[0]) if isinstance(state[0], dict) else {}
            merged.update(state[1])
            return merged
        return dict(state) if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<placeholder {self.qualname}>"


_placeholder_classes: dict[str, type] = {}


def placeholder_class(qualname: str) -> type:
    """The (cached) Placeholder subclass standing for the class ``qualname``."""
    cls = _placeholder_classes.get(qualname)
    if cls is None:
        cls = type(qualname.rsplit(".", 1)[-1], (Placeholder,), {"qualname": qualname})
        _placeholder_classes[qualname] = cls
    return cls


_FLOAT_STORAGES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
}
_OTHER_STORAGES = {
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
_DTYPES = {name: getattr(torch, name) for name in (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
    "bool", "complex64", "complex128", "float", "double", "half", "long", "int")}


class _StorageType:
    """What a pickled ``torch.FloatStorage`` (etc.) stands for: just its dtype."""

    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise UnsafeFileError(what)
    return refuse


class _Reader:
    """The storages and budget of one file being read."""

    def __init__(self, name: str, budget: int):
        self.name = name
        self.budget = int(budget)
        self.used = 0
        self.storages: dict[str, torch.Tensor] = {}
        self.viewed: dict[int, int] = {}  # bytes viewed per storage (by address)
        self.bases: set[int] = set()  # ids of the storage tensors handed to the pickle

    def charge(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.budget:
            raise UnsafeFileError(
                f"{self.name} would need more than {_fmt(self.budget)} of memory ({what} brings"
                f" it to {_fmt(self.used)}); raise the memory budget if the file is trusted and"
                " this is expected")

    # ----- tensor rebuilding -------------------------------------------------------------
    def rebuild(self, storage: object, offset: object, size: object, stride: object,
                *_rest: object) -> torch.Tensor:
        if not isinstance(storage, torch.Tensor) or id(storage) not in self.bases:
            raise UnsafeFileError(f"{self.name}: a tensor refers to something that is not a"
                                  " storage")
        size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
        offset = int(offset) if isinstance(offset, int) else -1
        if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
            raise UnsafeFileError(f"{self.name}: a tensor has a negative or mismatched shape"
                                  f" {size} / stride {stride} / offset {offset}")
        problem = layout_problem(size, stride, offset, storage.numel())
        if problem:
            raise UnsafeFileError(f"{self.name}: {problem}")
        numel = 1
        for s in size:
            numel *= s
        # Views within a storage are free; only views that together exceed it (the same
        # bytes viewed again and again) cost more memory once copied.
        nbytes = numel * storage.element_size()
        base = storage.untyped_storage()
        seen = self.viewed.get(base.data_ptr(), 0)
        self.viewed[base.data_ptr()] = seen + nbytes
        excess = seen + nbytes - max(base.nbytes(), seen)
        if excess > 0:
            self.charge(excess, f"a tensor of shape {size}")
        return storage.as_strided(size, stride, offset)

    def rebuild_v3(self, storage: object, offset: object, size: object, stride: object,
                   requires_grad: object, hooks: object, dtype: object,
                   *_rest: object) -> torch.Tensor:
        if not isinstance(dtype, torch.dtype) or not isinstance(storage, torch.Tensor):
            raise UnsafeFileError(f"{self.name}: a tensor names an unknown dtype")
        if storage.dtype != dtype and id(storage) in self.bases:
            storage = storage.view(torch.uint8).view(dtype)
            self.bases.add(id(storage))
        return self.rebuild(storage, offset, size, stride)

    @staticmethod
    def parameter(data: object, *_rest: object) -> object:
        return data

    @staticmethod
    def from_type(func: Callable[..., object], new_type: object, args: Iterable[object],
                  state: object) -> object:
        # func is one of the allowed rebuild functions or an inert placeholder; the tensor
        # subclass itself (new_type) is never instantiated.
        return func(*args)


def layout_problem(size: Iterable[int], stride: Iterable[int], offset: int,
                   storage_numel: int) -> str:
    """Why a view (size, stride, offset) of a storage of ``storage_numel`` elements is refused
    (stride-0 expansion, overlap, reaching past the storage), or ''."""
    size, stride = tuple(size), tuple(stride)
    if any(sz == 0 for sz in size):
        return ""
    if any(st == 0 and sz > 1 for sz, st in zip(size, stride)):
        return (f"a tensor of shape {size} repeats its data with a stride of 0; lstm-viz refuses"
                " stride-0 (expanded) tensors, which can turn a small file into gigabytes. Save"
                " a contiguous copy (tensor.contiguous()).")
    extent = offset + sum((sz - 1) * st for sz, st in zip(size, stride)) + 1
    if extent > storage_numel:
        return (f"a tensor of shape {size} reaches past the end of its storage ({extent} >"
                f" {storage_numel})")
    span = 1
    for sz, st in sorted((p for p in zip(size, stride) if p[0] > 1), key=lambda p: p[1]):
        if st < span:
            return (f"a tensor of shape {size} and stride {stride} overlaps itself; save a"
                    " contiguous copy")
        span = st * sz
    return ""


def tensor_problem(t: torch.Tensor) -> str:
    """Why tensor ``t`` is refused as model data (see ``layout_problem``), or ''."""
    if t.layout != torch.strided:
        return f"a {t.layout} tensor; lstm-viz reads dense tensors only"
    return layout_problem(t.shape, t.stride(), int(t.storage_offset()),
                          t.untyped_storage().nbytes() // max(t.element_size(), 1))


def _int_tuple(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise UnsafeFileError(f"a tensor's {what} is not a tuple of integers")
    return tuple(value)


def _fmt(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _codecs_encode(text: object, encoding: object = "utf-8", *_rest: object) -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeFileError("unexpected _codecs.encode call")
    return text.encode("latin1")


def _default_dict(*_args: object) -> OrderedDict:
    return OrderedDict()


def _reconstructor(cls: object, base: object, state: object = None) -> Placeholder:
    # copyreg._reconstructor(cls, str, "2.1.0") is how protocols 0 and 1 pickle a subclass of
    # a built-in type (torch.__version__); the value is kept as the placeholder's argument.
    if isinstance(cls, type) and issubclass(cls, Placeholder):
        return cls() if state is None else cls(state)
    return placeholder_class("copyreg._reconstructor")(base, state)


def _same(value: object, *_rest: object) -> object:
    """torch.jit._pickle's list builders and type tags: the value itself."""
    return value


# (storage key, dtype, element count) -> the storage's bytes as a tensor of that dtype
_LoadStorage = Callable[[str, torch.dtype, int], torch.Tensor]


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], reader: _Reader, load_storage: _LoadStorage) -> None:
        super().__init__(file, encoding="utf-8")
        self._reader = reader
        self._load_storage = load_storage
        r = reader
        self._allowed = {
            ("collections", "OrderedDict"): OrderedDict,
            ("collections", "defaultdict"): _default_dict,
            ("builtins", "set"): set,
            ("builtins", "frozenset"): frozenset,
            ("builtins", "complex"): complex,
            ("builtins", "slice"): slice,
            ("_codecs", "encode"): _codecs_encode,
            ("copyreg", "_reconstructor"): _reconstructor,
            ("torch._utils", "_rebuild_tensor"): r.rebuild,
            ("torch._utils", "_rebuild_tensor_v2"): r.rebuild,
            ("torch._utils", "_rebuild_tensor_v3"): r.rebuild_v3,
            ("torch._utils", "_rebuild_parameter"): r.parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): r.parameter,
            ("torch._tensor", "_rebuild_from_type_v2"): r.from_type,
            ("torch", "Size"): tuple,
            ("torch", "device"): str,
            ("torch", "Tensor"): placeholder_class("torch.Tensor"),
            # TorchScript archives: typed lists and type tags around plain values
            ("torch.jit._pickle", "restore_type_tag"): _same,
            ("torch.jit._pickle", "build_intlist"): _same,
            ("torch.jit._pickle", "build_tensorlist"): _same,
            ("torch.jit._pickle", "build_doublelist"): _same,
            ("torch.jit._pickle", "build_boollist"): _same,
            ("torch.nn.parameter", "Parameter"): placeholder_class("torch.nn.Parameter"),
        }
        for fn in ("_rebuild_sparse_tensor", "_rebuild_sparse_csr", "_rebuild_sparse_coo"):
            self._allowed[("torch._utils", fn)] = _refuse(
                f"{reader.name} holds a sparse tensor; lstm-viz reads dense weights only"
                " (save tensor.to_dense())")
        self._allowed[("torch.serialization", "_get_layout")] = _refuse(
            f"{reader.name} holds a tensor with a non-dense layout (sparse); lstm-viz reads"
            " dense weights only (save tensor.to_dense())")
        for fn in ("_rebuild_qtensor", "_rebuild_meta_tensor_no_storage",
                   "_rebuild_wrapper_subclass", "_rebuild_nested_tensor",
                   "_rebuild_device_tensor_from_numpy", "_rebuild_xla_tensor",
                   "_rebuild_mtia_tensor", "_rebuild_device_tensor_from_cpu_tensor"):
            self._allowed[("torch._utils", fn)] = _refuse(
                f"{reader.name} holds a tensor lstm-viz cannot read ({fn.strip('_')}); save"
                " plain dense float tensors")

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 pickles use Python 2 names (__builtin__.set); map them as pickle does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in self._allowed:
            return self._allowed[key]
        if module == "torch" and name in _FLOAT_STORAGES:
            return _StorageType(name, _FLOAT_STORAGES[name])
        if module == "torch" and name in _OTHER_STORAGES:
            return _StorageType(name, _OTHER_STORAGES[name])
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        return placeholder_class(f"{module}.{name}")

    def persistent_load(self, pid: object) -> Any:
        if isinstance(pid, tuple) and pid and pid[0] == "module" and len(pid) > 1:
            # Legacy files record each module class's source; the class is never imported.
            return pid[1] if isinstance(pid[1], type) else placeholder_class("module")
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage" or len(pid) < 5:
            raise UnsafeFileError(f"{self._reader.name}: unexpected persistent id in the pickle")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeFileError(f"{self._reader.name}: a storage of unknown type")
        if not isinstance(numel, int) or numel < 0:
            raise UnsafeFileError(f"{self._reader.name}: a storage with a bad size {numel!r}")
        key = str(key)
        if key not in self._reader.storages:
            self._reader.charge(numel * _itemsize(storage_type.dtype),
                                f"a storage of {numel} elements")
            self._reader.storages[key] = self._load_storage(key, storage_type.dtype, numel)
        storage = self._reader.storages[key]
        if storage_type.name != "UntypedStorage" and storage.dtype != storage_type.dtype:
            storage = storage.view(torch.uint8).view(storage_type.dtype)
        self._reader.bases.add(id(storage))
        return storage


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty(0, dtype=dtype).element_size()


# ----- the two file formats --------------------------------------------------------------------
# An entry may inflate at most this much; from _RATIO_FLOOR bytes on, at most _MAX_RATIO: torch
# stores tensors uncompressed, and float data that was compressed shrinks a few-fold at most.
_MAX_SMALL_RATIO = 1000
_MAX_RATIO = 100
_RATIO_FLOOR = 4 << 20
_CHUNK = 1 << 20


def check_zip(path: Path, zf: zipfile.ZipFile, budget: int | None = None) -> None:
    """Refuse a zip whose entries claim more data than the file holds (overlapping entries,
    bombs), that has too many entries, or (with ``budget``) whose entries would inflate past
    the memory budget; cheap, reads only the directory."""
    infos = zf.infolist()
    if len(infos) > _MAX_ENTRIES:
        raise UnsafeFileError(f"{path.name} is a zip with {len(infos)} entries (more than"
                              f" {_MAX_ENTRIES}); not a model lstm-viz can read")
    size = path.stat().st_size
    stored = sum(i.compress_size for i in infos)
    if stored > size:
        raise UnsafeFileError(f"{path.name} is a malformed zip: its entries claim"
                              f" {_fmt(stored)} of data in a {_fmt(size)} file (overlapping"
                              " entries)")
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsafeFileError(f"{path.name}: entry {info.filename} is compressed with a"
                                  f" method (number {info.compress_type}) that PyTorch files"
                                  " never use; lstm-viz reads stored or deflated entries only")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise UnsafeFileError(f"{path.name} is a malformed zip: entry {info.filename}"
                                  " claims a size it does not store")
        limit = _MAX_RATIO if info.file_size > _RATIO_FLOOR else _MAX_SMALL_RATIO
        if info.file_size > limit * max(info.compress_size, 1):
            raise UnsafeFileError(
                f"{path.name}: entry {info.filename} would expand"
                f" {info.file_size // max(info.compress_size, 1)}-fold, to"
                f" {_fmt(info.file_size)} (a zip bomb?); model files expand at most"
                f" {limit}-fold")
    if budget is not None:
        total = sum(i.file_size for i in infos)
        if total > budget:
            biggest = max(infos, key=lambda i: i.file_size)
            raise UnsafeFileError(
                f"{path.name} would need more than {_fmt(budget)} of memory: its entries"
                f" inflate to {_fmt(total)} ({biggest.filename}: {_fmt(biggest.file_size)});"
                " raise the memory budget if the file is trusted and this is expected")


def pickle_limit(budget: int) -> int:
    """The most bytes a pickle inside an archive may have: unpickled objects take several
    times their pickled size, so a sixteenth of the budget (at least 16 MiB)."""
    return max(16 << 20, int(budget) // 16)


def read_entry(path: Path, zf: zipfile.ZipFile, name: str, limit: int) -> bytearray:
    """The bytes of entry ``name``, read in chunks into one buffer of its declared size.

    Refused (UnsafeFileError) before anything is inflated when the declared size is over
    ``limit``, and as soon as more bytes come out than declared."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise UnsafeFileError(f"{path.name}: entry {name} is missing") from None
    if info.file_size > limit:
        raise UnsafeFileError(f"{path.name}: entry {name} holds {_fmt(info.file_size)}, more"
                              f" than the {_fmt(limit)} lstm-viz reads for it; raise the"
                              " memory budget if the file is trusted and this is expected")
    out = bytearray(info.file_size)
    view = memoryview(out)
    filled = 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(min(_CHUNK, info.file_size - filled + 1))
            if not chunk:
                break
            if filled + len(chunk) > info.file_size:
                raise UnsafeFileError(f"{path.name}: entry {name} inflates past the"
                                      f" {_fmt(info.file_size)} it declares")
            view[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
    if filled != info.file_size:
        raise EOFError(f"entry {name} is cut short ({filled} of {info.file_size} bytes)")
    return out


def safe_load(path: str | PathLike[str], budget: int) -> Any:
    """Unpickle the torch.save file ``path`` without running its code (see module doc)."""
    path = Path(path)
    reader = _Reader(path.name, budget)
    try:
        is_zip = zipfile.is_zipfile(path)
    except zipfile.BadZipFile:
        is_zip = True  # damaged: ZipFile below says how
    if is_zip:
        with zipfile.ZipFile(path) as zf:
            check_zip(path, zf, reader.budget)
            names = zf.namelist()
            pkl = next((n for n in names if n.endswith("data.pkl")), None)
            if pkl is None:
                raise UnsafeFileError(f"{path.name} is a zip archive without data.pkl")
            root = pkl[: -len("data.pkl")]
            if f"{root}byteorder" in names and \
                    read_entry(path, zf, f"{root}byteorder", 64).strip() == b"big":
                raise UnsafeFileError(f"{path.name} was written on a big-endian machine;"
                                      " re-save it on a little-endian one (x86, ARM)")

            def load_storage(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
                name = f"{root}data/{key}"
                try:
                    info = zf.getinfo(name)
                except KeyError:
                    raise UnsafeFileError(f"{path.name}: storage {key} is missing") from None
                nbytes = numel * _itemsize(dtype)
                if info.file_size != nbytes:
                    raise UnsafeFileError(f"{path.name}: storage {key} holds {info.file_size}"
                                          f" bytes but claims {nbytes}")
                data = read_entry(path, zf, name, nbytes)
                t = torch.frombuffer(data, dtype=torch.uint8) if nbytes else \
                    torch.empty(0, dtype=torch.uint8)
                return t.view(dtype)

            data = read_entry(path, zf, pkl, pickle_limit(reader.budget))
            return _Unpickler(io.BytesIO(data), reader, load_storage).load()
    return _legacy_load(path, reader)


def _legacy_load(path: Path, reader: _Reader) -> Any:
    size = path.stat().st_size
    pending: list[tuple[str, torch.Tensor]] = []

    def load_storage(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        if numel * _itemsize(dtype) > size:
            raise UnsafeFileError(f"{path.name}: a storage claims {numel} elements, more than"
                                  " the file holds")
        t = torch.empty(numel, dtype=dtype)
        pending.append((key, t))
        return t

    with open(path, "rb") as fh:
        def small() -> Any:
            return _Unpickler(fh, reader, _refuse(f"{path.name}: unexpected storage")).load()
        magic = small()
        if magic != _LEGACY_MAGIC:
            raise UnsafeFileError(f"{path.name} is a pickle but not a torch.save file")
        small()  # protocol version
        small()  # system info
        obj = _Unpickler(fh, reader, load_storage).load()
        keys = small()
        if not isinstance(keys, list):
            raise UnsafeFileError(f"{path.name}: storage list missing")
        by_key = dict(pending)
        for key in keys:
            t = by_key.get(str(key))
            if t is None:
                raise UnsafeFileError(f"{path.name}: unexpected storage {key}")
            (count,) = struct.unpack("<q", fh.read(8))
            nbytes = t.numel() * t.element_size()
            if count != t.numel():
                raise UnsafeFileError(f"{path.name}: storage {key} size mismatch")
            raw = fh.read(nbytes)
            if len(raw) != nbytes:
                raise EOFError(f"storage {key} is cut short")
            if nbytes:
                t.view(torch.uint8).copy_(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    return obj


def contains_placeholder(obj: object, depth: int = 0) -> bool:
    """Whether ``obj`` (nested containers) holds any Placeholder."""
    if depth > 50:
        return False
    if isinstance(obj, Placeholder):
        return True
    if isinstance(obj, dict):
        return any(contains_placeholder(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(contains_placeholder(v, depth + 1) for v in obj)
    return False


def placeholder_names(obj: object, limit: int = 5) -> list[str]:
    """Up to ``limit`` distinct class names of the placeholders inside ``obj``."""
    found: list[str] = []
    stack = [(obj, 0)]
    while stack and len(found) < limit:
        item, depth = stack.pop()
        if depth > 50:
            continue
        if isinstance(item, Placeholder):
            if item.qualname not in found:
                found.append(item.qualname)
            stack.extend((v, depth + 1) for v in (item.args, item.state, item.items))
        elif isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    return found
