"""Which embedding feeds an LSTM found in a model file and which Linear reads its output.

The file's own order of modules decides: an embedding right before the LSTM (or the one a
checkpoint names) and a Linear right after it that is the model's last layer, is named like a
head, or is tied to the embedding are paired; other layers of the right size become options to
pick by hand, with a note saying why they were not paired.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from .candidates import LSTMCandidate, _memory_budget
from .safe_pickle import tensor_problem

# Keys whose tensor is taken to be an embedding matrix (vocab_size, input_size).
_EMBED_KEY = re.compile(r"(^|[._])(embed\w*|emb|embedding|word_embeddings|tok_embeddings|"
                        r"encoder)\.weight$", re.IGNORECASE)


# Module names that usually hold an output head.
_HEAD_NAME = re.compile(r"^(decoder|head|lm_head|fc\d*|out\w*|classifier|proj\w*|linear\d*|"
                        r"generator|dense|predict\w*|readout)$", re.IGNORECASE)


def _parent(prefix: str) -> str:
    """``decoder.`` for ``decoder.rnn.``; '' at the root."""
    name = prefix.rstrip(".")
    return name.rsplit(".", 1)[0] + "." if "." in name else ""


def _children(sd: Mapping, parent: str) -> list[str]:
    """The direct children of the module ``parent`` ('' or ``"decoder."``) that hold tensors,
    in the file's order, which is the order the model registered them in."""
    kids: dict[str, None] = {}
    for key in sd:
        if key.startswith(parent) and "." in key[len(parent):]:
            kids[key[len(parent):].split(".", 1)[0]] = None
    return list(kids)


def _holds_tensors(sd: Mapping, module: str) -> bool:
    return any(k.startswith(f"{module}.") and "." not in k[len(module) + 1:] for k in sd)


def _neighbour(sd: Mapping, module: str, after: bool) -> str | None:
    """The module right after (or before) ``module`` in the model: its next (previous) sibling,
    or its parent's when it is the last (first) child, down to the first (last) module inside
    that holds tensors itself. None when nothing comes after (before) it."""
    name = module
    while name:
        parent = _parent(f"{name}.")
        kids = _children(sd, parent)
        child = name[len(parent):]
        index = kids.index(child) if child in kids else -1
        other = index + (1 if after else -1)
        if index >= 0 and 0 <= other < len(kids):
            node = parent + kids[other]
            for _ in range(_MAX_NESTING):
                inner = _children(sd, f"{node}.")
                if _holds_tensors(sd, node) or not inner:
                    break
                node = f"{node}.{inner[0 if after else -1]}"
            return node
        name = parent.rstrip(".")
    return None


_MAX_NESTING = 64


_MAX_OPTIONS = 16


def _is_matrix(w: Any, width: int) -> bool:
    return isinstance(w, torch.Tensor) and w.ndim == 2 and w.is_floating_point() and \
        w.shape[1] == width and not tensor_problem(w) and \
        w.numel() * w.element_size() <= _memory_budget()


def _embedding_options(sd: Mapping, modules: Mapping, root: Any, input_size: int
                       ) -> list[str]:
    """Keys of the embedding matrices (vocab_size, input_size) in ``sd``: the one a checkpoint
    names, Embedding modules, and tensors named like embeddings."""
    hinted = root.get("embedding_key") if isinstance(root, Mapping) else None
    names = [hinted] if isinstance(hinted, str) and hinted in sd else []
    names += [f"{n}.weight" if n else "weight" for n, m in modules.items()
              if m.kind == "Embedding"]
    names += [k for k in sd if _EMBED_KEY.search(k)]
    return [k for k in dict.fromkeys(names) if _is_matrix(sd.get(k), input_size)]


def _head_options(sd: Mapping, modules: Mapping, out_size: int, embedding_key: str | None
                  ) -> list[str]:
    """Names of the Linear modules (weight (out, out_size)) in ``sd``."""
    options = []
    for key, w in sd.items():
        if not (key == "weight" or key.endswith(".weight")) or not _is_matrix(w, out_size):
            continue
        name = key[: -len(".weight")] if key != "weight" else ""
        module = modules.get(name)
        if module is not None and module.kind != "Linear":
            continue
        if module is None and _EMBED_KEY.search(key) and key != embedding_key:
            continue
        options.append(name)
    return options


def _ends(cand: LSTMCandidate) -> tuple[str, str]:
    """The module names of the candidate's first and last layer (its prefix for an nn.LSTM)."""
    if cand.origin == "LSTMCell stack":
        return cand.cells[0].rstrip("."), cand.cells[-1].rstrip(".")
    return cand.prefix.rstrip("."), cand.prefix.rstrip(".")


def _paired_embedding(first: str, embeddings: list[str], sd: Mapping, root: Any
                      ) -> str | None:
    """The key of the embedding that feeds the layer ``first``: the one the checkpoint names
    (``embedding_key``), else the one right before it in the file, else None."""
    hinted = root.get("embedding_key") if isinstance(root, Mapping) else None
    if isinstance(hinted, str) and hinted in embeddings:
        return hinted
    before = _neighbour(sd, first, after=False) if first else None
    return next((k for k in embeddings if before is not None and k == f"{before}.weight"), None)


def _paired_head(last: str, heads: list[str], sd: Mapping, embed_key: str | None
                 ) -> str | None:
    """The Linear right after the layer ``last`` when it is the model's head: named like one,
    the last layer of the file, or tied to the embedding."""
    after = _neighbour(sd, last, after=True) if last else None
    if after is None or after not in heads:
        return None
    named = bool(_HEAD_NAME.match(after.rsplit(".", 1)[-1]))
    if named or _neighbour(sd, after, after=True) is None:
        return after
    tied = embed_key is not None and torch.equal(sd[f"{after}.weight"], sd[embed_key])
    return after if tied else None


def _pairing_notes(embeddings: list[str], embed_key: str | None, heads: list[str],
                   head_name: str | None) -> list[str]:
    """Why layers of the right size were not paired with the LSTM."""
    notes = []
    others = [k for k in embeddings if k != embed_key]
    if embed_key is None and others:
        notes.append(f"no embedding paired: {', '.join(others[:3])}"
                     f" {'has' if len(others) == 1 else 'have'} the width of the LSTM's input,"
                     " but the file does not show that it feeds the LSTM (other layers sit"
                     " between them)")
    others = [n for n in heads if n != head_name]
    if head_name is None and others:
        notes.append(f"no output head paired: {', '.join(n or '<root>' for n in others[:3])}"
                     f" {'reads' if len(others) == 1 else 'read'} vectors of the LSTM's output"
                     " size, but the file does not show that one reads the LSTM (other layers"
                     " sit between them, or it is not the model's last layer); pick it by hand"
                     " if it does")
    return notes


def _option_tensors(sd: Mapping, embeddings: list[str], heads: list[str]
                    ) -> dict[str, torch.Tensor]:
    """The tensors of the embeddings and heads offered to pick by hand."""
    tensors = {k: sd[k] for k in embeddings[:_MAX_OPTIONS]}
    for name in heads[:_MAX_OPTIONS]:
        prefix = f"{name}." if name else ""
        tensors.update({f"{prefix}{p}": sd[f"{prefix}{p}"] for p in ("weight", "bias")
                        if isinstance(sd.get(f"{prefix}{p}"), torch.Tensor)})
    return tensors


def pair(cand: LSTMCandidate, sd: Mapping, modules: Mapping, root: Any) -> LSTMCandidate:
    """``cand`` with the embedding that feeds it and the head that reads it, when the file
    shows that they do: the checkpoint names the embedding, or nothing else sits between them
    and the LSTM in the model. Other layers of the right size become options to pick by hand,
    and ``pairing_notes`` says why they were not paired."""
    cfg = cand.config
    first, last = _ends(cand)
    embeddings = _embedding_options(sd, modules, root, cfg.input_size)
    embed_key = _paired_embedding(first, embeddings, sd, root)
    out_size = (cfg.proj_size or cfg.hidden_size) * cfg.num_directions
    heads = _head_options(sd, modules, out_size, embed_key)
    head_name = _paired_head(last, heads, sd, embed_key)
    cand = replace(cand, embedding_options=tuple(embeddings[:_MAX_OPTIONS]),
                   head_options=tuple(heads[:_MAX_OPTIONS]),
                   pairing_notes=tuple(_pairing_notes(embeddings, embed_key, heads, head_name)),
                   option_tensors=_option_tensors(sd, embeddings, heads))
    if embed_key is not None:
        cand = cand.with_embedding(embed_key)
    return cand.with_head(head_name) if head_name is not None else cand
