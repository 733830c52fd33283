"""Train the character-level demo: an LSTM that reads Python source one character at a time.

Corpus: the top-level ``*.py`` modules of the Python standard library on this machine (every
tenth file, sorted by name, is held out for validation). Model: ``nn.Embedding(V, 16)`` ->
``nn.LSTM(16, 128)`` -> ``nn.Linear(128, V)``, trained to predict the next character.

Writes, next to this script:

- ``char_python.pt``: a checkpoint ``{"model": state_dict, "vocab": [...], ...}`` that
  ``torch.load(..., weights_only=True)`` can read; the LSTM is under ``lstm.``, the embedding
  matrix under ``embed.weight``.
- ``char_python_vocab.json``: the vocabulary, ``{character: index}``.

Runs on one CPU thread in a few minutes: ``python resources/models/train_char_python.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import sysconfig
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
UNK = "\x00"  # stands for any character outside printable ASCII
VOCAB = [UNK, "\n"] + [chr(c) for c in range(32, 127)]


class CharLSTM(nn.Module):
    """Embedding -> one-layer LSTM -> linear read-out over the vocabulary."""

    def __init__(self, vocab_size: int, embed_size: int = 16, hidden_size: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, hx=None):
        out, hx = self.lstm(self.embed(idx), hx)
        return self.head(out), hx


def corpus(max_chars: int) -> tuple[str, str, list[str]]:
    """(train text, validation text, file names) from the standard library's top-level modules."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if not p.name.startswith("_sysconfigdata"))
    train, val = [], []
    for k, path in enumerate(files):
        text = path.read_text(encoding="utf-8", errors="replace").replace("\t", "    ")
        (val if k % 10 == 9 else train).append(text)
    return "\n".join(train)[:max_chars], "\n".join(val)[: max_chars // 10], \
        [p.name for p in files]


def encode(text: str) -> torch.Tensor:
    index = {ch: i for i, ch in enumerate(VOCAB)}
    return torch.tensor([index.get(ch, 0) for ch in text], dtype=torch.long)


def evaluate(model: CharLSTM, data: torch.Tensor, seq_len: int = 256) -> float:
    """Mean cross-entropy (nats per character) over ``data``, read in one pass."""
    model.eval()
    total, count, hx = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, len(data) - 1, seq_len):
            chunk = data[start: start + seq_len + 1]
            if len(chunk) < 2:
                break
            logits, hx = model(chunk[:-1, None], hx)
            loss = nn.functional.cross_entropy(logits[:, 0], chunk[1:], reduction="sum")
            total += float(loss)
            count += len(chunk) - 1
    model.train()
    return total / count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--max-chars", type=int, default=3_000_000)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train_text, val_text, files = corpus(args.max_chars)
    train, val = encode(train_text), encode(val_text[:100_000])
    print(f"corpus: {len(files)} stdlib modules, {len(train)} training and {len(val)}"
          f" validation characters, vocabulary {len(VOCAB)}")

    model = CharLSTM(len(VOCAB), hidden_size=args.hidden)
    with torch.no_grad():  # forget-gate bias 1: a common start that helps memory early on
        model.lstm.bias_ih_l0[args.hidden: 2 * args.hidden].fill_(1.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, eta_min=3e-4)
    gen = torch.Generator().manual_seed(0)
    t0, running = time.time(), None
    for step in range(1, args.steps + 1):
        starts = torch.randint(0, len(train) - args.seq_len - 1, (args.batch,), generator=gen)
        batch = torch.stack([train[s: s + args.seq_len + 1] for s in starts.tolist()], dim=1)
        logits, _ = model(batch[:-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(VOCAB)),
                                           batch[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:5d}  train loss {running:.3f} nats/char"
                  f"  ({time.time() - t0:.0f} s)", flush=True)

    val_loss = evaluate(model, val)
    print(f"validation loss {val_loss:.3f} nats/char = {val_loss / math.log(2):.3f} bits/char")
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "model": model.state_dict(),
        "vocab": VOCAB,
        "lstm_prefix": "lstm.",
        "embedding_key": "embed.weight",
        "description": "character-level LSTM(16, 128) trained on Python standard library source",
        "train": {"steps": args.steps, "batch": args.batch, "seq_len": args.seq_len,
                  "train_loss": round(running, 4), "val_loss": round(val_loss, 4),
                  "seconds": round(time.time() - t0, 1),
                  "corpus_chars": len(train), "torch": str(torch.__version__)},
    }
    torch.save(checkpoint, args.out / "char_python.pt")
    (args.out / "char_python_vocab.json").write_text(
        json.dumps({ch: i for i, ch in enumerate(VOCAB)}, indent=0, ensure_ascii=True) + "\n")
    print(f"wrote {args.out / 'char_python.pt'} and {args.out / 'char_python_vocab.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
