"""Text for trained models: vocabulary files, token indices, embedding lookup, text features.

A model trained on text reads token indices through an embedding matrix (vocab_size,
input_size). ``read_vocab`` reads the vocabulary (a JSON ``{token: index}`` or list, or a text
file with one token per line); ``encode`` turns text into indices; ``embed`` into the (T, B,
input_size) tensor the LSTM reads. Importing this module registers the ``"tokens"`` input
source, whose ``InputSpec.params`` hold ``vocab`` (or ``vocab_path``) and ``model_path``
(the checkpoint with the embedding); without an embedding the tokens are one-hot.

``python_text_features`` gives per-character signals of Python source (inside a string, bracket
depth, indentation, ...) to check what a unit tracks with ``analysis.signal_correlation``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import inputs
from ..formats.loader import load_model
from ..inputs import InputSpec
from . import tokenize as _tok
from .vocab import check_vocab_size, parse_vocab_json, read_vocab_text, vocab_lines

UNK_TOKENS = _tok.UNK_TOKENS


def read_vocab(path: str | Path) -> list[str]:
    """Tokens by index from ``path``: JSON {token: index} / [token, ...], or one token per line."""
    p, text = read_vocab_text(path)
    if p.suffix.lower() == ".json":
        return vocab_from(parse_vocab_json(text, p.name), name=p.name)
    return vocab_lines(text, p.name)


def vocab_from(data: object, name: str = "vocabulary") -> list[str]:
    """Tokens by index from a {token: index} mapping or a sequence of tokens (or a string)."""
    if isinstance(data, (str, Mapping, Sequence)):
        check_vocab_size(len(data), name)
    if isinstance(data, str):
        return list(data)
    if isinstance(data, Mapping):
        for tok, i in data.items():
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise ValueError(f"{name}: {tok!r:.40} has the index {i!r}, not an integer;"
                                 " expected {token: index} with integer indices 0, 1, 2, ...")
        pairs = sorted((int(i), str(tok)) for tok, i in data.items())
        idx = [i for i, _ in pairs]
        if idx != list(range(len(idx))):
            raise ValueError(f"{name}: indices must be 0..{len(idx) - 1} without gaps or repeats")
        return [tok for _, tok in pairs]
    if isinstance(data, Sequence) and all(isinstance(t, str) for t in data):
        return list(data)
    raise ValueError(f"{name}: expected a {{token: index}} object or a list of tokens,"
                     f" got {type(data).__name__}")


def is_char_vocab(vocab: Sequence[str]) -> bool:
    """True when every token is one character (then text is split into characters)."""
    return all(len(t) == 1 for t in vocab)


def tokenize(text: str, vocab: Sequence[str], tokenizer: str | None = None) -> list[str]:
    """The tokens of ``text``: with ``tokenizer`` ("characters", "words", "regex:PATTERN"),
    else the one the vocabulary's content suggests (``lstm_viz.text.tokenize.choose``)."""
    tok = _tok.Tokenizer.parse(tokenizer) if tokenizer else _tok.choose(vocab)[0]
    return tok.split(text, vocab)


def encode(text: str, vocab: Sequence[str], tokenizer: str | None = None) -> list[int]:
    """Token indices of ``text``. Tokens not in the vocabulary read as its <unk> token, with an
    UnknownTokensWarning that says how many; without an <unk> token, a ValueError."""
    enc = _tok.encode_tokens(tokenize(text, vocab, tokenizer), vocab)
    if enc.unknown:
        warnings.warn(enc.unknown_message(), _tok.UnknownTokensWarning, stacklevel=2)
    return list(enc.indices)


def embed(indices: Sequence[int] | Sequence[Sequence[int]] | np.ndarray | torch.Tensor,
          embedding: torch.Tensor | None, input_size: int) -> torch.Tensor:
    """(T, B) token indices -> (T, B, input_size): rows of ``embedding``, or one-hot without it."""
    idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
    if idx.ndim == 1:
        idx = idx[:, None]
    if embedding is None:
        if int(idx.max()) >= input_size:
            raise ValueError(f"token index {int(idx.max())} needs one-hot input_size >"
                             f" {int(idx.max())}, the LSTM has input_size={input_size};"
                             " open the checkpoint's embedding or a matching model")
        return torch.nn.functional.one_hot(idx, input_size).float()
    V, E = embedding.shape
    if E != input_size:
        raise ValueError(f"the embedding matrix is ({V}, {E}) but the LSTM has"
                         f" input_size={input_size}; expected ({V}, {input_size})")
    if int(idx.max()) >= V:
        raise ValueError(f"token index {int(idx.max())} is outside the embedding's {V} rows")
    return embedding.detach().float()[idx]


# ----- the "tokens" input source ------------------------------------------------------------
@lru_cache(maxsize=4)
def _embedding_from(model_path: str, mtime: float, input_size: int, lstm: str,
                    embedding_key: str = "") -> torch.Tensor | None:
    loaded = load_model(model_path)
    if embedding_key:  # the one the user paired with this LSTM by hand
        cand = loaded.pick(lstm or None)
        return cand.with_embedding(embedding_key).embedding
    cands = [c for c in loaded.lstms if c.embedding is not None
             and c.embedding.shape[1] == input_size]
    if lstm:
        cands = [c for c in cands if lstm in (c.name, c.prefix)] or cands
    return cands[0].embedding if cands else None


def spec_vocab(spec: InputSpec) -> list[str]:
    """The vocabulary of a ``"tokens"`` spec: ``params["vocab"]`` or the file at vocab_path."""
    if spec.params.get("vocab"):
        return vocab_from(spec.params["vocab"])
    if spec.params.get("vocab_path"):
        return read_vocab(spec.params["vocab_path"])
    raise ValueError("tokens input needs a vocabulary (a vocabulary file or the checkpoint's)")


def spec_tokenizer(spec: InputSpec) -> tuple[_tok.Tokenizer, str]:
    """The tokenizer of a ``"tokens"`` spec and why: ``params["tokenizer"]`` when chosen, else
    the one its vocabulary's content suggests."""
    chosen = spec.params.get("tokenizer")
    if chosen:
        return _tok.Tokenizer.parse(chosen), "chosen"
    return _tok.choose(spec_vocab(spec))


def spec_encoding(spec: InputSpec) -> _tok.Encoding:
    """The tokens of a ``"tokens"`` spec's text, their indices, and the unknown ones."""
    vocab = spec_vocab(spec)
    return _tok.encode_tokens(spec_tokenizer(spec)[0].split(spec.text, vocab), vocab)


def spec_tokens(spec: InputSpec) -> list[list[str]]:
    """The token shown at each (batch, t) for a text or tokens spec: B lists of seq_len tokens.

    Mirrors how the sources lay text out: sequence b starts b*seq_len tokens in, wrapping.
    """
    if spec.source == "tokens":
        toks = spec_tokenizer(spec)[0].split(spec.text, spec_vocab(spec))
    elif spec.source == "text":
        toks = list(spec.text)
    else:
        raise ValueError(f"{spec.source!r} input has no text")
    if not toks:
        raise ValueError("the text has no tokens")
    n = len(toks)
    return [[toks[(b * spec.seq_len + t) % n] for t in range(spec.seq_len)]
            for b in range(spec.batch_size)]


def _make_tokens(spec: InputSpec, input_size: int) -> torch.Tensor:
    """Tokens of the text through the checkpoint's embedding (or one-hot), laid out like text."""
    enc = spec_encoding(spec)
    if enc.unknown:
        warnings.warn(enc.unknown_message(), _tok.UnknownTokensWarning, stacklevel=2)
    index = enc.indices
    if not index:
        raise ValueError("the text has no tokens")
    n = len(index)
    grid = [[index[(b * spec.seq_len + t) % n] for b in range(spec.batch_size)]
            for t in range(spec.seq_len)]
    emb = None
    model_path = spec.params.get("model_path", "")
    if model_path:
        p = Path(model_path)
        emb = _embedding_from(str(p), p.stat().st_mtime if p.exists() else 0.0, input_size,
                              str(spec.params.get("lstm", "")),
                              str(spec.params.get("embedding_key", "")))
        if emb is None:
            raise ValueError(f"{p.name} has no embedding matrix with {input_size} columns"
                             f" (the LSTM's input_size)")
    return embed(grid, emb, input_size)


def register() -> None:
    """Add the ``"tokens"`` source to ``lstm_viz.inputs.INPUT_SOURCES`` (idempotent)."""
    inputs.INPUT_SOURCES.setdefault("tokens", ("Text through a vocabulary / embedding",
                                               _make_tokens))


register()


def tokens_spec(text: str, *, vocab: Sequence[str] | None = None, vocab_path: str = "",
                model_path: str = "", lstm: str = "", seq_len: int | None = None,
                batch_size: int = 1, tokenizer: str | None = None,
                embedding_key: str = "") -> InputSpec:
    """An InputSpec for ``text`` read through a vocabulary and (optionally) a model's embedding.

    ``tokenizer``: "characters", "words" or "regex:PATTERN"; None picks one from the
    vocabulary's content. ``embedding_key`` names the model's embedding when it was paired
    with the LSTM by hand. seq_len defaults to the number of tokens in the text (capped at 2000).
    """
    if tokenizer:
        _tok.Tokenizer.parse(tokenizer)  # ValueError now, not at the first trace
    params = {"vocab": list(vocab) if vocab is not None else None, "vocab_path": vocab_path,
              "model_path": model_path, "lstm": lstm, "tokenizer": tokenizer,
              "embedding_key": embedding_key}
    params = {k: v for k, v in params.items() if v}
    spec = InputSpec(source="tokens", text=text, seq_len=1, batch_size=batch_size,
                     params=params)
    if seq_len is None:
        seq_len = max(1, min(2000, len(spec_tokenizer(spec)[0].split(text, spec_vocab(spec)))))
    return spec.replace(seq_len=seq_len)


def with_tokenizer(spec: InputSpec, tokenizer: str | None) -> InputSpec:
    """``spec`` (a tokens input) read with another tokenizer (None: the vocabulary's choice);
    seq_len follows the new token count when it was the old one."""
    if spec.source != "tokens":
        raise ValueError(f"only a tokens input has a tokenizer (this one is {spec.source!r})")
    if tokenizer:
        _tok.Tokenizer.parse(tokenizer)
    old_count = len(spec_tokenizer(spec)[0].split(spec.text, spec_vocab(spec)))
    params = {k: v for k, v in spec.params.items() if k != "tokenizer"}
    if tokenizer:
        params["tokenizer"] = tokenizer
    new = spec.replace(params=params)
    if spec.seq_len == max(1, min(2000, old_count)):
        count = len(spec_tokenizer(new)[0].split(new.text, spec_vocab(new)))
        new = new.replace(seq_len=max(1, min(2000, count)))
    return new


# ----- what a character model might track --------------------------------------------------------
def python_text_features(text: str) -> dict[str, np.ndarray]:
    """Per-character signals of Python source, each (len(text),) float.

    in_string: 1 inside a string literal (quotes included), in_comment: 1 from # to the end of
    the line, bracket_depth: open ( [ { outside strings and comments (at the character itself),
    indent: leading spaces of the character's line, column: position in the line.
    """
    n = len(text)
    in_string = np.zeros(n)
    in_comment = np.zeros(n)
    depth = np.zeros(n)
    indent = np.zeros(n)
    column = np.zeros(n)
    quote = ""  # the open string's delimiter: ', ", ''' or """
    comment = False
    level = 0
    k = 0
    line_start = 0
    line_indent = len(text) - len(text.lstrip(" ")) if text else 0
    while k < n:
        ch = text[k]
        if ch == "\n" and k >= line_start:
            column[k] = k - line_start
            indent[k] = line_indent
            in_string[k] = 1.0 if quote in ('"""', "'''") else 0.0
            depth[k] = level
            comment = False
            if quote in ("'", '"'):
                quote = ""  # an unterminated one-line string ends at the line's end
            line_start = k + 1
            rest = text[line_start:]
            line_indent = len(rest) - len(rest.lstrip(" "))
            k += 1
            continue
        column[k] = k - line_start
        indent[k] = line_indent
        width = 1
        if quote:
            in_string[k] = 1.0
            if ch == "\\":
                width = 2
            elif text.startswith(quote, k):
                width = len(quote)
                quote = ""
        elif comment:
            in_comment[k] = 1.0
        elif ch == "#":
            comment = True
            in_comment[k] = 1.0
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, k) else ch
            width = len(quote)
            in_string[k] = 1.0
        elif ch in "([{":
            level += 1
        elif ch in ")]}":
            level = max(0, level - 1)
        depth[k] = level
        for j in range(k + 1, min(n, k + width)):  # the rest of an escape or triple quote
            in_string[j] = 1.0
            depth[j] = level
            column[j] = j - line_start
            indent[j] = line_indent
        k += width
    return {"in_string": in_string, "in_comment": in_comment, "bracket_depth": depth,
            "indent": indent, "column": column}


def text_input_spec(model_source: Mapping[str, Any] | None, text: str,
                    vocab_path: str = "", *, allow_pickle: bool = False) -> InputSpec:
    """The InputSpec for ``text`` that fits the model a session loaded (its ``model_source``).

    Tokens through the loaded checkpoint's embedding and vocabulary when it has them (or with
    the vocabulary file ``vocab_path``); otherwise one-hot characters. The model file is read
    without running code stored in it, whatever ``model_source`` says about its kind, unless
    ``allow_pickle``: the user's consent, in this run, to unpickling that very file. A file
    that needs it raises ``lstm_viz.formats.loader.PickleConsentNeeded``.
    """
    src = model_source if isinstance(model_source, Mapping) else {}
    vocab: Sequence[str] | None = None
    model_path = embedding_key = ""
    if src.get("path") and Path(src["path"]).is_file():
        loaded = load_model(src["path"], allow_pickle=allow_pickle)
        cand = loaded.pick(src.get("lstm") or None)
        chosen = src.get("embedding_key")
        if "embedding_key" in src and (chosen is None or chosen in cand.embedding_options):
            cand = cand.with_embedding(chosen)
        vocab = loaded.vocab
        if cand.embedding is not None:
            model_path = src["path"]
            embedding_key = cand.embedding_key or ""
    if vocab_path:
        vocab = read_vocab(vocab_path)
    if vocab is not None or model_path:
        if vocab is None:
            raise ValueError("the model has an embedding matrix but its file has no vocabulary:"
                             " choose a vocabulary file (JSON {token: index} or one token per"
                             " line)")
        return tokens_spec(text, vocab=vocab, model_path=model_path, lstm=src.get("lstm", ""),
                           embedding_key=embedding_key if model_path else "")
    return InputSpec(source="text", text=text, seq_len=max(1, min(len(text), 2000)),
                     batch_size=1)
