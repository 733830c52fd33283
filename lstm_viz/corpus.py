"""A whole corpus traced into a chunked Zarr store, and what each unit does across it.

A corpus is a list of documents: texts read through the model's tokenizer, vocabulary and
embedding exactly as the app reads typed text, or arrays of inputs. ``trace_corpus`` traces
every document from a zero state with ``lstm_viz.trace`` (documents batched by length as a
packed batch, so each is traced alone) and writes, chunked along tokens and compressed:

- ``token_ids`` (N,) int32 and ``doc_start`` (n_docs + 1,) int64 offsets into it; for array
  inputs ``x`` (N, input_size);
- ``h/l{k}`` and ``c/l{k}`` (N, H_out) and (N, H), one shard per chunk row holding inner
  chunks of QUERY_UNITS units (a query on a few units decompresses only theirs), and
  ``gates/l{k}`` (N, 4, H) i, f, g, o, with ``_reverse`` for a reverse direction;
- attributes: the config, the model file's SHA-256 and LSTM name, the tokenizer and vocabulary,
  lstm-viz's version, the dtype, how the work was cut (chunk, run and batch lengths) and which
  runs of documents are written (an interrupted or failed run resumes there; a store made from
  another model or corpus is refused, never appended to).

Batches are traced with Dask: here by default (one run at a time on the calling thread, or
``workers`` at once on Dask threads), or on the workers of a ``dask.distributed`` cluster
(``scheduler="tcp://host:port"``, the model sent once to each worker); every trace uses
TRACE_THREADS torch threads and the one method ``choose_method`` timed for the corpus (kept in
the store for a resume), so each chunk is computed the same way here and there. The work
comes in runs of consecutive documents; one writer thread writes each run's rows (in whole
chunk rows where runs arrive in order, straight into their files: ``zarr_chunks``) while the
next runs are traced, with at most RUNS_WAITING runs held for it. The lengths of runs, batches
and chunks are chosen so that everything held stays within the memory budget, whatever the
corpus size (``_plan``). ``CorpusStore`` (``open``) answers ``top`` (the positions where a
unit is largest or most negative) and ``match`` (LSTMVis's spans where chosen units are on
and others off) from the store, reading only the chosen units' columns of the chunks that can
hold an answer (``summarize`` keeps each chunk's minimum and maximum of every unit); ``stats``
adds per-unit means, spreads, gate saturation and histograms.

Needs the optional packages zarr (3 or newer) and dask: ``pip install lstm-viz[corpus]``.
"""

from __future__ import annotations

import heapq
import math
import shutil
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from .tracing import METHODS, method_choice, release_buffers, trace
from .tracing.budget import DEFAULT_MEMORY_BUDGET
from .zarr_chunks import ChunkWriter

FORMAT = "lstm-viz corpus"
FORMAT_VERSION = 1
CHUNK_TOKENS = 1 << 16  # tokens per chunk along the corpus
MIN_CHUNK_TOKENS = 1 << 10  # the shortest chunk a small memory budget may choose
CHUNK_UNITS = 32  # units per chunk of the gates, and per block read by ``compute_stats``
# chunk rows held while writing, in the memory plan: the chunk row put together from the runs
# that share it, zarr's contiguous copy and encoded bytes of what it writes (a block of gates, a
# shard of h or c), the compressor's buffers and the allocator's slack
CHUNK_ROWS_HELD = 4
# traced runs held for the writer thread (the one it writes included): with one, the trace
# stopped for each run that completed a chunk row, whose writing takes longer than tracing a
# run; with two, the writer's work evens out over the runs
RUNS_WAITING = 2
# units per inner chunk of h and c: reading one unit decompresses this many columns (one is
# fastest to read but about twice as slow to write; measured with zarr 3.1)
QUERY_UNITS = 4
# torch threads per trace, here and on a cluster's workers: a corpus batch's steps are small
# (a few documents each), where a second thread only waits for the first, and the writer
# needs the other core (with two threads and a busy second core the compiled loop's steps
# were measured 25 to 100 times slower)
TRACE_THREADS = 1
# The method (``lstm_viz.trace``'s) is chosen once per corpus, so every chunk is computed the
# same way here, on a cluster's workers and after a resume: timed on this many steps of a real
# batch (the engine's own choice, per size class from probes of a few steps, is too noisy on a
# busy machine to trust for a whole corpus): about this many tokens of it (at least
# METHOD_PROBE_STEPS steps, fewer where its documents are shorter), the best of this many runs
METHOD_PROBE_TOKENS = 2048
METHOD_PROBE_STEPS = 64
METHOD_PROBE_RUNS = 3
MATCH_READ_CHUNKS = 16  # chunk rows read by one zarr call in ``match``
TOKEN_CHUNKS_KEPT = 16  # chunk rows of token indices kept for ``text``
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
    document alone): the units of work, each handed to the store's writer in one piece."""
    segments: list[tuple[int, int]] = []
    first, total = 0, 0
    for i, n in enumerate(lengths):
        if total and total + int(n) > tokens:
            segments.append((first, i))
            first, total = i, 0
        total += int(n)
    if first < len(lengths):
        segments.append((first, len(lengths)))
    return segments


def _groups(cfg: Any) -> list[tuple[str, int, int]]:
    """(suffix, layer, direction) of every layer and direction: ("l0", 0, 0), ("l0_reverse",
    0, 1) ..."""
    return [(f"l{k}" + ("_reverse" if d else ""), k, d)
            for k in range(cfg.num_layers) for d in range(cfg.num_directions)]


def _batch_input(lstm: nn.LSTM, embedding: torch.Tensor | None, docs: list[np.ndarray],
                 one_hot: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (T, B, input_size) zero-padded, lengths (B,)) of ``docs`` (token indices or input
    arrays), token indices through the embedding (or one-hot) as the app reads them."""
    lengths = torch.tensor([len(d) for d in docs])
    T, B = int(lengths.max()), len(docs)
    first = docs[0]
    width = embedding.shape[1] if embedding is not None else (
        one_hot if first.ndim == 1 else first.shape[1])
    x = torch.zeros(T, B, width, dtype=next(lstm.parameters()).dtype)
    for b, doc in enumerate(docs):
        if doc.ndim == 1:
            x[: len(doc), b] = embed(doc, embedding, width)[:, 0]
        else:
            x[: len(doc), b] = torch.from_numpy(doc)
    return x, lengths


def trace_batch(lstm: nn.LSTM, embedding: torch.Tensor | None, docs: list[np.ndarray],
                one_hot: int = 0, method: str = "auto") -> Any:
    """The ``lstm_viz.Trace`` of ``docs`` (token indices or input arrays) as one batch, by
    ``method``: document b's rows are ``[:len(docs[b]), b]`` of its gates, c and h."""
    x, lengths = _batch_input(lstm, embedding, docs, one_hot)
    # Forward-only LSTMs read the padded batch as it is: each document's rows come before its
    # padding and do not depend on it (the same kernels, one batch either way). A reverse
    # direction reads each document from its own end, so it needs the lengths.
    plain = not lstm.bidirectional or bool((lengths == x.shape[0]).all())
    with torch.no_grad():
        return trace(lstm, x if plain else pack_padded_sequence(x, lengths,
                                                                enforce_sorted=False),
                     method=method)


def trace_segment(lstm: nn.LSTM, embedding: torch.Tensor | None, docs: list[np.ndarray],
                  batch_tokens: int, one_hot: int, dtype: str, method: str = "auto"
                  ) -> dict[str, np.ndarray]:
    """Consecutive documents traced in batches of similar lengths; per array name (``h/l0``
    ...), the rows of all of them in order, as the store keeps them (``dtype``)."""
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    out: dict[str, np.ndarray] = {}
    for batch in _batches(lengths, batch_tokens):
        tr = trace_batch(lstm, embedding, [docs[j] for j in batch], one_hot, method)
        for suffix, k, d in _groups(tr.config):
            for kind, data in (("h", tr.h[k, d]), ("c", tr.c[k, d]), ("gates", tr.gates[k, d])):
                name = f"{kind}/{suffix}"
                if name not in out:
                    out[name] = np.empty((int(starts[-1]),) + tuple(data.shape[2:]), dtype)
                rows = torch.from_numpy(out[name])
                for b, j in enumerate(batch):
                    # converted straight into place: one pass over the trace's memory
                    rows[starts[j]:starts[j + 1]].copy_(data[:int(lengths[j]), b])
        del tr
        # the engine keeps freed trace buffers for reuse; batches of many sizes would leave
        # one of each, outside the memory plan, where the largest serves them all
        release_buffers(keep=1)
    return out


def choose_method(lstm: nn.LSTM, embedding: torch.Tensor | None, docs: list[np.ndarray],
                  batch_tokens: int, one_hot: int, method: str = "auto") -> str:
    """The method every batch of a corpus is traced with: ``method`` unless it is "auto"; then
    the one ``LSTM_VIZ_METHOD`` forces, else the fastest of the candidates (``lstm_viz.tracing.
    method_choice``) timed on the first steps (about METHOD_PROBE_TOKENS tokens) of the batch of
    ``docs`` (the corpus's first documents) that holds the most tokens, the best of
    METHOD_PROBE_RUNS runs, with the trace's TRACE_THREADS threads."""
    if method != "auto":
        return method
    forced = method_choice.forced()
    if forced is not None:
        return forced
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    batch = max(_batches(lengths, batch_tokens), key=lambda b: int(lengths[b].sum()))
    steps = max(METHOD_PROBE_STEPS, METHOD_PROBE_TOKENS // len(batch))
    x, _ = _batch_input(lstm, embedding, [docs[j][:steps] for j in batch], one_hot)
    threads = torch.get_num_threads()
    torch.set_num_threads(TRACE_THREADS)
    try:
        best: dict[str, float] = {}
        with torch.no_grad():
            for _ in range(METHOD_PROBE_RUNS):  # rounds: a busy moment slows all alike
                for m in method_choice.candidates(x):
                    start = time.perf_counter()
                    trace(lstm, x, method=m)
                    took = time.perf_counter() - start
                    best[m] = min(best.get(m, math.inf), took)
    finally:
        torch.set_num_threads(threads)
    return min(best, key=best.__getitem__)


def _remote_trace(model: tuple, docs: list[np.ndarray], batch_tokens: int, one_hot: int,
                  dtype: str, method: str = "auto") -> dict:
    """``trace_segment`` on a dask worker: the model arrives as (config dict, state dict,
    embedding), sent once to each worker."""
    from .config import LSTMConfig

    cfg_dict, state, embedding = model
    if torch.get_num_threads() != TRACE_THREADS:
        torch.set_num_threads(TRACE_THREADS)  # as here: the same kernels, the same numbers
    lstm = LSTMConfig(**cfg_dict).build()
    lstm.load_state_dict(state)
    return trace_segment(lstm.eval(), embedding, docs, batch_tokens, one_hot, dtype, method)


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


@dataclass
class _Plan:
    """How a trace's work is cut so that its buffers fit in the memory budget."""

    chunk_tokens: int  # the store's chunk length along tokens
    segment_tokens: int  # tokens per run of documents handed to the writer
    batch_tokens: int  # padded tokens per traced batch


def _plan(cfg: Any, dtype: str, budget: int, longest: int, batch_tokens: int, workers: int,
          chunk_tokens: int | None = None) -> _Plan:
    """Sizes whose buffers together stay within ``budget`` bytes: CHUNK_ROWS_HELD chunk rows
    (all arrays, ``dtype``) for the writer; per run being traced (``workers`` at once) its
    rows and the float32 trace of its batches (gates, c, h, the input and the output of one
    batch, and the largest freed batch buffer the engine keeps for the next, counted for every
    token of the run); and the RUNS_WAITING runs held for the writer. A quarter of the budget
    is left for what these do not count (zarr's and Python's own objects, torch's and the
    compiled loop's small buffers)."""
    usable = budget * 3 // 4
    row = _store_bytes(cfg, 1, np.dtype(dtype).itemsize, False)
    width = cfg.input_size + cfg.num_directions * cfg.h_out
    # float32 trace buffers per token; a reverse direction's scratch buffers once more
    traced = 4 * (_store_bytes(cfg, 1, 1, False) + 2 * width
                  + (5 * cfg.hidden_size + cfg.h_out) * (cfg.num_directions - 1)) + row
    chunk = chunk_tokens or CHUNK_TOKENS
    if chunk_tokens is None:
        while chunk > MIN_CHUNK_TOKENS and CHUNK_ROWS_HELD * chunk * row > usable * 2 // 3:
            chunk //= 2
    rest = usable - CHUNK_ROWS_HELD * chunk * row
    # tokens t with: workers * (t * row + t * traced) + RUNS_WAITING * t * row <= rest
    per_token = max(1, workers) * (row + traced) + RUNS_WAITING * row
    fits = rest // per_token if rest > 0 else 0
    if fits < longest:
        need = CHUNK_ROWS_HELD * chunk * row + longest * per_token
        raise ValueError(f"the memory budget ({_mib(budget)}) is too small for this trace: the"
                         f" longest document ({longest} tokens) and the store's chunk rows need"
                         f" a budget of about {_mib(need * 4 // 3)}; raise it (--memory-budget)"
                         " or split the"
                         " documents (--doc-sep)")
    batch = max(min(int(batch_tokens), fits), longest)
    # runs about a chunk long (whole chunk rows written as they come), fewer where the budget
    # needs; a run is at most the longer of this and its one document (``_segments``)
    return _Plan(chunk, min(fits, max(batch, chunk)), batch)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**10:,.0f} KiB"


def trace_corpus(model: CorpusModel, docs: Documents, out: str | Path, *,
                 dtype: str = "float16", batch_tokens: int = 1 << 15,
                 scheduler: str | None = None, workers: int = 1,
                 memory_budget: int | None = None, method: str = "auto",
                 progress: Callable[[int, int, int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> CorpusStore:
    """Trace every document of ``docs`` with ``model`` into the Zarr store ``out`` (see the
    module doc); returns it opened. ``method`` is ``lstm_viz.trace``'s (the same numbers; a
    speed choice). ``progress(docs_done, n_docs, tokens_done, n_tokens)`` is called after each
    run of documents is traced; ``cancel()`` returning True stops after it (what was traced is
    written, the store stays valid and the next run resumes). The runs, batches and the
    store's chunks are sized so that everything the trace holds here (traces, converted rows,
    rows waiting to be written, the writer's) stays within ``memory_budget`` (the engine's
    default when None), whatever the corpus size. A failure stops with a ValueError that says
    where; the documents written before it stay valid."""
    zarr = _need("zarr")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    cfg = _config_of(model.lstm)
    lengths = _document_lengths(docs)
    n_tokens = int(lengths.sum())
    doc_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    one_hot = _one_hot_width(model, docs, cfg.input_size)
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    identity = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "config": cfg.to_dict(),
        "model_sha256": model.sha256, "lstm": model.name, "model_path": model.path,
        "dtype": dtype, "n_docs": len(docs), "n_tokens": n_tokens,
        "doc_lengths_sha": _digest(lengths),
        "tokenizer": docs.tokenizer, "source": "text" if docs.token_ids is not None else "array",
    }
    items = docs.token_ids if docs.token_ids is not None else docs.arrays
    assert items is not None
    out = Path(out)
    root: Any = None
    if out.exists():
        opened = _resume(out, identity, cfg, dtype, budget, int(lengths.max()), workers)
        if opened is None:
            return CorpusStore(out)  # nothing left to trace
        root, plan, done = opened
        # as the first run traced, so that its rows and these are computed alike
        kept = root.attrs.get("method")
        if method == "auto" and kept in method_choice.METHODS:
            method = kept
    else:
        plan = _plan(cfg, dtype, budget, int(lengths.max()), batch_tokens, workers)
        _check_disk(out, _store_bytes(cfg, n_tokens, np.dtype(dtype).itemsize,
                                      docs.arrays is not None))
        done = set()
    segments = _segments(lengths, plan.segment_tokens)
    method = choose_method(model.lstm.eval(), model.embedding,
                           list(items[:segments[0][1]]), plan.batch_tokens, one_hot, method)
    if root is None:
        root = _create(out, cfg, identity, plan, doc_start, docs, dtype, zarr, method)
    work = [(i, items[segments[i][0]:segments[i][1]]) for i in range(len(segments))
            if i not in done]
    # gathered as rows are written; read back from the store instead after a resumed run
    summaries = _Summaries(cfg, n_tokens, plan.chunk_tokens) if not done else None
    writer = _Writer(root, cfg, plan.chunk_tokens, doc_start, segments, done, summaries)
    runs = _run(model, work, plan.batch_tokens, one_hot, dtype, method, scheduler, workers)
    _write_runs(runs, writer, out, len(docs), n_tokens, progress, cancel)
    complete = len(writer.done) == len(segments)
    if complete and summaries is not None:
        summaries.save(root)
    elif complete:
        summarize(out)
    root.attrs["complete"] = complete
    return CorpusStore(out)


def _document_lengths(docs: Documents) -> np.ndarray:
    """The documents' lengths in tokens; ValueError where there is none or one is empty."""
    lengths = docs.lengths()
    if not len(lengths):
        raise ValueError("the corpus has no documents")
    if int(lengths.min()) < 1:
        empty = int(np.argmin(lengths))
        name = docs.names[empty] if empty < len(docs.names) else f"document {empty}"
        raise ValueError(f"{name} is empty: every document needs at least one token")
    return lengths


def _resume(out: Path, identity: dict[str, Any], cfg: Any, dtype: str, budget: int,
            longest: int, workers: int) -> tuple[Any, _Plan, set[int]] | None:
    """The store ``out`` opened to go on tracing it: (its root, the plan of its first run, the
    runs done), or None when it is complete; ValueError where it holds another trace or the
    budget cannot hold its runs."""
    root = _open_group(out, "r+")
    attrs = dict(root.attrs)
    _refuse_another_trace(out, attrs, identity)
    if attrs.get("complete"):
        return None
    if "segment_tokens" not in attrs:
        raise ValueError(f"{out.name} was written by an older lstm-viz that cut the work"
                         " differently; delete it to trace again")
    # a resumed run cuts the work as the first run did, so its rows are the same
    plan = _Plan(int(attrs["chunk_tokens"]), int(attrs["segment_tokens"]),
                 int(attrs["batch_tokens"]))
    here = _plan(cfg, dtype, budget, longest, plan.batch_tokens, workers, plan.chunk_tokens)
    if max(plan.segment_tokens, plan.batch_tokens) > here.segment_tokens:
        raise ValueError(f"{out.name} was traced in runs of {plan.segment_tokens} tokens,"
                         f" more than the memory budget ({_mib(budget)}) holds; resume it"
                         " with the budget of the first run (--memory-budget)")
    return root, plan, set(attrs.get("segments_done", []))


def _check_disk(out: Path, need: int) -> None:
    """ValueError, before anything is written, where ``out``'s disk has less than ``need``
    bytes free."""
    free = shutil.disk_usage(out.resolve().parent).free
    if need > free:
        raise ValueError(f"the store needs about {need / 2**30:.1f} GiB (before"
                         f" compression) and {out.resolve().parent} has"
                         f" {free / 2**30:.1f} GiB free; choose another --out or a smaller"
                         " corpus or --dtype float16")


def _write_runs(runs: Iterable[tuple[int, Any]], writer: _Writer, out: Path, n_docs: int,
                n_tokens: int, progress: Callable[[int, int, int, int], None] | None,
                cancel: Callable[[], bool] | None) -> None:
    """Write each traced run with ``writer`` on a second thread while the next ones are traced
    (compression releases the GIL); at most RUNS_WAITING runs are held for it, so the rows held
    stay within the plan. What was traced before a failure is written and marked, so a new run
    resumes there; the failure becomes a ValueError that says where the trace stopped."""
    from concurrent.futures import Future, ThreadPoolExecutor

    docs_done, tokens_done = writer.written()
    pool = ThreadPoolExecutor(1, thread_name_prefix="lstm-viz-corpus-writer")
    pending: deque[Future] = deque()
    threads = torch.get_num_threads()
    torch.set_num_threads(TRACE_THREADS)
    try:
        for index, result in runs:
            while len(pending) >= RUNS_WAITING:
                pending.popleft().result()
            pending.append(pool.submit(writer.push, index, result))
            del result
            first, stop = writer.segments[index]
            docs_done += stop - first
            tokens_done += int(writer.doc_start[stop] - writer.doc_start[first])
            if progress is not None:
                progress(docs_done, n_docs, tokens_done, n_tokens)
            if cancel is not None and cancel():
                break
        while pending:
            pending.popleft().result()
        writer.flush()
    except BaseException as exc:
        try:
            while pending:
                pending.popleft().result()
            writer.flush()
        except Exception:  # noqa: BLE001 - the first failure is the one to report
            pass
        if isinstance(exc, Exception):
            line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{line}; {stopped_at(out)}") from exc
        raise
    finally:
        pool.shutdown(wait=True)
        torch.set_num_threads(threads)


def stopped_at(path: str | Path) -> str:
    """Where the trace of the store at ``path`` stopped, in words a user can act on."""
    try:
        attrs = dict(_open_group(Path(path), "r").attrs)
    except ValueError:
        return f"nothing was written to {Path(path).name}"
    docs = int(attrs.get("docs_written", 0))
    tokens = int(attrs.get("tokens_written", 0))
    return (f"stopped after {docs} of {attrs.get('n_docs')} documents ({tokens} of"
            f" {attrs.get('n_tokens')} tokens), which {Path(path).name} keeps: run the same"
            " command again to trace the rest")


class _Writer:
    """Writes the rows of traced runs of documents into the store, in whole chunk rows where
    runs arrive in order: a chunk row that a run covers is written straight from it; one that
    runs share is put together in one buffer per array (``row``) and written when complete.
    A run is marked done once all its rows are written, so an interrupted trace never skips
    rows that were not written. Called from one thread at a time."""

    def __init__(self, root: Any, cfg: Any, chunk: int, doc_start: np.ndarray,
                 segments: list[tuple[int, int]], done: set[int],
                 summaries: _Summaries | None) -> None:
        self.root, self.chunk, self.doc_start = root, chunk, doc_start
        self.segments, self.done, self.summaries = segments, done, summaries
        # every chunk is written whole, never empty: zarr's test of each chunk for all-fill
        # (NaN) values, elementwise in float16, cost more than compressing it
        self.arrays = {name: root[name].with_config({"write_empty_chunks": True})
                       for name in _state_names(cfg)}
        # whole chunk rows go straight to their files, without zarr's asynchronous pipeline,
        # whose work per chunk cost more than the compression; the rest goes through zarr
        self.direct = {name: ChunkWriter.of(array) for name, array in self.arrays.items()}
        self.n_tokens = int(doc_start[-1])
        # corpus rows [start, end), inside one chunk row, wait in ``row`` (at their offset in
        # that chunk row); rows before ``start`` are written
        self.row: dict[str, np.ndarray] = {}
        self.start = self.end = 0
        self.waiting: list[int] = []  # runs with rows not written yet

    def written(self) -> tuple[int, int]:
        """(documents, tokens) of the runs written so far."""
        docs = tokens = 0
        for i in self.done:
            first, stop = self.segments[i]
            docs += stop - first
            tokens += int(self.doc_start[stop] - self.doc_start[first])
        return docs, tokens

    def push(self, index: int, rows: dict[str, np.ndarray]) -> None:
        """The rows of run ``index``: written up to the last chunk boundary they reach (the
        store's end included)."""
        first, stop = self.segments[index]
        start, end = int(self.doc_start[first]), int(self.doc_start[stop])
        if start != self.end:  # not the run after the last one
            self.flush()
            self.start = self.end = start
        self.waiting.append(index)
        at = start
        while at < end:
            row_start = at // self.chunk * self.chunk
            row_stop = min(row_start + self.chunk, self.n_tokens)
            upto = min(end, row_stop)
            if at == row_start and upto == row_stop:  # a whole chunk row: no copy
                for name, block in rows.items():
                    self._write(name, at, block[at - start:upto - start])
                self.start = upto
            else:
                for name, block in rows.items():
                    if name not in self.row:
                        self.row[name] = np.empty((self.chunk,) + block.shape[1:], block.dtype)
                    self.row[name][at - row_start:upto - row_start] = block[at - start:
                                                                            upto - start]
                self.end = upto
                if upto == row_stop:
                    self._write_row()
            self.end = at = upto
        self._mark()

    def flush(self) -> None:
        """Write the rows that wait, even where they end inside a chunk."""
        self._write_row()
        self._mark()

    def _write_row(self) -> None:
        """Write the rows [start, end) waiting in ``row``."""
        if self.end > self.start:
            offset = self.start // self.chunk * self.chunk
            for name, held in self.row.items():
                self._write(name, self.start, held[self.start - offset:self.end - offset])
        self.start = self.end

    def _write(self, name: str, start: int, rows: np.ndarray) -> None:
        if not len(rows):
            return
        array, direct = self.arrays[name], self.direct[name]
        width = array.chunks[-1]
        if direct is not None and direct.covers(start, len(rows)):
            direct.write(start, rows)
        elif rows.ndim == 3 and width < rows.shape[-1]:
            # gates: a block of units at a time, each exactly a chunk where the rows are a
            # chunk row, which zarr then encodes as it is instead of copying it into a new
            # chunk first
            for u in range(0, rows.shape[-1], width):
                array[start:start + len(rows), :, u:u + width] = rows[:, :, u:u + width]
        else:
            array[start:start + len(rows)] = rows
        if self.summaries is not None:
            self.summaries.add(name, start, rows)

    def _mark(self) -> None:
        finished = [i for i in self.waiting if int(self.doc_start[self.segments[i][1]])
                    <= self.start]
        if not finished and self.waiting:
            return
        for i in finished:
            self.waiting.remove(i)
            self.done.add(i)
        docs, tokens = self.written()
        self.root.attrs.update({"segments_done": sorted(self.done), "docs_written": docs,
                                "tokens_written": tokens})


def _run(model: CorpusModel, work: list[tuple[int, list[np.ndarray]]], batch_tokens: int,
         one_hot: int, dtype: str, method: str, scheduler: str | None, workers: int
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
                                       dtype, method, pure=False)
                futures[future] = index
                return future

            for index, docs in pending:
                submit(index, docs)
                if len(futures) >= limit:
                    break
            queue = distributed.as_completed(list(futures))
            for future in queue:
                index = futures.pop(future)
                result = future.result()
                del future  # the worker may drop its copy
                yield index, result
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
            yield index, trace_segment(lstm, emb, docs, batch_tokens, one_hot, dtype, method)
        return
    for start in range(0, len(work), wave):
        part = work[start:start + wave]
        tasks = [dask.delayed(trace_segment)(lstm, emb, docs, batch_tokens, one_hot, dtype,
                                             method) for _, docs in part]
        results = list(dask.compute(*tasks, scheduler="threads", num_workers=wave))
        for i in range(len(part)):
            result, results[i] = results[i], None
            yield part[i][0], result


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
        missing = type(exc).__name__ in ("GroupNotFoundError", "FileNotFoundError")
        why = "no Zarr group there" if missing else f"{type(exc).__name__}: {exc}"
        raise ValueError(f"{path} is not a corpus store ({why}); give the folder that"
                         " lstm-viz corpus trace --out wrote") from None
    if root.attrs.get("format") != FORMAT:
        raise ValueError(f"{path} is a Zarr store but not an lstm-viz corpus store")
    if int(root.attrs.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer lstm-viz; update lstm-viz to read it")
    return root


def _pieces(items: Sequence[np.ndarray], doc_start: np.ndarray, a: int, b: int) -> np.ndarray:
    """The rows [a, b) of the documents ``items`` laid end to end."""
    first = int(np.searchsorted(doc_start, a, side="right") - 1)
    parts = []
    d = first
    while d < len(items) and int(doc_start[d]) < b:
        lo, hi = int(doc_start[d]), int(doc_start[d + 1])
        parts.append(items[d][max(a, lo) - lo:min(b, hi) - lo])
        d += 1
    return np.concatenate(parts)


def _create(out: Path, cfg: Any, identity: dict, plan: _Plan, doc_start: np.ndarray,
            docs: Documents, dtype: str, zarr: Any, method: str) -> Any:
    root = zarr.open_group(str(out), mode="w-")
    n = int(doc_start[-1])
    tokens = min(plan.chunk_tokens, max(n, 1))

    from zarr.codecs import BloscCodec

    # states: LZ4 over bit-shuffled values, several times faster to write than zstd and about
    # as small (measured on the character demo's float16 states: 364 against 337 MiB)
    fast = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")

    def array(name: str, shape: tuple, kind: str, fill: float | int = 0,
              per_unit: bool = False) -> Any:
        extra: dict[str, Any] = {"compressors": fast} if kind in DTYPES else {}
        if per_unit:
            # h and c: one shard (file) per chunk row, holding inner chunks of a few units'
            # columns each, so a query on a few units decompresses only theirs
            inner = min(shape[1], QUERY_UNITS)
            extra.update(shards=(tokens, -(-shape[1] // inner) * inner))
            chunks: tuple = (tokens, inner)
        else:  # along tokens, and along units (the last axis) in blocks of CHUNK_UNITS
            chunks = (tokens,) + shape[1:-1] + ((min(shape[-1], CHUNK_UNITS),)
                                                if len(shape) > 1 else ())
        return root.create_array(name, shape=shape, chunks=chunks, dtype=kind,
                                 fill_value=fill, **extra)

    array("doc_start", (len(doc_start),), "int64")[:] = doc_start
    ids = array("token_ids", (n,), "int32", -1)
    inputs = None if docs.arrays is None else array("x", (n, cfg.input_size), "float32")
    for a, b in _chunks(n, plan.chunk_tokens):  # a chunk row at a time: memory stays bounded
        if docs.token_ids is not None:
            ids[a:b] = _pieces(docs.token_ids, doc_start, a, b)
        elif inputs is not None and docs.arrays is not None:
            inputs[a:b] = _pieces(docs.arrays, doc_start, a, b)
    for suffix, _, _ in _groups(cfg):
        array(f"h/{suffix}", (n, cfg.h_out), dtype, float("nan"), per_unit=True)
        array(f"c/{suffix}", (n, cfg.hidden_size), dtype, float("nan"), per_unit=True)
        array(f"gates/{suffix}", (n, 4, cfg.hidden_size), dtype, float("nan"))
    root.attrs.update({**identity, "chunk_tokens": plan.chunk_tokens,
                       "segment_tokens": plan.segment_tokens,
                       "batch_tokens": plan.batch_tokens, "method": method,
                       "vocab": list(docs.vocab) if docs.vocab else None,
                       "doc_names": docs.names, "lstm_viz_version": __version__,
                       "segments_done": [], "docs_written": 0, "tokens_written": 0,
                       "complete": False})
    return root


# ----- per-chunk summaries and statistics ----------------------------------------------------
def _chunks(n: int, chunk: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, chunk):
        yield start, min(n, start + chunk)


def _chunk_of(root: Any) -> int:
    """The store's chunk length along tokens."""
    return int(root.attrs.get("chunk_tokens") or CHUNK_TOKENS)


class _Summaries:
    """Each token chunk's minimum and maximum of every unit of h and c, gathered from the rows
    as they are written (``add``) and saved into the store (``save``)."""

    def __init__(self, cfg: Any, n: int, chunk: int) -> None:
        self.chunk = chunk
        self.n_chunks = max(1, math.ceil(n / chunk))
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
        first = start // self.chunk
        last = (start + len(rows) - 1) // self.chunk
        for c in range(first, last + 1):  # the part of the rows in each chunk
            part = torch.from_numpy(np.ascontiguousarray(
                rows[max(0, c * self.chunk - start):(c + 1) * self.chunk - start]))
            # torch reduces float16 without converting it (numpy's float16 reductions are slow)
            np.minimum(lo[c], part.amin(0).float().numpy(), out=lo[c])
            np.maximum(hi[c], part.amax(0).float().numpy(), out=hi[c])

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
    n, chunk = int(root.attrs["n_tokens"]), _chunk_of(root)
    summaries = _Summaries(cfg, n, chunk)
    for name in summaries.values:
        data = root[name]
        for a, b in _chunks(n, chunk):
            summaries.add(name, a, np.asarray(data[a:b]))
    summaries.save(root)


def compute_stats(path: str | Path, k: int = TOP_K) -> None:
    """Per-unit statistics over the whole store, written into it (``stats/...``): mean and std
    of h and c; the fraction of steps each gate is saturated (i, f, o below 0.1 or above 0.9,
    |g| above 0.9); histograms of h and c; the ``k`` positions of the largest and the most
    negative h and c of each unit. Reads a chunk row of CHUNK_UNITS units at a time."""
    root = _open_group(Path(path), "r+")
    cfg = _cfg_from(root)
    n, chunk = int(root.attrs["n_tokens"]), _chunk_of(root)
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
            for u0 in range(0, units, CHUNK_UNITS):
                cols = slice(u0, min(units, u0 + CHUNK_UNITS))
                for a, b in _chunks(n, chunk):
                    block = np.asarray(data[a:b, cols], dtype=np.float64)
                    total[cols] += block.sum(0)
                    squares[cols] += (block ** 2).sum(0)
                    bins = np.clip(((block - lo) / (hi - lo) * HIST_BINS).astype(np.int64), 0,
                                   HIST_BINS - 1)
                    for j in range(block.shape[1]):
                        u = u0 + j
                        hist[u] += np.bincount(bins[:, j], minlength=HIST_BINS)
                        for sign, column in (("pos", block[:, j]), ("neg", -block[:, j])):
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
        for a, b in _chunks(n, chunk):
            for u0 in range(0, cfg.hidden_size, CHUNK_UNITS):
                cols = slice(u0, min(cfg.hidden_size, u0 + CHUNK_UNITS))
                block = np.asarray(gates[a:b, :, cols], dtype=np.float32)
                for g in (0, 1, 3):
                    counts[g, cols] += ((block[:, g] < SATURATED)
                                        | (block[:, g] > 1 - SATURATED)).sum(0)
                counts[2, cols] += (np.abs(block[:, 2]) > 1 - SATURATED).sum(0)
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
    """A traced corpus: ``top`` and ``match`` answered from the store without tracing again,
    reading only the columns of the units asked about, of the chunks that can hold an answer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.root = _open_group(self.path, "r")
        self.attrs = dict(self.root.attrs)
        self.config = _cfg_from(self.root)
        self.n_tokens = int(self.attrs["n_tokens"])
        self.chunk_tokens = _chunk_of(self.root)
        self.doc_start = np.asarray(self.root["doc_start"][:], dtype=np.int64)
        vocab = self.attrs.get("vocab")
        self.vocab: tuple[str, ...] | None = tuple(vocab) if vocab else None
        self._token_chunks: OrderedDict[int, np.ndarray] = OrderedDict()

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
        for u in [unit] if isinstance(unit, (int, np.integer)) else unit:
            if not isinstance(u, (int, np.integer)) or not 0 <= u < width:
                raise ValueError(f"unit {u} is out of range: {state} has {width} units"
                                 f" (0..{width - 1})")
        if not self.complete:
            raise ValueError(f"{self.path.name} is not complete (its trace stopped); run"
                             " lstm-viz corpus trace again with the same arguments to finish it")
        suffix = f"l{layer}" + ("_reverse" if direction == "reverse" else "")
        return suffix, self.root[f"{state}/{suffix}"]

    def token_ids(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The token indices at corpus positions [start, stop) (all by default), read a chunk
        row at a time (the last few kept)."""
        C = self.chunk_tokens
        start = max(0, int(start))
        stop = self.n_tokens if stop is None else min(self.n_tokens, int(stop))
        if stop <= start:
            return np.zeros(0, np.int64)
        if stop - start > TOKEN_CHUNKS_KEPT * C:
            return np.asarray(self.root["token_ids"][start:stop], dtype=np.int64)
        parts = []
        for c in range(start // C, (stop - 1) // C + 1):
            if c not in self._token_chunks:
                self._token_chunks[c] = np.asarray(self.root["token_ids"][c * C:(c + 1) * C],
                                                   dtype=np.int64)
                if len(self._token_chunks) > TOKEN_CHUNKS_KEPT:
                    self._token_chunks.popitem(last=False)
            self._token_chunks.move_to_end(c)
            parts.append(self._token_chunks[c][max(start - c * C, 0):min(stop - c * C, C)])
        return np.concatenate(parts)

    def doc_of(self, position: int) -> int:
        return int(np.searchsorted(self.doc_start, position, side="right") - 1)

    def text(self, start: int, stop: int) -> str:
        """The tokens at corpus positions [start, stop) as text (their indices without a
        vocabulary); for array inputs, which steps of which document they are (one step: its
        number)."""
        if self.attrs.get("source") == "array":
            d = self.doc_of(start)
            names = self.attrs.get("doc_names") or []
            first = start - int(self.doc_start[d])
            if stop - start == 1:
                return str(first)
            return (f"{names[d] if d < len(names) else f'document {d}'} steps"
                    f" {first}..{first + stop - start - 1}")
        ids = self.token_ids(start, stop)
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
        if not isinstance(context, int) or context < 0:
            raise ValueError(f"context must be a whole number of tokens (got {context!r})")
        suffix, data = self._array(state, layer, direction, unit)
        factor = 1.0 if sign == "pos" else -1.0
        # chunks in the order of their best value (from the summaries): once k values are
        # found that no later chunk can beat, the rest is never read
        if sign == "pos":
            bound = np.asarray(self.root[f"summary/max/{state}/{suffix}"][:, unit], np.float64)
        else:
            bound = -np.asarray(self.root[f"summary/min/{state}/{suffix}"][:, unit], np.float64)
        chunks = list(_chunks(self.n_tokens, self.chunk_tokens))
        best: list[tuple[float, int]] = []  # (value, -position), best first
        for i in sorted(range(len(chunks)), key=lambda i: (-bound[i], i)):
            # no later chunk can beat the k-th best: its values are all smaller, or (where
            # values saturate) as large at later positions
            if len(best) == k and (best[-1][0] > bound[i] or (
                    best[-1][0] == bound[i] and chunks[i][0] > -best[-1][1])):
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
        ties by position. Reads only the chosen units' columns, of the chunks whose summaries
        allow a match."""
        on, off = [int(u) for u in on], [int(u) for u in off]
        if not on:
            raise ValueError("match needs at least one --on unit")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
                or not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number (got {threshold!r})")
        if min_len < 1 or limit < 1:
            raise ValueError("min-len and limit must be at least 1")
        suffix, data = self._array(state, layer, direction, on + off)
        threshold = float(threshold)
        lo = np.asarray(self.root[f"summary/min/{state}/{suffix}"][:])
        hi = np.asarray(self.root[f"summary/max/{state}/{suffix}"][:])
        # a chunk can hold a matching position only if each on unit exceeds the threshold
        # somewhere in it and each off unit is at or below it somewhere
        possible = np.asarray((hi[:, on] > threshold).all(1), dtype=bool)
        if off:
            possible &= (lo[:, off] <= threshold).all(1)
        columns = sorted(set(on + off))
        scan = _MatchScan(self.doc_start, [columns.index(u) for u in on],
                          [columns.index(u) for u in off], threshold, min_len, limit)
        C = self.chunk_tokens

        def read(first: int, stop: int) -> tuple[int, np.ndarray]:
            a, b = first * C, min(self.n_tokens, stop * C)
            # one unit at a time: a plain slice reads only that unit's inner chunks (zarr 3.1
            # decodes whole shards for a list of columns)
            return a, np.stack([np.asarray(data[a:b, u]) for u in columns], 1)

        from concurrent.futures import ThreadPoolExecutor

        blocks = list(_runs_of(np.flatnonzero(possible), MATCH_READ_CHUNKS))
        with ThreadPoolExecutor(1, thread_name_prefix="lstm-viz-corpus-reader") as pool:
            # the next block is read while this one is scanned
            ahead = pool.submit(read, *blocks[0]) if blocks else None
            for j in range(len(blocks)):
                assert ahead is not None
                a, raw = ahead.result()
                ahead = pool.submit(read, *blocks[j + 1]) if j + 1 < len(blocks) else None
                scan.add(a, np.asarray(raw, dtype=np.float64))
                del raw
        found = scan.finish()
        return [{"doc": self.doc_of(s), "start": s, "stop": e, "score": score,
                 "text": self.text(s, e)} for score, s, e in found]


def _runs_of(indices: np.ndarray, most: int) -> Iterator[tuple[int, int]]:
    """[first, stop) runs of consecutive ``indices``, each at most ``most`` long."""
    first = stop = -1
    for i in (int(j) for j in indices):
        if i == stop and i - first < most:
            stop = i + 1
            continue
        if first >= 0:
            yield first, stop
        first, stop = i, i + 1
    if first >= 0:
        yield first, stop


class _MatchScan:
    """``match`` over blocks of rows read in corpus order: finds the runs where the on columns
    are above the threshold and the off columns at or below it, split at document starts
    (a run reaching a block's end goes on into the next block when it starts there), and keeps
    the ``limit`` best. A span's score is the mean of its positions' scores computed as a
    scan of the whole array would (``np.mean`` of the float64 values); each block's spans are
    ranked first by sums (with a bound on their rounding) and only those that can reach the
    best ``limit`` get that exact mean."""

    def __init__(self, doc_start: np.ndarray, on: list[int], off: list[int], threshold: float,
                 min_len: int, limit: int) -> None:
        self.doc_start, self.on, self.off = doc_start, on, off
        self.threshold, self.min_len, self.limit = threshold, min_len, limit
        self.best: list[tuple[float, int, int]] = []  # (score, start, stop), best first
        self.open_start: int | None = None  # a run that reached the end of the last block
        self.open_scores: list[np.ndarray] = []
        self.end = 0  # one past the last block's rows

    def add(self, a: int, block: np.ndarray) -> None:
        """Rows [a, a + len(block)) of the chosen columns (float64)."""
        if a != self.end:
            self._close()  # the rows between cannot match: a run open at the last end ended
        rows = len(block)
        b = a + rows
        t = self.threshold
        ok = np.asarray((block[:, self.on] > t).all(1), dtype=bool)
        if self.off:
            ok &= (block[:, self.off] <= t).all(1)
        # scores only where a span can be (each row's as a whole-array scan computes it)
        score = np.zeros(rows)
        where = np.flatnonzero(ok)
        if len(where):
            rows_ok = block[where]
            score[where] = rows_ok[:, self.on].mean(1) - (rows_ok[:, self.off].mean(1)
                                                          if self.off else 0.0)
        # breaks[j]: a document starts at a + j, so no run goes from a + j - 1 to a + j
        breaks = np.zeros(rows + 1, dtype=bool)
        inside = self.doc_start[np.searchsorted(self.doc_start, a):
                                np.searchsorted(self.doc_start, b, side="right")]
        breaks[inside - a] = True
        carried = self.open_start is not None and not breaks[0]
        if self.open_start is not None and (not ok[0] or breaks[0]):
            self._close()
            carried = False
        before = np.concatenate([[carried], ok[:-1]]) & ~breaks[:-1]
        after = np.concatenate([ok[1:], [False]]) & ~breaks[1:]
        starts = np.flatnonzero(ok & ~before)
        stops = np.flatnonzero(ok & ~after) + 1
        # the run reaching this block's end may go on into the next one
        reaches_end = bool(ok[-1]) and not breaks[rows] and b < int(self.doc_start[-1])
        spans: list[tuple[int, int]] = []
        if carried and ok[0]:
            stop0 = int(stops[0])
            if reaches_end and len(stops) == 1:  # the carried run spans the whole block
                self.open_scores.append(score)
                self.end = b
                return
            assert self.open_start is not None
            whole = np.concatenate(self.open_scores + [score[:stop0]])
            self._offer_exact(self.open_start, a + stop0, whole)
            self.open_start, self.open_scores = None, []
            stops = stops[1:]
        if reaches_end:
            s_last = int(starts[-1])
            self.open_start, self.open_scores = a + s_last, [score[s_last:]]
            starts, stops = starts[:-1], stops[:len(starts) - 1]
        keep = stops - starts >= self.min_len
        starts, stops = starts[keep], stops[keep]
        if len(starts):
            spans = list(zip(starts.tolist(), stops.tolist()))
            self._offer(a, score, np.asarray(starts), np.asarray(stops), spans)
        self.end = b

    def _offer(self, a: int, score: np.ndarray, starts: np.ndarray, stops: np.ndarray,
               spans: list[tuple[int, int]]) -> None:
        """Spans [starts, stops) of this block: exact means for those that can be among the
        best ``limit``."""
        padded = np.concatenate([score, [0.0]])
        edges = np.stack([starts, stops], 1).ravel()
        length = stops - starts
        sums = np.add.reduceat(padded, edges)[::2]
        sizes = np.add.reduceat(np.abs(padded), edges)[::2]
        approx = sums / length
        # |sequential sum - exact| <= n eps sum|x|; np.mean's pairwise sum is as close
        slack = 4.0 * (length + 2) * np.finfo(np.float64).eps * sizes / length
        lower = np.concatenate([approx - slack, [s for s, _, _ in self.best]])
        if len(lower) > self.limit:
            kth = float(np.partition(lower, len(lower) - self.limit)[len(lower) - self.limit])
            chosen = np.flatnonzero(approx + slack >= kth)
        else:
            chosen = np.arange(len(spans))
        new = [(float(score[s:e].mean()), a + s, a + e) for s, e in (spans[i] for i in chosen)]
        self._merge(new)

    def _offer_exact(self, start: int, stop: int, scores: np.ndarray) -> None:
        if stop - start >= self.min_len:
            self._merge([(float(scores.mean()), start, stop)])

    def _merge(self, new: list[tuple[float, int, int]]) -> None:
        if new:
            self.best = sorted(self.best + new, key=lambda v: (-v[0], v[1]))[:self.limit]

    def _close(self) -> None:
        """The open run ends at the last block's end."""
        if self.open_start is not None:
            whole = np.concatenate(self.open_scores)
            self._offer_exact(self.open_start, self.open_start + len(whole), whole)
        self.open_start, self.open_scores = None, []

    def finish(self) -> list[tuple[float, int, int]]:
        self._close()
        return self.best


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
