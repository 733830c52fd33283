"""Split text into a vocabulary's tokens: characters, words, or a regular expression.

A model trained on text read it split one way; the vocabulary tells which: mostly single
characters means a character model, longer tokens a word model. Special tokens (``<unk>``,
``<eos>``, ``<pad>``, ``[UNK]``) are kept whole by every tokenizer, and a word vocabulary with
``<eos>`` reads each line end as ``<eos>`` (as PyTorch's word language model was trained).
Tokens that are not in the vocabulary read as its unknown token; ``encode`` says how many.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: tokenizer kinds and what each does, for a picker
KINDS = {
    "characters": "Characters: every character is a token",
    "words": "Words: split at whitespace; punctuation split off when the vocabulary lacks"
             " the whole word",
    "regex": "Regular expression: every match is a token",
}
UNK_TOKENS = ("<unk>", "<UNK>", "[UNK]", "<oov>", "\x00")
EOS_TOKENS = ("<eos>", "</s>", "<EOS>")
_SPECIAL = re.compile(r"<[^<>\s]+>|\[[A-Z]+\]")
_CHARACTER_SHARE = 0.9  # at least this share of single characters: a character vocabulary


def special_tokens(vocab: Sequence[str]) -> list[str]:
    """The vocabulary's special tokens (``<eos>``, ``[PAD]``, ...), longest first."""
    return sorted({t for t in vocab if len(t) > 1 and _SPECIAL.fullmatch(t)}, key=len,
                  reverse=True)


@dataclass(frozen=True)
class Tokenizer:
    """How text becomes tokens: ``kind`` is "characters", "words" or "regex" (``pattern``)."""

    kind: str = "characters"
    pattern: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"tokenizer must be one of {', '.join(KINDS)} (got {self.kind!r})")
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError("a regex tokenizer needs a pattern, e.g. regex:\\w+|[^\\w\\s]")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"the tokenizer's regular expression {self.pattern!r} does"
                                 f" not compile: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> Tokenizer:
        """From its string form: "characters", "words" or "regex:PATTERN"."""
        if not isinstance(text, str):
            raise ValueError(f"tokenizer must be a string (got {type(text).__name__})")
        if text.startswith("regex:"):
            return cls("regex", text[len("regex:"):])
        return cls(text)

    def __str__(self) -> str:
        return f"regex:{self.pattern}" if self.kind == "regex" else self.kind

    def split(self, text: str, vocab: Sequence[str] = ()) -> list[str]:
        """The tokens of ``text``; special tokens of ``vocab`` stay whole."""
        specials = special_tokens(vocab)
        keep = "|".join(re.escape(s) for s in specials)
        if self.kind == "regex":
            pattern = f"{keep}|(?:{self.pattern})" if keep else self.pattern
            return [m.group(0) for m in re.finditer(pattern, text) if m.group(0)]
        if self.kind == "characters":
            if not keep:
                return list(text)
            return re.findall(f"{keep}|.", text, flags=re.DOTALL)
        return _words(text, set(vocab), keep)


def _words(text: str, known: set[str], keep: str) -> list[str]:
    """Whitespace-separated words; a word the vocabulary lacks is split into word characters
    and punctuation marks (special tokens whole); line ends read as <eos> when known."""
    eos = next((t for t in EOS_TOKENS if t in known), None)
    pieces = re.compile((f"{keep}|" if keep else "") + r"\w+|[^\w\s]")
    out: list[str] = []
    lines = text.split("\n")
    for k, line in enumerate(lines):
        for word in line.split():
            out.extend([word] if word in known else pieces.findall(word))
        if eos is not None and k < len(lines) - 1:
            out.append(eos)
    return out


def choose(vocab: Sequence[str]) -> tuple[Tokenizer, str]:
    """The tokenizer a vocabulary's content suggests, and why (one line)."""
    specials = set(special_tokens(vocab))
    plain = [t for t in vocab if t and t not in specials]
    if not plain:
        return Tokenizer("words"), "words: the vocabulary holds only special tokens"
    single = sum(len(t) == 1 for t in plain)
    share = single / len(plain)
    if share >= _CHARACTER_SHARE:
        return Tokenizer("characters"), (f"characters: {single} of the vocabulary's"
                                         f" {len(plain)} tokens are single characters")
    return Tokenizer("words"), (f"words: {len(plain) - single} of the vocabulary's"
                                f" {len(plain)} tokens are longer than one character")


def unknown_token(vocab: Sequence[str]) -> str | None:
    """The token that stands for anything not in the vocabulary, if it has one."""
    return next((u for u in UNK_TOKENS if u in vocab), None)


class UnknownTokensWarning(UserWarning):
    """Tokens of the text were not in the vocabulary and read as its unknown token."""


@dataclass(frozen=True)
class Encoding:
    """Token indices, and the tokens that were not in the vocabulary (in order)."""

    indices: tuple[int, ...]
    tokens: tuple[str, ...]
    unknown: tuple[str, ...]
    unk_token: str | None

    def unknown_message(self) -> str:
        """'' when every token is known, else how many read as the unknown token, and which."""
        if not self.unknown:
            return ""
        distinct = sorted(set(self.unknown))
        shown = ", ".join(repr(t) for t in distinct[:8]) + (", …" if len(distinct) > 8 else "")
        return (f"{len(self.unknown)} of {len(self.tokens)} tokens are not in the vocabulary"
                f" and read as {self.unk_token!r}: {shown}")


def encode_tokens(tokens: Sequence[str], vocab: Sequence[str]) -> Encoding:
    """Indices of ``tokens`` in ``vocab``; unknown ones become the unknown token's index, or a
    ValueError naming them when the vocabulary has none."""
    index: dict[str, int] = {}
    for i, tok in enumerate(vocab):
        index.setdefault(tok, i)
    unk = unknown_token(vocab)
    out: list[int] = []
    unknown: list[str] = []
    for tok in tokens:
        found = index.get(tok)
        if found is None:
            unknown.append(tok)
            if unk is not None:
                out.append(index[unk])
        else:
            out.append(found)
    if unknown and unk is None:
        distinct = sorted(set(unknown))
        shown = ", ".join(repr(t) for t in distinct[:8])
        raise ValueError(f"{len(distinct)} token(s) not in the vocabulary of {len(vocab)}:"
                         f" {shown}; the vocabulary has no <unk> token (choose another"
                         " tokenizer, or text in the vocabulary)")
    return Encoding(tuple(out), tuple(tokens), tuple(unknown), unk)
