"""Vocabularies found next to a model: in a checkpoint, an object inside it, or a file.

``find_vocab(obj)`` looks for the usual names (``itos``/``stoi``, ``idx2word``/``word2idx``,
``char_to_id``/``id_to_char``, ``vocab``, ``chars``, ...) in a checkpoint dict and in the
objects it holds (placeholders from the safe unpickler included). A vocabulary is optional
metadata: one whose indices are not usable (negative, huge, not integers) is dropped with a
warning that says why, and the model still opens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from ..formats.safe_pickle import Placeholder
from ..validate import check_regular_file, json_shape

# Names holding tokens by index, and names holding {token: index} (or {index: token}).
LIST_NAMES = ("itos", "idx2word", "id_to_char", "idx_to_char", "idx2char", "id2word",
              "index_to_token", "i2w", "vocab", "chars", "tokens", "words", "vocabulary")
MAP_NAMES = ("stoi", "word2idx", "char_to_id", "char_to_idx", "char2idx", "word2id", "w2i",
             "token_to_index", "vocab", "vocabulary")
_MAX_GAP = 1024  # unused indices tolerated inside a {token: index} map
_MAX_DEPTH = 4
# A million words (more than any LSTM's embedding within the memory budget holds) take about
# 20 MB as a JSON {token: index} object.
MAX_VOCAB_ENTRIES = 1_000_000
MAX_VOCAB_BYTES = 64 << 20
_MAX_JSON_DEPTH = 8  # a vocabulary object holding {"itos": [...]} nests 2 deep


def check_vocab_size(count: int, name: str) -> None:
    """ValueError when a vocabulary of ``count`` entries is more than lstm-viz reads."""
    if count > MAX_VOCAB_ENTRIES:
        raise ValueError(f"{name} has {count:,} entries; lstm-viz reads vocabularies of at most"
                         f" {MAX_VOCAB_ENTRIES:,} tokens (one per row of the model's embedding)")


def read_vocab_text(path: str | PathLike[str]) -> tuple[Path, str]:
    """A vocabulary file's path and text: a regular UTF-8 file of at most MAX_VOCAB_BYTES,
    checked before it is read."""
    p = check_regular_file(path, "vocabulary file", MAX_VOCAB_BYTES)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read vocabulary file {p}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p.name} is not UTF-8 text (byte {exc.start} is not); save the"
                         " vocabulary as UTF-8") from None
    return p, text


def vocab_lines(text: str, name: str) -> list[str]:
    """The tokens of a vocabulary file with one token per line (at most MAX_VOCAB_ENTRIES)."""
    check_vocab_size(text.count("\n") + (not text.endswith("\n")), name)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ValueError(f"{name} is empty; expected one token per line")
    return lines


def parse_vocab_json(text: str, name: str) -> object:
    """Parse a vocabulary file's JSON, refusing deep nesting and more strings than
    MAX_VOCAB_ENTRIES tokens need (stored both ways: three per token) before parsing."""
    depth, strings = json_shape(text.encode("utf-8", "surrogatepass"), chunk=4 << 20)
    if depth > _MAX_JSON_DEPTH:
        raise ValueError(f"{name} nests {depth} levels deep; a vocabulary is a list or an"
                         " object of tokens, nested at most a few levels")
    if strings > 3 * MAX_VOCAB_ENTRIES:
        raise ValueError(f"{name} holds {strings:,} strings; lstm-viz reads vocabularies of at"
                         f" most {MAX_VOCAB_ENTRIES:,} tokens")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}") from None


def vocab_from_mapping(mapping: Mapping, name: str) -> tuple[str, ...]:
    """Tokens by index from {token: index} or {index: token}; ValueError naming a bad index."""
    check_vocab_size(len(mapping), name)
    pairs = []
    for k, v in mapping.items():
        if isinstance(k, str) and not isinstance(v, str):
            tok, idx = k, v
        elif isinstance(v, str):
            tok, idx = v, k
        else:
            raise ValueError(f"{name} maps {k!r} to {v!r}; expected tokens and indices")
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise ValueError(f"{name} gives {tok!r} the index {idx!r}, not an integer")
        if idx < 0 or idx >= len(mapping) + _MAX_GAP:
            raise ValueError(f"{name} gives {tok!r} the index {idx}, outside 0..{len(mapping) - 1}")
        pairs.append((idx, tok))
    if not pairs:
        raise ValueError(f"{name} is empty")
    out = [""] * (max(i for i, _ in pairs) + 1)
    for idx, tok in sorted(pairs, reverse=True):
        out[idx] = tok
    return tuple(out)


def _as_vocab(value: Any, name: str) -> tuple[str, ...] | None:
    if isinstance(value, (str, Mapping, Sequence)):
        check_vocab_size(len(value), name)
    if isinstance(value, str):
        return tuple(value) if len(value) > 1 else None
    if isinstance(value, Mapping) and value:
        return vocab_from_mapping(value, name)
    if isinstance(value, Sequence) and value and all(isinstance(t, str) for t in value):
        return tuple(value)
    return None


def find_vocab(obj: Any, depth: int = 0) -> tuple[tuple[str, ...] | None, list[str]]:
    """The vocabulary in ``obj`` (checkpoint dict, object, placeholder) and warnings."""
    warnings: list[str] = []
    if depth > _MAX_DEPTH:
        return None, warnings
    fields = obj.attributes() if isinstance(obj, Placeholder) else obj
    if not isinstance(fields, Mapping):
        return None, warnings
    for names in (LIST_NAMES, MAP_NAMES):
        for key in names:
            value = fields.get(key)
            if isinstance(value, Placeholder) or (isinstance(value, Mapping) and any(
                    isinstance(v, (Mapping, list, tuple, Placeholder)) for v in value.values())):
                continue  # an object holding the vocabulary: searched below
            try:
                vocab = _as_vocab(value, key)
            except ValueError as exc:
                warnings.append(f"the vocabulary was dropped: {exc}")
                return None, warnings
            if vocab:
                return vocab, warnings
    for value in fields.values():
        if isinstance(value, (Placeholder, Mapping)):
            vocab, more = find_vocab(value, depth + 1)
            warnings += more
            if vocab or more:
                return vocab, warnings
    return None, warnings


def read_vocab_file(path: str | PathLike[str]) -> tuple[str, ...]:
    """Tokens by index from a JSON file (list, {token: index}, {index: token}, or an object
    holding one under a usual name) or a text file with one token per line."""
    p, text = read_vocab_text(path)
    if p.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        data = parse_vocab_json(text, p.name)
        if isinstance(data, Mapping) and any(k in data for k in LIST_NAMES + MAP_NAMES):
            vocab, warnings = find_vocab(data)
            if warnings:
                raise ValueError(f"{p.name}: {warnings[0]}")
            if vocab:
                return vocab
        if isinstance(data, Mapping):
            if all(isinstance(k, str) and k.lstrip("-").isdigit() for k in data) and \
                    all(isinstance(v, str) for v in data.values()):
                data = {int(k): v for k, v in data.items()}  # JSON keys of {index: token}
            return vocab_from_mapping(data, p.name)
        vocab = _as_vocab(data, p.name)
        if not vocab:
            raise ValueError(f"{p.name}: expected a list of tokens or a {{token: index}}"
                             " object")
        return vocab
    return tuple(line.rstrip("\r") for line in vocab_lines(text, p.name))
