"""A whole corpus traced into a chunked Zarr store, and what each unit does across it.

A corpus is a list of documents: texts read through the model's tokenizer, vocabulary and
embedding exactly as the app reads typed text, or arrays of inputs. ``trace_corpus`` traces
every document from a zero state with ``lstm_viz.trace`` (documents batched by length as a
packed batch, so each is traced alone) and writes, chunked along tokens and compressed:

- ``token_ids`` (N,) int32 and ``doc_start`` (n_docs + 1,) int64 offsets into it; for array
  inputs ``x`` (N, input_size);
- ``h/l{k}`` and ``c/l{k}`` (N, H_out) and (N, H), ``gates/l{k}`` (N, 4, H) i, f, g, o, with
  ``_reverse`` for a reverse direction;
- attributes: the config, the model file's SHA-256 and LSTM name, the tokenizer and vocabulary,
  lstm-viz's version, the dtype, and which runs of documents are written (an interrupted run
  resumes there; a store made from another model or corpus is refused, never appended to).

Batches are traced with Dask: threads here by default, or the workers of a ``dask.distributed``
cluster (``scheduler="tcp://host:port"``, the model sent once to each worker). The work comes
in runs of consecutive documents about a chunk long, each written in one piece as it finishes,
one at a time: no chunk is written by two tasks, and none more than twice. ``CorpusStore``
(``open``) answers ``top`` (the positions where a unit is largest or most negative) and ``match``
(LSTMVis's spans where chosen units are on and others off) from the store, reading only the
chunks that can hold an answer (``summarize`` keeps each chunk's minimum and maximum of every
unit); ``stats`` adds per-unit means, spreads, gate saturation and histograms.

Needs the optional packages zarr (3 or newer) and dask: ``pip install lstm-viz[corpus]``.
"""

from __future__ import annotations

import heapq
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ._version import __version__
from .formats.hashing import file_sha256
from .text.textinput import embed
from .tracing import trace
from .tracing.budget import DEFAULT_MEMORY_BUDGET

FORMAT = "lstm-viz corpus"
FORMAT_VERSION = 1
CHUNK_TOKENS = 1 << 16  # tokens per chunk along the corpus
CHUNK_UNITS = 32  # units per chunk: a query on a few units reads a few column blocks
HIST_BINS = 40
HIST_RANGE = {"h": (-1.0, 1.0), "c": (-5.0, 5.0)}
TOP_K = 50  # top positions per unit kept by ``stats``
SATURATED = 0.1  # a sigmoid gate below this or above 1 - this; |g| above 1 - this
DTYPES = ("float16", "float32")


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise ValueError(f"corpus stores need the optional package {module}: pip install"
                         " lstm-viz[corpus]") from None


# ----- what goes in --------------------------------------------------------------------------
@dataclass
class Documents:
    """The documents of a corpus: token indices (texts) or input arrays, one per document."""

    token_ids: list[np.ndarray] | None = None
    arrays: list[np.ndarray] | None = None
    names: list[str] = field(default_factory=list)
    vocab: tuple[str, ...] | None = None
    tokenizer: str = ""

    def __len__(self) -> int:
        items = self.token_ids if self.token_ids is not None else self.arrays
        return len(items or [])

    def lengths(self) -> np.ndarray:
        items = self.token_ids if self.token_ids is not None else self.arrays
        return np.array([len(d) for d in items or []], dtype=np.int64)


def text_documents(paths: Sequence[str | Path], vocab: Sequence[str], *,
                   tokenizer: str | None = None, doc_sep: str | None = None) -> Documents:
    """Each file (or each ``doc_sep``-separated piece of it) as one document of token indices,
    read with ``tokenizer`` ("characters", "words", "regex:...") or the one the vocabulary
    suggests, as the app reads text."""
    from .text import tokenize as tok

    chosen = tok.Tokenizer.parse(tokenizer) if tokenizer else tok.choose(vocab)[0]
    ids: list[np.ndarray] = []
    names: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name} is not UTF-8 text (byte {exc.start}); convert it,"
                             " e.g. iconv -t utf-8") from None
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        pieces = text.split(doc_sep) if doc_sep else [text]
        for n, piece in enumerate(pieces):
            where = f"{path.name}" + (f" (document {n + 1})" if doc_sep else "")
            tokens = chosen.split(piece, vocab)
            if not tokens:
                raise ValueError(f"{where} is empty: every document needs at least one token")
            try:
                enc = tok.encode_tokens(tokens, vocab)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            if enc.unknown and len(enc.unknown) == len(tokens):
                raise ValueError(f"{where} has no token of the vocabulary (all {len(tokens)}"
                                 " are unknown); is it the text the model was trained on?")
            ids.append(np.asarray(enc.indices, dtype=np.int32))
            names.append(where)
    if not ids:
        raise ValueError("the corpus has no documents")
    return Documents(token_ids=ids, names=names, vocab=tuple(vocab), tokenizer=str(chosen))


def array_documents(paths: Sequence[str | Path], input_size: int) -> Documents:
    """Each ``.npy`` file as documents: (T, input_size) is one, (n, T, input_size) n of them;
    a ``.csv`` file (T rows of input_size values) is one."""
    arrays: list[np.ndarray] = []
    names: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False) if path.suffix == ".npy" else \
                np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {path.name} as an array ({exc})") from None
        data = np.asarray(data, dtype=np.float32)
        docs = [data] if data.ndim == 2 else list(data) if data.ndim == 3 else None
        if docs is None or any(d.shape[-1] != input_size for d in docs):
            raise ValueError(f"{path.name} holds an array of shape {data.shape}; expected"
                             f" (T, {input_size}) or (documents, T, {input_size})")
        for n, doc in enumerate(docs):
            if len(doc) == 0:
                raise ValueError(f"{path.name} document {n + 1} is empty")
            if not np.isfinite(doc).all():
                raise ValueError(f"{path.name} document {n + 1} holds NaN or infinite values")
            arrays.append(doc)
            names.append(f"{path.name}" + (f"[{n}]" if len(docs) > 1 else ""))
    if not arrays:
        raise ValueError("the corpus has no documents")
    return Documents(arrays=arrays, names=names)


@dataclass
class CorpusModel:
    """The LSTM a corpus is traced with, its embedding, vocabulary and where it came from."""

    lstm: nn.LSTM
    embedding: torch.Tensor | None = None
    vocab: tuple[str, ...] | None = None
    name: str = ""
    path: str = ""
    sha256: str = ""


def model_from_file(path: str | Path, lstm: str | None = None) -> CorpusModel:
    """The LSTM ``lstm`` of the model file ``path`` (read without running code from it)."""
    from .formats.loader import load_model

    loaded = load_model(path)
    cand = loaded.pick(lstm)
    return CorpusModel(cand.build(batch_first=False), cand.embedding, loaded.vocab, cand.name,
                       str(Path(path).resolve()), file_sha256(path))


def model_from_demo(name: str) -> CorpusModel:
    """A shipped demo's LSTM (``lstm_viz.demos``)."""
    from .demos import list_demos

    demos = {d.name: d for d in list_demos()}
    if name not in demos:
        raise ValueError(f"no demo called {name!r}; demos: {', '.join(sorted(demos))}")
    return model_from_file(demos[name].model, demos[name].lstm or None)


# ----- tracing -------------------------------------------------------------------------------
def _batches(lengths: np.ndarray, batch_tokens: int) -> list[list[int]]:
    """Documents grouped longest first so that each batch pads to at most ``batch_tokens``."""
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = int(lengths[current[0]]) if current else int(lengths[i])
        if current and width * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _segments(lengths: np.ndarray, tokens: int) -> list[tuple[int, int]]:
    """Runs of consecutive documents [first, stop) of about ``tokens`` tokens each (a longer
    document alone): the units of work, each written to the store in one piece."""
    segments: list[tuple[int, int]] = []
    first, total = 0, 0
    for i, n in enumerate(lengths):
        total += int(n)
        if total >= tokens:
            segments.append((first, i + 1))
            first, total = i + 1, 0
    if first < len(lengths):
        segments.append((first, len(lengths)))
    return segments


def _groups(cfg: Any) -> list[tuple[str, int, int]]:
    """(suffix, layer, direction) of every layer and direction: ("l0", 0, 0), ("l0_reverse",
    0, 1) ..."""
    return [(f"l{k}" + ("_reverse" if d else ""), k, d)
            for k in range(cfg.num_layers) for d in range(cfg.num_directions)]


def trace_batch(lstm: nn.LSTM, embedding: torch.Tensor | None, docs: list[np.ndarray],
                one_hot: int = 0, dtype: str = "float32") -> dict[str, list[np.ndarray]]:
    """Trace ``docs`` (token indices or input arrays) as one packed batch (a plain batch when
    they are all as long); per array name (``h/l0`` ...), each document's rows in the given
    order, as ``dtype``."""
    lengths = torch.tensor([len(d) for d in docs])
    T, B = int(lengths.max()), len(docs)
    first = docs[0]
    width = embedding.shape[1] if embedding is not None else (
        one_hot if first.ndim == 1 else first.shape[1])
    x = torch.zeros(T, B, width)
    for b, doc in enumerate(docs):
        if doc.ndim == 1:  # token indices, through the embedding (or one-hot) as the app does
            x[: len(doc), b] = embed(doc, embedding, width)[:, 0]
        else:
            x[: len(doc), b] = torch.from_numpy(doc)
    x = x.to(next(lstm.parameters()).dtype)
    same = bool((lengths == T).all())
    with torch.no_grad():
        tr = trace(lstm, x if same else pack_padded_sequence(x, lengths, enforce_sorted=False))
    kind = getattr(torch, dtype)
    out: dict[str, list[np.ndarray]] = {}
    for suffix, k, d in _groups(tr.config):
        for name, data in (("h", tr.h[k, d]), ("c", tr.c[k, d]), ("gates", tr.gates[k, d])):
            out[f"{name}/{suffix}"] = [data[: int(n), b].to(kind).numpy()
                                       for b, n in enumerate(lengths)]
    return out


def trace_segment(lstm: nn.LSTM, embedding: torch.Tensor | None, docs: list[np.ndarray],
                  batch_tokens: int, one_hot: int, dtype: str) -> dict[str, np.ndarray]:
    """Consecutive documents traced in packed batches of similar lengths; per array name, the
    rows of all of them in order, as the store keeps them (``dtype``)."""
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    out: dict[str, np.ndarray] = {}
    for batch in _batches(lengths, batch_tokens):
        traced = trace_batch(lstm, embedding, [docs[j] for j in batch], one_hot, dtype)
        for name, per_doc in traced.items():
            if name not in out:
                out[name] = np.empty((int(starts[-1]),) + per_doc[0].shape[1:], dtype=dtype)
            for j, rows in zip(batch, per_doc):
                out[name][starts[j]:starts[j + 1]] = rows
    return out


def _remote_trace(model: tuple, docs: list[np.ndarray], batch_tokens: int, one_hot: int,
                  dtype: str) -> dict:
    """``trace_segment`` on a dask worker: the model arrives as (config dict, state dict,
    embedding), sent once to each worker."""
    from .config import LSTMConfig

    cfg_dict, state, embedding = model
    lstm = LSTMConfig(**cfg_dict).build()
    lstm.load_state_dict(state)
    return trace_segment(lstm.eval(), embedding, docs, batch_tokens, one_hot, dtype)


def _store_bytes(cfg: Any, n_tokens: int, itemsize: int, with_x: bool) -> int:
    per_token = sum(cfg.h_out + cfg.hidden_size + 4 * cfg.hidden_size
                    for _ in _groups(cfg)) * itemsize + 4
    return n_tokens * (per_token + (4 * cfg.input_size if with_x else 0))


def _refuse_another_trace(out: Path, attrs: dict[str, Any], identity: dict[str, Any]) -> None:
    """ValueError when the store ``out`` (its attributes ``attrs``) holds the trace of another
    model or corpus than ``identity`` says, naming the first difference."""
    mismatch = [k for k, v in identity.items() if attrs.get(k) != v]
    if mismatch:
        key = mismatch[0]
        raise ValueError(f"{out.name} was made from another model or corpus ({key}"
                         f" differs: {attrs.get(key)!r}, not {identity[key]!r}); choose a"
                         " new --out, or delete it to trace again")


def _one_hot_width(model: CorpusModel, docs: Documents, input_size: int) -> int:
    """How wide the one-hot vectors that feed token ids to a model without an embedding are
    (0: the documents are arrays, or the model embeds its tokens); ValueError where the tokens
    cannot be fed to the model."""
    if docs.token_ids is None:
        return 0
    if model.embedding is None:
        if not docs.vocab or len(docs.vocab) != input_size:
            raise ValueError("the model has no embedding and its input_size"
                             f" ({input_size}) is not the vocabulary's size: tokens cannot"
                             " be fed to it")
        return input_size
    top = max(int(d.max()) for d in docs.token_ids)
    if top >= model.embedding.shape[0]:
        raise ValueError(f"token index {top} is outside the embedding's"
                         f" {model.embedding.shape[0]} rows")
    return 0


def trace_corpus(model: CorpusModel, docs: Documents, out: str | Path, *,
                 dtype: str = "float16", batch_tokens: int = 1 << 15,
                 scheduler: str | None = None, workers: int = 1,
                 memory_budget: int | None = None,
                 progress: Callable[[int, int, int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> CorpusStore:
    """Trace every document of ``docs`` with ``model`` into the Zarr store ``out`` (see the
    module doc); returns it opened. ``progress(docs_done, n_docs, tokens_done, n_tokens)`` is
    called after each batch; ``cancel()`` returning True stops after the batch being written
    (the store stays valid and the next run resumes). Batches are made small enough that the
    traces in flight here stay within ``memory_budget`` (the engine's default when None)."""
    zarr = _need("zarr")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    cfg = _config_of(model.lstm)
    lengths = docs.lengths()
    n_tokens = int(lengths.sum())
    doc_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    one_hot = _one_hot_width(model, docs, cfg.input_size)
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    # a trace holds its gates, c and h (float32) and its input: per padded token, per batch in
    # flight, with room for the copies made while writing
    per_token = 4 * (_store_bytes(cfg, 1, 1, True) + cfg.input_size) * 3
    fits = budget // (per_token * max(1, int(workers)))
    if int(lengths.max()) > fits:
        raise ValueError(f"the longest document ({int(lengths.max())} tokens) needs more than"
                         f" the memory budget ({budget} bytes) to trace; raise the budget"
                         " (--memory-budget) or split the documents (--doc-sep)")
    effective = max(min(int(batch_tokens), fits), int(lengths.max()))
    segments = _segments(lengths, max(CHUNK_TOKENS, effective))
    identity = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "config": cfg.to_dict(),
        "model_sha256": model.sha256, "lstm": model.name, "model_path": model.path,
        "dtype": dtype, "n_docs": len(docs), "n_tokens": n_tokens,
        "doc_lengths_sha": _digest(lengths), "batch_tokens": effective,
        "tokenizer": docs.tokenizer, "source": "text" if docs.token_ids is not None else "array",
    }
    out = Path(out)
    if out.exists():
        root = _open_group(out, "r+")
        attrs = dict(root.attrs)
        _refuse_another_trace(out, attrs, identity)
        done = set(attrs.get("segments_done", []))
    else:
        free = shutil.disk_usage(out.resolve().parent).free
        need = _store_bytes(cfg, n_tokens, np.dtype(dtype).itemsize, docs.arrays is not None)
        if need > free:
            raise ValueError(f"the store needs about {need / 2**30:.1f} GiB (before"
                             f" compression) and {out.resolve().parent} has"
                             f" {free / 2**30:.1f} GiB free; choose another --out or a smaller"
                             " corpus or --dtype float16")
        root = _create(out, cfg, identity, doc_start, docs, dtype, zarr)
        done = set()
    arrays = {name: root[name] for name in _state_names(cfg)}
    todo = [i for i in range(len(segments)) if i not in done]

    def size(i: int) -> tuple[int, int]:
        first, stop = segments[i]
        return stop - first, int(doc_start[stop] - doc_start[first])

    docs_done = sum(size(i)[0] for i in done)
    tokens_done = sum(size(i)[1] for i in done)
    items = docs.token_ids if docs.token_ids is not None else docs.arrays
    assert items is not None
    work = [(i, items[segments[i][0]:segments[i][1]]) for i in todo]
    # gathered as rows are written; read back from the store instead after a resumed run
    summaries = _Summaries(cfg, n_tokens) if not done else None
    # Rows are written in whole chunks where runs of documents arrive in order: the rows past
    # the last chunk boundary wait for the next run (a run is marked done once all its rows are
    # written, so an interrupted trace never skips rows that were not written).
    carry: dict[str, list[np.ndarray]] = {}
    carry_start = carry_end = 0
    waiting: list[int] = []  # runs with rows still in ``carry``

    def write(upto: int) -> None:
        nonlocal carry_start
        if upto <= carry_start:
            return
        for name, parts in carry.items():
            rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
            arrays[name][carry_start:upto] = rows[:upto - carry_start]
            if summaries is not None:
                summaries.add(name, carry_start, rows[:upto - carry_start])
            carry[name] = [rows[upto - carry_start:]]
        carry_start = upto
        for i in [i for i in waiting if int(doc_start[segments[i][1]]) <= upto]:
            waiting.remove(i)
            done.add(i)
        root.attrs["segments_done"] = sorted(done)

    for index, result in _run(model, work, effective, one_hot, dtype, scheduler, workers):
        first, stop = segments[index]
        start, end = int(doc_start[first]), int(doc_start[stop])
        if start != carry_end or not carry:  # not the run after the last: write what waits
            write(carry_end)
            carry, carry_start = {name: [] for name in result}, start
        for name, rows in result.items():
            carry[name].append(rows)
        carry_end = end
        waiting.append(index)
        write(end if end == n_tokens else end // CHUNK_TOKENS * CHUNK_TOKENS)
        docs_done += size(index)[0]
        tokens_done += size(index)[1]
        if progress is not None:
            progress(docs_done, len(docs), tokens_done, n_tokens)
        if cancel is not None and cancel():
            break
    write(carry_end)
    complete = len(done) == len(segments)
    if complete and summaries is not None:
        summaries.save(root)
    elif complete:
        summarize(out)
    root.attrs["complete"] = complete
    return CorpusStore(out)


def _run(model: CorpusModel, work: list[tuple[int, list[np.ndarray]]], batch_tokens: int,
         one_hot: int, dtype: str, scheduler: str | None, workers: int
         ) -> Iterator[tuple[int, dict]]:
    """(segment index, traced arrays) for each segment of ``work``, as they finish; at most a
    few segments in flight, so memory stays bounded whatever the corpus size."""
    dask = _need("dask")
    if scheduler:
        distributed = _need("distributed")
        try:
            client = distributed.Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the dask scheduler at {scheduler} ({exc})"
                             ) from None
        try:
            cfg = _config_of(model.lstm)
            payload = (cfg.to_dict(), {k: v.detach().cpu() for k, v in
                                       model.lstm.state_dict().items()}, model.embedding)
            [remote] = client.scatter([payload], broadcast=True)
            limit = 2 * max(1, len(client.scheduler_info().get("workers", {})))
            pending = iter(work)
            futures: dict = {}

            def submit(index: int, docs: list[np.ndarray]) -> Any:
                future = client.submit(_remote_trace, remote, docs, batch_tokens, one_hot,
                                       dtype, pure=False)
                futures[future] = index
                return future

            for index, docs in pending:
                submit(index, docs)
                if len(futures) >= limit:
                    break
            queue = distributed.as_completed(list(futures))
            for future in queue:
                index = futures.pop(future)
                yield index, future.result()
                nxt = next(pending, None)
                if nxt is not None:
                    queue.add(submit(*nxt))
        finally:
            client.close()
        return
    lstm, emb = model.lstm.eval(), model.embedding
    wave = max(1, int(workers))
    if wave == 1:  # one run at a time: here, with torch's own threads, no scheduler between
        for index, docs in work:
            yield index, trace_segment(lstm, emb, docs, batch_tokens, one_hot, dtype)
        return
    for start in range(0, len(work), wave):
        part = work[start:start + wave]
        tasks = [dask.delayed(trace_segment)(lstm, emb, docs, batch_tokens, one_hot, dtype)
                 for _, docs in part]
        results = dask.compute(*tasks, scheduler="threads", num_workers=wave)
        yield from zip([i for i, _ in part], results)


def _config_of(lstm: nn.LSTM) -> Any:
    from .config import LSTMConfig

    return LSTMConfig.from_module(lstm)


def _digest(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def _state_names(cfg: Any) -> list[str]:
    return [f"{kind}/{suffix}" for suffix, _, _ in _groups(cfg) for kind in ("h", "c", "gates")]


def _open_group(path: Path, mode: str) -> Any:
    zarr = _need("zarr")
    try:
        root = zarr.open_group(str(path), mode=mode)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a corpus store ({type(exc).__name__}: {exc})"
                         ) from None
    if root.attrs.get("format") != FORMAT:
        raise ValueError(f"{path} is a Zarr store but not an lstm-viz corpus store")
    if int(root.attrs.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer lstm-viz; update lstm-viz to read it")
    return root


def _create(out: Path, cfg: Any, identity: dict, doc_start: np.ndarray, docs: Documents,
            dtype: str, zarr: Any) -> Any:
    root = zarr.open_group(str(out), mode="w-")
    n = int(doc_start[-1])
    tokens = min(CHUNK_TOKENS, max(n, 1))

    from zarr.codecs import BloscCodec

    # states: LZ4 over bit-shuffled values, several times faster to write than zstd and about
    # as small (measured on the character demo's float16 states: 364 against 337 MiB)
    fast = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")

    def array(name: str, shape: tuple, kind: str, fill: float | int = 0) -> Any:
        # along tokens, and along units (the last axis) in blocks of CHUNK_UNITS
        chunks = (tokens,) + shape[1:-1] + ((min(shape[-1], CHUNK_UNITS),)
                                            if len(shape) > 1 else ())
        extra = {"compressors": fast} if kind in DTYPES else {}
        return root.create_array(name, shape=shape, chunks=chunks, dtype=kind,
                                 fill_value=fill, **extra)

    array("doc_start", (len(doc_start),), "int64")[:] = doc_start
    ids = array("token_ids", (n,), "int32", -1)
    if docs.token_ids is not None:
        ids[:] = np.concatenate(docs.token_ids)
    else:
        assert docs.arrays is not None
        array("x", (n, cfg.input_size), "float32")[:] = np.concatenate(docs.arrays)
    for suffix, _, _ in _groups(cfg):
        array(f"h/{suffix}", (n, cfg.h_out), dtype, float("nan"))
        array(f"c/{suffix}", (n, cfg.hidden_size), dtype, float("nan"))
        array(f"gates/{suffix}", (n, 4, cfg.hidden_size), dtype, float("nan"))
    root.attrs.update({**identity, "vocab": list(docs.vocab) if docs.vocab else None,
                       "doc_names": docs.names, "lstm_viz_version": __version__,
                       "segments_done": [], "complete": False})
    return root


# ----- per-chunk summaries and statistics ----------------------------------------------------
def _chunks(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, CHUNK_TOKENS):
        yield start, min(n, start + CHUNK_TOKENS)


class _Summaries:
    """Each token chunk's minimum and maximum of every unit of h and c, gathered from the rows
    as they are written (``add``) and saved into the store (``save``)."""

    def __init__(self, cfg: Any, n: int) -> None:
        self.n_chunks = max(1, math.ceil(n / CHUNK_TOKENS))
        self.values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for suffix, _, _ in _groups(cfg):
            for kind, width in (("h", cfg.h_out), ("c", cfg.hidden_size)):
                self.values[f"{kind}/{suffix}"] = (
                    np.full((self.n_chunks, width), np.inf, np.float32),
                    np.full((self.n_chunks, width), -np.inf, np.float32))

    def add(self, name: str, start: int, rows: np.ndarray) -> None:
        """Rows written at token ``start`` of the array ``name`` (h or c)."""
        if name not in self.values or not len(rows):
            return
        lo, hi = self.values[name]
        first = start // CHUNK_TOKENS
        last = (start + len(rows) - 1) // CHUNK_TOKENS
        for c in range(first, last + 1):  # the part of the rows in each chunk
            part = rows[max(0, c * CHUNK_TOKENS - start):(c + 1) * CHUNK_TOKENS - start]
            part = part.astype(np.float32, copy=False)  # numpy reduces float16 slowly
            np.minimum(lo[c], part.min(0), out=lo[c])
            np.maximum(hi[c], part.max(0), out=hi[c])

    def save(self, root: Any) -> None:
        for name, (lo, hi) in self.values.items():
            for which, values in (("min", lo), ("max", hi)):
                root.create_array(f"summary/{which}/{name}", shape=values.shape,
                                  dtype="float32", overwrite=True)[:] = values


def summarize(path: str | Path) -> None:
    """Write each token chunk's minimum and maximum of every unit of h and c (``summary/...``),
    which ``match`` and ``top`` use to skip chunks, reading the store's h and c back."""
    root = _open_group(Path(path), "r+")
    cfg = _cfg_from(root)
    n = int(root.attrs["n_tokens"])
    summaries = _Summaries(cfg, n)
    for name in summaries.values:
        data = root[name]
        for a, b in _chunks(n):
            summaries.add(name, a, np.asarray(data[a:b]))
    summaries.save(root)


def compute_stats(path: str | Path, k: int = TOP_K) -> None:
    """Per-unit statistics over the whole store, written into it (``stats/...``): mean and std
    of h and c; the fraction of steps each gate is saturated (i, f, o below 0.1 or above 0.9,
    |g| above 0.9); histograms of h and c; the ``k`` positions of the largest and the most
    negative h and c of each unit."""
    root = _open_group(Path(path), "r+")
    cfg = _cfg_from(root)
    n = int(root.attrs["n_tokens"])
    for suffix, _, _ in _groups(cfg):
        for kind in ("h", "c"):
            data = root[f"{kind}/{suffix}"]
            units = data.shape[1]
            total = np.zeros(units)
            squares = np.zeros(units)
            lo, hi = HIST_RANGE[kind]
            hist = np.zeros((units, HIST_BINS), np.int64)
            best: dict[str, list[list]] = {"pos": [[] for _ in range(units)],
                                           "neg": [[] for _ in range(units)]}
            for a, b in _chunks(n):
                block = np.asarray(data[a:b], dtype=np.float64)
                total += block.sum(0)
                squares += (block ** 2).sum(0)
                bins = np.clip(((block - lo) / (hi - lo) * HIST_BINS).astype(np.int64), 0,
                               HIST_BINS - 1)
                for u in range(units):
                    hist[u] += np.bincount(bins[:, u], minlength=HIST_BINS)
                    for sign, column in (("pos", block[:, u]), ("neg", -block[:, u])):
                        take = min(k, len(column))
                        idx = np.argpartition(-column, take - 1)[:take]
                        merged = best[sign][u] + [(float(column[i]), -(a + int(i)))
                                                  for i in idx]
                        best[sign][u] = heapq.nlargest(k, merged)
            mean = total / max(n, 1)
            std = np.sqrt(np.maximum(squares / max(n, 1) - mean ** 2, 0.0))
            for name, values in (("mean", mean), ("std", std), ("hist", hist)):
                root.create_array(f"stats/{name}/{kind}/{suffix}", shape=values.shape,
                                  dtype=values.dtype, overwrite=True)[:] = values
            for sign in ("pos", "neg"):
                positions = np.array([[-p for _, p in row] for row in best[sign]], np.int64)
                root.create_array(f"stats/top_{sign}/{kind}/{suffix}", shape=positions.shape,
                                  dtype="int64", overwrite=True)[:] = positions
        gates = root[f"gates/{suffix}"]
        counts = np.zeros((4, cfg.hidden_size))
        for a, b in _chunks(n):
            block = np.asarray(gates[a:b], dtype=np.float32)
            for g in (0, 1, 3):
                counts[g] += ((block[:, g] < SATURATED) | (block[:, g] > 1 - SATURATED)).sum(0)
            counts[2] += (np.abs(block[:, 2]) > 1 - SATURATED).sum(0)
        root.create_array(f"stats/saturated/{suffix}", shape=counts.shape, dtype="float64",
                          overwrite=True)[:] = counts / max(n, 1)
    root.attrs["stats_k"] = int(k)


def _cfg_from(root: Any) -> Any:
    from .config import LSTMConfig

    return LSTMConfig(**root.attrs["config"])


# ----- queries -------------------------------------------------------------------------------
def open(path: str | Path) -> CorpusStore:  # noqa: A001 - the module's entry point, as zarr's
    """The corpus store at ``path``, for ``top`` and ``match``."""
    return CorpusStore(path)


class CorpusStore:
    """A traced corpus: ``top`` and ``match`` answered from the store without tracing again."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.root = _open_group(self.path, "r")
        self.attrs = dict(self.root.attrs)
        self.config = _cfg_from(self.root)
        self.n_tokens = int(self.attrs["n_tokens"])
        self.doc_start = np.asarray(self.root["doc_start"][:], dtype=np.int64)
        vocab = self.attrs.get("vocab")
        self.vocab: tuple[str, ...] | None = tuple(vocab) if vocab else None
        self._ids: np.ndarray | None = None

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete"))

    def _array(self, state: str, layer: int, direction: str, unit: int | Sequence[int]
               ) -> tuple[str, Any]:
        cfg = self.config
        if state not in ("h", "c"):
            raise ValueError(f"state must be h or c (got {state!r})")
        if not 0 <= layer < cfg.num_layers:
            raise ValueError(f"layer {layer} is out of range: the LSTM has {cfg.num_layers}"
                             f" layer(s) (0..{cfg.num_layers - 1})")
        if direction not in ("forward", "reverse") or (direction == "reverse"
                                                       and not cfg.bidirectional):
            raise ValueError(f"direction {direction!r} is not one of this LSTM's:"
                             f" {'forward, reverse' if cfg.bidirectional else 'forward'}")
        width = cfg.h_out if state == "h" else cfg.hidden_size
        for u in [unit] if isinstance(unit, int) else unit:
            if not isinstance(u, (int, np.integer)) or not 0 <= u < width:
                raise ValueError(f"unit {u} is out of range: {state} has {width} units"
                                 f" (0..{width - 1})")
        if not self.complete:
            raise ValueError(f"{self.path.name} is not complete (its trace stopped); run"
                             " lstm-viz corpus trace again with the same arguments to finish it")
        suffix = f"l{layer}" + ("_reverse" if direction == "reverse" else "")
        return suffix, self.root[f"{state}/{suffix}"]

    def token_ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = np.asarray(self.root["token_ids"][:], dtype=np.int64)
        return self._ids

    def doc_of(self, position: int) -> int:
        return int(np.searchsorted(self.doc_start, position, side="right") - 1)

    def text(self, start: int, stop: int) -> str:
        """The tokens at corpus positions [start, stop) as text (or their indices)."""
        ids = self.token_ids()[max(0, start):min(self.n_tokens, stop)]
        if self.vocab is None:
            return " ".join(str(int(i)) for i in ids)
        sep = "" if self.attrs.get("tokenizer", "").startswith("characters") else " "
        return sep.join(self.vocab[int(i)] if 0 <= i < len(self.vocab) else "?" for i in ids)

    def top(self, unit: int, *, layer: int = 0, direction: str = "forward", state: str = "h",
            k: int = 10, sign: str = "pos", context: int = 10) -> list[dict]:
        """The ``k`` positions where ``state`` of ``unit`` is largest (``sign="pos"``) or most
        negative ("neg"), best first (ties by position), with ``context`` tokens each side
        (within the document)."""
        if sign not in ("pos", "neg"):
            raise ValueError(f"sign must be pos or neg (got {sign!r})")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer (got {k!r})")
        suffix, data = self._array(state, layer, direction, unit)
        factor = 1.0 if sign == "pos" else -1.0
        # chunks in the order of their best value (from the summaries): once k values are
        # found that no later chunk can beat, the rest is never read
        if sign == "pos":
            bound = np.asarray(self.root[f"summary/max/{state}/{suffix}"][:, unit], np.float64)
        else:
            bound = -np.asarray(self.root[f"summary/min/{state}/{suffix}"][:, unit], np.float64)
        chunks = list(_chunks(self.n_tokens))
        best: list[tuple[float, int]] = []
        for i in sorted(range(len(chunks)), key=lambda i: (-bound[i], i)):
            if len(best) == k and best[-1][0] > bound[i]:
                break
            a, b = chunks[i]
            column = factor * np.asarray(data[a:b, unit], dtype=np.float64)
            take = min(k, len(column))
            idx = np.argpartition(-column, take - 1)[:take]
            best = heapq.nlargest(k, best + [(float(column[j]), -(a + int(j))) for j in idx])
        out = []
        for value, neg_pos in sorted(best, key=lambda v: (-v[0], -v[1])):
            p = -neg_pos
            d = self.doc_of(p)
            lo = max(int(self.doc_start[d]), p - context)
            hi = min(int(self.doc_start[d + 1]), p + context + 1)
            out.append({"position": p, "doc": d, "value": factor * value,
                        "context": self.text(lo, hi)})
        return out

    def match(self, on: Sequence[int], off: Sequence[int] = (), *, threshold: float = 0.0,
              min_len: int = 1, layer: int = 0, direction: str = "forward", state: str = "h",
              limit: int = 100) -> list[dict]:
        """LSTMVis's match: spans of at least ``min_len`` positions inside one document where
        every ``on`` unit is above ``threshold`` and every ``off`` unit at or below it, best
        first by score (the span's mean of the on units' mean minus the off units' mean),
        ties by position."""
        on, off = [int(u) for u in on], [int(u) for u in off]
        if not on:
            raise ValueError("match needs at least one --on unit")
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number (got {threshold!r})")
        if min_len < 1 or limit < 1:
            raise ValueError("min-len and limit must be at least 1")
        suffix, data = self._array(state, layer, direction, on + off)
        lo = np.asarray(self.root[f"summary/min/{state}/{suffix}"][:])
        hi = np.asarray(self.root[f"summary/max/{state}/{suffix}"][:])
        # a chunk can hold a matching position only if each on unit exceeds the threshold
        # somewhere in it and each off unit is at or below it somewhere
        possible = np.asarray((hi[:, on] > threshold).all(1), dtype=bool)
        if off:
            possible &= (lo[:, off] <= threshold).all(1)
        columns = sorted(set(on + off))
        where = [columns.index(u) for u in on + off]
        found: list[tuple[float, int, int]] = []
        run_start: int | None = None
        run_scores: list[np.ndarray] = []

        def close() -> None:
            nonlocal run_start, run_scores
            if run_start is not None:
                scores = np.concatenate(run_scores)
                self._spans(run_start, run_start + len(scores), scores, min_len, found)
            run_start, run_scores = None, []

        for i, (a, b) in enumerate(_chunks(self.n_tokens)):
            if not possible[i]:
                close()
                continue
            # only the column blocks that hold the chosen units are read
            block = np.asarray(data.oindex[a:b, columns], dtype=np.float64)[:, where]
            ok = np.asarray((block[:, :len(on)] > threshold).all(1), dtype=bool)
            if off:
                ok &= (block[:, len(on):] <= threshold).all(1)
            score = block[:, :len(on)].mean(1) - (block[:, len(on):].mean(1) if off else 0.0)
            if not ok[0]:
                close()
            # runs inside this chunk; one that starts at its first position continues the run
            # that reached the end of the chunk before
            edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
            for s, e in zip(edges[::2], edges[1::2]):
                if s > 0 or run_start is None:
                    close()
                    run_start = a + int(s)
                run_scores.append(score[s:e])
                if e < len(ok):
                    close()
        close()
        found.sort(key=lambda v: (-v[0], v[1]))
        return [{"doc": self.doc_of(s), "start": s, "stop": e, "score": score,
                 "text": self.text(s, e)} for score, s, e in found[:limit]]

    def _spans(self, start: int, stop: int, scores: np.ndarray, min_len: int,
               found: list) -> None:
        """Split the run [start, stop) at document boundaries; keep pieces of min_len."""
        first, last = self.doc_of(start), self.doc_of(stop - 1)
        for d in range(first, last + 1):
            s = max(start, int(self.doc_start[d]))
            e = min(stop, int(self.doc_start[d + 1]))
            if e - s >= min_len:
                found.append((float(scores[s - start:e - start].mean()), s, e))


def progress_line(started: float) -> Callable[[int, int, int, int], None]:
    """A progress callback that prints documents, tokens per second and the time left on one
    line of stderr."""
    import sys

    def show(docs: int, n_docs: int, tokens: int, n_tokens: int) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        rate = tokens / elapsed
        left = (n_tokens - tokens) / rate if rate else float("inf")
        sys.stderr.write(f"\rdocuments {docs}/{n_docs}  tokens {tokens}/{n_tokens}"
                         f"  {rate:,.0f} tokens/s  {left:,.0f} s left   ")
        if docs == n_docs:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
