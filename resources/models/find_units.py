"""Check what the demo models' units track, with numbers (docs/demos.md quotes this output).

Character model: traces held-out standard-library source (the files train_char_python.py held
out) and correlates every unit's h and c with per-character signals: inside a string, inside a
comment, bracket depth, inside brackets (not in a string), indentation, column. Sine model:
correlates units with the input value and its slope on random test waves.

    python resources/models/find_units.py            # prints a report, writes units.json
"""

from __future__ import annotations

import json
import math
import sys
import sysconfig
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from lstm_viz import trace  # noqa: E402
from lstm_viz.explain.analysis import signal_correlation, unit_stats  # noqa: E402
from lstm_viz.formats.loader import load_model  # noqa: E402
from lstm_viz.text.textinput import embed, encode, python_text_features  # noqa: E402


def held_out_text(max_chars: int) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if not p.name.startswith("_sysconfigdata"))
    texts = [p.read_text(encoding="utf-8", errors="replace").replace("\t", "    ")
             for k, p in enumerate(files) if k % 10 == 9]
    return "\n".join(texts)[:max_chars]


def top(r: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    order = np.argsort(-np.abs(r))[:k]
    return [(int(u), round(float(r[u]), 3)) for u in order]


def char_report(max_chars: int = 30000) -> dict:
    loaded = load_model(HERE / "char_python.pt")
    cand = loaded.pick("lstm")
    lstm = cand.build()
    text = held_out_text(max_chars)
    x = embed(encode(text, loaded.vocab), cand.embedding, cand.config.input_size)
    with torch.no_grad():
        tr = trace(lstm, x)
    h = tr.h[0, 0, :, 0].numpy()
    c = tr.c[0, 0, :, 0].numpy()
    feats = python_text_features(text)
    feats["in_brackets"] = ((feats["bracket_depth"] > 0) & (feats["in_string"] == 0)) * 1.0
    report = {"chars": len(text), "train": loaded.metadata.get("train"), "features": {}}
    for name, sig in feats.items():
        report["features"][name] = {"h": top(signal_correlation(h, sig)),
                                    "c": top(signal_correlation(c, sig)),
                                    "mean": round(float(sig.mean()), 4)}
    stats = unit_stats(tr)
    report["timescale_steps"] = {"median": round(float(np.median(stats.timescale)), 2),
                                 "max": round(float(stats.timescale.max()), 2),
                                 "longest_units": top(stats.timescale, 3)}
    return report


def sine_report() -> dict:
    sys.path.insert(0, str(HERE))
    from train_sine import waves

    loaded = load_model(HERE / "sine_forecaster.pt")
    cand = loaded.pick()
    x = waves(64, 120, torch.Generator().manual_seed(7))[:-1]
    with torch.no_grad():
        tr = trace(cand.build(), x)
    h = tr.h[0, 0].numpy()  # (T, B, H)
    T, B, H = h.shape
    value = x[..., 0].numpy()
    slope = np.diff(value, axis=0, prepend=value[:1])
    flat = h[10:].reshape(-1, H)  # skip the warm-up steps
    return {"train": loaded.metadata.get("train"),
            "value": top(signal_correlation(flat, value[10:].reshape(-1))),
            "slope": top(signal_correlation(flat, slope[10:].reshape(-1)))}


def main() -> int:
    torch.set_num_threads(1)
    report = {"char_python": char_report(), "sine_forecaster": sine_report()}
    train = report["char_python"]["train"] or {}
    if train.get("val_loss"):
        v = train["val_loss"]
        print(f"char model: validation loss {v:.3f} nats/char = {v / math.log(2):.3f} bits/char")
    for name, r in report["char_python"]["features"].items():
        print(f"  {name:14s} (mean {r['mean']:.3f})  best h units {r['h']}  best c units {r['c']}")
    print(f"  forget-gate timescale: {report['char_python']['timescale_steps']}")
    s = report["sine_forecaster"]
    print(f"sine model: {s['train']}")
    print(f"  units vs input value: {s['value']}  vs slope: {s['slope']}")
    (HERE / "units.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
